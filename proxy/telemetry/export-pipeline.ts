// The request-thread side of an export thread (spans, OTLP access logs): records are encoded
// into one string each, copied into a reused byte buffer at once (UTF-8), and the buffer's
// bytes are posted to the thread every 512 records (the SDK batch size) or 50 ms; the OpenTelemetry SDK's batch
// processor and exporter run there. Copying at once leaves no record strings alive between
// posts: a pending string of up to 50 ms of records (each a tree of pieces) survived young-
// generation GCs and lengthened their pauses; posting bytes also spares the string's
// serialization here and its decoding on the thread. Everything is bounded: records posted but not yet
// settled by the thread (sent, failed or dropped) never exceed the queue size, beyond which
// records are dropped here and counted. The request path never waits on any of it.
import { Worker } from 'node:worker_threads';
import type { Counter } from '../stats/types.js';

/** Messages to an export thread: a batch of encoded records (UTF-8), or shutdown. */
export type ToExportThread = { type: 'records'; records: Uint8Array } | { type: 'shutdown' };
/** Messages from an export thread: outcome counts since the last report, or closed. */
export type FromExportThread = { type: 'outcomes'; sent: number; failed: number; dropped: number } | { type: 'closed' };

export interface ExportOutcomeCounters {
  /** Records the collector accepted. */
  readonly sent: Counter;
  /** Records dropped because the queue was full (collector slow or down). */
  readonly dropped: Counter;
  /** Records in batches the exporter failed to deliver. */
  readonly failed: Counter;
}

export interface ExportPipelineOptions<T> {
  /** The export thread's module. */
  readonly thread: URL;
  readonly workerData: unknown;
  readonly maxOutstanding: number;
  readonly encode: (record: T) => string;
  readonly counters: ExportOutcomeCounters;
}

const POST_EVERY = 512;
const POST_EVERY_MS = 50;
/** The batch buffer's usual size; it grows for batches of unusually large records. */
const BUFFER_SIZE = 256 * 1024;
const SHUTDOWN_TIMEOUT_MS = 5000;

export class ExportPipeline<T> {
  readonly #counters: ExportOutcomeCounters;
  readonly #encode: (record: T) => string;
  readonly #worker: Worker;
  readonly #maxOutstanding: number;
  #buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  #used = 0;
  #pendingCount = 0;
  #outstanding = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #onClosed: (() => void) | null = null;
  #shutdown: Promise<void> | null = null;
  #resolveClosed!: () => void;
  /** Resolves once the pipeline has shut down. */
  readonly closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  constructor(options: ExportPipelineOptions<T>) {
    const counters = options.counters;
    this.#counters = counters;
    this.#encode = options.encode;
    this.#maxOutstanding = options.maxOutstanding;
    this.#worker = new Worker(options.thread, { workerData: options.workerData });
    this.#worker.unref();
    this.#worker.on('message', (msg: FromExportThread) => {
      if (msg.type === 'closed') {
        this.#onClosed?.();
        return;
      }
      if (msg.sent > 0) counters.sent.add(msg.sent);
      if (msg.failed > 0) counters.failed.add(msg.failed);
      if (msg.dropped > 0) counters.dropped.add(msg.dropped);
      this.#outstanding = Math.max(0, this.#outstanding - msg.sent - msg.failed - msg.dropped);
    });
    this.#worker.on('error', () => {
      // A dead export thread loses records, never requests: everything from now on is dropped.
      this.#closed = true;
    });
  }

  /** Hot path: one bounds check and a copy into the batch buffer. */
  submit(record: T): void {
    if (this.#closed || this.#outstanding >= this.#maxOutstanding) {
      this.#counters.dropped.inc();
      return;
    }
    this.#outstanding++;
    const s = this.#encode(record);
    // UTF-16 to UTF-8 at most triples the length; the exact size is only known once copied.
    if (this.#used + s.length * 3 > this.#buffer.length) {
      this.#post();
      if (s.length * 3 > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(s.length * 3);
    }
    this.#used += this.#buffer.write(s, this.#used);
    if (++this.#pendingCount >= POST_EVERY) this.#post();
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
    // One copy of the used bytes, handed over (transferred) rather than cloned again; the
    // buffer is reused at once.
    const records = new Uint8Array(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
    this.#pendingCount = 0;
    this.#worker.postMessage({ type: 'records', records } satisfies ToExportThread, [records.buffer]);
  }

  /** Hands over what is pending, lets the thread export its queue (bounded), then stops it. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop().then(() => this.#resolveClosed());
    return this.#shutdown;
  }

  async #stop(): Promise<void> {
    if (!this.#closed) {
      this.#post();
      this.#closed = true;
      const closed = new Promise<void>((resolve) => {
        this.#onClosed = resolve;
        setTimeout(resolve, SHUTDOWN_TIMEOUT_MS).unref();
      });
      this.#worker.postMessage({ type: 'shutdown' } satisfies ToExportThread);
      await closed;
    }
    await this.#worker.terminate();
  }
}

/**
 * One pipeline (one export thread) per key per worker, shared by every listener that exports
 * the same way; a pipeline leaves the map once it has shut down.
 */
export function sharedExportPipeline<T>(pipelines: Map<string, ExportPipeline<T>>, key: string, create: () => ExportPipeline<T>): ExportPipeline<T> {
  let p = pipelines.get(key);
  if (p === undefined) {
    const pipeline = create();
    pipelines.set(key, pipeline);
    void pipeline.closed.then(() => {
      if (pipelines.get(key) === pipeline) pipelines.delete(key);
    });
    p = pipeline;
  }
  return p;
}
