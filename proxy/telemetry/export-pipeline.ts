// The request-thread side of an export thread (spans, OTLP access logs): each record is written
// at once into a batch buffer (spans as OTLP protobuf, access logs as UTF-8 text), and the
// buffer itself is handed over (transferred, not copied) to the thread every `postEvery`
// records or `postEveryMs`; the thread hands it back once its batch is exported, to be filled
// again. Writing at once leaves nothing of a record alive between posts: a pending batch of
// objects or strings would survive young-generation GCs and lengthen their pauses; posting
// bytes also spares structured cloning here and decoding there. Recycling the buffers keeps
// the export thread from allocating a fresh batch's worth of memory per post: an export
// thread makes little JavaScript garbage, so it rarely collects, and the batches it dropped
// piled up as external memory until V8's external-memory limit forced a collection (a
// telemetry-on proxy's peak RSS under wrk reached 128 MB; recycled, 97 MB). Everything is
// bounded: records posted but not yet settled by the thread (sent, failed or dropped) never
// exceed `maxOutstanding`, beyond which records are dropped here and counted. The request
// path never waits on any of it.
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Counter } from '../stats/types.js';
import { ProtoWriter } from './proto-writer.js';

/**
 * Messages to an export thread: a batch of `count` records, or shutdown. `records` views its
 * own transferred buffer from byte `reserve` (ExportPipelineOptions.reserve) on; the thread
 * returns the buffer with a `recycle` message once done with it.
 */
export type ToExportThread =
  | { type: 'records'; records: Uint8Array; count: number }
  | { type: 'shutdown' }
  | { type: 'control'; body: unknown };
/** Messages from an export thread: outcome counts since the last report, a batch buffer given back, or closed. */
export type FromExportThread =
  | { type: 'outcomes'; sent: number; failed: number; dropped: number }
  | { type: 'recycle'; buffer: ArrayBuffer }
  | { type: 'closed' }
  | { type: 'control'; body: unknown };

export interface ExportOutcomeCounters {
  /** Records the collector accepted. */
  readonly sent: Counter;
  /** Records dropped because the queue was full (collector slow or down). */
  readonly dropped: Counter;
  /** Records in batches the exporter failed to deliver. */
  readonly failed: Counter;
}

export interface ExportPipelineOptions {
  /** The export thread's module. */
  readonly thread: URL;
  readonly workerData: unknown;
  readonly maxOutstanding: number;
  /** Post after this many records (an export batch) ... */
  readonly postEvery: number;
  /** ... or this long after the first record of a batch. */
  readonly postEveryMs: number;
  readonly counters: ExportOutcomeCounters;
  /** Bytes left free at the front of each batch buffer, for the thread to frame the batch in place. */
  readonly reserve?: number;
  /** The thread's V8 heap limits (a thread that makes little garbage needs a small young generation). */
  readonly resourceLimits?: ResourceLimits;
  /** Messages of the thread's own protocol (`control`), for a thread that has one. */
  readonly onControl?: (body: unknown) => void;
}

/** The batch buffer: room for a batch of 512 usual spans (about 200 KB) with margin. */
const BUFFER_SIZE = 512 * 1024;
/**
 * A batch this large is posted before the next record, however few records it holds, so
 * records with huge values (long header values) cannot grow one batch without bound; the
 * buffer grows only to fit a single record, and shrinks back after its post.
 */
const POST_AT_BYTES = 384 * 1024;
const SHUTDOWN_TIMEOUT_MS = 5000;
/** Buffers given back and kept for the next batches: one being exported, one spare. */
const MAX_SPARE_BUFFERS = 2;

/** Gives a batch buffer back to the request thread (export threads call this when done with a batch). */
export function recycleBatch(
  port: { postMessage(msg: FromExportThread, transfer: ArrayBuffer[]): void },
  records: Uint8Array,
): void {
  const buffer = records.buffer;
  if (buffer instanceof ArrayBuffer) port.postMessage({ type: 'recycle', buffer }, [buffer]);
}

export class ExportPipeline {
  readonly #counters: ExportOutcomeCounters;
  readonly #worker: Worker;
  readonly #maxOutstanding: number;
  readonly #postEvery: number;
  readonly #postEveryMs: number;
  readonly #batch = new ProtoWriter(BUFFER_SIZE);
  readonly #reserve: number;
  readonly #spare: Buffer[] = [];
  #pendingCount = 0;
  #outstanding = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #onClosed: (() => void) | null = null;
  #shutdown: Promise<void> | null = null;
  #resolveClosed!: () => void;
  /** Resolves once the pipeline has shut down. */
  readonly closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  constructor(options: ExportPipelineOptions) {
    const counters = options.counters;
    this.#counters = counters;
    this.#maxOutstanding = options.maxOutstanding;
    this.#postEvery = options.postEvery;
    this.#postEveryMs = options.postEveryMs;
    this.#reserve = options.reserve ?? 0;
    this.#batch.pos = this.#reserve;
    this.#worker = new Worker(options.thread, {
      workerData: options.workerData,
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    });
    this.#worker.unref();
    this.#worker.on('message', (msg: FromExportThread) => {
      if (msg.type === 'closed') {
        this.#onClosed?.();
        return;
      }
      if (msg.type === 'control') {
        options.onControl?.(msg.body);
        return;
      }
      if (msg.type === 'recycle') {
        // Only buffers of the usual size come back into use; one grown for a huge record is let go.
        if (msg.buffer.byteLength === BUFFER_SIZE && this.#spare.length < MAX_SPARE_BUFFERS)
          this.#spare.push(Buffer.from(msg.buffer));
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

  /**
   * Hot path: admits one record. Returns the batch buffer to write it into (then call
   * `endRecord`), or null when the queue is full and the record is dropped (counted).
   */
  beginRecord(): ProtoWriter | null {
    if (this.#closed || this.#outstanding >= this.#maxOutstanding) {
      this.#counters.dropped.inc();
      return null;
    }
    this.#outstanding++;
    if (this.#batch.pos - this.#reserve >= POST_AT_BYTES) this.#post();
    return this.#batch;
  }

  endRecord(): void {
    if (++this.#pendingCount >= this.#postEvery) this.#post();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.#onTimer, this.#postEveryMs);
      this.#timer.unref();
    }
  }

  /** A record that is one string, as UTF-8. */
  submitText(record: string): void {
    const batch = this.beginRecord();
    if (batch === null) return;
    batch.text(record);
    this.endRecord();
  }

  /**
   * A message of the thread's own protocol; it reaches the thread after every record posted
   * before it, so `postPending()` first makes it follow every record admitted so far.
   */
  postControl(body: unknown): void {
    if (!this.#closed) this.#worker.postMessage({ type: 'control', body } satisfies ToExportThread);
  }

  /** Hands over the records admitted so far now, rather than at the next batch boundary. */
  postPending(): void {
    this.#post();
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
    const count = this.#pendingCount;
    if (count === 0) return;
    // The buffer itself changes hands: the batch writer's buffers own their memory whole
    // (allocUnsafe of 512 KB or more never slices Node's shared pool), so transferring one
    // detaches nothing else. The next batch goes into a buffer given back, or a new one.
    const batch = this.#batch;
    const full = batch.buf;
    const records = new Uint8Array(full.buffer, full.byteOffset + this.#reserve, batch.pos - this.#reserve);
    batch.buf = this.#spare.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE);
    batch.pos = this.#reserve;
    this.#pendingCount = 0;
    this.#worker.postMessage({ type: 'records', records, count } satisfies ToExportThread, [
      full.buffer as ArrayBuffer,
    ]);
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
export function sharedExportPipeline(
  pipelines: Map<string, ExportPipeline>,
  key: string,
  create: () => ExportPipeline,
): ExportPipeline {
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
