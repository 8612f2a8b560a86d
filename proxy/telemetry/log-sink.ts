// Buffered, non-blocking log output (Envoy's AccessLogFile): the access-log thread prints each line
// (straight to UTF-8, substitution-format.ts) into the sink's byte buffer, where it stays; a
// timer (or a full buffer) hands the filled buffers to one asynchronous fs.writev at a time.
// Nothing of a line is kept as strings until the flush: a second's worth of formatted lines
// (each a tree of string pieces) would otherwise survive every young-generation GC meanwhile,
// and copying them made those pauses several times longer, delaying whichever requests were
// in flight. The buffers are bounded:
// when the disk cannot keep up, lines are dropped and counted, never queued without limit
// and never waited for. requestReopen() (SIGUSR1) reopens the file, for logrotate. The file and
// stdout loggers run their sinks on the access-log thread (access_loggers/log-printer.ts).
import { close, open, openSync, writev } from 'node:fs';
import type { Counter, Gauge, Scope } from '../stats/types.js';
import { ProtoWriter } from './proto-writer.js';

export interface LogSinkStats {
  readonly writeBuffered: Counter;
  readonly writeCompleted: Counter;
  readonly writeFailed: Counter;
  readonly flushedByTimer: Counter;
  readonly reopenFailed: Counter;
  readonly writeTotalBuffered: Gauge;
  readonly linesDropped: Counter;
}

/** Envoy's `filesystem.*` stats, plus the lines dropped on a full buffer. */
export function logSinkStats(scope: Scope): LogSinkStats {
  const s = scope.scope('filesystem');
  return {
    writeBuffered: s.counter('write_buffered'),
    writeCompleted: s.counter('write_completed'),
    writeFailed: s.counter('write_failed'),
    flushedByTimer: s.counter('flushed_by_timer'),
    reopenFailed: s.counter('reopen_failed'),
    writeTotalBuffered: s.gauge('write_total_buffered'),
    linesDropped: scope.scope('access_log').counter('lines_dropped'),
  };
}

const FLUSH_INTERVAL_MS = 1000;
/** Write as soon as this much is buffered (Envoy's 64 KiB); also the size of one buffer. */
const FLUSH_THRESHOLD = 64 * 1024;
/** Never hold more than this; beyond it lines are dropped and counted. */
const MAX_BUFFERED = 8 * 1024 * 1024;
/**
 * A line is printed in place only where at least this much of the buffer is free; a longer line
 * grows that buffer (a copy), which is all the bound costs.
 */
const LINE_ROOM = 4096;

export class LogSink {
  readonly target: string;
  readonly #stats: LogSinkStats;
  /** Standard streams are written by descriptor and never reopened. */
  readonly #fixedFd: number | null;
  #fd: number | null = null;
  /** Filled buffers waiting for the disk, then the one being filled (`#current`, `#used` bytes). */
  #full: Buffer[] = [];
  #current: Buffer | null = null;
  #used = 0;
  /** Writes lines straight into `#current` (beginLine/endLine), from `#used` on. */
  readonly #writer = new ProtoWriter(0);
  #lineStart = -1;
  #bufferedBytes = 0;
  #writing = false;
  #timer: NodeJS.Timeout | null = null;
  #reopenPending = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];

  constructor(target: string, stats: LogSinkStats, fixedFd: number | null) {
    this.target = target;
    this.#stats = stats;
    this.#fixedFd = fixedFd;
    this.#fd = fixedFd;
  }

  /** Opens the file in append mode (the thread that writes it opens it, and closes it). */
  open(): void {
    if (this.#fixedFd === null) this.#fd = openSync(this.target, 'a', 0o644);
  }

  /**
   * Hot path: where the next line is printed, in the buffer being filled (no copy of the line
   * afterwards); endLine() takes it. Null, and the line counted as dropped, when the sink is
   * closed or holds MAX_BUFFERED already.
   */
  beginLine(): ProtoWriter | null {
    if (this.#closed) return null;
    if (this.#bufferedBytes >= MAX_BUFFERED) {
      this.#stats.linesDropped.inc();
      return null;
    }
    if (this.#current === null || this.#current.length - this.#used < LINE_ROOM) {
      this.#seal();
      this.#current = Buffer.allocUnsafe(FLUSH_THRESHOLD);
    }
    const w = this.#writer;
    w.buf = this.#current;
    w.pos = this.#used;
    this.#lineStart = this.#used;
    return w;
  }

  /** The line written since beginLine() is complete. */
  endLine(): void {
    const w = this.#writer;
    // A line longer than the room left grew the writer's buffer: it is the one being filled now.
    this.#current = w.buf;
    this.#used = w.pos;
    this.#buffered(w.pos - this.#lineStart);
  }

  #buffered(n: number): void {
    this.#bufferedBytes += n;
    this.#stats.writeBuffered.inc();
    this.#stats.writeTotalBuffered.set(this.#bufferedBytes);
    if (this.#bufferedBytes >= FLUSH_THRESHOLD) this.#flush();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.#onTimer, FLUSH_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  /** Moves the buffer being filled to the ones waiting for the disk. */
  #seal(): void {
    if (this.#current !== null && this.#used > 0) this.#full.push(this.#current.subarray(0, this.#used));
    this.#current = null;
    this.#used = 0;
  }

  #hasPending(): boolean {
    return this.#full.length > 0 || this.#used > 0;
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#stats.flushedByTimer.inc();
    this.#flush();
  };

  #flush(): void {
    if (this.#writing || this.#fd === null) return;
    if (this.#reopenPending) {
      this.#reopen();
      return;
    }
    this.#seal();
    if (this.#full.length === 0) {
      this.#notifyIdle();
      return;
    }
    const data = this.#full;
    this.#full = [];
    this.#bufferedBytes = 0;
    this.#stats.writeTotalBuffered.set(0);
    this.#writing = true;
    this.#writeAll(this.#fd, data);
  }

  #writeAll(fd: number, data: Buffer[]): void {
    writev(fd, data, (err, written) => {
      if (err !== null) {
        this.#stats.writeFailed.inc();
      } else {
        // A short write: skip what the disk took and write the rest.
        let rest = written;
        while (data.length > 0 && rest >= data[0]!.length) rest -= data.shift()!.length;
        if (data.length > 0) {
          data[0] = data[0]!.subarray(rest);
          this.#writeAll(fd, data);
          return;
        }
        this.#stats.writeCompleted.inc();
      }
      this.#writing = false;
      if (this.#reopenPending || this.#hasPending()) this.#flush();
      else this.#notifyIdle();
    });
  }

  /** Envoy reopens access logs on SIGUSR1: the next flush goes to a freshly opened file. */
  requestReopen(): void {
    if (this.#fixedFd !== null || this.#closed) return;
    this.#reopenPending = true;
    if (!this.#writing) this.#flush();
  }

  #reopen(): void {
    this.#reopenPending = false;
    const old = this.#fd;
    this.#writing = true;
    open(this.target, 'a', 0o644, (err, fd) => {
      if (err !== null) {
        this.#stats.reopenFailed.inc();
      } else {
        this.#fd = fd;
        if (old !== null) close(old, () => undefined);
      }
      this.#writing = false;
      this.#flush();
    });
  }

  #notifyIdle(): void {
    if (this.#writing || this.#hasPending()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Writes everything buffered; resolves when the disk has it. */
  flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (!this.#writing && !this.#hasPending() && !this.#reopenPending) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#flush();
    return done;
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    if (this.#fixedFd === null && this.#fd !== null) {
      const fd = this.#fd;
      this.#fd = null;
      await new Promise<void>((resolve) => close(fd, () => resolve()));
    }
  }
}
