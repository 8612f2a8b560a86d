// What the admin server needs from a running proxy. The proxy's main process implements
// it (aggregating its workers); the admin server only renders and routes. Extensions
// (runtime, xDS) add their own endpoints through `AdminHandlerRegistry`.
import type { StatsSnapshot } from '../stats/types.js';

export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

export interface ServerInfo {
  version: string;
  state: ServerState;
  uptimeSeconds: number;
  node: { id: string; cluster: string; metadata?: Record<string, unknown>; locality?: Record<string, string> };
  commandLineOptions: Record<string, unknown>;
}

export interface HostStatus {
  /** `ip:port` as Envoy prints it in `/clusters`. */
  address: string;
  /** The endpoint's `hostname`, or the DNS name a STRICT/LOGICAL_DNS host was resolved from. */
  hostname?: string;
  weight: number;
  priority: number;
  region: string;
  zone: string;
  subZone: string;
  /** Envoy's health flags, e.g. ['healthy'] or ['/failed_active_hc', '/failed_outlier_check']. */
  healthFlags: string[];
  /** Per-host stats: cx_active, cx_connect_fail, cx_total, rq_active, rq_error, rq_success, rq_timeout, rq_total. */
  stats: Record<string, number>;
}

export interface ClusterStatus {
  name: string;
  addedViaApi: boolean;
  /** Circuit-breaker thresholds per priority, for the `default_priority::max_connections::N` lines. */
  circuitBreakers: Array<{
    priority: 'default' | 'high';
    maxConnections: number;
    maxPendingRequests: number;
    maxRequests: number;
    maxRetries: number;
  }>;
  outlierSuccessRateAverage?: number;
  outlierSuccessRateEjectionThreshold?: number;
  hosts: HostStatus[];
}

export interface ListenerStatus {
  name: string;
  /** `ip:port` the listener is bound to. */
  localAddress: string;
}

export interface AdminTarget {
  serverInfo(): ServerInfo;
  /** Stats merged across workers, fresh at call time. */
  stats(): Promise<StatsSnapshot>;
  resetCounters(): Promise<void>;
  clusters(): Promise<ClusterStatus[]>;
  /** `/certs`: Envoy's `{ certificates: [ { ca_cert, cert_chain } ] }` (absent: not served). */
  certs?(): Promise<{ certificates: unknown[] }>;
  listeners(): ListenerStatus[];
  /** Envoy's `/config_dump` object (`{ configs: [ { "@type": …BootstrapConfigDump, … }, … ] }`). */
  configDump(): unknown;
  /** `/healthcheck/fail` and `/healthcheck/ok`: flips what health checkers (and `/ready`'s callers) see. */
  setHealthCheckFailed(failed: boolean): Promise<void>;
  /** `/drain_listeners[?inboundonly][&graceful]`. */
  drainListeners(options: { inboundOnly: boolean; graceful: boolean }): Promise<void>;
  /** `/quitquitquit`: exit after the response is written. */
  quit(): void;
  /** `/logging`: the process's log level, and a change of it (absent: `/logging` lists only). */
  logLevel?(): string;
  setLogLevel?(level: string): void;
}

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Buffer;
}

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string | Buffer;
}

export type AdminHandler = (request: AdminRequest) => Promise<AdminResponse> | AdminResponse;

export interface AdminHandlerRegistry {
  /**
   * Adds an endpoint; `mutating` endpoints accept POST only, as Envoy's do, and answer a GET
   * with 405. Registering a path twice throws.
   */
  addHandler(path: string, help: string, mutating: boolean, handler: AdminHandler): void;
}
