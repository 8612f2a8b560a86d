// The collector's memory budget, enforced as the OpenTelemetry Collector's memory_limiter
// does: new data is refused (429 + Retry-After, retryable) before the limit is reached, and
// what is already accepted is never dropped. Two measures, both checked per request:
// - accounted bytes: request bodies in flight (as read, and as decompressed: a gzip bomb is
//   counted by what it inflates to, reserved before inflating) plus rows queued in memory;
// - the process's resident set (V8 and embedded ClickHouse alike), sampled every 100 ms,
//   against a soft limit a spike margin below the hard one (memory_limiter's spike_limit).

const MiB = 1024 * 1024;

export interface MemoryBudget {
  limitBytes: number;
  /** Request bodies in flight, compressed and decompressed. */
  inflightBytes: number;
  /** Rows and edges queued in memory (beyond it entries are re-read from the log). */
  queueBytes: number;
  /** Embedded ClickHouse's own memory (caches, merges, inserts). */
  clickhouseBytes: number;
}

/** How the limit is shared out. The rest is the runtime itself and its garbage. */
export function memoryBudget(limitMiB: number): MemoryBudget {
  const limitBytes = limitMiB * MiB;
  return {
    limitBytes,
    inflightBytes: Math.floor(limitBytes / 8),
    queueBytes: Math.floor(limitBytes / 8),
    clickhouseBytes: Math.floor(limitBytes / 4),
  };
}

export interface MemoryLimiterOptions {
  limitBytes: number;
  inflightBytes: number;
  /** Share of the limit kept free for spikes (memory_limiter's spike_limit_percentage). */
  spikeFraction?: number;
}

export class MemoryLimiter {
  readonly #opts: MemoryLimiterOptions;
  readonly #soft: number;
  #reserved = 0;
  #rss = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(opts: MemoryLimiterOptions) {
    this.#opts = opts;
    this.#soft = opts.limitBytes * (1 - (opts.spikeFraction ?? 0.2));
    this.#rss = process.memoryUsage.rss();
    this.#timer = setInterval(() => {
      this.#rss = process.memoryUsage.rss();
    }, 100);
    this.#timer.unref();
  }

  get reservedBytes(): number {
    return this.#reserved;
  }

  /** Why a request of `bytes` must wait, or undefined when it may proceed. */
  refusal(bytes: number): string | undefined {
    if (this.#rss > this.#soft)
      return `memory limit: resident set ${mib(this.#rss)} MiB is above the soft limit ${mib(this.#soft)} MiB`;
    if (this.#reserved + bytes > this.#opts.inflightBytes)
      return `memory limit: request bodies in flight exceed ${this.#opts.inflightBytes} bytes`;
    return undefined;
  }

  /** Takes `bytes` out of the in-flight budget; false (nothing taken) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.#reserved + bytes > this.#opts.inflightBytes) return false;
    this.#reserved += bytes;
    return true;
  }

  /** The most a reservation may take now. */
  available(): number {
    return Math.max(0, this.#opts.inflightBytes - this.#reserved);
  }

  release(bytes: number): void {
    this.#reserved -= bytes;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

const mib = (n: number): string => (n / MiB).toFixed(0);
