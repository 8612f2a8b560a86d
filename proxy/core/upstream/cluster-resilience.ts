// Per-cluster outlier detection and active health checking, attached to a cluster by the
// cluster manager. Both follow the cluster's membership (hosts added or removed by DNS or
// EDS) and flip host health flags, which rebuild the cluster's load balancer. Like every
// other per-worker structure they run on each worker: ejections and checks are per worker.
import type { ClusterConfig } from '../../api/schema.js';
import type { ExtensionContext } from '../extension-context.js';
import type { Host } from './host.js';
import { OutlierDetector } from './outlier-detection.js';
import { HealthChecker } from './health-checker.js';

/** What resilience reads of its cluster; structural, so a Cluster can hold its ClusterResilience without an import circle. */
export interface ResilientCluster {
  readonly name: string;
  readonly info: {
    readonly config: ClusterConfig;
    readonly stats: { readonly upstream_rq_total: { value(): number } };
  };
  onMembershipChange(fn: (hosts: readonly Host[]) => void): void;
}

export class ClusterResilience {
  readonly outlier: OutlierDetector | null;
  readonly healthChecker: HealthChecker | null;

  constructor(cluster: ResilientCluster, context: ExtensionContext) {
    const config = cluster.info.config;
    const scope = context.stats.scope(`cluster.${cluster.name}`);
    this.outlier =
      config.outlier_detection === undefined
        ? null
        : new OutlierDetector(config.outlier_detection, scope, context.runtime);
    const hc = config.health_checks?.[0];
    const outlier = this.outlier;
    this.healthChecker =
      hc === undefined
        ? null
        : new HealthChecker(hc, scope, {
            clusterName: cluster.name,
            hasTraffic: () => cluster.info.stats.upstream_rq_total.value() > 0,
            onCheckComplete: (host, healthy) => {
              if (healthy) outlier?.onActiveHealthCheckSuccess(host);
            },
          });
    if (this.outlier === null && this.healthChecker === null) return;
    cluster.onMembershipChange((hosts) => {
      this.outlier?.setHosts(hosts);
      this.healthChecker?.setHosts(hosts);
    });
    this.outlier?.start();
    this.healthChecker?.start();
  }

  close(): void {
    this.outlier?.close();
    this.healthChecker?.close();
  }
}
