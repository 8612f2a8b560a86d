// The access-log thread of the file and standard-stream loggers (threaded-logger.ts), at a low
// CPU priority like the span export threads: a LogPrinter fed by the export pipeline's batches.
// Each batch buffer goes back to the request thread once its lines are in the sinks.
import { parentPort } from 'node:worker_threads';
import { lowerThisThreadsPriority } from '../../telemetry/background-priority.js';
import { recycleBatch, type FromExportThread, type ToExportThread } from '../../telemetry/export-pipeline.js';
import { LogPrinter } from './log-printer.js';
import type { ToLogThread } from './log-thread-protocol.js';

lowerThisThreadsPriority();
const port = parentPort!;
const printer = new LogPrinter((body) => port.postMessage({ type: 'control', body } satisfies FromExportThread));

port.on('message', (msg: ToExportThread) => {
  if (msg.type === 'records') {
    printer.records(msg.records, msg.count);
    recycleBatch(port, msg.records);
    port.postMessage({ type: 'outcomes', sent: msg.count, failed: 0, dropped: 0 } satisfies FromExportThread);
  } else if (msg.type === 'control') printer.control(msg.body as ToLogThread);
  else void printer.close().then(() => port.postMessage({ type: 'closed' } satisfies FromExportThread));
});
