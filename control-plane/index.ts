// The control plane's public face: load and watch a mesh description, compile it per node,
// serve it over xDS; and the one-shot renderers used by `control-plane render|bootstrap`.
import { loadMeshFile } from './mesh/validate.js';
import type { Mesh } from './mesh/schema.js';
import { MeshWatcher } from './watch.js';
import { SnapshotCache } from './xds/cache.js';
import { XdsServer, type XdsServerStats } from './xds/server.js';
import type { XdsEvents } from './xds/ads.js';

export { parseMesh, loadMeshFile } from './mesh/validate.js';
export type { Mesh, Service, Workload, RouteRule, Telemetry } from './mesh/schema.js';
export {
  ControlPlaneError,
  MeshValidationError,
  MeshReadError,
  UnknownNodeError,
  DiscoveryRequestError,
  type MeshIssue,
} from './errors.js';
export {
  nodeResources,
  nodeNames,
  renderStaticBootstrap,
  renderDynamicBootstrap,
  XDS_CLUSTER,
  TYPE_URL,
  type NodeResources,
  type DynamicBootstrapOptions,
  type JsonObject,
} from './translate/index.js';
export { SnapshotCache } from './xds/cache.js';
export type { XdsEvents } from './xds/ads.js';

export interface ControlPlaneOptions {
  meshPath: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  restHoldMs?: number;
  restRefreshMs?: number;
  debounceMs?: number;
  log?: (line: string) => void;
  onAck?: XdsEvents['ack'];
  onNack?: XdsEvents['nack'];
  /** Called after a changed mesh file was accepted and pushed. */
  onMeshApplied?: (mesh: Mesh) => void;
  /** Called when a changed mesh file was rejected; the previous mesh stays in force. */
  onMeshRejected?: (err: Error) => void;
}

export interface ControlPlane {
  readonly host: string;
  readonly port: number;
  readonly mesh: Mesh;
  stats(): XdsServerStats;
  close(): Promise<void>;
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const log = o.log ?? ((line: string) => process.stderr.write(`[control-plane] ${line}\n`));
  const cache = new SnapshotCache(await loadMeshFile(o.meshPath));
  const events: XdsEvents = { log };
  if (o.onAck !== undefined) events.ack = o.onAck;
  if (o.onNack !== undefined) events.nack = o.onNack;
  const server = new XdsServer({
    cache,
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 18000,
    restHoldMs: o.restHoldMs ?? 800,
    restRefreshMs: o.restRefreshMs ?? 200,
    events,
  });
  const address = await server.listen();
  const watcher = new MeshWatcher({
    path: o.meshPath,
    debounceMs: o.debounceMs ?? 50,
    onMesh: (mesh) => {
      cache.setMesh(mesh);
      log(`mesh '${mesh.name}' reloaded from ${o.meshPath}`);
      o.onMeshApplied?.(mesh);
    },
    onError: (err) => {
      log(`${err.message}\n  keeping the last good mesh`);
      o.onMeshRejected?.(err);
    },
  });
  return {
    host: address.address,
    port: address.port,
    get mesh() {
      return cache.mesh;
    },
    stats: () => server.stats(),
    close: async () => {
      watcher.close();
      await server.close();
    },
  };
}
