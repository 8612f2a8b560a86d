// The proxy's main process (Envoy's main thread): owns the validated configuration, the
// workers, the admin server and stats aggregation, and implements the admin contract.
// --concurrency 1 runs the single worker inside this process (one process, like Envoy's main
// thread plus one worker thread, and half the memory); N > 1 forks N node:cluster workers
// that accept from the shared listening sockets themselves (SCHED_NONE).
import cluster from 'node:cluster';
import type { SecretConfig } from '../api/tls.js';
import { fileURLToPath } from 'node:url';
import type {
  Bootstrap,
  ClusterConfig,
  ClusterLoadAssignment,
  ListenerConfig,
  RouteConfiguration,
} from '../api/schema.js';
import type { StatsSnapshot, StatsStore } from '../stats/types.js';
import { createStatsStore, mergeSnapshots } from '../stats/index.js';
import type { AdminServer } from '../admin/index.js';
import type { AdminTarget, ClusterStatus, ListenerStatus, ServerInfo, ServerState } from '../admin/types.js';
import { Worker, handleWorkerCall, nodeInfo } from './worker.js';
import type { NodeInfo } from './extension-points.js';
import type { WorkerCall, WorkerResponse } from './ipc.js';
import { LOG_LEVELS, type Logger } from './logger.js';
import { SecretRefusedError, WorkerError } from '../errors.js';
import type { XdsClient } from '../xds/client.js';
import {
  DEFAULT_LAYERED_RUNTIME,
  LayeredRuntime,
  registerRuntimeAdminHandlers,
  snapshotToWire,
} from '../runtime/index.js';

export const VERSION = '0.1.0';

export interface ProxyOptions {
  readonly bootstrap: Bootstrap;
  /** Number of workers; 1 runs in-process. */
  readonly concurrency: number;
  readonly drainTimeSeconds: number;
  readonly serviceCluster?: string;
  readonly serviceNode?: string;
  readonly logger: Logger;
  /** Echoed by /server_info. */
  readonly commandLineOptions?: Record<string, unknown>;
  /** Node flags for forked worker processes (`--concurrency` > 1), after the main process's own. */
  readonly workerExecArgv?: readonly string[];
}

interface WorkerHandle {
  call(req: WorkerCall): Promise<unknown>;
}

class InProcessWorker implements WorkerHandle {
  readonly worker: Worker;
  constructor(worker: Worker) {
    this.worker = worker;
  }
  async call(req: WorkerCall): Promise<unknown> {
    switch (req.op) {
      case 'runtime':
        // The in-process worker shares the main process's runtime object.
        return null;
      case 'init':
        throw new WorkerError('in-process worker is initialised directly');
      default:
        return handleWorkerCall(this.worker, req);
    }
  }
}

class ProcessWorker implements WorkerHandle {
  readonly #process: ReturnType<typeof cluster.fork>;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #exited = false;
  #ready: Promise<void>;
  #resolveReady!: () => void;
  #exitedPromise: Promise<void>;

  constructor(proc: ReturnType<typeof cluster.fork>, onUnexpectedExit: (code: number | null) => void) {
    this.#process = proc;
    proc.on('error', () => {
      // IPC failures surface as rejected calls (below) and the 'exit' event.
    });
    this.#ready = new Promise((resolve) => (this.#resolveReady = resolve));
    proc.on('message', (msg: WorkerResponse) => {
      if (msg.id === 0) return this.#resolveReady();
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new WorkerError(`worker ${proc.process.pid}: ${msg.error}`));
    });
    this.#exitedPromise = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.on('exit', (code) => {
      this.#exited = true;
      onUnexpectedExit(code);
      for (const p of this.#pending.values())
        p.reject(new WorkerError(`worker ${proc.process.pid} exited with code ${code}`));
      this.#pending.clear();
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  async call(req: WorkerCall): Promise<unknown> {
    // A cluster worker drops messages that arrive before its module registered a listener,
    // so nothing is sent until the worker said it is ready (message id 0).
    await Promise.race([this.#ready, this.#exitedPromise]);
    if (this.#exited || !this.#process.isConnected()) throw new WorkerError('worker has exited');
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#process.send({ ...req, id }, (err) => {
        if (err === null || !this.#pending.has(id)) return;
        this.#pending.delete(id);
        reject(new WorkerError(`cannot reach worker ${this.#process.process.pid}: ${err.message}`));
      });
    });
  }

  kill(): void {
    if (!this.#exited) this.#process.kill();
  }
}

export class ProxyServer implements AdminTarget {
  readonly #options: ProxyOptions;
  readonly #node: NodeInfo;
  readonly #mainStats: StatsStore;
  readonly #startedAt = Date.now();
  #workers: WorkerHandle[] = [];
  #admin: AdminServer | null = null;
  #state: ServerState = 'INITIALIZING';
  #healthCheckFailed = false;
  #failed = false;
  #listeners: ListenerStatus[] = [];
  #bootstrap: Bootstrap;
  #xds: XdsClient | null = null;
  #mergeConfigDump: typeof import('../xds/attach.js').mergeConfigDump | null = null;
  #runtime: LayeredRuntime | null = null;
  #shutdown: Promise<void> | null = null;
  /** Flushes of main-process extensions (admin access logs), run after the admin closed. */
  readonly #mainShutdownHooks: Array<() => Promise<void> | void> = [];
  #resolveClosed!: () => void;
  /** Resolves once the server has shut down (SIGTERM, /quitquitquit or close()). */
  readonly closed: Promise<void>;

  private constructor(options: ProxyOptions) {
    this.#options = options;
    this.#bootstrap = options.bootstrap;
    this.#node = nodeInfo(options.bootstrap, options.serviceCluster, options.serviceNode);
    this.#mainStats = createStatsStore();
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  static async start(options: ProxyOptions): Promise<ProxyServer> {
    const server = new ProxyServer(options);
    try {
      await server.#start();
    } catch (err) {
      await server.close(0);
      throw err;
    }
    return server;
  }

  async #start(): Promise<void> {
    const { concurrency, logger } = this.#options;
    const shutdownTimeoutMs = 5000;
    // The main process owns the runtime; process workers get every new snapshot over IPC.
    const runtime = await LayeredRuntime.create(this.#bootstrap.layered_runtime ?? DEFAULT_LAYERED_RUNTIME, {
      serviceCluster: this.#node.cluster,
      stats: this.#mainStats,
      onError: (err) => logger.error(`runtime: ${err.message}`),
    });
    this.#runtime = runtime;
    if (concurrency <= 1) {
      const worker = new Worker({ node: this.#node, shutdownTimeoutMs, runtime });
      this.#workers = [new InProcessWorker(worker)];
      await worker.start(this.#bootstrap);
      this.#listeners = worker.listeners();
    } else {
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      cluster.setupPrimary({
        exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
        args: [],
        execArgv: [...process.execArgv, ...(this.#options.workerExecArgv ?? [])],
        silent: false,
      });
      const procs: ProcessWorker[] = [];
      const onExit = (code: number | null) => {
        if (this.#state !== 'LIVE') return;
        // Envoy treats a dead worker as fatal: shut down rather than serve with fewer workers.
        logger.error(`a worker exited unexpectedly (code ${code}); shutting down`);
        this.#failed = true;
        void this.close(0);
      };
      for (let i = 0; i < concurrency; i++) procs.push(new ProcessWorker(cluster.fork(), onExit));
      this.#workers = procs;
      const results = await Promise.all(
        procs.map((p) =>
          p.call({
            op: 'init',
            bootstrap: this.#bootstrap,
            node: this.#node,
            shutdownTimeoutMs,
            runtime: snapshotToWire(runtime.snapshot()),
          }),
        ),
      );
      runtime.subscribe((snapshot) => {
        const wire = snapshotToWire(snapshot);
        for (const p of procs)
          p.call({ op: 'runtime', snapshot: wire }).catch((err: Error) => logger.error(`runtime push: ${err.message}`));
      });
      this.#listeners = results[0] as ListenerStatus[];
    }
    const admin = this.#bootstrap.admin?.address.socket_address;
    if (admin !== undefined) {
      // Loaded only when the bootstrap has an admin address.
      const { createAdminServer } = await import('../admin/index.js');
      const accessLogs = this.#bootstrap.admin?.access_log ?? [];
      const { adminAccessLog } = await import('../admin/access-log.js');
      this.#admin = await createAdminServer({
        address: { host: admin.address, port: admin.port_value },
        target: this,
        logger: { info: (m) => logger.info(m), error: (m) => logger.error(m) },
        accessLog:
          accessLogs.length === 0
            ? undefined
            : adminAccessLog(accessLogs, {
                node: this.#node,
                stats: this.#mainStats,
                runtime,
                onShutdown: (fn) => this.#mainShutdownHooks.push(fn),
              }),
      });
      registerRuntimeAdminHandlers(this.#admin, runtime);
    }
    const dynamic = this.#bootstrap.dynamic_resources;
    if (dynamic !== undefined) {
      // Clusters and listeners from xDS go through the same worker operations as any runtime
      // change; like Envoy's init manager, LIVE waits for the first CDS/LDS (bounded).
      // Loaded only when configured: the xDS client pulls in gRPC, tens of MB of RSS.
      const xdsModule = await import('../xds/attach.js');
      this.#mergeConfigDump = xdsModule.mergeConfigDump;
      const xds = xdsModule.attachXds({
        node: this.#node,
        dynamicResources: dynamic,
        staticClusters: this.#bootstrap.static_resources?.clusters ?? [],
        target: this,
        stats: this.#mainStats,
        log: (m, level) => (level === 'warn' ? logger.warn(`xds: ${m}`) : logger.info(`xds: ${m}`)),
      });
      this.#xds = xds;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([xds.initialized, new Promise((r) => (timer = setTimeout(r, 15_000).unref()))]);
      clearTimeout(timer);
    }
    this.#state = 'LIVE';
    const live = this.#mainStats.gauge('server.live', 'never_import');
    live.set(1);
    this.#mainStats.gauge('server.concurrency', 'never_import').set(concurrency);
    logger.info(
      `meshscope proxy ${VERSION} started: ${this.#listeners.map((l) => `${l.name}@${l.localAddress}`).join(', ') || 'no listeners'}, ${concurrency} worker(s)`,
    );
  }

  /** The admin server's bound address, when the bootstrap has one. */
  adminAddress(): { host: string; port: number } | null {
    return this.#admin?.address() ?? null;
  }

  get admin(): AdminServer | null {
    return this.#admin;
  }

  /** True when the server stopped because of a failure (a worker died), not a request to stop. */
  get failed(): boolean {
    return this.#failed;
  }

  get healthCheckFailed(): boolean {
    return this.#healthCheckFailed;
  }

  // --- AdminTarget ---

  serverInfo(): ServerInfo {
    return {
      version: VERSION,
      state: this.#state,
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
      node: {
        id: this.#node.id,
        cluster: this.#node.cluster,
        metadata: this.#node.metadata,
        locality: { ...this.#node.locality },
      },
      commandLineOptions: {
        concurrency: this.#options.concurrency,
        drain_time_s: this.#options.drainTimeSeconds,
        service_cluster: this.#options.serviceCluster,
        service_node: this.#options.serviceNode,
        log_level: this.#options.logger.level,
        ...this.#options.commandLineOptions,
      },
    };
  }

  logLevel(): string {
    return this.#options.logger.level ?? 'info';
  }

  setLogLevel(level: string): void {
    const known = LOG_LEVELS.find((l) => l === level);
    if (known !== undefined) this.#options.logger.setLevel?.(known);
  }

  async stats(): Promise<StatsSnapshot> {
    this.#mainStats.gauge('server.uptime', 'never_import').set(Math.floor((Date.now() - this.#startedAt) / 1000));
    this.#mainStats
      .gauge('server.state', 'never_import')
      .set(this.#state === 'LIVE' ? 0 : this.#state === 'DRAINING' ? 1 : 2);
    const snaps = (await Promise.all(this.#workers.map((w) => w.call({ op: 'stats' })))) as StatsSnapshot[];
    return mergeSnapshots([this.#mainStats.snapshot(), ...snaps]);
  }

  async resetCounters(): Promise<void> {
    this.#mainStats.resetCounters();
    await Promise.all(this.#workers.map((w) => w.call({ op: 'reset_counters' })));
  }

  /** Admin /certs: the TLS contexts of the first worker (every worker builds the same ones). */
  async certs(): Promise<{ certificates: unknown[] }> {
    const w = this.#workers[0];
    return { certificates: w === undefined ? [] : ((await w.call({ op: 'certs' })) as unknown[]) };
  }

  async clusters(): Promise<ClusterStatus[]> {
    const perWorker = (await Promise.all(this.#workers.map((w) => w.call({ op: 'clusters' })))) as ClusterStatus[][];
    const first = perWorker[0] ?? [];
    // Host stats are per worker: sum them; health flags come from the first worker.
    return first.map((c) => ({
      ...c,
      hosts: c.hosts.map((h) => {
        const stats: Record<string, number> = { ...h.stats };
        for (const other of perWorker.slice(1)) {
          const oh = other.find((x) => x.name === c.name)?.hosts.find((x) => x.address === h.address);
          if (oh !== undefined) for (const [k, v] of Object.entries(oh.stats)) stats[k] = (stats[k] ?? 0) + v;
        }
        return { ...h, stats };
      }),
    }));
  }

  listeners(): ListenerStatus[] {
    return this.#listeners;
  }

  async configDump(): Promise<{ configs: Array<Record<string, unknown>> }> {
    const { staticConfigDump } = await import('../admin/config-dump.js');
    const dump = staticConfigDump(this.#bootstrap, new Date(this.#startedAt).toISOString());
    return this.#mergeConfigDump === null ? dump : this.#mergeConfigDump(dump, this.#xds?.configDump() ?? []);
  }

  async setHealthCheckFailed(failed: boolean): Promise<void> {
    this.#healthCheckFailed = failed;
    // Workers answer health checks (envoy.filters.http.health_check) from their own copy; the
    // admin answers once every worker has it, so a health check sent after the reply sees it.
    await Promise.all(
      this.#workers.map((w) =>
        w
          .call({ op: 'health_check_failed', failed })
          .catch((err: Error) => this.#options.logger.error(`healthcheck: ${err.message}`)),
      ),
    );
  }

  async drainListeners(options: { inboundOnly: boolean; graceful: boolean }): Promise<void> {
    // Draining is always graceful here: in-flight streams finish, idle connections close.
    await Promise.all(this.#workers.map((w) => w.call({ op: 'drain_listeners', inboundOnly: options.inboundOnly })));
  }

  quit(): void {
    setImmediate(() => void this.close(this.#options.drainTimeSeconds * 1000));
  }

  // --- runtime configuration (the path xDS takes) ---

  async applyCluster(config: ClusterConfig, addedViaApi = true): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: 'add_cluster', cluster: config, addedViaApi })));
  }

  async removeCluster(name: string): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: 'remove_cluster', name })));
  }

  async applyListener(config: ListenerConfig): Promise<void> {
    const results = await Promise.all(this.#workers.map((w) => w.call({ op: 'add_listener', listener: config })));
    this.#listeners = results[0] as ListenerStatus[];
  }

  async removeListener(name: string): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: 'remove_listener', name })));
    this.#listeners = this.#listeners.filter((l) => l.name !== name);
  }

  async updateListenerRoutes(name: string, routeConfig: RouteConfiguration): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: 'update_routes', name, routeConfig })));
  }

  async updateClusterHosts(name: string, assignment: ClusterLoadAssignment): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: 'update_hosts', name, assignment })));
  }

  /**
   * SDS over ADS: every worker's TLS contexts that subscribed to these secrets rebuild with them.
   * A context that refuses one (it keeps its last good secret) makes this throw, so the update is
   * NACKed with the reason, as Envoy's SdsApi does when an update callback throws.
   */
  async updateSecrets(secrets: SecretConfig[]): Promise<void> {
    const refused = await Promise.all(this.#workers.map((w) => w.call({ op: 'update_secrets', secrets })));
    // Every worker holds the same contexts: each reason once.
    const reasons = [...new Set((refused as string[][]).flat())];
    if (reasons.length > 0) throw new SecretRefusedError(reasons);
  }

  /** Drains (stop accepting, finish in-flight, close idle) for up to `drainMs`, then stops. */
  close(drainMs = this.#options.drainTimeSeconds * 1000): Promise<void> {
    if (this.#shutdown !== null) return this.#shutdown;
    this.#shutdown = (async () => {
      this.#state = 'DRAINING';
      this.#xds?.close();
      this.#options.logger.info(`draining (up to ${drainMs} ms)`);
      await Promise.allSettled(this.#workers.map((w) => w.call({ op: 'shutdown', drainMs })));
      for (const w of this.#workers) if (w instanceof ProcessWorker) w.kill();
      await this.#admin?.close();
      await Promise.allSettled(this.#mainShutdownHooks.map((fn) => fn()));
      this.#runtime?.close();
      this.#options.logger.info('shut down');
      this.#resolveClosed();
    })();
    return this.#shutdown;
  }
}
