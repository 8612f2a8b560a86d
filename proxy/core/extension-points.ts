// The extension categories the core resolves by Envoy name, and the context each factory gets.
// Extensions register themselves from their own module (see proxy/extensions/catalog.ts); the
// core never names a concrete extension except the HCM and the router it requires.
import type { Socket } from 'node:net';
import { ExtensionRegistry } from './registry.js';
import { provideExtensionSchemas } from '../api/extension-schemas.js';
import type { StreamFilterFactory } from './http/filter.js';
import type { Span, StreamInfo } from './stream-info.js';
import type { HeaderMap } from './http/headers.js';
import type { ClusterManager } from './upstream/cluster-manager.js';
import type { ExtensionContext } from './extension-context.js';
import type { ClusterContext, ClusterDiscovery } from './upstream/cluster-discovery.js';
import type { TransportSocket } from './network/transport-socket.js';

export type { ExtensionContext, NodeInfo, ServerStateView } from './extension-context.js';
export type { ClusterContext, ClusterDiscovery } from './upstream/cluster-discovery.js';

export interface HttpFilterContext extends ExtensionContext {
  /** The HCM's `stat_prefix`: filter stats go under `http.<stat_prefix>.`. */
  readonly statPrefix: string;
  readonly clusterManager: ClusterManager;
}

/** Settings from the HCM's `tracing` block, handed to the tracer factory. */
export interface TracingSettings {
  /** Percent of requests without a decision that start a trace (Envoy default 100). */
  readonly randomSamplingPercent: number;
  /** Percent of requests with x-client-trace-id that are force-traced (default 100). */
  readonly clientSamplingPercent: number;
  /** Cap applied after the other decisions (default 100). */
  readonly overallSamplingPercent: number;
  readonly verbose: boolean;
  readonly maxPathTagLength: number;
  readonly spawnUpstreamSpan: boolean;
  /** Envoy's `custom_tags`, each with exactly one of literal, environment, request_header. */
  readonly customTags: ReadonlyArray<{
    readonly tag: string;
    readonly literal?: { readonly value: string };
    readonly environment?: { readonly name: string; readonly default_value?: string };
    readonly request_header?: { readonly name: string; readonly default_value?: string };
  }>;
}

export interface TracerContext extends ExtensionContext {
  readonly tracing: TracingSettings;
  readonly statPrefix: string;
}

/** A tracer decides per stream whether to trace and returns the SERVER span. */
export interface Tracer {
  startSpan(info: StreamInfo, requestHeaders: HeaderMap, operationName: string): Span | null;
}

/** An access logger is called once per completed stream; it must only buffer, never block. */
export interface AccessLogger {
  log(info: StreamInfo): void;
}

export interface AccessLoggerContext extends ExtensionContext {
  readonly statPrefix: string;
}

/**
 * A terminal network filter: the last of a filter chain, it takes a listener's connection over
 * (the HCM; direct_response; tcp_proxy later). The listener resumes reading the socket after
 * `onNewConnection` returns, so bytes a listener filter peeked at are read again here.
 */
export interface NetworkFilter {
  /**
   * A new downstream connection, already behind its filter chain's transport socket (raw TCP or
   * TLS): the filter reads and writes `transport.stream` and takes `:scheme` from the transport.
   */
  onNewConnection(transport: TransportSocket, listener: ListenerInfo): DownstreamConnection;
  /**
   * A filter before this one refused the connection (network rbac) before this one saw it: Envoy
   * creates every filter of the chain for every connection, so tcp_proxy still writes its access
   * log line for it (CONNECTION_TERMINATION_DETAILS says why). Optional: the HCM logs requests,
   * and a refused connection carried none.
   */
  onRefusedConnection?(transport: TransportSocket, listener: ListenerInfo): void;
}

/** What a non-terminal network filter decides about a new connection. */
export type NetworkFilterStatus = 'continue' | 'stop';

/**
 * A network filter before the chain's terminal one (connection_limit, rbac, istio.stats): sees
 * each new connection first, in the chain's order, already behind its transport socket (so it
 * can wait for `transport.onConnected` and read `transport.ssl`, the peer's identity). `stop`
 * means it closed `transport.stream` or will close it.
 */
export interface NetworkReadFilter {
  readonly terminal: false;
  onNewConnection(transport: TransportSocket, listener: ListenerInfo): NetworkFilterStatus;
}

export function isNetworkReadFilter(f: NetworkFilter | NetworkReadFilter): f is NetworkReadFilter {
  return 'terminal' in f && f.terminal === false;
}

/**
 * What listener filters learn about a connection before its filter chain is chosen (Envoy's
 * ConnectionSocket): the filter chain match reads these.
 */
export interface AcceptedSocket {
  readonly socket: Socket;
  /** `tls` once tls_inspector saw a ClientHello; '' until set (the match reads '' as `raw_buffer`). */
  detectedTransportProtocol: string;
  /** SNI from the ClientHello, lower-cased; '' when none. */
  requestedServerName: string;
  /** ALPN from the ClientHello, or `http/1.1` / `http/1.0` / `h2c` from http_inspector. */
  requestedApplicationProtocols: readonly string[];
}

/** `need_more_data`: call again when more bytes arrived; `close`: the connection is refused. */
export type ListenerFilterStatus = 'continue' | 'need_more_data' | 'close';

/**
 * A listener filter (tls_inspector, http_inspector): runs on a new connection before the filter
 * chain is chosen. It peeks: the bytes it is shown stay unread for the chain's network filters.
 */
export interface ListenerFilter {
  /** The most bytes it needs to decide; at that size it must answer `continue` or `close`. */
  readonly maxReadBytes: number;
  /** Everything read so far (not only the new bytes); `ended` when the peer sent FIN. */
  onData(data: Buffer, socket: AcceptedSocket, ended: boolean): ListenerFilterStatus;
}

export interface ListenerInfo {
  readonly name: string;
  readonly port: number;
  readonly direction: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
}

/** A live downstream connection, as the listener tracks it for draining. */
export interface DownstreamConnection {
  /**
   * Finish the in-flight stream (answering with `connection: close`), then close; idle ones
   * close now, or — with `idleGraceMs` — only if still idle after it.
   */
  drain(idleGraceMs?: number): void;
  /** Close immediately. */
  destroy(): void;
  onClose(fn: () => void): void;
}

export interface NetworkFilterContext extends ExtensionContext {
  readonly clusterManager: ClusterManager;
}

export const registries = {
  listenerFilters: new ExtensionRegistry<ListenerFilter, ExtensionContext>('listener filter'),
  networkFilters: new ExtensionRegistry<NetworkFilter | NetworkReadFilter, NetworkFilterContext>('network filter'),
  httpFilters: new ExtensionRegistry<StreamFilterFactory, HttpFilterContext>('HTTP filter'),
  accessLoggers: new ExtensionRegistry<AccessLogger, AccessLoggerContext>('access logger'),
  tracers: new ExtensionRegistry<Tracer, TracerContext>('tracer'),
  /** Keyed by Envoy's cluster factory names (`envoy.cluster.static`...); `type` maps onto them. */
  clusters: new ExtensionRegistry<ClusterDiscovery, ClusterContext>('cluster'),
};

// Config validation (proxy/api) resolves `{ name, typed_config }` through these registries.
provideExtensionSchemas({
  listenerFilters: registries.listenerFilters,
  networkFilters: registries.networkFilters,
  httpFilters: registries.httpFilters,
  accessLoggers: registries.accessLoggers,
  tracers: registries.tracers,
});
