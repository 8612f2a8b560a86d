// The request-thread side of OTLP access logs: records are encoded into one string and posted
// to the log export thread every 256 records or 50 ms. Records posted but not yet settled by
// the thread never exceed the queue size; beyond it they are dropped here and counted.
import { Worker } from 'node:worker_threads';
import type { Counter } from '../../stats/types.js';
import type { FromLogThread, LogExportThreadData, ToLogThread } from './export-thread.js';
import { encodeWireLog, type WireLog } from './wire-log.js';

export interface LogPipelineStats {
  readonly written: Counter;
  readonly dropped: Counter;
  readonly failed: Counter;
}

const POST_EVERY = 256;
const POST_EVERY_MS = 50;
const SHUTDOWN_TIMEOUT_MS = 5000;

const shared = new Map<string, LogPipeline>();

/** One log export thread per destination, resource and log name per worker, shared by listeners. */
export function sharedLogPipeline(data: LogExportThreadData, stats: LogPipelineStats): LogPipeline {
  const key = JSON.stringify(data);
  let p = shared.get(key);
  if (p === undefined) {
    p = new LogPipeline(data, stats);
    shared.set(key, p);
  }
  return p;
}

export class LogPipeline {
  readonly #stats: LogPipelineStats;
  readonly #worker: Worker;
  readonly #maxOutstanding: number;
  #pending = '';
  #pendingCount = 0;
  #outstanding = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #shutdown: Promise<void> | null = null;
  #onClosed: (() => void) | null = null;

  constructor(data: LogExportThreadData, stats: LogPipelineStats) {
    this.#stats = stats;
    this.#maxOutstanding = data.maxQueueSize;
    this.#worker = new Worker(new URL('./export-thread.js', import.meta.url), { workerData: data });
    this.#worker.unref();
    this.#worker.on('message', (msg: FromLogThread) => {
      if (msg.type === 'closed') {
        this.#onClosed?.();
        return;
      }
      if (msg.sent > 0) stats.written.add(msg.sent);
      if (msg.failed > 0) stats.failed.add(msg.failed);
      if (msg.dropped > 0) stats.dropped.add(msg.dropped);
      this.#outstanding = Math.max(0, this.#outstanding - msg.sent - msg.failed - msg.dropped);
    });
    this.#worker.on('error', () => {
      // A dead export thread loses logs, never requests.
      this.#closed = true;
    });
  }

  submit(record: WireLog): void {
    if (this.#closed || this.#outstanding >= this.#maxOutstanding) {
      this.#stats.dropped.inc();
      return;
    }
    this.#outstanding++;
    this.#pending += encodeWireLog(record);
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
    const msg: ToLogThread = { type: 'logs', logs: this.#pending };
    this.#pending = '';
    this.#pendingCount = 0;
    this.#worker.postMessage(msg);
  }

  shutdown(): Promise<void> {
    for (const [k, v] of shared) if (v === this) shared.delete(k);
    this.#shutdown ??= this.#stop();
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
      this.#worker.postMessage({ type: 'shutdown' } satisfies ToLogThread);
      await closed;
    }
    await this.#worker.terminate();
  }
}
