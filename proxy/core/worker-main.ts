// Entry point of a node:cluster worker process: builds a Worker from the bootstrap the main
// process sends and answers its requests. Signals are the main process's business: a worker
// leaves when told to shut down or when the main process disappears.
import { Worker, handleWorkerCall } from './worker.js';
import type { WorkerRequest, WorkerResponse } from './ipc.js';
import { RuntimeReplica } from '../runtime/index.js';
import { loadExtensionsFor } from '../extensions/catalog.js';
import { releaseNodeBinaryPages } from '../../shared/file-pages.js';

let worker: Worker | null = null;
const runtime = new RuntimeReplica();

async function handle(req: WorkerRequest): Promise<unknown> {
  if (req.op === 'init') {
    runtime.apply(req.runtime);
    // The main process validated this bootstrap; this process loads the extensions it names.
    await loadExtensionsFor(req.bootstrap);
    worker = new Worker({ node: req.node, shutdownTimeoutMs: req.shutdownTimeoutMs, runtime });
    await worker.start(req.bootstrap);
    // Started: the start's pages of Node's binary go back (shared/file-pages.ts), as in the
    // main process (cli/proxy.ts).
    releaseNodeBinaryPages();
    return worker.listeners();
  }
  if (req.op === 'runtime') {
    runtime.apply(req.snapshot);
    return null;
  }
  if (worker === null) throw new Error('worker not initialised');
  const result = await handleWorkerCall(worker, req);
  if (req.op === 'shutdown') setImmediate(() => process.exit(0));
  return result;
}

process.on('message', (msg: WorkerRequest) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies WorkerResponse),
    (err: unknown) =>
      process.send?.({
        id: msg.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      } satisfies WorkerResponse),
  );
});
// Tells the main process the message handler is in place (see ProcessWorker.call).
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies WorkerResponse);
process.on('SIGTERM', () => {});
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
