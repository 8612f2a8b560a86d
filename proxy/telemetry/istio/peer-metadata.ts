// Workload identity and its exchange between sidecars (Istio's metadata exchange over HTTP).
// A sidecar knows itself from its node settings; it learns its peer from a header the other
// sidecar adds: the outbound sidecar adds its identity to the request, the inbound one reads
// and strips it and answers with its own in the response, which the outbound side reads and
// strips. Values are validated and length-capped, and distinct peers are capped per worker,
// so no label value or label cardinality comes from unbounded request data.
import type { NodeInfo } from '../../core/extension-points.js';

export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';

export interface WorkloadIdentity {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
  readonly principal: string;
  readonly cluster: string;
  /** The canonical service host, e.g. `reviews.default.svc.cluster.local`. */
  readonly service: string;
}

export const UNKNOWN_IDENTITY: WorkloadIdentity = Object.freeze({
  workload: 'unknown',
  namespace: 'unknown',
  app: 'unknown',
  version: 'unknown',
  principal: 'unknown',
  cluster: 'unknown',
  service: 'unknown',
});

const MAX_VALUE_LENGTH = 253;
/** Label-safe characters of Kubernetes names, DNS names and SPIFFE ids. */
const SAFE_VALUE = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*$/;

function safe(v: unknown, fallback: string): string {
  return typeof v === 'string' && v.length <= MAX_VALUE_LENGTH && SAFE_VALUE.test(v) ? v : fallback;
}

function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * This proxy's identity, from Istio's node metadata keys (WORKLOAD_NAME, NAMESPACE, LABELS,
 * SERVICE_ACCOUNT, CLUSTER_ID) with `--service-cluster` (node.cluster) as the fallback name.
 */
export function localIdentity(node: NodeInfo): WorkloadIdentity {
  const md = node.metadata;
  const labels = record(md['LABELS']);
  const workload = safe(md['WORKLOAD_NAME'], safe(node.cluster, 'unknown'));
  const namespace = safe(md['NAMESPACE'], 'default');
  const app = safe(labels['service.istio.io/canonical-name'], safe(labels['app'], workload));
  const version = safe(labels['service.istio.io/canonical-revision'], safe(labels['version'], 'unknown'));
  const sa = safe(md['SERVICE_ACCOUNT'], '');
  const trustDomain = safe(md['TRUST_DOMAIN'], 'cluster.local');
  return {
    workload,
    namespace,
    app,
    version,
    principal: sa === '' ? 'unknown' : `spiffe://${trustDomain}/ns/${namespace}/sa/${sa}`,
    cluster: safe(md['CLUSTER_ID'], 'unknown'),
    service: safe(md['SERVICE'], `${app}.${namespace}.svc.cluster.local`),
  };
}

/** The header value a sidecar sends: base64 of a small JSON object, computed once. */
export function encodePeerMetadata(id: WorkloadIdentity): string {
  return Buffer.from(
    JSON.stringify({
      WORKLOAD_NAME: id.workload,
      NAMESPACE: id.namespace,
      APP: id.app,
      VERSION: id.version,
      PRINCIPAL: id.principal,
      CLUSTER_ID: id.cluster,
      SERVICE: id.service,
    }),
  ).toString('base64');
}

/**
 * Decodes a peer's header; null when absent or malformed. Decoded identities are cached by
 * header value (peers send the same value every time) and the cache is bounded: past
 * `maxPeers` distinct values, new peers are reported as unknown.
 */
export class PeerMetadataDecoder {
  readonly #cache = new Map<string, WorkloadIdentity>();
  readonly #maxPeers: number;

  constructor(maxPeers = 256) {
    this.#maxPeers = maxPeers;
  }

  decode(value: string | undefined): WorkloadIdentity | null {
    if (value === undefined || value === '' || value.length > 4096) return null;
    const hit = this.#cache.get(value);
    if (hit !== undefined) return hit;
    if (this.#cache.size >= this.#maxPeers) return UNKNOWN_IDENTITY;
    let parsed: Record<string, unknown>;
    try {
      parsed = record(JSON.parse(Buffer.from(value, 'base64').toString('utf8')));
    } catch {
      return null;
    }
    const workload = safe(parsed['WORKLOAD_NAME'], 'unknown');
    const namespace = safe(parsed['NAMESPACE'], 'unknown');
    const id: WorkloadIdentity = {
      workload,
      namespace,
      app: safe(parsed['APP'], workload),
      version: safe(parsed['VERSION'], 'unknown'),
      principal: safe(parsed['PRINCIPAL'], 'unknown'),
      cluster: safe(parsed['CLUSTER_ID'], 'unknown'),
      service: safe(parsed['SERVICE'], 'unknown'),
    };
    this.#cache.set(value, id);
    return id;
  }
}
