// The access-log thread of the file and standard-stream loggers (threaded-logger.ts), at a low
// CPU priority like the span export threads: a LogPrinter fed by the export pipeline's batches.
// Each batch buffer goes back to the request thread once its lines are in the sinks' buffers.
import { parentPort } from 'node:worker_threads';
import { lowerThisThreadsPriority } from '../../telemetry/background-priority.js';
import { receiveBatches, type FromExportThread } from '../../telemetry/export-pipeline.js';
import { LogPrinter } from './log-printer.js';
import type { ToLogThread } from './log-thread-protocol.js';

lowerThisThreadsPriority();
const port = parentPort!;
const printer = new LogPrinter((body) => port.postMessage({ type: 'control', body } satisfies FromExportThread));

/**
 * How often the thread looks for batches while they come: its lines wait in the sinks' buffers
 * up to a second anyway (Envoy's flush interval) and it may be behind by MAX_OUTSTANDING records
 * (threaded-logger.ts, seconds at full load), so it takes batches at most ten times a second
 * rather than the span threads' fifty, each look taking the batches handed over since, and one
 * wake-up per look where there had been one per 10 ms. The request thread learns of the lines
 * printed once per look too, in one message where there had been one per batch.
 */
const LOOK_EVERY_MS = 100;
/** Records printed since the last outcomes message (sent once the batches of a look are all printed). */
let printed = 0;

function reportPrinted(): void {
  port.postMessage({ type: 'outcomes', sent: printed, failed: 0, dropped: 0 } satisfies FromExportThread);
  printed = 0;
}

receiveBatches(
  port,
  (records, count, release) => {
    printer.records(records, count);
    release();
    if (printed === 0) queueMicrotask(reportPrinted);
    printed += count;
  },
  (msg) => {
    if (msg.type === 'control') printer.control(msg.body as ToLogThread);
    else if (msg.type === 'shutdown')
      void printer.close().then(() => port.postMessage({ type: 'closed' } satisfies FromExportThread));
  },
  LOOK_EVERY_MS,
);
