// The control plane's public face: load and watch a mesh description, compile it per node,
// serve it over xDS; and the one-shot renderers used by `control-plane render|bootstrap`.
import { readFile } from 'node:fs/promises';
import { CaMaterialError } from './ca/errors.js';
import { MeshCA } from './ca/ca.js';
import { WorkloadCertificates } from './ca/certificates.js';
import { loadMeshFile } from './mesh/validate.js';
import { nodeIdentities } from './translate/resources.js';
import { usesMtls } from './translate/mtls.js';
import type { CacheSecurity } from './xds/cache.js';
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
  MtlsNeedsCaError,
  type MeshIssue,
} from './errors.js';
export { MeshCA, WorkloadCertificates, parseSpiffeId, spiffeId } from './ca/index.js';
export { nodeIdentities } from './translate/resources.js';
export type { CacheSecurity } from './xds/cache.js';
export { type MeshSecurity, type MtlsMode, mtlsMode } from './translate/mtls.js';
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
  /** The operator's root CA (certificate and key PEM files); a root is generated when absent. */
  caCertificatePath?: string;
  caKeyPath?: string;
  /** Workload certificate lifetime (1 h, Istio's default); each is re-issued at half of it. */
  svidTtlMs?: number;
}

export interface ControlPlane {
  readonly host: string;
  readonly port: number;
  readonly mesh: Mesh;
  /** The mesh CA and the certificates it issued; undefined while the mesh has no mutual TLS. */
  readonly certificates: WorkloadCertificates | undefined;
  stats(): XdsServerStats;
  close(): Promise<void>;
}

/** The mesh CA for `trustDomain`: the operator's root when configured, else a new one. */
async function meshCa(o: ControlPlaneOptions, trustDomain: string): Promise<MeshCA> {
  if (o.caCertificatePath === undefined && o.caKeyPath === undefined) return MeshCA.generate({ trustDomain });
  if (o.caCertificatePath === undefined || o.caKeyPath === undefined)
    throw new CaMaterialError('an operator root needs both caCertificatePath and caKeyPath');
  const read = async (path: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new CaMaterialError(`${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return MeshCA.fromPem({
    trustDomain,
    certificatePem: await read(o.caCertificatePath),
    privateKeyPem: await read(o.caKeyPath),
    source: o.caCertificatePath,
  });
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const log = o.log ?? ((line: string) => process.stderr.write(`[control-plane] ${line}\n`));
  const initial = await loadMeshFile(o.meshPath);
  let certificates: WorkloadCertificates | undefined;
  let cache: SnapshotCache | undefined;
  const securityOf = (certs: WorkloadCertificates | undefined): CacheSecurity | undefined =>
    certs === undefined
      ? undefined
      : { rootCertificatePem: certs.ca.rootCertificatePem, secrets: (nodeId) => certs.secrets(nodeId) };
  /** Certificates for every node of `mesh` (a new CA when its trust domain changed), before its config is served. */
  const secure = async (mesh: Mesh): Promise<WorkloadCertificates | undefined> => {
    // An operator's root is loaded (and checked) at start even before the mesh turns mTLS on.
    if (!usesMtls(mesh) && o.caCertificatePath === undefined) return certificates;
    let certs = certificates;
    if (certs === undefined || certs.ca.trustDomain !== mesh.trust_domain) {
      const ca = await meshCa(o, mesh.trust_domain);
      certs = new WorkloadCertificates(ca, {
        ...(o.svidTtlMs === undefined ? {} : { ttlMs: o.svidTtlMs }),
        // A rotated certificate: the same mesh, re-read secrets, push what changed.
        onRotate: () => cache?.setMesh(cache.mesh),
        onError: (nodeId, err) => log(`certificate for ${nodeId} not renewed: ${err.message}`),
      });
    }
    await certs.ensure(nodeIdentities(mesh));
    if (certs !== certificates) certificates?.close();
    certificates = certs;
    return certs;
  };
  cache = new SnapshotCache(initial, securityOf(await secure(initial)));
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
      secure(mesh).then(
        (certs) => {
          cache.setMesh(mesh, securityOf(certs));
          log(`mesh '${mesh.name}' reloaded from ${o.meshPath}`);
          o.onMeshApplied?.(mesh);
        },
        (err: Error) => {
          log(`${err.message}\n  keeping the last good mesh`);
          o.onMeshRejected?.(err);
        },
      );
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
    get certificates() {
      return certificates;
    },
    stats: () => server.stats(),
    close: async () => {
      watcher.close();
      certificates?.close();
      await server.close();
    },
  };
}
