// Main ↔ worker protocol over node:cluster IPC: request/response by id, plain data only.
import type {
  Bootstrap,
  ClusterConfig,
  ClusterLoadAssignment,
  ListenerConfig,
  RouteConfiguration,
} from '../api/schema.js';
import type { NodeInfo } from './extension-points.js';
import type { SecretConfig } from '../api/tls.js';
import type { RuntimeSnapshotWire } from '../runtime/index.js';

export type WorkerRequest =
  | {
      id: number;
      op: 'init';
      bootstrap: Bootstrap;
      node: NodeInfo;
      shutdownTimeoutMs: number;
      runtime: RuntimeSnapshotWire;
    }
  | { id: number; op: 'runtime'; snapshot: RuntimeSnapshotWire }
  | { id: number; op: 'stats' }
  | { id: number; op: 'clusters' }
  | { id: number; op: 'certs' }
  | { id: number; op: 'listeners' }
  | { id: number; op: 'reset_counters' }
  | { id: number; op: 'drain_listeners'; inboundOnly: boolean }
  | { id: number; op: 'health_check_failed'; failed: boolean }
  | { id: number; op: 'connections' }
  | { id: number; op: 'shutdown'; drainMs: number }
  | { id: number; op: 'add_cluster'; cluster: ClusterConfig; addedViaApi: boolean }
  | { id: number; op: 'remove_cluster'; name: string }
  | { id: number; op: 'add_listener'; listener: ListenerConfig }
  | { id: number; op: 'remove_listener'; name: string }
  | { id: number; op: 'update_routes'; name: string; routeConfig: RouteConfiguration }
  | { id: number; op: 'update_hosts'; name: string; assignment: ClusterLoadAssignment }
  | { id: number; op: 'update_secrets'; secrets: SecretConfig[] };

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type WorkerCall = DistributiveOmit<WorkerRequest, 'id'>;
