// What a connection manager is configured with (Envoy's ConnectionManagerConfig), built once per
// listener per worker by the envoy.filters.network.http_connection_manager factory and read by
// every connection and stream it serves.
import type { StreamFilterFactory } from './filter.js';
import type { HcmStats } from './hcm-stats.js';
import type { RouteTable } from '../router/route-table.js';
import type { AccessLogger, Tracer } from '../extension-points.js';
import type { Http2Settings } from './codec/http2/server-connection.js';
import type { XfccSettings } from './xfcc.js';

/** The HCM's `codec_type`: AUTO tells HTTP/2 by its client preface, HTTP1 and HTTP2 force one. */
export type CodecType = 'AUTO' | 'HTTP1' | 'HTTP2';

export interface HcmSettings {
  readonly statPrefix: string;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  /** `forward_client_cert_details` and `set_current_client_cert_details` (x-forwarded-client-cert); absent = SANITIZE. */
  readonly xfcc?: XfccSettings;
  /** `add_user_agent`: the local service cluster and node, told to the upstream; null when off. */
  readonly userAgent: { readonly cluster: string; readonly node: string } | null;
  readonly serverName: string;
  readonly serverHeaderTransformation: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  /** 0 = disabled. */
  readonly idleTimeoutMs: number;
  /** 0 = disabled. */
  readonly requestHeadersTimeoutMs: number;
  readonly maxRequestHeadersBytes: number;
  readonly maxHeadersCount: number;
  readonly acceptHttp10: boolean;
  /** http_protocol_options.enable_trailers: HTTP/1.1 chunked requests and responses carry trailers. */
  readonly enableTrailers?: boolean;
  readonly defaultHostForHttp10: string;
  /**
   * proxy_100_continue: `expect: 100-continue` goes upstream and the upstream's 100, 102 and 103
   * reach the client; off (the default), the HCM answers Expect itself and swallows those.
   */
  readonly proxy100Continue?: boolean;
  /** HCM-level upgrade types (lower-case) → enabled. */
  readonly upgrades: ReadonlyMap<string, boolean>;
  /** RFC 3986 dot-segment removal before routing (normalize_path). */
  readonly normalizePath: boolean;
  /** Collapse repeated slashes before routing (merge_slashes). */
  readonly mergeSlashes: boolean;
  /** Downstream bytes buffered per stream before reading pauses. */
  readonly bufferLimitBytes: number;
  /** `stream_idle_timeout` (Envoy default 5 min); a route's `idle_timeout` overrides it. 0 = disabled. */
  readonly streamIdleTimeoutMs: number;
  /** `request_timeout`: the whole request must arrive within it. 0 = disabled. */
  readonly requestTimeoutMs: number;
  readonly codecType: CodecType;
  /** `http2_protocol_options` (Envoy's defaults when absent). */
  readonly http2: Http2Settings;
}

export interface ConnectionManagerConfig {
  readonly settings: HcmSettings;
  readonly stats: HcmStats;
  /** Replaced whole by RDS updates; a stream keeps the table it was routed with. */
  readonly routeTable: RouteTable;
  readonly filterFactories: readonly StreamFilterFactory[];
  readonly accessLoggers: readonly AccessLogger[];
  readonly tracer: Tracer | null;
}
