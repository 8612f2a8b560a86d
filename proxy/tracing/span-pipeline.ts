// The export side of tracing: finished spans go into the OpenTelemetry SDK's
// BatchSpanProcessor (bounded queue, flushed on its timer, off the request path) and out
// through an OTLP or Zipkin exporter. Admission is counted here: the processor's queue only
// shrinks when it hands a batch to the exporter, so a counter kept in step with it knows
// when the queue is full and counts the drop in a stat instead of the SDK's silent debug log.
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Counter, Scope } from '../stats/types.js';

export interface SpanPipelineOptions {
  /** Spans held at most while waiting for export (Envoy/OTel default 2048). */
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  /** Flush interval; when omitted, `OTEL_BSP_SCHEDULE_DELAY` or the SDK default (5 s). */
  scheduledDelayMillis?: number;
}

export interface SpanPipelineStats {
  /** Spans the collector accepted. */
  readonly spansSent: Counter;
  /** Spans dropped because the queue was full (collector slow or down). */
  readonly spansDropped: Counter;
  /** Spans in batches the exporter failed to deliver. */
  readonly spansFailed: Counter;
}

export function spanPipelineStats(scope: Scope): SpanPipelineStats {
  return {
    spansSent: scope.counter('spans_sent'),
    spansDropped: scope.counter('spans_dropped'),
    spansFailed: scope.counter('spans_failed'),
  };
}

/** Wraps an exporter to keep the admission count in step and count outcomes. */
class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #stats: SpanPipelineStats;
  readonly #onHandedOff: (n: number) => void;

  constructor(inner: SpanExporter, stats: SpanPipelineStats, onHandedOff: (n: number) => void) {
    this.#inner = inner;
    this.#stats = stats;
    this.#onHandedOff = onHandedOff;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#onHandedOff(spans.length);
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.#stats.spansSent.add(spans.length);
      else this.#stats.spansFailed.add(spans.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class SpanPipeline {
  readonly #processor: BatchSpanProcessor;
  readonly #stats: SpanPipelineStats;
  readonly #maxQueueSize: number;
  #queued = 0;

  constructor(exporter: SpanExporter, stats: SpanPipelineStats, options: SpanPipelineOptions = {}) {
    this.#stats = stats;
    // OTEL_BSP_MAX_QUEUE_SIZE is the SDK's own knob; the admission count must use the same bound.
    const fromEnv = Number(process.env['OTEL_BSP_MAX_QUEUE_SIZE']);
    this.#maxQueueSize = options.maxQueueSize ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 2048);
    const counting = new CountingExporter(exporter, stats, (n) => {
      this.#queued = Math.max(0, this.#queued - n);
    });
    const config: ConstructorParameters<typeof BatchSpanProcessor>[1] = { maxQueueSize: this.#maxQueueSize };
    // Small batches keep each serialization pause on the request thread short (tail latency);
    // the SDK's 512 would stall a busy worker for several milliseconds at a time.
    const batchFromEnv = Number(process.env['OTEL_BSP_MAX_EXPORT_BATCH_SIZE']);
    const batch = options.maxExportBatchSize ?? (Number.isInteger(batchFromEnv) && batchFromEnv > 0 ? batchFromEnv : 128);
    config.maxExportBatchSize = Math.min(batch, this.#maxQueueSize);
    if (options.scheduledDelayMillis !== undefined) config.scheduledDelayMillis = options.scheduledDelayMillis;
    this.#processor = new BatchSpanProcessor(counting, config);
  }

  /** Hot path: one bounds check and an array push inside the SDK. */
  submit(span: ReadableSpan): void {
    if (this.#queued >= this.#maxQueueSize) {
      this.#stats.spansDropped.inc();
      return;
    }
    this.#queued++;
    this.#processor.onEnd(span);
  }

  /** Exports what is queued; bounded by the exporter's own timeout. */
  async shutdown(): Promise<void> {
    try {
      await this.#processor.shutdown();
    } catch {
      // A collector that is down at shutdown loses the last batch; the failure is counted.
    }
  }
}
