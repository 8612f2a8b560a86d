// What the access-log thread does (log-thread.ts runs it in a worker; threaded-logger.ts runs it
// inline where no worker can start): it reads batches of raw per-stream records, prints each line
// with its logger's compiled format (the same code and bytes as formatting in place), and owns
// the buffered sinks that write the files (log-sink.ts: Envoy's flush policy, SIGUSR1 reopen on
// request). The sinks' filesystem.* counts go back to the request thread as deltas.
import type { Counter, Gauge } from '../../stats/types.js';
import { LogSink, type LogSinkStats } from '../../telemetry/log-sink.js';
import { ProtoWriter } from '../../telemetry/proto-writer.js';
import { RecordReader } from '../../telemetry/stream-record.js';
import type { LineFormatter } from '../../telemetry/substitution-format.js';
import { buildFormatter } from './format-builder.js';
import { LOG_SINK_COUNTS, type FromLogThread, type ToLogThread } from './log-thread-protocol.js';

/** A count kept where the sink runs and reported as deltas. */
class Tally implements Counter, Gauge {
  readonly name = '';
  readonly tags = [];
  n = 0;
  inc(): void {
    this.n++;
  }
  dec(): void {
    this.n--;
  }
  add(amount: number): void {
    this.n += amount;
  }
  sub(amount: number): void {
    this.n -= amount;
  }
  set(value: number): void {
    this.n = value;
  }
  value(): number {
    return this.n;
  }
}

type SinkTallies = Record<(typeof LOG_SINK_COUNTS)[number] | 'writeTotalBuffered', Tally>;

/** Stats reports are sent this long after the first change (the admin reads them, nothing waits). */
const STATS_DELAY_MS = 100;

export class LogPrinter {
  readonly #reply: (body: FromLogThread) => void;
  readonly #sinks = new Map<number, { sink: LogSink; stats: SinkTallies }>();
  readonly #loggers = new Map<number, { formatter: LineFormatter; sink: LogSink }>();
  /** Where a line its sink drops is printed, to read past its record. */
  readonly #line = new ProtoWriter(4096);
  #statsTimer: NodeJS.Timeout | null = null;

  constructor(reply: (body: FromLogThread) => void) {
    this.#reply = reply;
  }

  /** Prints and writes a batch of `count` records. */
  records(records: Uint8Array, count: number): void {
    const r = new RecordReader(records);
    for (let i = 0; i < count; i++) {
      const logger = this.#loggers.get(r.varint())!;
      // Printed straight into the sink's buffer; a line the sink drops is still read past.
      const out = logger.sink.beginLine();
      if (out !== null) {
        logger.formatter.formatRecordInto(r, out);
        logger.sink.endLine();
      } else {
        const line = this.#line;
        line.pos = 0;
        logger.formatter.formatRecordInto(r, line);
      }
    }
    if (this.#statsTimer === null) {
      this.#statsTimer = setTimeout(() => this.#reportStats(), STATS_DELAY_MS);
      this.#statsTimer.unref();
    }
  }

  control(msg: ToLogThread): void {
    switch (msg.kind) {
      case 'sink': {
        const stats: SinkTallies & LogSinkStats = {
          writeBuffered: new Tally(),
          writeCompleted: new Tally(),
          writeFailed: new Tally(),
          flushedByTimer: new Tally(),
          reopenFailed: new Tally(),
          linesDropped: new Tally(),
          writeTotalBuffered: new Tally(),
        };
        const sink = new LogSink(msg.path, stats, msg.fixedFd);
        try {
          sink.open();
        } catch {
          // Openable at config time, gone since: its lines pile up to the bound, then are dropped and counted.
          stats.writeFailed.inc();
        }
        this.#sinks.set(msg.id, { sink, stats });
        return;
      }
      case 'logger':
        this.#loggers.set(msg.id, { formatter: buildFormatter(msg.format), sink: this.#sinks.get(msg.sink)!.sink });
        return;
      case 'reopen':
        for (const { sink } of this.#sinks.values()) sink.requestReopen();
        return;
      case 'flush':
        void Promise.all([...this.#sinks.values()].map(({ sink }) => sink.flush())).then(() => {
          this.#reportStats();
          this.#reply({ kind: 'flushed', seq: msg.seq });
        });
        return;
    }
  }

  /** Writes everything and closes the files. */
  async close(): Promise<void> {
    await Promise.all([...this.#sinks.values()].map(({ sink }) => sink.close()));
    this.#reportStats();
  }

  #reportStats(): void {
    if (this.#statsTimer !== null) clearTimeout(this.#statsTimer);
    this.#statsTimer = null;
    const out: Array<[number, ...number[]]> = [];
    for (const [id, { stats }] of this.#sinks) {
      const counts = LOG_SINK_COUNTS.map((k) => stats[k].n);
      for (const k of LOG_SINK_COUNTS) stats[k].n = 0;
      out.push([id, ...counts, stats.writeTotalBuffered.n]);
    }
    if (out.length > 0) this.#reply({ kind: 'stats', sinks: out });
  }
}
