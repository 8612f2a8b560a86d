// The request-thread side of span export: finished spans are written as OTLP protobuf into an
// ExportPipeline (bounded, batched, off the hot path) whose thread sends each batch as one
// export. Batching follows the SDK's batch span processor settings (OTEL_BSP_*).
import type { Attributes } from '@opentelemetry/api';
import type { Scope } from '../stats/types.js';
import { ExportPipeline, sharedExportPipeline, type ExportOutcomeCounters } from '../telemetry/export-pipeline.js';
import { batchExportOptions, type ExporterSpec } from './exporter-spec.js';
import type { ExportThreadData } from './export-thread.js';
import { OtlpTraceRequestFramer, SCOPE } from './otlp-span.js';

/** Records are finished spans, each one `ScopeSpans.spans` field (otlp-span.ts). */
export type SpanPipeline = ExportPipeline;

export function spanPipelineStats(scope: Scope): ExportOutcomeCounters {
  return {
    sent: scope.counter('spans_sent'),
    dropped: scope.counter('spans_dropped'),
    failed: scope.counter('spans_failed'),
  };
}

const shared = new Map<string, SpanPipeline>();

/**
 * One pipeline (one export thread) per destination and resource per worker: every listener's
 * tracer that exports to the same collector as the same service shares it.
 */
export function sharedSpanPipeline(
  exporter: ExporterSpec,
  resourceAttributes: Attributes,
  counters: ExportOutcomeCounters,
): SpanPipeline {
  const workerData: ExportThreadData = { exporter, resourceAttributes };
  const batching = batchExportOptions();
  return sharedExportPipeline(
    shared,
    JSON.stringify([exporter, resourceAttributes]),
    () =>
      new ExportPipeline({
        thread: new URL('./export-thread.js', import.meta.url),
        workerData,
        maxOutstanding: batching.maxQueueSize,
        postEvery: batching.maxExportBatchSize,
        postEveryMs: batching.scheduledDelayMillis,
        counters,
        reserve: new OtlpTraceRequestFramer(resourceAttributes, SCOPE).maxPrefixLength,
      }),
  );
}
