// Aggregating sinks, one per metric type. Trends keep exact count/sum/min/max and an HDR histogram
// (3 significant digits) for percentiles, so memory stays constant however long the run is; values
// are recorded in thousandths of their unit (µs for millisecond trends) to keep sub-unit precision.
import { createRequire } from 'node:module';

// The 32-bit JS histogram alone (what hdr.build({ bitBucketSize: 32 }) constructs): the package's
// entry also loads its WebAssembly build, log reader and writer and pako, and an ESM import of it
// runs Node's CJS export scanner over them, ~50 ms of every run's start-up for nothing we use.
interface HdrHistogram {
  autoResize: boolean;
  recordValue(value: number): void;
  recordValueWithCount(value: number, count: number): void;
  getValueAtPercentile(percentile: number): number;
}
const Int32Histogram = (
  createRequire(import.meta.url)('hdr-histogram-js/dist/Int32Histogram') as {
    default: new (
      lowestDiscernibleValue: number,
      highestTrackableValue: number,
      significantDigits: number,
    ) => HdrHistogram;
  }
).default;

/** hdr.build's defaults (lowest 1, highest 2, auto-resizing) with 3 significant digits. */
function newHistogram(): HdrHistogram {
  const h = new Int32Histogram(1, 2, 3);
  h.autoResize = true;
  return h;
}

const TREND_SCALE = 1000;
/**
 * Values below this (in thousandths: 32.768 ms for millisecond trends) are counted in a flat array
 * and folded into the histogram when a percentile is read. 256 KiB of address space per trend,
 * resident only where values land.
 */
const EXACT_RANGE = 32768;

export class CounterSink {
  count = 0;
  add(value: number): void {
    this.count += value;
  }
}

export class GaugeSink {
  value = 0;
  min = Infinity;
  max = -Infinity;
  seen = false;
  add(value: number): void {
    this.value = value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.seen = true;
  }
}

export class RateSink {
  trues = 0;
  total = 0;
  add(value: number): void {
    if (value !== 0) this.trues++;
    this.total++;
  }
  get rate(): number {
    return this.total === 0 ? 0 : this.trues / this.total;
  }
}

export class TrendSink {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly #histogram = newHistogram();
  // Values below EXACT_RANGE are counted in a flat array and folded into the histogram only when
  // a percentile is read: most HTTP samples (blocked, connecting, sending, waiting, receiving, and
  // the whole duration against a nearby server, also on a loaded host) land there, and an
  // increment costs far less than a histogram record (hdr-histogram-js computes each index with a
  // Math.pow: ~1.5% of the CPU per request when durations passed 2 ms). Folding records the same
  // values with their counts, so percentiles come out identical.
  readonly #exact = new Float64Array(EXACT_RANGE);
  #exactCount = 0;

  add(value: number): void {
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    // HDR histograms hold non-negative integers; negative custom-trend values count as 0 for
    // percentiles (min/max/avg stay exact).
    const scaled = value > 0 ? Math.round(value * TREND_SCALE) : 0;
    if (scaled < EXACT_RANGE) {
      this.#exact[scaled]!++;
      this.#exactCount++;
    } else this.#histogram.recordValue(scaled);
  }

  #fold(): void {
    const exact = this.#exact;
    for (let v = 0; v < EXACT_RANGE && this.#exactCount > 0; v++) {
      const n = exact[v]!;
      if (n === 0) continue;
      this.#histogram.recordValueWithCount(v, n);
      exact[v] = 0;
      this.#exactCount -= n;
    }
  }

  get avg(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Percentile p in [0, 100]; p(0) and p(100) are the exact min and max. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p <= 0) return this.min;
    if (p >= 100) return this.max;
    if (this.#exactCount !== 0) this.#fold();
    const v = this.#histogram.getValueAtPercentile(p) / TREND_SCALE;
    // The histogram reports a bucket's upper edge; the exact extremes bound it.
    return Math.min(Math.max(v, this.min), this.max);
  }

  /** k6's trend statistic by name (avg, min, med, max, count, p(N)): one reading for the
   * end-of-test summary and for thresholds, so a threshold judges the figure the summary shows. */
  stat(name: string): number {
    switch (name) {
      case 'avg':
        return this.avg;
      case 'min':
        return this.count === 0 ? 0 : this.min;
      case 'max':
        return this.count === 0 ? 0 : this.max;
      case 'med':
        return this.percentile(50);
      case 'count':
        return this.count;
      default:
        return this.percentile(Number(name.slice(2, -1)));
    }
  }
}

export type Sink = CounterSink | GaugeSink | RateSink | TrendSink;
