// The extension categories the core resolves by Envoy name, and the context each factory gets.
// Extensions register themselves from their own module (see proxy/extensions/index.ts); the
// core never names a concrete extension except the HCM and the router it requires.
import type { Scope } from '../stats/types.js';
import { ExtensionRegistry } from './registry.js';
import type { StreamFilterFactory } from './http/filter.js';
import type { Span, StreamInfo } from './stream-info.js';
import type { HeaderMap } from './http/headers.js';
import type { ClusterManager } from './upstream/cluster-manager.js';
import type { HostDescription } from './upstream/host.js';
import type { ClusterConfig } from '../config/schema.js';
import type { Runtime } from '../runtime/index.js';
import type { TransportSocket } from './network/transport-socket.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly locality: { region: string; zone: string; subZone: string };
  readonly metadata: Record<string, unknown>;
}

/** What every factory may use. Everything here is per worker. */
export interface ExtensionContext {
  readonly node: NodeInfo;
  /** The worker's root stats scope; look handles up at factory time, record on the hot path. */
  readonly stats: Scope;
  /** The layered runtime; read `runtime.snapshot()` per request (a snapshot is swapped whole on change). */
  readonly runtime: Runtime;
  /** Registers work to run on shutdown (e.g. flushing buffered telemetry); awaited with a bound. */
  onShutdown(fn: () => Promise<void> | void): void;
  /** The listener's `traffic_direction`, for listener-scoped extensions (tracers pick span kinds by it). */
  readonly trafficDirection?: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  /** The server's health as `/healthcheck/fail|ok` and draining set it (absent in bare test contexts). */
  readonly serverState?: ServerStateView;
}

/** What the admin's `/healthcheck/fail` and draining change, as the data path reads it. */
export interface ServerStateView {
  readonly healthCheckFailed: boolean;
  readonly draining: boolean;
}

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

/** A network filter terminating a listener's connections (the HCM today, tcp_proxy later). */
export interface NetworkFilter {
  /**
   * A new downstream connection, already behind its filter chain's transport socket (raw TCP or
   * TLS): the filter reads and writes `transport.stream` and takes `:scheme` from the transport.
   */
  onNewConnection(transport: TransportSocket, listener: ListenerInfo): DownstreamConnection;
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

/** Host discovery for one cluster (Envoy's cluster types: static, strict_dns, logical_dns...). */
export interface ClusterDiscovery {
  /** Calls `onHosts` with the full host list now or soon, and again whenever it changes. */
  start(onHosts: (hosts: HostDescription[]) => void): void;
  stop(): void;
}

export interface ClusterContext extends ExtensionContext {
  readonly cluster: ClusterConfig;
}

export const registries = {
  networkFilters: new ExtensionRegistry<NetworkFilter, NetworkFilterContext>('network filter'),
  httpFilters: new ExtensionRegistry<StreamFilterFactory, HttpFilterContext>('HTTP filter'),
  accessLoggers: new ExtensionRegistry<AccessLogger, AccessLoggerContext>('access logger'),
  tracers: new ExtensionRegistry<Tracer, TracerContext>('tracer'),
  /** Keyed by Envoy's cluster factory names (`envoy.cluster.static`...); `type` maps onto them. */
  clusters: new ExtensionRegistry<ClusterDiscovery, ClusterContext>('cluster'),
};
