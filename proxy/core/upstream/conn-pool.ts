// Envoy's ConnectionPool::Instance: how the router gets a stream to a host without knowing the
// protocol. newStream binds a ResponseDecoder and hands back a RequestEncoder once a connection
// has room for the stream: an HTTP/1.1 connection carries one stream at a time (http1-conn-pool.ts),
// an HTTP/2 connection many up to its concurrent-stream limit. Every pool honours the cluster's
// circuit breakers (max_connections, max_pending_requests) and counts its overflows.
import type { RequestEncoder, ResponseDecoder } from '../http/codec/types.js';
import type { HttpProtocol } from '../stream-info.js';
import type { Counter, Gauge } from '../../stats/types.js';

/**
 * Arms a new upstream connection's connect timeout (the cluster's connect_timeout). Node runs timers
 * before it reads sockets: a loop kept busy past the timeout by a burst may have this connect done
 * and its event waiting in this very iteration. Judged after the poll phase (setImmediate), a
 * connection that made it is kept, not destroyed with every stream waiting on it.
 */
export function armConnectTimeout(
  client: { readonly connected: boolean; readonly codec: { readonly destroyed: boolean; destroy(): void } },
  timeoutMs: number,
  timedOut: Counter,
): NodeJS.Timeout {
  return setTimeout(() => {
    setImmediate(() => {
      if (client.connected || client.codec.destroyed) return;
      timedOut.inc();
      client.codec.destroy();
    });
  }, timeoutMs);
}

/**
 * The host's connection counts a pool keeps (host.ts's HostStats, which is a Host's `stats`);
 * spelled here by shape because host.ts imports this module for ConnectionPool.
 */
export interface PoolHost {
  readonly stats: { cx_total: number; cx_active: number; cx_connect_fail: number };
}

/**
 * Counts a connection a pool starts to open: against the cluster's max_connections breaker, in
 * upstream_cx_total/upstream_cx_active and the host's cx_total/cx_active (what Envoy's
 * ConnPoolImplBase does for every protocol when it creates an ActiveClient). Each HTTP/1.1 and
 * HTTP/2 pool connection goes through here and through connectionClosed, so the counts cannot drift
 * apart between the two.
 */
export function connectionOpening(cluster: PoolClusterInfo, host: PoolHost): void {
  cluster.resources.connections++;
  cluster.stats.upstream_cx_total.inc();
  cluster.stats.upstream_cx_active.inc();
  host.stats.cx_total++;
  host.stats.cx_active++;
}

/** Undoes connectionOpening's active counts once the connection closed, whichever way it ended. */
export function connectionClosed(cluster: PoolClusterInfo, host: PoolHost, connected: boolean): void {
  cluster.resources.connections--;
  cluster.stats.upstream_cx_active.dec();
  host.stats.cx_active--;
  if (connected) return;
  // Closed before it connected (refused, reset, or connect_timeout).
  cluster.stats.upstream_cx_connect_fail.inc();
  host.stats.cx_connect_fail++;
}

/** The circuit-breaker counts pools share per cluster and priority (the cluster's ResourceManager). */
export interface PoolResources {
  connections: number;
  pendingRequests: number;
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
}

/** The cluster stats a pool records (`cluster.<name>.upstream_cx_*`, `upstream_rq_pending_*`). */
export interface PoolStats {
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_protocol_error: Counter;
  readonly upstream_rq_pending_total: Counter;
  readonly upstream_rq_pending_active: Gauge;
  readonly upstream_rq_pending_overflow: Counter;
}

/** What a pool reads of its cluster (Envoy's ClusterInfo, reduced); the cluster's ClusterInfo is one. */
export interface PoolClusterInfo {
  readonly resources: PoolResources;
  readonly stats: PoolStats;
  readonly connectTimeoutMs: number;
  /** Idle connections close after this long; 0 keeps them until the peer closes. */
  readonly idleTimeoutMs: number;
  /** Streams per connection before it is closed; 0 is unlimited. */
  readonly maxRequestsPerConnection: number;
  /** HTTP/1.1 connections carry chunked trailers both ways (http_protocol_options.enable_trailers). */
  readonly http1EnableTrailers?: boolean;
}

export type PoolFailureReason = 'overflow' | 'connection_failure' | 'timeout';

export interface PoolCallbacks {
  /** A connection has room: write the request with `encoder`; the response goes to the stream's decoder. */
  onPoolReady(encoder: RequestEncoder): void;
  /** `transportFailureReason`: why the connection's transport (TLS) failed, when it says. */
  onPoolFailure(reason: PoolFailureReason, transportFailureReason?: string | null): void;
}

/** Withdraws a stream still waiting for a connection. */
export type Cancellable = () => void;

export interface ConnectionPool {
  readonly protocol: HttpProtocol;
  /**
   * A stream for one request: onPoolReady at once when a connection has room, else after a
   * connect (or onPoolFailure). Returns a Cancellable while the stream waits, null once settled.
   */
  newStream(decoder: ResponseDecoder, callbacks: PoolCallbacks): Cancellable | null;
  /** Closes idle connections now and busy ones as their streams finish (host removed, shutdown). */
  drain(): void;
  /** Closes every connection now. */
  destroy(): void;
}
