// One worker's data plane: its stats store, cluster manager and listeners, built from a
// validated bootstrap. Runs inside the main process (--concurrency 1) or in a node:cluster
// worker process; either way the main process drives it through this class's methods.
// Resources are applied by name (make-before-break), which is the path xDS updates take.
import type {
  Bootstrap,
  ClusterConfig,
  ClusterLoadAssignment,
  ListenerConfig,
  RouteConfiguration,
} from '../api/schema.js';
import type { StatsSnapshot, StatsStore } from '../stats/types.js';
import { createStatsStore } from '../stats/index.js';
import type { ClusterStatus, ListenerStatus } from '../admin/types.js';
import { registries, type ExtensionContext, type NetworkFilterContext, type NodeInfo } from './extension-points.js';
import { ClusterManager } from './upstream/cluster-manager.js';
import { ActiveListener, listenerName } from './listener/listener.js';
import { buildFilterChains } from './listener/build-filter-chains.js';
import { HttpConnectionManager } from './http/conn-manager.js';
import { RouteTable } from './router/route-table.js';
import { endpointSpecs } from './upstream/endpoints.js';
import { unwrap } from '../api/schema.js';
import type { Runtime } from '../runtime/index.js';
import type { WorkerCall } from './ipc.js';
import { SecretManager } from './network/tls/secret-manager.js';
import { type CertsEntry, certsEntry } from './network/tls/certs.js';
import { TlsDownstreamFactory } from './network/tls/tls-socket.js';

export interface WorkerOptions {
  readonly node: NodeInfo;
  /** Bounded wait for extension shutdown hooks (flushing telemetry). */
  readonly shutdownTimeoutMs: number;
  /** The main process's runtime (in-process worker) or a replica it pushes snapshots to. */
  readonly runtime: Runtime;
}

export function nodeInfo(
  bootstrap: Bootstrap,
  serviceCluster: string | undefined,
  serviceNode: string | undefined,
): NodeInfo {
  const n = bootstrap.node;
  return {
    id: serviceNode ?? n?.id ?? '',
    cluster: serviceCluster ?? n?.cluster ?? '',
    locality: {
      region: n?.locality?.region ?? '',
      zone: n?.locality?.zone ?? '',
      subZone: n?.locality?.sub_zone ?? '',
    },
    metadata: n?.metadata ?? {},
  };
}

export class Worker {
  /** Read by the health_check filter on every health check; set by the main process. */
  readonly serverState = { healthCheckFailed: false, draining: false };
  readonly stats: StatsStore;
  readonly clusterManager: ClusterManager;
  /** SDS secrets of this worker's TLS contexts: static, file-watched, or pushed over ADS. */
  readonly secrets: SecretManager;
  readonly #options: WorkerOptions;
  readonly #context: ExtensionContext;
  readonly #listeners = new Map<string, ActiveListener>();
  readonly #shutdownHooks: Array<() => Promise<void> | void> = [];

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.stats = createStatsStore();
    this.secrets = new SecretManager();
    this.#context = {
      secrets: this.secrets,
      node: options.node,
      stats: this.stats,
      runtime: options.runtime,
      onShutdown: (fn) => this.#shutdownHooks.push(fn),
      serverState: this.serverState,
    };
    this.clusterManager = new ClusterManager(this.#context, registries.clusters);
  }

  /** Builds clusters then listeners (clusters first, as Envoy initialises them). */
  async start(bootstrap: Bootstrap): Promise<void> {
    this.secrets.addStatic(bootstrap.static_resources?.secrets ?? []);
    this.clusterManager.setLocalClusterName(bootstrap.cluster_manager?.local_cluster_name);
    for (const c of bootstrap.static_resources?.clusters ?? []) this.clusterManager.addOrUpdateCluster(c);
    await this.clusterManager.whenInitialized(5000);
    for (const l of bootstrap.static_resources?.listeners ?? []) await this.addOrUpdateListener(l);
  }

  addOrUpdateCluster(config: ClusterConfig, addedViaApi: boolean): void {
    this.clusterManager.addOrUpdateCluster(config, addedViaApi);
  }

  removeCluster(name: string): boolean {
    return this.clusterManager.removeCluster(name);
  }

  /**
   * Adds or replaces a listener. A replacement on the same address binds first when it can
   * (the OS shares the port within the cluster), then the old one drains.
   */
  async addOrUpdateListener(config: ListenerConfig): Promise<ActiveListener> {
    const name = listenerName(config);
    const previous = this.#listeners.get(name);
    const trafficDirection = config.traffic_direction ?? 'UNSPECIFIED';
    const context = {
      ...this.#context,
      clusterManager: this.clusterManager,
      listenerPort: config.address.socket_address.port_value,
      bufferLimitBytes: unwrap(config.per_connection_buffer_limit_bytes, 1024 * 1024),
      trafficDirection,
    } satisfies NetworkFilterContext & { listenerPort: number; bufferLimitBytes: number };
    const samePort =
      previous !== undefined &&
      previous.config.address.socket_address.port_value === config.address.socket_address.port_value &&
      previous.config.address.socket_address.address === config.address.socket_address.address;
    const filterChains = buildFilterChains(config, context, { ...this.#context, trafficDirection });
    const listener = new ActiveListener(config, filterChains, this.stats);
    if (samePort) listener.adopt(previous);
    else await listener.listen();
    this.#listeners.set(name, listener);
    if (previous !== undefined && !samePort) void previous.drain();
    return listener;
  }

  async removeListener(name: string): Promise<boolean> {
    const l = this.#listeners.get(name);
    if (l === undefined) return false;
    this.#listeners.delete(name);
    await l.drain();
    return true;
  }

  /**
   * RDS: swaps the route table of the listener's HTTP connection managers in place (xDS inlines
   * one route configuration into every HCM of a listener); connections and in-flight streams
   * are untouched.
   */
  updateListenerRoutes(name: string, routeConfig: RouteConfiguration): boolean {
    const l = this.#listeners.get(name);
    if (l === undefined) return false;
    const fallback = l.config.default_filter_chain;
    const chainConfigs = [...l.config.filter_chains, ...(fallback === undefined ? [] : [fallback])];
    let updated = false;
    l.filterChains.forEach((chain, i) => {
      if (!(chain.terminal instanceof HttpConnectionManager)) return;
      const filters = chainConfigs[i]!.filters;
      const hcm = (filters[filters.length - 1]!.typed_config ?? {}) as {
        strip_any_host_port?: boolean;
        strip_matching_host_port?: boolean;
      };
      chain.terminal.routeTable = new RouteTable(
        routeConfig,
        {
          stripAnyHostPort: hcm.strip_any_host_port === true,
          stripMatchingPort: hcm.strip_matching_host_port === true ? l.port : null,
        },
        this.#context.runtime,
      );
      updated = true;
    });
    return updated;
  }

  /** EDS: replaces a cluster's hosts in place; hosts that stay keep their pools and health. */
  updateClusterHosts(name: string, assignment: ClusterLoadAssignment): boolean {
    const c = this.clusterManager.get(name);
    if (c === undefined) return false;
    c.updateHosts(
      endpointSpecs(assignment).map((s) => ({ ...s.base, address: s.address, port: s.port, hostname: s.hostname })),
    );
    return true;
  }

  /** Admin /certs: every TLS context of the listeners' filter chains, then of the clusters. */
  certs(): CertsEntry[] {
    const out: CertsEntry[] = [];
    for (const l of this.#listeners.values())
      for (const chain of l.filterChains) {
        const f = chain.transportSocketFactory;
        if (f instanceof TlsDownstreamFactory) out.push(certsEntry(f.context));
      }
    for (const name of this.clusterManager.names())
      for (const ctx of this.clusterManager.get(name)?.info.transportSockets.tlsContexts ?? [])
        out.push(certsEntry(ctx));
    return out;
  }

  listeners(): ListenerStatus[] {
    return [...this.#listeners.values()].map((l) => ({ name: l.name, localAddress: l.address }));
  }

  snapshot(): StatsSnapshot {
    return this.stats.snapshot();
  }

  clusters(): ClusterStatus[] {
    return this.clusterManager.status();
  }

  connectionCount(): number {
    let n = 0;
    for (const l of this.#listeners.values()) n += l.connectionCount;
    return n;
  }

  /** Stops accepting; in-flight streams finish and idle keep-alive connections close. */
  async drainListeners(inboundOnly = false): Promise<void> {
    this.serverState.draining = true;
    const targets = [...this.#listeners.values()].filter((l) => !inboundOnly || l.info.direction === 'INBOUND');
    await Promise.all(targets.map((l) => l.drain()));
  }

  /** Drains, waits up to `drainMs` for connections, then closes everything. */
  async shutdown(drainMs: number): Promise<void> {
    // A listener's own close waits for every connection to end, which a stream that never
    // finishes would put off for ever: the drain time bounds that wait, so it starts with the drain.
    const drained = this.drainListeners();
    await Promise.all([...this.#listeners.values()].map((l) => l.waitForConnections(drainMs)));
    await drained;
    this.#listeners.clear();
    this.clusterManager.destroy();
    this.secrets.close();
    const hooks = this.#shutdownHooks.splice(0).map(async (fn) => fn());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(hooks),
      new Promise((r) => (timer = setTimeout(r, this.#options.shutdownTimeoutMs))),
    ]);
    clearTimeout(timer);
  }
}

/** The main process's requests a built worker answers (init and runtime depend on where it runs). */
export type WorkerOperation = Exclude<WorkerCall, { op: 'init' } | { op: 'runtime' }>;

/** Runs one request on a worker: the same operations in-process and in a cluster worker process. */
export async function handleWorkerCall(w: Worker, req: WorkerOperation): Promise<unknown> {
  switch (req.op) {
    case 'stats':
      return w.snapshot();
    case 'clusters':
      return w.clusters();
    case 'listeners':
      return w.listeners();
    case 'reset_counters':
      w.stats.resetCounters();
      return null;
    case 'drain_listeners':
      await w.drainListeners(req.inboundOnly);
      return null;
    case 'health_check_failed':
      w.serverState.healthCheckFailed = req.failed;
      return null;
    case 'connections':
      return w.connectionCount();
    case 'shutdown':
      await w.shutdown(req.drainMs);
      return null;
    case 'add_cluster':
      w.addOrUpdateCluster(req.cluster, req.addedViaApi);
      return null;
    case 'remove_cluster':
      return w.removeCluster(req.name);
    case 'add_listener':
      await w.addOrUpdateListener(req.listener);
      return w.listeners();
    case 'remove_listener':
      return w.removeListener(req.name);
    case 'update_routes':
      return w.updateListenerRoutes(req.name, req.routeConfig);
    case 'update_hosts':
      return w.updateClusterHosts(req.name, req.assignment);
    case 'certs':
      return w.certs();
    case 'update_secrets':
      return req.secrets.flatMap((s) => w.secrets.updateDynamic(s));
  }
}
