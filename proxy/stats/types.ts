// The stats contract shared by the data path (which records) and the admin server (which
// reads). Mirrors Envoy's stats model: counters, gauges and histograms named by dotted
// paths (`cluster.<name>.upstream_rq_total`, `http.<stat_prefix>.downstream_rq_2xx`),
// optionally carrying explicit tags (Istio metrics). Handles are looked up once at config
// time and kept; recording on the hot path is a field update, never a map lookup.

/** A tag is a [name, value] pair; order is preserved in output. */
export type StatTags = ReadonlyArray<readonly [string, string]>;

export interface Counter {
  readonly name: string;
  readonly tags: StatTags;
  inc(): void;
  add(amount: number): void;
  value(): number;
}

/** How a gauge combines across workers: Envoy's `Accumulate` (sum) or `NeverImport` (main only). */
export type GaugeImportMode = 'accumulate' | 'never_import';

export interface Gauge {
  readonly name: string;
  readonly tags: StatTags;
  set(value: number): void;
  inc(): void;
  dec(): void;
  add(amount: number): void;
  sub(amount: number): void;
  value(): number;
}

/** Unit of recorded values; Envoy's timers are milliseconds. */
export type HistogramUnit = 'milliseconds' | 'bytes' | 'unspecified';

export interface Histogram {
  readonly name: string;
  readonly tags: StatTags;
  readonly unit: HistogramUnit;
  record(value: number): void;
}

export interface Scope {
  /** The full dotted prefix of this scope, '' for the root. */
  readonly prefix: string;
  counter(name: string, tags?: StatTags): Counter;
  gauge(name: string, mode?: GaugeImportMode, tags?: StatTags): Gauge;
  /** `bounds` are cumulative bucket upper bounds; Envoy's default bounds when omitted. */
  histogram(name: string, unit?: HistogramUnit, tags?: StatTags, bounds?: readonly number[]): Histogram;
  /** A child scope: `scope('cluster.backend').counter('upstream_rq_total')`. */
  scope(prefix: string): Scope;
}

/** Plain-data view of a store, cheap to send over IPC and merge on the main process. */
export interface StatsSnapshot {
  /** `used`: written at least once (Envoy's `?usedonly`); absent means unknown, treated as value != 0. */
  counters: Array<{ name: string; tags: Array<[string, string]>; value: number; used?: boolean }>;
  gauges: Array<{ name: string; tags: Array<[string, string]>; value: number; mode: GaugeImportMode; used?: boolean }>;
  histograms: Array<{
    name: string;
    tags: Array<[string, string]>;
    unit: HistogramUnit;
    bounds: number[];
    /** counts[i] = samples <= bounds[i] and > bounds[i-1]; counts[bounds.length] = overflow. */
    counts: number[];
    sum: number;
    count: number;
    /** Smallest and largest recorded values (P0 and P100 on `/stats`); absent when count is 0. */
    min?: number;
    max?: number;
  }>;
}

export interface StatsStore extends Scope {
  snapshot(): StatsSnapshot;
  /** Zero every counter (admin `/reset_counters`); gauges and histograms keep their values. */
  resetCounters(): void;
}
