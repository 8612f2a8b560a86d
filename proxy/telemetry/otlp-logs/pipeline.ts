// The request-thread side of OTLP access logs: records go to the log export thread through an
// ExportPipeline (bounded, batched, off the hot path) as transport text (wire-log.ts).
import { ExportPipeline, sharedExportPipeline, type ExportOutcomeCounters } from '../export-pipeline.js';
import type { LogExportThreadData } from './export-thread.js';
import { encodeWireLog, type WireLog } from './wire-log.js';

export type LogPipeline = ExportPipeline;

/** Records go to the thread every 512 (the SDK's batch size) or 50 ms; its batch processor schedules exports. */
const POST_EVERY = 512;
const POST_EVERY_MS = 50;

const shared = new Map<string, LogPipeline>();

/** One log export thread per destination, resource and log name per worker, shared by listeners. */
export function sharedLogPipeline(data: LogExportThreadData, counters: ExportOutcomeCounters): LogPipeline {
  return sharedExportPipeline(
    shared,
    JSON.stringify(data),
    () =>
      new ExportPipeline({
        thread: new URL('./export-thread.js', import.meta.url),
        workerData: data,
        maxOutstanding: data.maxQueueSize,
        postEvery: POST_EVERY,
        postEveryMs: POST_EVERY_MS,
        counters,
      }),
  );
}

export function submitLog(pipeline: LogPipeline, log: WireLog): void {
  pipeline.submitText(encodeWireLog(log));
}
