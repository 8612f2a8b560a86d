// The request-thread side of span export: finished spans go to the span export thread through
// an ExportPipeline (bounded, batched, off the hot path).
import type { Attributes } from '@opentelemetry/api';
import type { Scope } from '../stats/types.js';
import { ExportPipeline, sharedExportPipeline, type ExportOutcomeCounters } from '../telemetry/export-pipeline.js';
import { batchExportOptions, type ExporterSpec } from './exporter-spec.js';
import type { ExportThreadData } from './export-thread.js';
/** Records are finished spans already encoded as transport records (see wire-span.ts). */
export type SpanPipeline = ExportPipeline<string>;

function asIs(record: string): string {
  return record;
}

export function spanPipelineStats(scope: Scope): ExportOutcomeCounters {
  return { sent: scope.counter('spans_sent'), dropped: scope.counter('spans_dropped'), failed: scope.counter('spans_failed') };
}

const shared = new Map<string, SpanPipeline>();

/**
 * One pipeline (one export thread) per destination and resource per worker: every listener's
 * tracer that exports to the same collector as the same service shares it.
 */
export function sharedSpanPipeline(exporter: ExporterSpec, resourceAttributes: Attributes, counters: ExportOutcomeCounters): SpanPipeline {
  const workerData: ExportThreadData = { exporter, resourceAttributes };
  return sharedExportPipeline(shared, JSON.stringify([exporter, resourceAttributes]), () =>
    new ExportPipeline<string>({
      thread: new URL('./export-thread.js', import.meta.url),
      workerData,
      maxOutstanding: batchExportOptions().maxQueueSize,
      encode: asIs,
      counters,
    }),
  );
}
