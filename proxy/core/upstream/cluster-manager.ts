// The worker's cluster manager: builds clusters through the cluster-type registry, looks them
// up by name for the router, and applies additions/removals at runtime (xDS) without
// disturbing in-flight requests: a replaced cluster's pools drain while the new one serves.
import type { ClusterConfig } from '../../api/schema.js';
import { unwrap } from '../../api/schema.js';
import type { ClusterStatus } from '../../admin/types.js';
import type { ExtensionContext } from '../extension-context.js';
import type { ExtensionRegistry } from '../registry.js';
import type { ClusterContext, ClusterDiscovery } from './cluster-discovery.js';
import { Cluster, ClusterInfo } from './cluster.js';
import { ClusterResilience } from './cluster-resilience.js';
import { ZoneRoutingStats, localityKey } from './zone-aware.js';

/** Envoy's cluster `type` enum → the registered cluster factory name. */
const TYPE_TO_EXTENSION: Record<string, string> = {
  STATIC: 'envoy.cluster.static',
  STRICT_DNS: 'envoy.cluster.strict_dns',
  LOGICAL_DNS: 'envoy.cluster.logical_dns',
};

export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();
  readonly #context: ExtensionContext;
  readonly #clusterTypes: ExtensionRegistry<ClusterDiscovery, ClusterContext>;
  #localClusterName: string | undefined;

  /** `clusterTypes`: the registry of cluster factories (given, so this module does not import the registries). */
  constructor(context: ExtensionContext, clusterTypes: ExtensionRegistry<ClusterDiscovery, ClusterContext>) {
    this.#context = context;
    this.#clusterTypes = clusterTypes;
  }

  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  names(): string[] {
    return [...this.#clusters.keys()];
  }

  /** Adds or replaces a cluster (make-before-break: the old one drains). */
  addOrUpdateCluster(config: ClusterConfig, addedViaApi = false): Cluster {
    const type = config.type ?? 'STATIC';
    const ext = this.#clusterTypes.lookup(TYPE_TO_EXTENSION[type], undefined);
    if (ext === undefined) throw new Error(`cluster type ${type} is not registered`);
    const info = new ClusterInfo(
      config,
      this.#context.stats,
      addedViaApi,
      this.#context.secrets,
      this.#context.runtime,
    );
    const cluster = new Cluster(info, ext.create(undefined, { ...this.#context, cluster: config }));
    cluster.resilience = new ClusterResilience(cluster, this.#context);
    this.#setUpZoneAwareRouting(cluster, config);
    const previous = this.#clusters.get(config.name);
    this.#clusters.set(config.name, cluster);
    cluster.start();
    previous?.drain();
    return cluster;
  }

  /** `cluster_manager.local_cluster_name`: the cluster of this service's own proxies. */
  setLocalClusterName(name: string | undefined): void {
    this.#localClusterName = name;
  }

  /**
   * Zone-aware routing (Envoy: on whenever a local cluster is named and the node has a
   * locality) for every cluster but the local one; the local cluster's changes refresh the rest.
   */
  #setUpZoneAwareRouting(cluster: Cluster, config: ClusterConfig): void {
    const localName = this.#localClusterName;
    const locality = this.#context.node.locality;
    if (localName === undefined || (locality.region === '' && locality.zone === '' && locality.subZone === '')) return;
    if (config.name === localName) {
      cluster.onMembershipChange(() => {
        for (const c of this.#clusters.values()) if (c !== cluster) c.refreshLoadBalancer();
      });
      return;
    }
    const zone = config.common_lb_config?.zone_aware_lb_config;
    cluster.zoneAware = {
      settings: {
        routingEnabledPercent: zone?.routing_enabled?.value ?? 100,
        minClusterSize: unwrap(zone?.min_cluster_size, 6),
      },
      localLocality: localityKey(locality),
      localHosts: () => this.#clusters.get(localName)?.hosts ?? null,
      runtime: this.#context.runtime,
      stats: new ZoneRoutingStats(this.#context.stats.scope(`cluster.${config.name}`)),
    };
  }

  removeCluster(name: string): boolean {
    const c = this.#clusters.get(name);
    if (c === undefined) return false;
    this.#clusters.delete(name);
    c.drain();
    return true;
  }

  /** Resolves when every cluster has its first host list (or after `timeoutMs`). */
  async whenInitialized(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#clusters.values()].map((c) => c.whenInitialized())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref())),
    ]);
    clearTimeout(timer);
  }

  status(): ClusterStatus[] {
    return [...this.#clusters.values()].map((c) => {
      const r = c.info.resources;
      const h = c.info.highResources;
      return {
        name: c.name,
        addedViaApi: c.info.addedViaApi,
        circuitBreakers: [
          {
            priority: 'default',
            maxConnections: r.maxConnections,
            maxPendingRequests: r.maxPendingRequests,
            maxRequests: r.maxRequests,
            maxRetries: r.maxRetries,
          },
          {
            priority: 'high',
            maxConnections: h.maxConnections,
            maxPendingRequests: h.maxPendingRequests,
            maxRequests: h.maxRequests,
            maxRetries: h.maxRetries,
          },
        ],
        ...outlierStatus(c),
        hosts: c.hosts.map((h) => ({
          address: h.addressString,
          hostname: h.description.hostname,
          weight: h.description.weight,
          priority: h.description.priority,
          region: h.description.locality.region,
          zone: h.description.locality.zone,
          subZone: h.description.locality.subZone,
          healthFlags: h.healthFlagNames(),
          stats: { ...h.stats },
        })),
      };
    });
  }

  drain(): void {
    for (const c of this.#clusters.values()) c.drain();
  }

  destroy(): void {
    for (const c of this.#clusters.values()) c.destroy();
    this.#clusters.clear();
  }
}

/** `/clusters` success-rate lines, present once success-rate detection had enough data. */
function outlierStatus(c: Cluster): {
  outlierSuccessRateAverage?: number;
  outlierSuccessRateEjectionThreshold?: number;
} {
  const o = c.resilience?.outlier;
  if (o === null || o === undefined || o.successRateAverage < 0) return {};
  return {
    outlierSuccessRateAverage: o.successRateAverage,
    outlierSuccessRateEjectionThreshold: o.successRateEjectionThreshold,
  };
}
