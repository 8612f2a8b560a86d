// Per-stream half of envoy.filters.http.fault, in Envoy's order: respect max_active_faults,
// then maybe delay (stopping the filter chain on a timer, flag DI), then maybe abort (local
// reply, flag FI). Header-controlled faults apply only where the config enables them.
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamDecoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
} from '../../../../core/http/filter.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import { ResponseFlag } from '../../../../core/stream-info.js';
import type { FractionalPercent, Runtime, RuntimeSnapshot } from '../../../../runtime/index.js';
import type { FaultConfig } from './config.js';

const ABORT_HEADER = 'x-envoy-fault-abort-request';
const ABORT_PERCENT_HEADER = 'x-envoy-fault-abort-request-percentage';
const DELAY_HEADER = 'x-envoy-fault-delay-request';
const DELAY_PERCENT_HEADER = 'x-envoy-fault-delay-request-percentage';
const DOWNSTREAM_CLUSTER_HEADER = 'x-envoy-downstream-service-cluster';
const DOWNSTREAM_NODE_HEADER = 'x-envoy-downstream-service-node';

function parseUint(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** A header percentage keeps the config's denominator and never exceeds the config's numerator. */
function headerPercentage(headers: HeaderMap, header: string, configured: FractionalPercent): FractionalPercent {
  const numerator = parseUint(headers.get(header));
  if (numerator === undefined) return configured;
  return { numerator: Math.min(numerator, configured.numerator), denominator: configured.denominator };
}

export interface FaultRouteInfo {
  /** The cluster the matched route targets, or null. */
  clusterName(callbacks: StreamFilterCallbacks): string | null;
  /** The route's `typed_per_filter_config` for this filter, which replaces the HCM-level config. */
  perRouteConfig(callbacks: StreamFilterCallbacks): FaultConfig | undefined;
}

export class FaultFilter implements StreamDecoderFilter, StreamFilter {
  readonly #callbacks: StreamFilterCallbacks;
  readonly #listenerConfig: FaultConfig;
  readonly #runtime: Runtime;
  readonly #route: FaultRouteInfo;
  #config: FaultConfig | undefined;
  #snapshot: RuntimeSnapshot | undefined;
  #headers: HeaderMap | undefined;
  #timer: NodeJS.Timeout | undefined;
  #active = false;
  #delaying = false;

  constructor(callbacks: StreamFilterCallbacks, config: FaultConfig, runtime: Runtime, route: FaultRouteInfo) {
    this.#callbacks = callbacks;
    this.#listenerConfig = config;
    this.#runtime = runtime;
    this.#route = route;
  }

  get decoder(): StreamDecoderFilter {
    return this;
  }

  decodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    const config = this.#route.perRouteConfig(this.#callbacks) ?? this.#listenerConfig;
    if (!this.#applies(config, headers)) return FilterHeadersStatus.Continue;
    const snapshot = this.#runtime.snapshot();
    const max =
      config.maxActiveFaults === undefined
        ? undefined
        : snapshot.getInteger(config.maxActiveFaultsKey, config.maxActiveFaults);
    if (max !== undefined && config.stats.activeFaults.value() >= max) {
      config.stats.faultsOverflow.inc();
      return FilterHeadersStatus.Continue;
    }
    this.#config = config;
    this.#snapshot = snapshot;
    this.#headers = headers;
    const delayMs = this.#delayMs(config, snapshot, headers);
    if (delayMs !== undefined) {
      this.#markActive(config);
      config.stats.delaysInjected.inc();
      this.#downstream(config, headers)?.delays.inc();
      this.#callbacks.streamInfo.setResponseFlag(ResponseFlag.DelayInjected);
      this.#delaying = true;
      this.#timer = setTimeout(() => this.#afterDelay(), delayMs);
      return FilterHeadersStatus.StopIteration;
    }
    return this.#maybeAbort() ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return this.#delaying ? FilterDataStatus.StopIterationAndBuffer : FilterDataStatus.Continue;
  }

  onDestroy(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#delaying = false;
    if (this.#active) {
      this.#active = false;
      this.#config!.stats.activeFaults.dec();
    }
  }

  #applies(config: FaultConfig, headers: HeaderMap): boolean {
    if (config.delay === undefined && config.abort === undefined) return false;
    if (config.upstreamCluster !== undefined && this.#route.clusterName(this.#callbacks) !== config.upstreamCluster)
      return false;
    if (config.downstreamNodes !== undefined) {
      const node = headers.get(DOWNSTREAM_NODE_HEADER);
      if (node === undefined || !config.downstreamNodes.has(node)) return false;
    }
    return config.headersMatch(headers);
  }

  #delayMs(config: FaultConfig, snapshot: RuntimeSnapshot, headers: HeaderMap): number | undefined {
    const delay = config.delay;
    if (delay === undefined) return undefined;
    let duration: number | undefined;
    let percentage = delay.percentage;
    if (delay.fromHeader) {
      duration = parseUint(headers.get(DELAY_HEADER));
      if (duration === undefined) return undefined;
      percentage = headerPercentage(headers, DELAY_PERCENT_HEADER, percentage);
    } else {
      duration = snapshot.getInteger(config.delayDurationKey, delay.fixedMs!);
    }
    if (duration <= 0 || !snapshot.fractionEnabled(config.delayPercentKey, percentage)) return undefined;
    return duration;
  }

  #abortStatus(config: FaultConfig, snapshot: RuntimeSnapshot, headers: HeaderMap): number | undefined {
    const abort = config.abort;
    if (abort === undefined) return undefined;
    let status: number | undefined;
    let percentage = abort.percentage;
    if (abort.fromHeader) {
      status = parseUint(headers.get(ABORT_HEADER));
      if (status === undefined || status < 200 || status >= 600) return undefined;
      percentage = headerPercentage(headers, ABORT_PERCENT_HEADER, percentage);
    } else {
      status = snapshot.getInteger(config.abortStatusKey, abort.httpStatus!);
      if (status < 200 || status >= 600) status = abort.httpStatus!;
    }
    return snapshot.fractionEnabled(config.abortPercentKey, percentage) ? status : undefined;
  }

  /** Sends the abort reply if this request draws one; true when it did. */
  #maybeAbort(): boolean {
    const config = this.#config!;
    const headers = this.#headers!;
    const status = this.#abortStatus(config, this.#snapshot!, headers);
    if (status === undefined) return false;
    this.#markActive(config);
    config.stats.abortsInjected.inc();
    this.#downstream(config, headers)?.aborts.inc();
    this.#callbacks.sendLocalReply(status, 'fault filter abort', ResponseFlag.FaultInjected, 'fault_filter_abort');
    return true;
  }

  #afterDelay(): void {
    this.#timer = undefined;
    this.#delaying = false;
    if (!this.#maybeAbort()) this.#callbacks.continueDecoding();
  }

  #markActive(config: FaultConfig): void {
    if (this.#active) return;
    this.#active = true;
    config.stats.activeFaults.inc();
  }

  #downstream(
    config: FaultConfig,
    headers: HeaderMap,
  ): { delays: { inc(): void }; aborts: { inc(): void } } | undefined {
    const cluster = headers.get(DOWNSTREAM_CLUSTER_HEADER);
    return cluster === undefined || cluster === '' ? undefined : config.downstreamStats(cluster);
  }
}
