// The in-process stats store. Handles are created once (at config time) and cached by
// name + tags, so the data path holds a reference and recording is a field update. Each
// worker process owns one store; the main process merges their snapshots.
import { StatsInvalidBoundsError } from './errors.js';
import type {
  Counter,
  Gauge,
  GaugeImportMode,
  Histogram,
  HistogramUnit,
  Scope,
  StatTags,
  StatsSnapshot,
  StatsStore,
} from './types.js';

/** Envoy's default histogram bucket upper bounds (source/common/stats/histogram_impl.cc). */
export const DEFAULT_HISTOGRAM_BOUNDS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

const NO_TAGS: StatTags = Object.freeze([]);

function statKey(name: string, tags: StatTags): string {
  if (tags.length === 0) return name;
  let key = name;
  for (const [k, v] of tags) key += `\u001f${k}\u001e${v}`;
  return key;
}

function freezeTags(tags: StatTags): StatTags {
  if (tags.length === 0) return NO_TAGS;
  return Object.freeze(tags.map(([k, v]) => Object.freeze([k, v] as const)));
}

function joinName(prefix: string, name: string): string {
  if (prefix === '') return name;
  if (name === '') return prefix;
  return `${prefix}.${name}`;
}

function normalizePrefix(prefix: string): string {
  return prefix.endsWith('.') ? prefix.slice(0, -1) : prefix;
}

class CounterImpl implements Counter {
  readonly name: string;
  readonly tags: StatTags;
  used = false;
  #value = 0;

  constructor(name: string, tags: StatTags) {
    this.name = name;
    this.tags = tags;
  }

  inc(): void {
    this.#value++;
    this.used = true;
  }

  add(amount: number): void {
    this.#value += amount;
    this.used = true;
  }

  value(): number {
    return this.#value;
  }

  reset(): void {
    this.#value = 0;
  }
}

class GaugeImpl implements Gauge {
  readonly name: string;
  readonly tags: StatTags;
  readonly mode: GaugeImportMode;
  used = false;
  #value = 0;

  constructor(name: string, tags: StatTags, mode: GaugeImportMode) {
    this.name = name;
    this.tags = tags;
    this.mode = mode;
  }

  set(value: number): void {
    this.#value = value;
    this.used = true;
  }

  inc(): void {
    this.#value++;
    this.used = true;
  }

  dec(): void {
    this.#value--;
    this.used = true;
  }

  add(amount: number): void {
    this.#value += amount;
    this.used = true;
  }

  sub(amount: number): void {
    this.#value -= amount;
    this.used = true;
  }

  value(): number {
    return this.#value;
  }
}

class HistogramImpl implements Histogram {
  readonly name: string;
  readonly tags: StatTags;
  readonly unit: HistogramUnit;
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(name: string, tags: StatTags, unit: HistogramUnit, bounds: readonly number[]) {
    this.name = name;
    this.tags = tags;
    this.unit = unit;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  record(value: number): void {
    // A linear scan over ~20 bounds beats a binary search at this size and allocates nothing.
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }
}

function validateBounds(name: string, bounds: readonly number[]): readonly number[] {
  if (bounds.length === 0) throw new StatsInvalidBoundsError(name, 'at least one bound is required');
  for (let i = 0; i < bounds.length; i++) {
    const b = bounds[i]!;
    if (!Number.isFinite(b)) throw new StatsInvalidBoundsError(name, `bound ${i} is not a finite number`);
    if (i > 0 && b <= bounds[i - 1]!)
      throw new StatsInvalidBoundsError(name, `bound ${i} (${b}) is not greater than bound ${i - 1}`);
  }
  return Object.freeze([...bounds]);
}

/** Shared state of a store and all its scopes. */
class StoreState {
  readonly counters = new Map<string, CounterImpl>();
  readonly gauges = new Map<string, GaugeImpl>();
  readonly histograms = new Map<string, HistogramImpl>();
  readonly scopes = new Map<string, ScopeImpl>();
}

class ScopeImpl implements Scope {
  readonly prefix: string;
  protected readonly state: StoreState;

  constructor(state: StoreState, prefix: string) {
    this.state = state;
    this.prefix = prefix;
  }

  counter(name: string, tags: StatTags = NO_TAGS): Counter {
    const full = joinName(this.prefix, name);
    const key = statKey(full, tags);
    let c = this.state.counters.get(key);
    if (c === undefined) {
      c = new CounterImpl(full, freezeTags(tags));
      this.state.counters.set(key, c);
    }
    return c;
  }

  gauge(name: string, mode: GaugeImportMode = 'accumulate', tags: StatTags = NO_TAGS): Gauge {
    const full = joinName(this.prefix, name);
    const key = statKey(full, tags);
    let g = this.state.gauges.get(key);
    if (g === undefined) {
      g = new GaugeImpl(full, freezeTags(tags), mode);
      this.state.gauges.set(key, g);
    }
    return g;
  }

  histogram(
    name: string,
    unit: HistogramUnit = 'unspecified',
    tags: StatTags = NO_TAGS,
    bounds: readonly number[] = DEFAULT_HISTOGRAM_BOUNDS,
  ): Histogram {
    const full = joinName(this.prefix, name);
    const key = statKey(full, tags);
    let h = this.state.histograms.get(key);
    if (h === undefined) {
      const checked = bounds === DEFAULT_HISTOGRAM_BOUNDS ? bounds : validateBounds(full, bounds);
      h = new HistogramImpl(full, freezeTags(tags), unit, checked);
      this.state.histograms.set(key, h);
    }
    return h;
  }

  scope(prefix: string): Scope {
    const full = joinName(this.prefix, normalizePrefix(prefix));
    let s = this.state.scopes.get(full);
    if (s === undefined) {
      s = new ScopeImpl(this.state, full);
      this.state.scopes.set(full, s);
    }
    return s;
  }
}

function copyTags(tags: StatTags): Array<[string, string]> {
  return tags.map(([k, v]) => [k, v]);
}

class StatsStoreImpl extends ScopeImpl implements StatsStore {
  constructor() {
    super(new StoreState(), '');
  }

  snapshot(): StatsSnapshot {
    const snap: StatsSnapshot = { counters: [], gauges: [], histograms: [] };
    for (const c of this.state.counters.values()) {
      snap.counters.push({ name: c.name, tags: copyTags(c.tags), value: c.value(), used: c.used });
    }
    for (const g of this.state.gauges.values()) {
      snap.gauges.push({ name: g.name, tags: copyTags(g.tags), value: g.value(), mode: g.mode, used: g.used });
    }
    for (const h of this.state.histograms.values()) {
      const entry: StatsSnapshot['histograms'][number] = {
        name: h.name,
        tags: copyTags(h.tags),
        unit: h.unit,
        bounds: [...h.bounds],
        counts: Array.from(h.counts),
        sum: h.sum,
        count: h.count,
      };
      if (h.count > 0) {
        entry.min = h.min;
        entry.max = h.max;
      }
      snap.histograms.push(entry);
    }
    return snap;
  }

  resetCounters(): void {
    for (const c of this.state.counters.values()) c.reset();
  }
}

export function createStatsStore(): StatsStore {
  return new StatsStoreImpl();
}
