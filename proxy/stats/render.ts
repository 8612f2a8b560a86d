// Renderers for the admin endpoints: Envoy's `/stats` text and JSON forms and
// `/stats/prometheus`. They work on a (merged) snapshot, never on live handles, so the
// admin server renders without touching the data path.
import { StatsInvalidFilterError } from './errors.js';
import { computedQuantiles, SUPPORTED_QUANTILES } from './quantiles.js';
import { extractTags } from './tag-extraction.js';
import type { StatsSnapshot } from './types.js';

export type StatsTypeFilter = 'All' | 'Counters' | 'Gauges' | 'Histograms';

export interface StatsQuery {
  /** Keep only stats whose name matches (Envoy's `?filter=`). */
  filter?: RegExp;
  /** Keep only stats written at least once (Envoy's `?usedonly`). */
  usedOnly?: boolean;
  /** Envoy's `?type=`. */
  type?: StatsTypeFilter;
}

type Tags = Array<[string, string]>;

/** Compiles a `?filter=` value, or throws `StatsInvalidFilterError`. */
export function compileStatsFilter(filter: string): RegExp {
  try {
    return new RegExp(filter);
  } catch (err) {
    throw new StatsInvalidFilterError(filter, err instanceof Error ? err.message : String(err));
  }
}

/**
 * The flat name `/stats` prints. Explicitly tagged stats append each tag's name and value,
 * as Envoy's tag joiner does: `istio_requests_total.reporter.destination…`.
 */
export function displayName(name: string, tags: Tags): string {
  if (tags.length === 0) return name;
  let out = name;
  for (const [k, v] of tags) out += `.${k}.${v}`;
  return out;
}

function matches(query: StatsQuery, name: string, used: boolean): boolean {
  if (query.usedOnly === true && !used) return false;
  if (query.filter !== undefined) {
    query.filter.lastIndex = 0;
    if (!query.filter.test(name)) return false;
  }
  return true;
}

function wants(query: StatsQuery, type: Exclude<StatsTypeFilter, 'All'>): boolean {
  return query.type === undefined || query.type === 'All' || query.type === type;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Numbers as Envoy's `/stats` prints quantiles: up to 6 significant digits, `nan` when empty. */
function formatQuantile(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  return String(Number(v.toPrecision(6)));
}

interface Scalar {
  name: string;
  value: number;
}

interface HistogramView {
  name: string;
  entry: StatsSnapshot['histograms'][number];
}

function select(snapshot: StatsSnapshot, query: StatsQuery): { scalars: Scalar[]; histograms: HistogramView[] } {
  const scalars: Scalar[] = [];
  if (wants(query, 'Counters')) {
    for (const c of snapshot.counters) {
      const name = displayName(c.name, c.tags);
      if (matches(query, name, c.used ?? c.value !== 0)) scalars.push({ name, value: c.value });
    }
  }
  if (wants(query, 'Gauges')) {
    for (const g of snapshot.gauges) {
      const name = displayName(g.name, g.tags);
      if (matches(query, name, g.used ?? g.value !== 0)) scalars.push({ name, value: g.value });
    }
  }
  const histograms: HistogramView[] = [];
  if (wants(query, 'Histograms')) {
    for (const h of snapshot.histograms) {
      const name = displayName(h.name, h.tags);
      if (matches(query, name, h.count > 0)) histograms.push({ name, entry: h });
    }
  }
  scalars.sort(byName);
  histograms.sort(byName);
  return { scalars, histograms };
}

/** Envoy's `/stats` text: `name: value` lines, then histograms as quantile lines. */
export function renderStatsText(snapshot: StatsSnapshot, query: StatsQuery = {}): string {
  const { scalars, histograms } = select(snapshot, query);
  let out = '';
  for (const s of scalars) out += `${s.name}: ${s.value}\n`;
  for (const h of histograms) {
    if (h.entry.count === 0) {
      out += `${h.name}: No recorded values\n`;
      continue;
    }
    // Envoy prints (interval,cumulative); there is no periodic flush here, so the interval is nan.
    const values = computedQuantiles(h.entry);
    const parts = SUPPORTED_QUANTILES.map((p, i) => `P${p}(nan,${formatQuantile(values[i]!)})`);
    out += `${h.name}: ${parts.join(' ')}\n`;
  }
  return out;
}

/** Envoy's `/stats?format=json`. */
export function renderStatsJson(snapshot: StatsSnapshot, query: StatsQuery = {}): string {
  const { scalars, histograms } = select(snapshot, query);
  const stats: unknown[] = scalars.map((s) => ({ name: s.name, value: s.value }));
  if (histograms.length > 0) {
    stats.push({
      histograms: {
        supported_quantiles: SUPPORTED_QUANTILES,
        computed_quantiles: histograms.map((h) => ({
          name: h.name,
          values: computedQuantiles(h.entry).map((v) => ({
            interval: null,
            cumulative: Number.isNaN(v) ? null : Number(v.toPrecision(6)),
          })),
        })),
      },
    });
  }
  return JSON.stringify({ stats }, null, 1);
}

// Prometheus exposition ------------------------------------------------------------------

const INVALID_NAME_CHARS = /[^a-zA-Z0-9_]/g;

/** Envoy's Prometheus name sanitizing: every character outside [a-zA-Z0-9_] becomes `_`. */
export function sanitizePrometheusName(name: string): string {
  const s = name.replace(INVALID_NAME_CHARS, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatPromValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface PromSeries {
  labels: string;
  lines: string;
}

interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  series: PromSeries[];
}

interface PromIdentity {
  family: string;
  help: string;
  labels: Tags;
}

/**
 * Untagged stats go through Envoy's tag extraction and get the `envoy_` prefix; explicitly
 * tagged stats (Istio metrics) keep their own name and tags.
 */
function promIdentity(name: string, tags: Tags, cache: Map<string, { name: string; tags: Tags }>): PromIdentity {
  if (tags.length > 0) {
    return { family: sanitizePrometheusName(name), help: name, labels: tags };
  }
  let extracted = cache.get(name);
  if (extracted === undefined) {
    const e = extractTags(name);
    extracted = { name: e.name, tags: e.tags.map(([k, v]) => [k, v]) };
    cache.set(name, extracted);
  }
  return { family: `envoy_${sanitizePrometheusName(extracted.name)}`, help: extracted.name, labels: extracted.tags };
}

function labelText(labels: Tags, extra?: string): string {
  const parts: string[] = [];
  const seen = new Set<string>();
  for (const [k, v] of labels) {
    const key = sanitizePrometheusName(k);
    if (seen.has(key)) continue;
    seen.add(key);
    parts.push(`${key}="${escapeLabelValue(v)}"`);
  }
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * Renders stats in the Prometheus text exposition format (0.0.4), families sorted by name,
 * each with `# HELP` (the Envoy stat name it came from) and `# TYPE`.
 */
export function renderPrometheus(snapshot: StatsSnapshot, query: StatsQuery = {}): string {
  const families = new Map<string, PromFamily>();
  const cache = new Map<string, { name: string; tags: Tags }>();

  const familyFor = (id: PromIdentity, type: PromFamily['type']): PromFamily => {
    // A name taken by another type gets a type suffix rather than an invalid mixed family.
    const key = families.has(id.family) && families.get(id.family)!.type !== type ? `${id.family}_${type}` : id.family;
    let fam = families.get(key);
    if (fam === undefined) {
      fam = { name: key, type, help: id.help, series: [] };
      families.set(key, fam);
    }
    return fam;
  };

  if (wants(query, 'Counters')) {
    for (const c of snapshot.counters) {
      if (!matches(query, displayName(c.name, c.tags), c.used ?? c.value !== 0)) continue;
      const id = promIdentity(c.name, c.tags, cache);
      const fam = familyFor(id, 'counter');
      const labels = labelText(id.labels);
      fam.series.push({ labels, lines: `${fam.name}${labels} ${formatPromValue(c.value)}\n` });
    }
  }
  if (wants(query, 'Gauges')) {
    for (const g of snapshot.gauges) {
      if (!matches(query, displayName(g.name, g.tags), g.used ?? g.value !== 0)) continue;
      const id = promIdentity(g.name, g.tags, cache);
      const fam = familyFor(id, 'gauge');
      const labels = labelText(id.labels);
      fam.series.push({ labels, lines: `${fam.name}${labels} ${formatPromValue(g.value)}\n` });
    }
  }
  if (wants(query, 'Histograms')) {
    for (const h of snapshot.histograms) {
      if (!matches(query, displayName(h.name, h.tags), h.count > 0)) continue;
      const id = promIdentity(h.name, h.tags, cache);
      const fam = familyFor(id, 'histogram');
      let lines = '';
      let cumulative = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        cumulative += h.counts[i] ?? 0;
        lines += `${fam.name}_bucket${labelText(id.labels, `le="${formatPromValue(h.bounds[i]!)}"`)} ${cumulative}\n`;
      }
      const plain = labelText(id.labels);
      lines += `${fam.name}_bucket${labelText(id.labels, 'le="+Inf"')} ${h.count}\n`;
      lines += `${fam.name}_sum${plain} ${formatPromValue(h.sum)}\n`;
      lines += `${fam.name}_count${plain} ${h.count}\n`;
      fam.series.push({ labels: plain, lines });
    }
  }

  const sorted = [...families.values()].sort(byName);
  let out = '';
  for (const fam of sorted) {
    out += `# HELP ${fam.name} ${fam.help}\n# TYPE ${fam.name} ${fam.type}\n`;
    // Two stats can collapse onto one series after tag extraction; Prometheus refuses
    // duplicate series, so the first one wins.
    const seen = new Set<string>();
    for (const s of fam.series) {
      if (seen.has(s.labels)) continue;
      seen.add(s.labels);
      out += s.lines;
    }
  }
  return out;
}
