// Istio's standard TCP metrics (istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total,
// istio_tcp_connections_opened_total, istio_tcp_connections_closed_total), recorded into the
// stats store as explicitly tagged counters, as the request metrics are. Handles are cached per
// cluster and response flags; every label value comes from node settings, config (cluster
// names) or the closed set of flags.
import { formatResponseFlags } from '../../core/stream-info.js';
import type { Counter, Scope } from '../../stats/types.js';
import type { ConnectionSecurity } from './connection-security.js';
import { workloadLabels, type Reporter } from './metrics.js';
import type { WorkloadIdentity } from './peer-metadata.js';

export interface TcpHandles {
  readonly sent: Counter;
  readonly received: Counter;
  readonly opened: Counter;
  readonly closed: Counter;
}

const MAX_LABEL_SETS = 10_000;

export class IstioTcpMetrics {
  readonly #scope: Scope;
  readonly reporter: Reporter;
  readonly #local: WorkloadIdentity;
  readonly #handles = new Map<string, Map<number, TcpHandles>>();
  readonly #overflow: Counter;
  #labelSets = 0;

  constructor(scope: Scope, reporter: Reporter, local: WorkloadIdentity) {
    this.#scope = scope;
    this.reporter = reporter;
    this.#local = local;
    this.#overflow = scope.counter('istio_stats.label_sets_overflow');
  }

  /**
   * The counters for a connection to `cluster` ('' before one was chosen) with `flags` and its
   * TLS `security`; null once the label-set bound is reached (counted in
   * istio_stats.label_sets_overflow).
   */
  handles(cluster: string, flags: number, security: ConnectionSecurity): TcpHandles | null {
    const key = security.key === '' ? cluster : `${cluster}\0${security.key}`;
    let byFlags = this.#handles.get(key);
    if (byFlags === undefined) this.#handles.set(key, (byFlags = new Map()));
    let h = byFlags.get(flags);
    if (h === undefined) {
      if (this.#labelSets >= MAX_LABEL_SETS) {
        this.#overflow.inc();
        return null;
      }
      this.#labelSets++;
      // No metadata exchange on plain TCP (Istio's needs mTLS ALPN): the peer is unknown.
      const tags = workloadLabels(this.reporter, this.#local, null, cluster, security);
      tags.push(
        ['request_protocol', 'tcp'],
        ['response_flags', formatResponseFlags(flags)],
        ['connection_security_policy', security.policy],
      );
      const s = this.#scope;
      h = {
        sent: s.counter('istio_tcp_sent_bytes_total', tags),
        received: s.counter('istio_tcp_received_bytes_total', tags),
        opened: s.counter('istio_tcp_connections_opened_total', tags),
        closed: s.counter('istio_tcp_connections_closed_total', tags),
      };
      byFlags.set(flags, h);
    }
    return h;
  }
}
