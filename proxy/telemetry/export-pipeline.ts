// The request-thread side of an export thread (spans, OTLP access logs): each record is written
// at once into a batch buffer (spans as OTLP protobuf, access logs as UTF-8 text), and the
// buffer is handed over to the thread every `postEvery` records or `postEveryMs`; the thread
// releases it once its batch is exported, to be filled again. Writing at once leaves nothing of a
// record alive between hand-overs: a pending batch of objects or strings would survive
// young-generation GCs and lengthen their pauses; handing over bytes also spares structured
// cloning here and decoding there. Everything is bounded: records handed over but not yet
// settled by the thread (sent, failed or dropped) never exceed `maxOutstanding`, beyond which
// records are dropped here and counted. The request path never waits on any of it.
//
// The batch buffers are shared memory (BatchSlots): a hand-over is a few stores into a shared
// control block, and the thread finds the batch there. A postMessage per batch (a transferred
// buffer, and another message to give it back) had cost the request thread 45 us at the median
// and 84 us on average per batch in a sidecar under wrk (hrtime around the call, 850 batches),
// 0.3-0.5 us per request with spans and access logs on. The thread sleeps on the control
// block's HEAD and an Atomics.notify wakes it (receiveBatches): no message per batch at all.
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Counter } from '../stats/types.js';
import { ProtoWriter } from './proto-writer.js';

/**
 * Messages to an export thread: the shared control block (first), a batch buffer for a slot
 * (before the slot's first batch, or when its buffer is replaced), shutdown, or the thread's
 * own protocol. Batches themselves go through the slots.
 */
export type ToExportThread =
  | { type: 'slots'; control: SharedArrayBuffer; reserve: number }
  | { type: 'slot'; id: number; generation: number; buffer: SharedArrayBuffer }
  | { type: 'shutdown' }
  | { type: 'control'; body: unknown };
/** Messages from an export thread: outcome counts since the last report, or closed. */
export type FromExportThread =
  | { type: 'outcomes'; sent: number; failed: number; dropped: number }
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
  /**
   * Each batch buffer's size (BUFFER_SIZE by default): a slot's memory is resident once made,
   * so a pipeline of small records (access-log records, ~150 bytes) asks for less.
   */
  readonly batchBytes?: number;
  /** Bytes left free at the front of each batch buffer, for the thread to frame the batch in place. */
  readonly reserve?: number;
  /** The thread's V8 heap limits (a thread that makes little garbage needs a small young generation). */
  readonly resourceLimits?: ResourceLimits;
  /** Messages of the thread's own protocol (`control`), for a thread that has one. */
  readonly onControl?: (body: unknown) => void;
}

/**
 * The batch buffer by default: room for a batch of 512 usual spans (about 200 KB; posted at 3/4
 * of the buffer, 240 KB). Slots are resident whole once made (a SharedArrayBuffer is zeroed
 * when made, and the proxy's allocator hands out chunks this size from its heap, not fresh
 * pages), so they are sized to what a batch takes: 512 KB slots had cost a sidecar under wrk
 * 4-6 MB of peak RSS against the transferred buffers' (VmHWM, three runs).
 */
const BUFFER_SIZE = 320 * 1024;
const SHUTDOWN_TIMEOUT_MS = 5000;

/**
 * The shared control block: which slots hold batches handed over, in order (a queue of slot
 * ids, HEAD written by the request thread, TAIL by the export thread), each slot's state, batch
 * length and record count. Slots are batch buffers of shared memory, made as needed: one
 * being filled, the others handed over until the thread releases them. A pipeline has enough
 * for maxOutstanding records in full batches, and two more; when every one is handed over the
 * thread is far behind (a collector that hangs) and records are dropped and counted, as beyond
 * maxOutstanding. (Buffers had been unbounded in number: a timer's small batches could each
 * hold one.)
 */
const MAX_SLOTS = 256;
const MIN_SLOTS = 4;
const HEAD = 0;
const TAIL = 1;
/** 1 while the thread waits on HEAD (receiveBatches): only then does a hand-over notify. */
const WAITING = 2;
const QUEUE = 4;
const STATE = QUEUE + MAX_SLOTS;
const LENGTH = STATE + MAX_SLOTS;
const COUNT = LENGTH + MAX_SLOTS;
/** Each slot's buffer generation: the thread takes a batch once it has the buffer it is in. */
const GENERATION = COUNT + MAX_SLOTS;
/**
 * How many `control` messages were posted before each slot's batch: the thread takes a batch
 * only once it has read them all, as when every batch was a message. Batches go through shared
 * memory and messages through the port, so without it a thread still taking batches (its drain
 * loop, its timer) could take one ahead of a message posted before it: the access-log thread
 * then printed records of a logger it had not been told of yet, threw, and died.
 */
const CONTROLS = GENERATION + MAX_SLOTS;
const CONTROL_INTS = CONTROLS + MAX_SLOTS;
/** A slot's states: the request thread's to fill, or handed over to the thread. */
const FREE = 0;
const HANDED_OVER = 1;

interface Slot {
  readonly shared: SharedArrayBuffer;
  /** The request thread's view of it, the batch writer's buffer while the slot is filled. */
  readonly buf: Buffer;
}

export class ExportPipeline {
  readonly #counters: ExportOutcomeCounters;
  readonly #worker: Worker;
  readonly #maxOutstanding: number;
  readonly #postEvery: number;
  readonly #postEveryMs: number;
  readonly #batch: ProtoWriter;
  readonly #reserve: number;
  readonly #batchBytes: number;
  /**
   * A batch this large is posted before the next record, however few records it holds, so
   * records with huge values (long header values) cannot grow one batch without bound; the
   * buffer grows only to fit a single record, and shrinks back after its post.
   */
  readonly #postAtBytes: number;
  readonly #control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
  readonly #slots: Slot[] = [];
  readonly #maxSlots: number;
  /** The slot being filled, or -1 when every slot is handed over (records are then dropped). */
  #current = -1;
  #pendingCount = 0;
  #outstanding = 0;
  /** `control` messages posted so far (CONTROLS). */
  #controls = 0;
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
    this.#batchBytes = options.batchBytes ?? BUFFER_SIZE;
    this.#postAtBytes = (this.#batchBytes * 3) / 4;
    this.#maxSlots = Math.min(
      MAX_SLOTS,
      Math.max(MIN_SLOTS, Math.ceil(options.maxOutstanding / Math.max(1, options.postEvery)) + 2),
    );
    this.#worker = new Worker(options.thread, {
      workerData: options.workerData,
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    });
    this.#worker.unref();
    this.#worker.postMessage({
      type: 'slots',
      control: this.#control.buffer as SharedArrayBuffer,
      reserve: this.#reserve,
    } satisfies ToExportThread);
    this.#current = this.#freeSlot();
    this.#batch = new ProtoWriter(this.#slots[this.#current]!.buf);
    this.#batch.pos = this.#reserve;
    this.#worker.on('message', (msg: FromExportThread) => {
      if (msg.type === 'closed') {
        this.#onClosed?.();
        return;
      }
      if (msg.type === 'control') {
        options.onControl?.(msg.body);
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
    // A thread that died (thrown, or exited) will never say 'closed': a shutdown under way
    // ends now rather than after SHUTDOWN_TIMEOUT_MS.
    this.#worker.on('exit', () => {
      this.#closed = true;
      this.#onClosed?.();
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
    if (this.#batch.pos - this.#reserve >= this.#postAtBytes) this.#post();
    if (this.#current === -1 && !this.#nextSlot()) {
      this.#counters.dropped.inc();
      return null;
    }
    this.#outstanding++;
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
   * A message of the thread's own protocol, in order with the records: the thread reads it after
   * every record admitted before it (handed over now) and before any record admitted after it.
   */
  postControl(body: unknown): void {
    if (this.#closed) return;
    this.#post();
    this.#controls++;
    this.#worker.postMessage({ type: 'control', body } satisfies ToExportThread);
  }

  /** Hands over the records admitted so far now, rather than at the next batch boundary. */
  postPending(): void {
    this.#post();
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#post();
  };

  /** A free slot's id (its buffer replaced by a usual one if a huge record had grown it), or -1. */
  #freeSlot(): number {
    const control = this.#control;
    for (let id = 0; id < this.#slots.length; id++) {
      if (Atomics.load(control, STATE + id) !== FREE) continue;
      if (this.#slots[id]!.shared.byteLength !== this.#batchBytes) this.#makeSlot(id, this.#batchBytes);
      return id;
    }
    if (this.#slots.length === this.#maxSlots) return -1;
    const id = this.#slots.length;
    this.#makeSlot(id, this.#batchBytes);
    return id;
  }

  /** Slot `id` gets a new buffer of `size` bytes; the thread is told before the slot's next batch. */
  #makeSlot(id: number, size: number): void {
    const shared = new SharedArrayBuffer(size);
    this.#slots[id] = { shared, buf: Buffer.from(shared) };
    const generation = this.#control[GENERATION + id]! + 1;
    this.#control[GENERATION + id] = generation;
    this.#worker.postMessage({ type: 'slot', id, generation, buffer: shared } satisfies ToExportThread);
  }

  /** Makes a free slot the one being filled; false when there is none. */
  #nextSlot(): boolean {
    const id = this.#freeSlot();
    this.#current = id;
    if (id === -1) return false;
    this.#batch.buf = this.#slots[id]!.buf;
    this.#batch.pos = this.#reserve;
    return true;
  }

  #post(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const count = this.#pendingCount;
    if (count === 0) return;
    const id = this.#current;
    const batch = this.#batch;
    const length = batch.pos;
    // A record larger than the buffer grew the writer into memory of its own: the batch goes
    // into a slot buffer of its size, which the slot keeps until it is next taken.
    if (batch.buf !== this.#slots[id]!.buf) {
      this.#makeSlot(id, length);
      this.#slots[id]!.buf.set(batch.buf.subarray(0, length));
    }
    const control = this.#control;
    control[LENGTH + id] = length;
    control[COUNT + id] = count;
    control[CONTROLS + id] = this.#controls;
    control[STATE + id] = HANDED_OVER;
    const head = control[HEAD]!;
    control[QUEUE + (head % MAX_SLOTS)] = id;
    // The sequentially consistent store publishes the slot's fields with it. The load of WAITING
    // after it pairs with the thread's store of WAITING before it waits on HEAD (which it does
    // only while HEAD is its tail): either the thread sees this batch or this sees it waiting.
    // A notify that wakes a waiter costs this thread ~17 us (V8 posts the waiter's isolate a
    // task), so a thread between looks on its timer is not notified.
    Atomics.store(control, HEAD, head + 1);
    if (Atomics.load(control, WAITING) === 1) Atomics.notify(control, HEAD);
    this.#pendingCount = 0;
    this.#nextSlot();
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
 * How often a span thread that found batches looks again: at a sidecar's full load (~60 batches
 * of 512 spans a second) most looks find one, and a wake-up per batch by notify would cost the
 * request thread more than the timer costs this thread.
 */
const LOOK_EVERY_MS = 20;

/** Atomics.waitAsync (ES2024, in V8 since Node 16), typed here as the project's lib predates it. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      array: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
  }
).waitAsync;

/** The thread's port, as export threads have it (parentPort). */
interface ThreadPort {
  on(event: 'message', listener: (msg: ToExportThread) => void): unknown;
}

/**
 * The export thread's side of an ExportPipeline: calls `batch` with each batch handed over, in
 * order (`records` views shared memory the request thread refills once `release` is called),
 * and `message` with every other message, after every batch handed over before it (and a
 * `control` message before every batch handed over after it).
 *
 * While batches come the thread looks for them on a timer, every `lookEveryMs`, each look
 * taking the batches handed over since; after a look that found none it sleeps on the queue's
 * HEAD (Atomics.waitAsync) and the request thread's Atomics.notify at the next hand-over wakes
 * it. So at full load there is one wake-up per look and no notify (a notify that wakes a waiter
 * costs the request thread ~17 us), and with no batches none at all. It had gone idle only after
 * five empty looks, every 10 ms, and was then woken by a message: at a few batches a second
 * most of its looks found nothing, each a thread wake-up of 40-70 us with its timer, and each
 * batch cost the request thread a postMessage (~45 us).
 */
export function receiveBatches(
  port: ThreadPort,
  batch: (records: Uint8Array, count: number, release: () => void) => void,
  message: (msg: ToExportThread) => void,
  lookEveryMs = LOOK_EVERY_MS,
): void {
  let control: Int32Array | null = null;
  let reserve = 0;
  const slots: Array<{ buffer: SharedArrayBuffer; generation: number } | undefined> = [];
  let tail = 0;
  /** `control` messages read so far (CONTROLS). */
  let controls = 0;
  /** Waiting on HEAD, or on the timer between looks: a message's drain must not arm another wait. */
  let waiting = false;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  /** Takes every batch handed over so far; whether there was one. */
  const drain = (): boolean => {
    if (control === null) return false;
    const c = control;
    let found = false;
    while (tail !== Atomics.load(c, HEAD)) {
      const id = c[QUEUE + (tail % MAX_SLOTS)]!;
      const slot = slots[id];
      // The message with the slot's current buffer is on its way (it was posted before the batch).
      if (slot === undefined || slot.generation !== c[GENERATION + id]) break;
      // A control message posted before the batch is still on its way: it is read first.
      if (c[CONTROLS + id]! > controls) break;
      const records = new Uint8Array(slot.buffer, reserve, c[LENGTH + id]! - reserve);
      const count = c[COUNT + id]!;
      tail++;
      Atomics.store(c, TAIL, tail);
      found = true;
      batch(records, count, () => Atomics.store(c, STATE + id, FREE));
    }
    return found;
  };

  /**
   * Takes what is there and waits on HEAD for the next batch. When the batch at the tail waits
   * for a message (its slot's buffer, a control message), that message's arrival looks again.
   */
  const look = (): void => {
    waiting = false;
    timer = null;
    const c = control;
    if (c === null || stopped) return;
    Atomics.store(c, WAITING, 0);
    for (;;) {
      const found = drain();
      if (tail !== Atomics.load(c, HEAD)) return;
      if (found && lookEveryMs > 0) {
        waiting = true;
        timer = setTimeout(look, lookEveryMs);
        return;
      }
      // Not armed when HEAD has moved since the drain (`not-equal`): take that batch first.
      Atomics.store(c, WAITING, 1);
      const w = waitAsync(c, HEAD, tail);
      if (w.async) {
        waiting = true;
        void w.value.then(look);
        return;
      }
    }
  };

  port.on('message', (msg: ToExportThread) => {
    if (msg.type === 'slots') {
      control = new Int32Array(msg.control);
      reserve = msg.reserve;
      if (!waiting) look();
      return;
    }
    if (msg.type === 'slot') {
      slots[msg.id] = { buffer: msg.buffer, generation: msg.generation };
      if (!waiting) look();
      return;
    }
    drain();
    if (msg.type === 'shutdown') {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
    }
    if (msg.type === 'control') controls++;
    message(msg);
    // The batches that waited for this message.
    if (msg.type === 'control' && !waiting) look();
  });
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
