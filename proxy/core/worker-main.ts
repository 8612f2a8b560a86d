// Entry point of a node:cluster worker process: builds a Worker from the bootstrap the main
// process sends and answers its requests. Signals are the main process's business: a worker
// leaves when told to shut down or when the main process disappears.
import { Worker } from './worker.js';
import type { WorkerRequest, WorkerResponse } from './ipc.js';
import '../extensions/index.js';

let worker: Worker | null = null;

async function handle(req: WorkerRequest): Promise<unknown> {
  if (req.op === 'init') {
    worker = new Worker({ node: req.node, shutdownTimeoutMs: req.shutdownTimeoutMs });
    await worker.start(req.bootstrap);
    return worker.listeners();
  }
  const w = worker;
  if (w === null) throw new Error('worker not initialised');
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
      await w.drainListeners();
      return null;
    case 'connections':
      return w.connectionCount();
    case 'shutdown':
      await w.shutdown(req.drainMs);
      setImmediate(() => process.exit(0));
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
  }
}

process.on('message', (msg: WorkerRequest) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies WorkerResponse),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerResponse),
  );
});
process.on('SIGTERM', () => {});
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
