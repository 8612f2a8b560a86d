// The request-thread side of OTLP access logs: records go to the log export thread through an
// ExportPipeline (bounded, batched, off the hot path).
import { ExportPipeline, sharedExportPipeline, type ExportOutcomeCounters } from '../export-pipeline.js';
import type { LogExportThreadData } from './export-thread.js';
import { encodeWireLog, type WireLog } from './wire-log.js';

export type LogPipeline = ExportPipeline<WireLog>;

const shared = new Map<string, LogPipeline>();

/** One log export thread per destination, resource and log name per worker, shared by listeners. */
export function sharedLogPipeline(data: LogExportThreadData, counters: ExportOutcomeCounters): LogPipeline {
  return sharedExportPipeline(shared, JSON.stringify(data), () =>
    new ExportPipeline<WireLog>({ thread: new URL('./export-thread.js', import.meta.url), workerData: data, maxOutstanding: data.maxQueueSize, encode: encodeWireLog, counters }),
  );
}
