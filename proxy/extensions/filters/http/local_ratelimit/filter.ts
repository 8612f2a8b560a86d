// Per-stream half of envoy.filters.http.local_ratelimit: takes a token when the filter is
// enabled for this request (runtime fraction), answers 429 with flag RL when the bucket is
// empty and enforcement is on, and reports the bucket in `x-ratelimit-*` headers if asked.
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
} from '../../../../core/http/filter.js';
import { renderHeaderFormat } from '../../../../core/http/header-format.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import { ResponseFlag, type StreamInfo } from '../../../../core/stream-info.js';
import type { Runtime } from '../../../../runtime/index.js';
import type { CompiledHeaderOption, LocalRateLimitConfig } from './config.js';

export function applyHeaderOptions(
  headers: HeaderMap,
  options: readonly CompiledHeaderOption[],
  info: StreamInfo,
): void {
  for (const option of options) {
    const value = renderHeaderFormat(option.value, info);
    switch (option.action) {
      case 'APPEND_IF_EXISTS_OR_ADD':
        headers.add(option.name, value);
        break;
      case 'ADD_IF_ABSENT':
        if (!headers.has(option.name)) headers.add(option.name, value);
        break;
      case 'OVERWRITE_IF_EXISTS_OR_ADD':
        headers.set(option.name, value);
        break;
      case 'OVERWRITE_IF_EXISTS':
        if (headers.has(option.name)) headers.set(option.name, value);
        break;
    }
  }
}

export class LocalRateLimitFilter implements StreamDecoderFilter, StreamEncoderFilter, StreamFilter {
  readonly #callbacks: StreamFilterCallbacks;
  readonly #listenerConfig: LocalRateLimitConfig | undefined;
  readonly #runtime: Runtime;
  readonly #routeConfig: (callbacks: StreamFilterCallbacks) => LocalRateLimitConfig | undefined;
  #used: LocalRateLimitConfig | undefined;
  #limited = false;

  constructor(
    callbacks: StreamFilterCallbacks,
    listenerConfig: LocalRateLimitConfig | undefined,
    runtime: Runtime,
    routeConfig: (callbacks: StreamFilterCallbacks) => LocalRateLimitConfig | undefined,
  ) {
    this.#callbacks = callbacks;
    this.#listenerConfig = listenerConfig;
    this.#runtime = runtime;
    this.#routeConfig = routeConfig;
  }

  get decoder(): StreamDecoderFilter {
    return this;
  }

  get encoder(): StreamEncoderFilter {
    return this;
  }

  decodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    // A per-route config replaces the HCM-level one entirely, as Envoy's most specific config does.
    const config = this.#routeConfig(this.#callbacks) ?? this.#listenerConfig;
    if (config === undefined) return FilterHeadersStatus.Continue;
    const snapshot = this.#runtime.snapshot();
    if (!snapshot.runtimeFractionEnabled(config.filterEnabled)) return FilterHeadersStatus.Continue;
    this.#used = config;
    config.stats.enabled.inc();
    if (config.bucket === undefined || config.bucket.consume()) {
      config.stats.ok.inc();
      return FilterHeadersStatus.Continue;
    }
    config.stats.rateLimited.inc();
    if (!snapshot.runtimeFractionEnabled(config.filterEnforced)) {
      applyHeaderOptions(headers, config.requestHeadersWhenNotEnforced, this.#callbacks.streamInfo);
      return FilterHeadersStatus.Continue;
    }
    config.stats.enforced.inc();
    this.#limited = true;
    this.#callbacks.sendLocalReply(config.status, 'local_rate_limited', ResponseFlag.RateLimited, 'local_rate_limited');
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    const config = this.#used;
    if (config === undefined) return FilterHeadersStatus.Continue;
    if (this.#limited) applyHeaderOptions(headers, config.responseHeaders, this.#callbacks.streamInfo);
    if (config.xRateLimitHeaders && config.bucket !== undefined) {
      headers.set('x-ratelimit-limit', String(config.bucket.maxTokens));
      headers.set('x-ratelimit-remaining', String(config.bucket.remaining()));
      headers.set('x-ratelimit-reset', String(config.bucket.secondsUntilFill()));
    }
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onDestroy(): void {
    this.#used = undefined;
  }
}
