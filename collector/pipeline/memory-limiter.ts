// The collector's memory budget, enforced as the OpenTelemetry Collector's memory_limiter
// does: new data is refused (429 + Retry-After, retryable) before the limit is reached, and
// what is already accepted is never dropped. Two measures, both checked per request:
// - accounted bytes: request bodies in flight (as read, and as decompressed: a gzip bomb is
//   counted by what it inflates to, reserved before inflating) plus rows queued in memory;
// - the runtime's live memory (V8 heap in use plus Buffers and other external memory),
//   sampled every 100 ms, against a soft limit a spike margin below its share of the limit
//   (memory_limiter's spike_limit). Live memory, not the resident set: freed memory the
//   allocator keeps mapped would otherwise hold the limiter shut for good. Embedded
//   ClickHouse's share is capped by its own memory tracker (engine arguments).

import { getHeapStatistics } from 'node:v8';

const MiB = 1024 * 1024;

export interface MemoryBudget {
  limitBytes: number;
  /** Request bodies in flight, compressed and decompressed. */
  inflightBytes: number;
  /** Rows and edges queued in memory (beyond it entries are re-read from the log). */
  queueBytes: number;
  /** Embedded ClickHouse's own memory (caches, merges, inserts). */
  clickhouseBytes: number;
  /** The runtime's live memory (V8 heap and Buffers) at most. */
  runtimeBytes: number;
}

/**
 * Anonymous memory resident whatever the load: V8's initial heap, thread stacks, the engine's
 * relocated data (12 MB) and its allocator's start. An idle collector holds ~69 MB of it and
 * file pages: node's binary ~40 MB and libchdb.so's, ~175 MB after the engine's start, which the
 * collector then gives back (storage/clickhouse/library-pages.ts: ~14 MB idle, ~100 MB under
 * load). Those count in RSS but are the page cache's, and a cgroup's limit reclaims them before
 * anonymous memory. They are not reserved here.
 */
const BASELINE_BYTES = 128 * MiB;

/** How the limit is shared out. The rest is the runtime itself and its garbage. */
export function memoryBudget(limitMiB: number): MemoryBudget {
  const limitBytes = limitMiB * MiB;
  return {
    limitBytes,
    inflightBytes: Math.floor(limitBytes / 16),
    queueBytes: Math.floor(limitBytes / 8),
    // Ceilings, not a partition: the engine rarely sits at its ceiling while the runtime sits
    // at its soft limit, and ClickHouse refuses an insert (split, never stuck) rather than
    // grow past it.
    clickhouseBytes: Math.floor(limitBytes / 2),
    runtimeBytes: Math.max(32 * MiB, limitBytes - Math.floor((limitBytes * 3) / 8) - BASELINE_BYTES),
  };
}

export interface MemoryLimiterOptions {
  /** The runtime's live memory at most (MemoryBudget.runtimeBytes). */
  limitBytes: number;
  inflightBytes: number;
  /** Share of the limit kept free for spikes (memory_limiter's spike_limit_percentage). */
  spikeFraction?: number;
}

export class MemoryLimiter {
  readonly #opts: MemoryLimiterOptions;
  readonly #soft: number;
  #reserved = 0;
  #live = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(opts: MemoryLimiterOptions) {
    this.#opts = opts;
    this.#soft = opts.limitBytes * (1 - (opts.spikeFraction ?? 0.2));
    this.#live = live();
    this.#timer = setInterval(() => {
      this.#live = live();
    }, 100);
    this.#timer.unref();
  }

  get reservedBytes(): number {
    return this.#reserved;
  }

  /** Why a request of `bytes` must wait, or undefined when it may proceed. */
  refusal(bytes: number): string | undefined {
    if (this.#live > this.#soft)
      return `memory limit: ${mib(this.#live)} MiB in use is above the soft limit ${mib(this.#soft)} MiB`;
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

/**
 * V8's heap in use plus external memory (Buffers), from V8's heap statistics: the same two
 * figures process.memoryUsage() reports, without the resident set it also reads. Under
 * bench:collector's load, process.memoryUsage() took about 5% of the event loop's profile at ten
 * calls a second; in a process with a 100 MB heap being churned, 585 µs a call against 12 µs.
 */
function live(): number {
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}
