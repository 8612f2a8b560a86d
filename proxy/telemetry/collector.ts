// Where telemetry goes: Envoy names a collector by cluster (`http_service.http_uri.cluster`,
// `collector_cluster`, `grpc_service.envoy_grpc.cluster_name`); the exporters need a URL.
// Resolved once at config time from the cluster's first endpoint.
import { endpointSpecs } from '../core/upstream/endpoints.js';
import type { ClusterConfig } from '../api/schema.js';
import { ProxyError } from '../errors.js';

/** What the factories need from the cluster manager. */
export interface ClusterLookup {
  get(name: string): { readonly info: { readonly config: ClusterConfig } } | undefined;
}

export class CollectorClusterError extends ProxyError {
  constructor(message: string) {
    super('MS_ERR_TELEMETRY_COLLECTOR_CLUSTER', message);
  }
}

/** `http://<first endpoint of cluster><path>`; throws CollectorClusterError naming the cluster. */
export function collectorUrl(
  clusters: ClusterLookup | undefined,
  cluster: string,
  path: string,
  field: string,
): string {
  if (clusters === undefined) throw new CollectorClusterError(`${field}: cluster '${cluster}' cannot be resolved here`);
  const c = clusters.get(cluster);
  if (c === undefined) throw new CollectorClusterError(`${field}: unknown cluster '${cluster}'`);
  const first = endpointSpecs(c.info.config.load_assignment)[0];
  if (first === undefined) throw new CollectorClusterError(`${field}: cluster '${cluster}' has no endpoints`);
  const host = first.address.includes(':') ? `[${first.address}]` : first.address;
  return `http://${host}:${first.port}${path === '' || path.startsWith('/') ? path : `/${path}`}`;
}

/** The path of an `http_uri.uri` (Envoy connects to the cluster and sends to this path). */
export function uriPath(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.pathname}${u.search}`;
  } catch {
    return uri.startsWith('/') ? uri : `/${uri}`;
  }
}
