// Cross-process aggregation: the main process merges its own snapshot with its workers',
// as Envoy's main thread merges thread-local stats. Counters add, `accumulate` gauges add,
// `never_import` gauges keep the value of the first snapshot that has them (pass the main
// process's snapshot first), histograms add bucket by bucket.
import { StatsHistogramBoundsMismatchError } from './errors.js';
import type { StatsSnapshot } from './types.js';

type CounterEntry = StatsSnapshot['counters'][number];
type GaugeEntry = StatsSnapshot['gauges'][number];
type HistogramEntry = StatsSnapshot['histograms'][number];

function keyOf(name: string, tags: Array<[string, string]>): string {
  let key = name;
  for (const [k, v] of tags) key += `\u001f${k}\u001e${v}`;
  return key;
}

function sameBounds(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function usedOf(entry: { value: number; used?: boolean }): boolean {
  return entry.used ?? entry.value !== 0;
}

export function mergeSnapshots(snapshots: readonly StatsSnapshot[]): StatsSnapshot {
  const counters = new Map<string, CounterEntry>();
  const gauges = new Map<string, GaugeEntry>();
  const histograms = new Map<string, HistogramEntry>();

  for (const snap of snapshots) {
    for (const c of snap.counters) {
      const key = keyOf(c.name, c.tags);
      const prev = counters.get(key);
      if (prev === undefined) {
        counters.set(key, { name: c.name, tags: c.tags.map(([k, v]) => [k, v]), value: c.value, used: usedOf(c) });
      } else {
        prev.value += c.value;
        prev.used = prev.used === true || usedOf(c);
      }
    }
    for (const g of snap.gauges) {
      const key = keyOf(g.name, g.tags);
      const prev = gauges.get(key);
      if (prev === undefined) {
        gauges.set(key, {
          name: g.name,
          tags: g.tags.map(([k, v]) => [k, v]),
          value: g.value,
          mode: g.mode,
          used: usedOf(g),
        });
      } else {
        if (prev.mode === 'accumulate') prev.value += g.value;
        prev.used = prev.used === true || usedOf(g);
      }
    }
    for (const h of snap.histograms) {
      const key = keyOf(h.name, h.tags);
      const prev = histograms.get(key);
      if (prev === undefined) {
        const entry: HistogramEntry = {
          name: h.name,
          tags: h.tags.map(([k, v]) => [k, v]),
          unit: h.unit,
          bounds: [...h.bounds],
          counts: [...h.counts],
          sum: h.sum,
          count: h.count,
        };
        if (h.min !== undefined) entry.min = h.min;
        if (h.max !== undefined) entry.max = h.max;
        histograms.set(key, entry);
        continue;
      }
      if (!sameBounds(prev.bounds, h.bounds)) throw new StatsHistogramBoundsMismatchError(h.name);
      for (let i = 0; i < h.counts.length; i++) prev.counts[i] = (prev.counts[i] ?? 0) + h.counts[i]!;
      prev.sum += h.sum;
      prev.count += h.count;
      if (h.min !== undefined) prev.min = prev.min === undefined ? h.min : Math.min(prev.min, h.min);
      if (h.max !== undefined) prev.max = prev.max === undefined ? h.max : Math.max(prev.max, h.max);
    }
  }
  return { counters: [...counters.values()], gauges: [...gauges.values()], histograms: [...histograms.values()] };
}
