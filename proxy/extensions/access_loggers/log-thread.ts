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

receiveBatches(
  port,
  (records, count, release) => {
    printer.records(records, count);
    release();
    port.postMessage({ type: 'outcomes', sent: count, failed: 0, dropped: 0 } satisfies FromExportThread);
  },
  (msg) => {
    if (msg.type === 'control') printer.control(msg.body as ToLogThread);
    else if (msg.type === 'shutdown')
      void printer.close().then(() => port.postMessage({ type: 'closed' } satisfies FromExportThread));
  },
);
