// envoy.filters.http.grpc_stats, per stream: for a gRPC request, counts its request and
// response messages as their frames go by (whatever the chunking) and, when the status arrives
// (trailers, or a trailers-only head), the call's `<status>`, success or failure, and total, in
// `cluster.<route target cluster>.grpc[.<service>.<method>].*`. Anything else passes untouched.
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
} from '../../../../core/http/filter.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import { grpcServiceMethod, isGrpcRequest } from '../../../../core/grpc/common.js';
import { GrpcFrameCounter } from '../../../../core/grpc/frame.js';
import { GRPC_STATS_FILTER_NAME, type GrpcStatCounters, type GrpcStatsConfig } from './config.js';

/**
 * The filter state object (emit_filter_state), Envoy's GrpcStatsObject: read by
 * `%FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)%` as `<request>,<response>` message counts.
 */
export class GrpcStatsObject {
  request_message_count = 0;
  response_message_count = 0;

  serializeAsString(): string {
    return `${this.request_message_count},${this.response_message_count}`;
  }

  /** The proto's JSON form (uint64 as strings, camelCase), as `%FILTER_STATE(key)%` prints it. */
  serializeAsJson(): Record<string, string> {
    return {
      requestMessageCount: String(this.request_message_count),
      responseMessageCount: String(this.response_message_count),
    };
  }
}

export class GrpcStatsFilter implements StreamFilter, StreamDecoderFilter, StreamEncoderFilter {
  readonly #config: GrpcStatsConfig;
  readonly #cb: StreamFilterCallbacks;
  #grpc = false;
  #service: string | null = null;
  #method: string | null = null;
  #family: GrpcStatCounters | null | undefined = undefined;
  #requestFrames: GrpcFrameCounter | null = null;
  #responseFrames: GrpcFrameCounter | null = null;
  #state: GrpcStatsObject | null = null;
  #charged = false;

  constructor(config: GrpcStatsConfig, callbacks: StreamFilterCallbacks) {
    this.#config = config;
    this.#cb = callbacks;
  }

  get decoder(): StreamDecoderFilter {
    return this;
  }

  get encoder(): StreamEncoderFilter {
    return this;
  }

  decodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    if (!isGrpcRequest(headers)) return FilterHeadersStatus.Continue;
    this.#grpc = true;
    const sm = grpcServiceMethod(headers.get(':path') ?? '');
    if (sm !== null && this.#config.perMethod(sm.service, sm.method)) {
      this.#service = sm.service;
      this.#method = sm.method;
    }
    this.#requestFrames = new GrpcFrameCounter();
    this.#responseFrames = new GrpcFrameCounter();
    if (this.#config.emitFilterState) {
      this.#state = new GrpcStatsObject();
      this.#cb.streamInfo.filterState.set(GRPC_STATS_FILTER_NAME, this.#state);
    }
    return FilterHeadersStatus.Continue;
  }

  /** The route target cluster's counters, once the router picked it (none without a cluster). */
  #counters(): GrpcStatCounters | null {
    if (this.#family === undefined) {
      const cluster = this.#cb.streamInfo.upstreamCluster ?? this.#cb.route()?.clusterName ?? null;
      if (cluster === null) return null; // not yet routed (or never): ask again later
      this.#family = this.#config.counters(cluster, this.#service, this.#method);
    }
    return this.#family;
  }

  decodeData(data: Buffer): FilterDataStatus {
    if (!this.#grpc) return FilterDataStatus.Continue;
    const n = this.#requestFrames!.inspect(data);
    if (n > 0) {
      if (this.#state !== null) this.#state.request_message_count += n;
      this.#counters()?.requestMessageCount.add(n);
    }
    return FilterDataStatus.Continue;
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    if (this.#grpc && endStream) this.#charge(headers);
    return FilterHeadersStatus.Continue;
  }

  encodeData(data: Buffer): FilterDataStatus {
    if (!this.#grpc) return FilterDataStatus.Continue;
    const n = this.#responseFrames!.inspect(data);
    if (n > 0) {
      if (this.#state !== null) this.#state.response_message_count += n;
      this.#counters()?.responseMessageCount.add(n);
    }
    return FilterDataStatus.Continue;
  }

  encodeTrailers(trailers: HeaderMap): undefined {
    if (this.#grpc) this.#charge(trailers);
    return undefined;
  }

  /** Envoy's chargeStat: `<status>`, success (status 0) or failure, total. No status: nothing. */
  #charge(block: HeaderMap): void {
    if (this.#charged) return;
    const status = block.get('grpc-status');
    const family = this.#counters();
    if (status === undefined || family === null) return;
    this.#charged = true;
    let byStatus = family.byStatus.get(status);
    if (byStatus === undefined && family.byStatus.size < 64) {
      byStatus = family.scope.counter(status);
      family.byStatus.set(status, byStatus);
    }
    byStatus?.inc();
    (status === '0' ? family.success : family.failure).inc();
    family.total.inc();
    family.upstreamRqTime?.record(this.#cb.streamInfo.elapsedMs());
  }

  onDestroy(): void {}
}

export function grpcStatsFilterFactory(config: GrpcStatsConfig): (cb: StreamFilterCallbacks) => StreamFilter {
  return (cb) => new GrpcStatsFilter(config, cb);
}
