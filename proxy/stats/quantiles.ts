// Quantiles for `/stats` computed from bucket counts. Envoy computes them from its
// log-linear histograms; with bucket counts we interpolate linearly inside the bucket that
// holds the rank, clamped to the recorded min and max, so P0 and P100 are exact.
import type { StatsSnapshot } from './types.js';

/** Envoy's supported quantiles, in percent, in the order `/stats` prints them. */
export const SUPPORTED_QUANTILES: readonly number[] = Object.freeze([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);

type HistogramEntry = StatsSnapshot['histograms'][number];

/** The value at quantile `q` (0..1), NaN when nothing was recorded. */
export function quantile(h: HistogramEntry, q: number): number {
  if (h.count <= 0) return NaN;
  const min = h.min ?? 0;
  const max = h.max ?? h.bounds[h.bounds.length - 1] ?? 0;
  if (q <= 0) return min;
  if (q >= 1) return max;
  const rank = q * h.count;
  let cumulative = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const n = h.counts[i]!;
    if (n === 0) continue;
    if (cumulative + n >= rank) {
      let lower = i === 0 ? min : h.bounds[i - 1]!;
      let upper = i < h.bounds.length ? h.bounds[i]! : max;
      if (lower < min) lower = min;
      if (upper > max) upper = max;
      if (upper < lower) upper = lower;
      return lower + ((upper - lower) * (rank - cumulative)) / n;
    }
    cumulative += n;
  }
  return max;
}

export function computedQuantiles(h: HistogramEntry): number[] {
  return SUPPORTED_QUANTILES.map((p) => quantile(h, p / 100));
}
