// The summary data k6 passes to handleSummary(data), and the legacy --summary-export shape.
// meshscope adds `slowest_requests` (with trace ids) to both.
import { CounterSink, GaugeSink, RateSink, type Sink } from '../metrics/sinks.js';
import type { Metric, MetricRegistry } from '../metrics/registry.js';
import type { Threshold } from '../thresholds/index.js';
import type { GroupNode } from '../script/groups.js';
import type { SlowRequest } from '../tracing.js';

export type MetricValues = Record<string, number>;

export interface SummaryMetric {
  type: string;
  contains: string;
  values: MetricValues;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface SummaryGroup {
  name: string;
  path: string;
  id: string;
  groups: SummaryGroup[];
  checks: Array<{ name: string; path: string; id: string; passes: number; fails: number }>;
}

export interface SummaryData {
  root_group: SummaryGroup;
  options: { summaryTrendStats: string[]; summaryTimeUnit: string; noColor: boolean };
  state: { isStdOutTTY: boolean; isStdErrTTY: boolean; testRunDurationMs: number };
  metrics: Record<string, SummaryMetric>;
  slowest_requests: SlowRequest[];
}

export const DEFAULT_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];

function sinkValues(sink: Sink, trendStats: readonly string[], elapsedMs: number): MetricValues {
  const secs = elapsedMs / 1000;
  if (sink instanceof CounterSink) return { count: sink.count, rate: secs > 0 ? sink.count / secs : 0 };
  if (sink instanceof GaugeSink)
    return { value: sink.value, min: sink.seen ? sink.min : 0, max: sink.seen ? sink.max : 0 };
  if (sink instanceof RateSink) return { rate: sink.rate, passes: sink.trues, fails: sink.total - sink.trues };
  const v: MetricValues = {};
  for (const s of trendStats) v[s] = sink.stat(s);
  return v;
}

function sinkIsEmpty(sink: Sink): boolean {
  if (sink instanceof CounterSink) return sink.count === 0;
  if (sink instanceof RateSink) return sink.total === 0;
  if (sink instanceof GaugeSink) return !sink.seen;
  return sink.count === 0;
}

function groupData(g: GroupNode): SummaryGroup {
  const id = g.path === '' ? 'd41d8cd98f00b204e9800998ecf8427e' : g.path;
  return {
    name: g.name,
    path: g.path,
    id,
    groups: [...g.groups.values()].map(groupData),
    checks: [...g.checks.values()].map((c) => ({
      name: c.name,
      path: c.path,
      id: c.path,
      passes: c.passes,
      fails: c.fails,
    })),
  };
}

export function buildSummaryData(
  registry: MetricRegistry,
  thresholds: readonly Threshold[],
  root: GroupNode,
  slowest: SlowRequest[],
  trendStats: readonly string[],
  elapsedMs: number,
  summaryTimeUnit = '',
): SummaryData {
  const metrics: Record<string, SummaryMetric> = {};
  // A threshold's statistic is reported even when summaryTrendStats leaves it out, so the summary
  // shows the value the threshold was judged on.
  const thresholdStats = new Map<string, Set<string>>();
  for (const t of thresholds) {
    const agg = /^\s*(avg|min|max|med|p\(\s*[\d.]+\s*\))/.exec(t.source)?.[1]?.replace(/\s+/g, '');
    if (agg !== undefined && !trendStats.includes(agg)) {
      const set = thresholdStats.get(t.key) ?? new Set<string>();
      set.add(agg);
      thresholdStats.set(t.key, set);
    }
  }
  const add = (name: string, m: Metric, sink: Sink): void => {
    const extra = thresholdStats.get(name);
    const stats = extra === undefined ? trendStats : [...trendStats, ...extra];
    metrics[name] = { type: m.type, contains: m.contains, values: sinkValues(sink, stats, elapsedMs) };
  };
  for (const m of registry.all()) {
    if (!m.observed && !thresholds.some((t) => t.metric === m)) continue;
    add(m.name, m, m.sink);
    for (const sub of m.submetrics) {
      // Per-group views exist for every group of the full summary; one without samples says nothing.
      if (sub.name.includes('{group:') && sinkIsEmpty(sub.sink)) continue;
      add(sub.name, m, sub.sink);
    }
  }
  for (const t of thresholds) {
    const entry = metrics[t.key] ?? metrics[t.metric.name];
    if (entry === undefined) continue;
    (entry.thresholds ??= {})[t.source] = { ok: t.ok };
  }
  return {
    root_group: groupData(root),
    options: { summaryTrendStats: [...trendStats], summaryTimeUnit, noColor: false },
    state: {
      isStdOutTTY: Boolean(process.stdout.isTTY),
      isStdErrTTY: Boolean(process.stderr.isTTY),
      testRunDurationMs: elapsedMs,
    },
    metrics,
    slowest_requests: slowest,
  };
}

/** k6's legacy --summary-export JSON: flat values per metric; `thresholds` maps source → failed. */
export function summaryExport(data: SummaryData): unknown {
  const metrics: Record<string, Record<string, unknown>> = {};
  for (const [name, m] of Object.entries(data.metrics)) {
    const v = m.values;
    let out: Record<string, unknown>;
    if (m.type === 'rate') out = { passes: v.passes, fails: v.fails, value: v.rate };
    else out = { ...v };
    if (m.thresholds) out.thresholds = Object.fromEntries(Object.entries(m.thresholds).map(([k, t]) => [k, !t.ok]));
    metrics[name] = out;
  }
  const legacyGroup = (g: SummaryGroup): unknown => ({
    name: g.name,
    path: g.path,
    id: g.id,
    groups: Object.fromEntries(g.groups.map((c) => [c.name, legacyGroup(c)])),
    checks: Object.fromEntries(g.checks.map((c) => [c.name, c])),
  });
  return { root_group: legacyGroup(data.root_group), metrics, slowest_requests: data.slowest_requests };
}
