// The OpenTelemetry SDK's BatchSpanProcessor (bounded queue, timer-flushed, small batches)
// in front of an exporter, with outcomes counted. Admission is checked here: the processor's
// queue only shrinks when it hands a batch to the exporter, so a counter kept in step with it
// knows when the queue is full and reports the drop instead of the SDK's silent debug log.
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export interface BatchExportOptions {
  maxQueueSize: number;
  maxExportBatchSize: number;
  /** When omitted, `OTEL_BSP_SCHEDULE_DELAY` or the SDK default (5 s). */
  scheduledDelayMillis?: number;
}

export interface ExportOutcomes {
  sent(n: number): void;
  failed(n: number): void;
  dropped(n: number): void;
}

class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #outcomes: ExportOutcomes;
  readonly #onHandedOff: (n: number) => void;

  constructor(inner: SpanExporter, outcomes: ExportOutcomes, onHandedOff: (n: number) => void) {
    this.#inner = inner;
    this.#outcomes = outcomes;
    this.#onHandedOff = onHandedOff;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#onHandedOff(spans.length);
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.#outcomes.sent(spans.length);
      else this.#outcomes.failed(spans.length);
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

export class BatchExport {
  readonly #processor: BatchSpanProcessor;
  readonly #outcomes: ExportOutcomes;
  readonly #maxQueueSize: number;
  #queued = 0;

  constructor(exporter: SpanExporter, outcomes: ExportOutcomes, options: BatchExportOptions) {
    this.#outcomes = outcomes;
    this.#maxQueueSize = options.maxQueueSize;
    const counting = new CountingExporter(exporter, outcomes, (n) => {
      this.#queued = Math.max(0, this.#queued - n);
    });
    const config: ConstructorParameters<typeof BatchSpanProcessor>[1] = {
      maxQueueSize: options.maxQueueSize,
      maxExportBatchSize: Math.min(options.maxExportBatchSize, options.maxQueueSize),
    };
    if (options.scheduledDelayMillis !== undefined) config.scheduledDelayMillis = options.scheduledDelayMillis;
    this.#processor = new BatchSpanProcessor(counting, config);
  }

  submit(span: ReadableSpan): void {
    if (this.#queued >= this.#maxQueueSize) {
      this.#outcomes.dropped(1);
      return;
    }
    this.#queued++;
    this.#processor.onEnd(span);
  }

  /**
   * Exports what is queued now: spans reach the thread already batched on the SDK's schedule,
   * so waiting for the processor's own timer would only delay them again.
   */
  flush(): void {
    this.#processor.forceFlush().catch(() => {
      // Failures are counted by the exporter wrapper.
    });
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
