// Bootstraps for a node: the static one (`render`, everything inline for a proxy without
// xDS) and the dynamic one (`bootstrap`, which points the proxy at the control plane).
import type { Mesh } from '../mesh/schema.js';
import { configSource, loopback, socketAddress, type ConfigSourceStyle, type JsonObject } from './envoy.js';
import { INGRESS_CERT_SECRET } from './mtls.js';
import { findNode, nodeResources } from './resources.js';

export const XDS_CLUSTER = 'xds_cluster';

/** Envoy's `node`: id, cluster, locality, and Istio's metadata keys the telemetry reads. */
function nodeSection(mesh: Mesh, nodeId: string): JsonObject {
  const node = findNode(mesh, nodeId);
  if (node.kind === 'ingress') {
    return {
      id: nodeId,
      cluster: nodeId,
      metadata: { NAME: nodeId, WORKLOAD_NAME: nodeId, NAMESPACE: 'default', MESH_ID: mesh.name },
    };
  }
  const { service, workload } = node;
  const section: JsonObject = {
    id: nodeId,
    cluster: service.name,
    metadata: {
      NAME: workload.name,
      WORKLOAD_NAME: workload.name,
      NAMESPACE: service.namespace,
      LABELS: { app: service.name, ...workload.labels },
      MESH_ID: mesh.name,
    },
  };
  const loc = workload.locality;
  if (loc !== undefined) {
    const locality: JsonObject = {};
    if (loc.region !== undefined) locality.region = loc.region;
    if (loc.zone !== undefined) locality.zone = loc.zone;
    if (loc.sub_zone !== undefined) locality.sub_zone = loc.sub_zone;
    section.locality = locality;
  }
  return section;
}

function adminPort(mesh: Mesh, nodeId: string): number | undefined {
  const node = findNode(mesh, nodeId);
  return node.kind === 'ingress' ? mesh.ingress?.admin_port : node.workload.sidecar?.admin_port;
}

function withAdmin(mesh: Mesh, nodeId: string, bootstrap: JsonObject): JsonObject {
  const port = adminPort(mesh, nodeId);
  return port === undefined ? bootstrap : { ...bootstrap, admin: { address: loopback(port) } };
}

/** The node's whole configuration as a static bootstrap: RDS inlined, EDS clusters made STATIC. */
export function renderStaticBootstrap(mesh: Mesh, nodeId: string): JsonObject {
  const res = nodeResources(mesh, nodeId, { kind: 'ads' });
  const listeners = [...res.listeners.values()].map((l) => inlineRoutes(l, res.routes));
  const clusters = [...res.clusters.values()].map((c) => {
    if (c.type !== 'EDS') return c;
    const { eds_cluster_config: _eds, ...rest } = c;
    return {
      ...rest,
      type: 'STATIC',
      load_assignment: res.endpoints.get(c.name as string) ?? { cluster_name: c.name, endpoints: [] },
    };
  });
  return withAdmin(mesh, nodeId, { node: nodeSection(mesh, nodeId), static_resources: { listeners, clusters } });
}

function inlineRoutes(listener: JsonObject, routes: Map<string, JsonObject>): JsonObject {
  const chains = (listener.filter_chains as JsonObject[]).map((chain) => ({
    ...chain,
    filters: (chain.filters as JsonObject[]).map((f) => {
      const hcm = f.typed_config as JsonObject;
      if (hcm.rds === undefined) return f;
      const { rds, ...rest } = hcm;
      const routeConfig = routes.get((rds as JsonObject).route_config_name as string) as JsonObject;
      return { ...f, typed_config: { ...rest, route_config: routeConfig } };
    }),
  }));
  return { ...listener, filter_chains: chains };
}

export interface DynamicBootstrapOptions {
  /** The control plane's `ip:port`. */
  xds: string;
  /** GRPC: ADS state of the world; DELTA_GRPC: incremental ADS; REST: JSON polling. */
  api: 'GRPC' | 'DELTA_GRPC' | 'REST';
  /** REST polling interval (the server long-polls, so this is only the floor between polls). */
  refreshDelayMs?: number;
  /**
   * The ingress's HTTPS certificate and key files (PEM), served as the static secret
   * INGRESS_CERT_SECRET its HTTPS listener names; without them that listener refuses handshakes.
   */
  ingressCertificate?: { certificateChain: string; privateKey: string };
}

/** A bootstrap that fetches listeners and clusters (and through them routes and endpoints) from the control plane. */
export function renderDynamicBootstrap(mesh: Mesh, nodeId: string, o: DynamicBootstrapOptions): JsonObject {
  const xdsCluster: JsonObject = {
    name: XDS_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: XDS_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(o.xds) } }] }],
    },
  };
  let dynamic: JsonObject;
  if (o.api !== 'REST') {
    // meshscope's xDS client speaks gRPC to this cluster's address itself, so the cluster
    // carries no upstream HTTP/2 options (Envoy itself would need http2_protocol_options).
    const ads: ConfigSourceStyle = { kind: 'ads' };
    dynamic = {
      ads_config: {
        api_type: o.api,
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      lds_config: configSource(ads),
      cds_config: configSource(ads),
    };
  } else {
    const rest: ConfigSourceStyle = { kind: 'rest', cluster: XDS_CLUSTER, refreshDelayMs: o.refreshDelayMs ?? 200 };
    dynamic = { lds_config: configSource(rest), cds_config: configSource(rest) };
  }
  const statics: JsonObject = { clusters: [xdsCluster] };
  const cert = o.ingressCertificate;
  if (cert !== undefined && findNode(mesh, nodeId).kind === 'ingress')
    statics.secrets = [
      {
        name: INGRESS_CERT_SECRET,
        tls_certificate: {
          certificate_chain: { filename: cert.certificateChain },
          private_key: { filename: cert.privateKey },
        },
      },
    ];
  return withAdmin(mesh, nodeId, {
    node: nodeSection(mesh, nodeId),
    dynamic_resources: dynamic,
    static_resources: statics,
  });
}
