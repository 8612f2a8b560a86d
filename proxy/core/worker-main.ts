// Entry point of a node:cluster worker process: builds a Worker from the bootstrap the main
// process sends and answers its requests. Signals are the main process's business: a worker
// leaves when told to shut down or when the main process disappears.
import { Worker } from './worker.js';
import type { WorkerRequest, WorkerResponse } from './ipc.js';
import { RuntimeReplica } from '../runtime/index.js';
import '../extensions/index.js';

let worker: Worker | null = null;
const runtime = new RuntimeReplica();

async function handle(req: WorkerRequest): Promise<unknown> {
  if (req.op === 'init') {
    runtime.apply(req.runtime);
    worker = new Worker({ node: req.node, shutdownTimeoutMs: req.shutdownTimeoutMs, runtime });
    await worker.start(req.bootstrap);
    return worker.listeners();
  }
  if (req.op === 'runtime') {
    runtime.apply(req.snapshot);
    return null;
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
      await w.drainListeners(req.inboundOnly);
      return null;
    case 'health_check_failed':
      w.serverState.healthCheckFailed = req.failed;
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
// Tells the main process the message handler is in place (see ProcessWorker.call).
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies WorkerResponse);
process.on('SIGTERM', () => {});
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
