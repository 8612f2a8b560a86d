// What every extension factory gets (per worker), apart from the registries that hold the
// factories: so the core's parts (the cluster manager, clusters) can take a context without
// importing the registries, which import them.
import type { Scope } from '../stats/types.js';
import type { Runtime } from '../runtime/index.js';
import type { SecretManager } from './network/tls/secret-manager.js';

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
  /** Where TLS contexts get their SDS secrets (absent in bare test contexts: then only inline material). */
  readonly secrets?: SecretManager;
  /** The server's health as `/healthcheck/fail|ok` and draining set it (absent in bare test contexts). */
  readonly serverState?: ServerStateView;
}

/** What the admin's `/healthcheck/fail` and draining change, as the data path reads it. */
export interface ServerStateView {
  readonly healthCheckFailed: boolean;
  readonly draining: boolean;
}
