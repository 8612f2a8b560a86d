// The request-thread side of span export. Finished spans are encoded into one string and
// posted to the export thread every 64 spans or 20 ms; the SDK's batch
// processor and the exporter run there. Everything is bounded: spans posted but not yet
// settled by the thread (sent, failed or dropped) never exceed the queue size, beyond which
// spans are dropped here and counted. The request path never waits on any of it.
import { Worker } from 'node:worker_threads';
import type { Attributes } from '@opentelemetry/api';
import type { Counter, Scope } from '../stats/types.js';
import { batchExportOptions, type ExporterSpec } from './exporter-spec.js';
import type { ExportThreadData, FromExportThread, ToExportThread } from './export-thread.js';
import { encodeWireSpan, type WireSpan } from './wire-span.js';

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

const POST_EVERY_SPANS = 256;
const POST_EVERY_MS = 50;
const SHUTDOWN_TIMEOUT_MS = 5000;

const shared = new Map<string, SpanPipeline>();

/**
 * One pipeline (one export thread) per destination and resource per worker: every listener's
 * tracer that exports to the same collector as the same service shares it.
 */
export function sharedSpanPipeline(exporter: ExporterSpec, resourceAttributes: Attributes, stats: SpanPipelineStats): SpanPipeline {
  const key = JSON.stringify([exporter, resourceAttributes]);
  let p = shared.get(key);
  if (p === undefined) {
    p = new SpanPipeline(exporter, resourceAttributes, stats);
    shared.set(key, p);
    const pipeline = p;
    void pipeline.closed.then(() => {
      if (shared.get(key) === pipeline) shared.delete(key);
    });
  }
  return p;
}

export class SpanPipeline {
  readonly #stats: SpanPipelineStats;
  readonly #worker: Worker;
  readonly #maxOutstanding: number;
  #pending = '';
  #pendingCount = 0;
  #outstanding = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #onClosed: (() => void) | null = null;
  #shutdown: Promise<void> | null = null;
  #resolveClosed!: () => void;
  /** Resolves once the pipeline has shut down. */
  readonly closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  constructor(exporter: ExporterSpec, resourceAttributes: Attributes, stats: SpanPipelineStats) {
    this.#stats = stats;
    this.#maxOutstanding = batchExportOptions().maxQueueSize;
    const data: ExportThreadData = { exporter, resourceAttributes };
    this.#worker = new Worker(new URL('./export-thread.js', import.meta.url), { workerData: data });
    this.#worker.unref();
    this.#worker.on('message', (msg: FromExportThread) => {
      if (msg.type === 'closed') {
        this.#onClosed?.();
        return;
      }
      if (msg.sent > 0) stats.spansSent.add(msg.sent);
      if (msg.failed > 0) stats.spansFailed.add(msg.failed);
      if (msg.dropped > 0) stats.spansDropped.add(msg.dropped);
      this.#outstanding = Math.max(0, this.#outstanding - msg.sent - msg.failed - msg.dropped);
    });
    this.#worker.on('error', () => {
      // A dead export thread loses spans, never requests: everything from now on is dropped.
      this.#closed = true;
    });
  }

  /** Hot path: one bounds check and an array push. */
  submit(span: WireSpan): void {
    if (this.#closed || this.#outstanding >= this.#maxOutstanding) {
      this.#stats.spansDropped.inc();
      return;
    }
    this.#outstanding++;
    this.#pending += encodeWireSpan(span);
    if (++this.#pendingCount >= POST_EVERY_SPANS) this.#post();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.#onTimer, POST_EVERY_MS);
      this.#timer.unref();
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#post();
  };

  #post(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#pendingCount === 0) return;
    const msg: ToExportThread = { type: 'spans', spans: this.#pending };
    this.#pending = '';
    this.#pendingCount = 0;
    this.#worker.postMessage(msg);
  }

  /** Hands over what is pending, lets the thread export its queue (bounded), then stops it. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop().then(() => this.#resolveClosed());
    return this.#shutdown;
  }

  async #stop(): Promise<void> {
    if (this.#closed) {
      await this.#worker.terminate();
      return;
    }
    this.#post();
    this.#closed = true;
    const closed = new Promise<void>((resolve) => {
      this.#onClosed = resolve;
      setTimeout(resolve, SHUTDOWN_TIMEOUT_MS).unref();
    });
    this.#worker.postMessage({ type: 'shutdown' } satisfies ToExportThread);
    await closed;
    await this.#worker.terminate();
  }
}
