// The file and standard-stream access loggers' request-thread side. Per stream the logger only
// records its format's raw operator values (substitution-format.ts recordInto, one flat record
// in stream-record.ts's encoding) into the export pipeline's batch buffer; the access-log thread
// (log-thread.ts) prints the lines and writes the files. Formatting a line (the date, flag
// letters, digits, literals) and the file writes' completions had cost the request thread
// about as much as encoding the stream's span. One thread per worker serves every such logger;
// each file is opened here once, at config time, so a bad path still fails the load. Where no worker
// can start (the proxy run from its TypeScript sources, as the tests do in-process) the same
// printer runs inline, once per event-loop turn, after the turn's responses.
// Bounded as every export: beyond MAX_OUTSTANDING records the thread has not printed yet, lines
// are dropped and counted in access_log.lines_dropped, as a full sink's are.
import { closeSync, existsSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AccessLogger, AccessLoggerContext } from '../../core/extension-points.js';
import type { StreamInfo } from '../../core/stream-info.js';
import type { Counter } from '../../stats/types.js';
import { ExportPipeline } from '../../telemetry/export-pipeline.js';
import { ProtoWriter } from '../../telemetry/proto-writer.js';
import { logSinkStats, type LogSinkStats } from '../../telemetry/log-sink.js';
import type { Scope } from '../../stats/types.js';
import type { LineFormatter } from '../../telemetry/substitution-format.js';
import type { LogFormatConfig } from './common.js';
import { buildFormatter } from './format-builder.js';
import { LogPrinter } from './log-printer.js';
import { LOG_SINK_COUNTS, type FromLogThread, type ToLogThread } from './log-thread-protocol.js';

/** Records the thread may be behind by before lines are dropped (a few seconds at full load). */
const MAX_OUTSTANDING = 32 * 1024;
/** A batch goes to the thread every this many records ... */
const POST_EVERY = 512;
/** ... or this long after its first record (the sink then flushes on its own 1 s timer). */
const POST_EVERY_MS = 250;
/**
 * A batch buffer's size: 512 records of the default format take 80-100 KB. A record that
 * does not fit grows its batch's buffer as before.
 */
const BATCH_BYTES = 160 * 1024;
/** The thread's young generation (V8 otherwise sizes it for a request thread's churn). */
const YOUNG_GENERATION_MB = 2;
/** A flush at shutdown waits at most this long for the thread. */
const FLUSH_TIMEOUT_MS = 5000;

/** A counter nobody reads: the pipeline's own outcome counts (lines are counted per sink). */
function uncounted(): Counter {
  let n = 0;
  return {
    name: '',
    tags: [],
    inc: () => void n++,
    add: (a: number) => void (n += a),
    value: () => n,
  };
}

/** Where records go: the export pipeline to the thread, or the inline printer. */
interface RecordChannel {
  beginRecord(): ProtoWriter | null;
  endRecord(): void;
  postControl(body: unknown): void;
  postPending(): void;
  /** Writes what is pending, closes the files and stops. */
  shutdown(): Promise<void>;
}

/** The printer on this thread: records pile up for the turn and are printed after it. */
class InlineChannel implements RecordChannel {
  readonly #printer: LogPrinter;
  readonly #batch = new ProtoWriter(64 * 1024);
  #count = 0;

  constructor(reply: (body: FromLogThread) => void) {
    this.#printer = new LogPrinter(reply);
  }

  beginRecord(): ProtoWriter {
    return this.#batch;
  }

  endRecord(): void {
    if (this.#count++ === 0) setImmediate(() => this.postPending());
  }

  postControl(body: unknown): void {
    this.postPending();
    this.#printer.control(body as ToLogThread);
  }

  shutdown(): Promise<void> {
    this.postPending();
    return this.#printer.close();
  }

  postPending(): void {
    if (this.#count === 0) return;
    const b = this.#batch;
    this.#printer.records(new Uint8Array(b.buf.buffer, b.buf.byteOffset, b.pos), this.#count);
    b.pos = 0;
    this.#count = 0;
  }
}

interface SinkEntry {
  readonly id: number;
  readonly stats: LogSinkStats;
}

class LogThread {
  readonly #pipeline: RecordChannel;
  readonly #sinks = new Map<string, SinkEntry>();
  readonly #sinkStats = new Map<number, LogSinkStats>();
  readonly #loggers = new Map<string, number>();
  readonly #flushWaiters = new Map<number, () => void>();
  #nextId = 1;
  #flushSeq = 0;
  #reopenOnSignal = false;
  /** Loggers whose worker has not shut down yet; the last one to go stops the thread. */
  #users = 0;

  constructor() {
    const thread = new URL('./log-thread.js', import.meta.url);
    const onControl = (body: unknown): void => this.#onControl(body as FromLogThread);
    if (!existsSync(fileURLToPath(thread))) {
      this.#pipeline = new InlineChannel(onControl);
      return;
    }
    this.#pipeline = new ExportPipeline({
      thread,
      workerData: null,
      maxOutstanding: MAX_OUTSTANDING,
      postEvery: POST_EVERY,
      postEveryMs: POST_EVERY_MS,
      batchBytes: BATCH_BYTES,
      counters: { sent: uncounted(), dropped: uncounted(), failed: uncounted() },
      onControl,
      // Printing a line makes almost no garbage (recorded strings are copied as bytes): a small
      // young generation keeps the thread's resident memory small.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
  }

  get pipeline(): RecordChannel {
    return this.#pipeline;
  }

  /** The sink for `path` (opened now: a bad path fails the config load), and its stats. */
  sink(path: string, scope: Scope): SinkEntry {
    let sink = this.#sinks.get(path);
    if (sink === undefined) {
      const fixed = path === '/dev/stdout' ? 1 : path === '/dev/stderr' ? 2 : null;
      // Opened (created) here to fail the load on a bad path; the thread opens it for itself.
      if (fixed === null) closeSync(openSync(path, 'a', 0o644));
      // Envoy reopens its access log files on SIGUSR1 (logrotate); the standard streams never.
      if (fixed === null && !this.#reopenOnSignal) {
        this.#reopenOnSignal = true;
        process.on('SIGUSR1', () => this.#post({ kind: 'reopen' }));
      }
      sink = { id: this.#nextId++, stats: logSinkStats(scope) };
      this.#sinks.set(path, sink);
      this.#sinkStats.set(sink.id, sink.stats);
      this.#post({ kind: 'sink', id: sink.id, path, fixedFd: fixed });
    }
    return sink;
  }

  /** The thread's id for a logger of this format on this sink (the same config shares one). */
  logger(sink: SinkEntry, format: LogFormatConfig | undefined): number {
    const key = JSON.stringify([sink.id, format ?? null]);
    let id = this.#loggers.get(key);
    if (id === undefined) {
      id = this.#nextId++;
      this.#loggers.set(key, id);
      this.#post({ kind: 'logger', id, sink: sink.id, format });
    }
    return id;
  }

  acquire(): void {
    this.#users++;
  }

  /**
   * A logger's worker shuts down: its lines are written; the last logger to go also closes the
   * files and stops the thread (a running thread would keep the process from exiting).
   */
  release(): Promise<void> {
    if (--this.#users > 0) return this.flush();
    if (thread === this) thread = null;
    return this.#pipeline.shutdown();
  }

  /** Hands everything logged so far to the thread and resolves once it is written. */
  flush(): Promise<void> {
    this.#pipeline.postPending();
    const seq = ++this.#flushSeq;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#flushWaiters.delete(seq);
        resolve();
      }, FLUSH_TIMEOUT_MS);
      timer.unref();
      this.#flushWaiters.set(seq, () => {
        clearTimeout(timer);
        resolve();
      });
      this.#post({ kind: 'flush', seq });
    });
  }

  #post(msg: ToLogThread): void {
    this.#pipeline.postControl(msg);
  }

  #onControl(msg: FromLogThread): void {
    if (msg.kind === 'flushed') {
      const waiter = this.#flushWaiters.get(msg.seq);
      this.#flushWaiters.delete(msg.seq);
      waiter?.();
      return;
    }
    for (const [id, ...counts] of msg.sinks) {
      const stats = this.#sinkStats.get(id);
      if (stats === undefined) continue;
      LOG_SINK_COUNTS.forEach((k, i) => {
        if (counts[i]! > 0) stats[k].add(counts[i]!);
      });
      stats.writeTotalBuffered.set(counts[LOG_SINK_COUNTS.length]!);
    }
  }
}

let thread: LogThread | null = null;

/** The worker's access-log thread, started with its first logger. */
function logThread(): LogThread {
  thread ??= new LogThread();
  return thread;
}

/** A logger whose lines are printed and written by the access-log thread. */
export class ThreadedAccessLogger implements AccessLogger {
  readonly #id: number;
  readonly #formatter: LineFormatter;
  readonly #pipeline: RecordChannel;
  readonly #dropped: Counter;

  /** Registers with the worker's access-log thread until `context`'s worker shuts down. */
  constructor(path: string, format: LogFormatConfig | undefined, context: AccessLoggerContext) {
    const t = logThread();
    const sink = t.sink(path, context.stats);
    t.acquire();
    context.onShutdown(() => t.release());
    this.#formatter = buildFormatter(format);
    this.#id = t.logger(sink, format);
    this.#pipeline = t.pipeline;
    this.#dropped = sink.stats.linesDropped;
  }

  log(info: StreamInfo): void {
    const w = this.#pipeline.beginRecord();
    if (w === null) {
      this.#dropped.inc();
      return;
    }
    w.ensure(5);
    w.varint(this.#id);
    this.#formatter.recordInto(info, w);
    this.#pipeline.endRecord();
  }
}
