// Istio's standard request metrics, recorded into the stats store as explicitly tagged stats
// (so `/stats/prometheus` prints them under their own names beside Envoy's). Handles are
// cached per label set, found per request through the peer's identity object (one per peer,
// from the decoder's cache), the cluster name and one number for code, flags and protocol:
// no key string is built or hashed per request. Every label value comes from node settings,
// validated peer metadata, config (cluster names) or small closed sets (codes, flags), never
// from raw request data.
import { formatResponseFlags, type StreamInfo } from '../../core/stream-info.js';
import { streamGrpcStatus } from '../../core/grpc/common.js';
import type { Counter, Histogram, Scope } from '../../stats/types.js';
import type { WorkloadIdentity } from './peer-metadata.js';
import { type ConnectionSecurity, connectionSecurity } from './connection-security.js';

export type Reporter = 'source' | 'destination';

interface Handles {
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly requestBytes: Histogram;
  readonly responseBytes: Histogram;
}

export interface IstioMetricBuckets {
  readonly duration?: readonly number[];
  readonly bytes?: readonly number[];
}

/**
 * `outbound|80||reviews.default.svc.cluster.local` → `reviews.default.svc.cluster.local`; the
 * control plane's dot-free form `outbound|80||default/reviews` names the same host.
 */
function serviceFromCluster(cluster: string): string {
  if (cluster.startsWith('outbound|') || cluster.startsWith('inbound|')) {
    const host = cluster.slice(cluster.lastIndexOf('|') + 1);
    const slash = host.indexOf('/');
    if (slash > 0) return `${host.slice(slash + 1)}.${host.slice(0, slash)}.svc.cluster.local`;
    if (host !== '') return host;
  }
  return cluster;
}

const MAX_LABEL_SETS = 10_000;

export class IstioMetrics {
  readonly #scope: Scope;
  readonly #reporter: Reporter;
  readonly #local: WorkloadIdentity;
  readonly #buckets: IstioMetricBuckets;
  /** By the connection's security ('' for plaintext), the peer, the cluster and the outcome. */
  readonly #handles = new Map<string, Map<WorkloadIdentity | null, Map<string, Map<number, Handles>>>>();
  #labelSets = 0;
  readonly #overflow: Counter;

  constructor(scope: Scope, reporter: Reporter, local: WorkloadIdentity, buckets: IstioMetricBuckets = {}) {
    this.#scope = scope;
    this.#reporter = reporter;
    this.#local = local;
    this.#buckets = buckets;
    this.#overflow = scope.counter('istio_stats.label_sets_overflow');
  }

  /** Records one finished request; `peer` is what metadata exchange learned (null if none). */
  record(info: StreamInfo, peer: WorkloadIdentity | null, grpc: boolean): void {
    const code = info.responseCode;
    const responseCode = code >= 100 && code <= 599 ? code : 0;
    const flags = info.responseFlags;
    const cluster = info.upstreamCluster ?? '';
    const security = connectionSecurity(this.#reporter, info);
    let byPeer = this.#handles.get(security.key);
    if (byPeer === undefined) this.#handles.set(security.key, (byPeer = new Map()));
    let byCluster = byPeer.get(peer);
    if (byCluster === undefined) byPeer.set(peer, (byCluster = new Map()));
    let byOutcome = byCluster.get(cluster);
    if (byOutcome === undefined) byCluster.set(cluster, (byOutcome = new Map()));
    // Istio's grpc_response_status: the gRPC status of a gRPC request ('' for HTTP), as its
    // stats plugin reads it (trailers, a trailers-only head, else the HTTP status mapped).
    const grpcStatus = grpc ? streamGrpcStatus(info) : -1;
    // Flags use 20 bits, codes stay below 1024, statuses below 64 (-1 none; larger ones share
    // 63, a label set per status is all Istio's dashboards need): the number is exact and unique.
    const outcome = (flags * 1024 + responseCode) * 66 + (grpc ? 2 + Math.min(grpcStatus, 63) : 0);
    let h = byOutcome.get(outcome);
    if (h === undefined) {
      if (this.#labelSets >= MAX_LABEL_SETS) {
        this.#overflow.inc();
        return;
      }
      this.#labelSets++;
      h = this.#create(peer, security, cluster, String(responseCode), formatResponseFlags(flags), grpc, grpcStatus);
      byOutcome.set(outcome, h);
    }
    h.requests.inc();
    const duration = info.durationMs >= 0 ? info.durationMs : info.elapsedMs();
    h.duration.record(duration);
    h.requestBytes.record(info.bytesReceived);
    h.responseBytes.record(info.bytesSent);
  }

  #create(
    peer: WorkloadIdentity | null,
    security: ConnectionSecurity,
    cluster: string,
    responseCode: string,
    flags: string,
    grpc: boolean,
    grpcStatus: number,
  ): Handles {
    const tags = workloadLabels(this.#reporter, this.#local, peer, cluster, security);
    tags.push(
      ['request_protocol', grpc ? 'grpc' : 'http'],
      ['response_code', responseCode],
      ['grpc_response_status', grpcStatus === -1 ? '' : String(grpcStatus)],
      ['response_flags', flags],
      ['connection_security_policy', security.policy],
    );
    const s = this.#scope;
    return {
      requests: s.counter('istio_requests_total', tags),
      duration: s.histogram('istio_request_duration_milliseconds', 'milliseconds', tags, this.#buckets.duration),
      requestBytes: s.histogram('istio_request_bytes', 'bytes', tags, this.#buckets.bytes),
      responseBytes: s.histogram('istio_response_bytes', 'bytes', tags, this.#buckets.bytes),
    };
  }
}

/**
 * Istio's source_* and destination_* labels (through destination_cluster, in Istio's order),
 * shared by the request and the TCP metrics: the reporter's own side from node settings, the
 * peer's from metadata exchange, the destination service from the peer or the cluster name;
 * the principals from the connection's certificates when it is TLS.
 */
export function workloadLabels(
  reporter: Reporter,
  local: WorkloadIdentity,
  peer: WorkloadIdentity | null,
  cluster: string,
  security?: ConnectionSecurity,
): Array<[string, string]> {
  const u = 'unknown';
  const source = reporter === 'source' ? local : peer;
  const dest = reporter === 'destination' ? local : peer;
  let service: string;
  if (reporter === 'destination') service = local.service;
  else if (peer !== null && peer.service !== u) service = peer.service;
  else service = cluster === '' ? u : serviceFromCluster(cluster);
  const dot = service.indexOf('.');
  const serviceName = dot === -1 ? service : service.slice(0, dot);
  const rest = dot === -1 ? '' : service.slice(dot + 1);
  // `<name>.<namespace>.svc.cluster.local`: the namespace is the second label.
  const serviceNamespace = rest !== '' ? rest.split('.')[0]! : (dest?.namespace ?? u);
  return [
    ['reporter', reporter],
    ['source_workload', source?.workload ?? u],
    ['source_workload_namespace', source?.namespace ?? u],
    ['source_principal', security?.sourcePrincipal ?? source?.principal ?? u],
    ['source_app', source?.app ?? u],
    ['source_version', source?.version ?? u],
    ['source_cluster', source?.cluster ?? u],
    ['destination_workload', dest?.workload ?? u],
    ['destination_workload_namespace', dest?.namespace ?? u],
    ['destination_principal', security?.destinationPrincipal ?? dest?.principal ?? u],
    ['destination_app', dest?.app ?? u],
    ['destination_version', dest?.version ?? u],
    ['destination_service', service],
    ['destination_service_name', serviceName],
    ['destination_service_namespace', serviceNamespace],
    ['destination_cluster', dest?.cluster ?? u],
  ];
}
