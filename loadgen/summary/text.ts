// The end-of-test summary in k6's layout (v1 compact/full): thresholds ✓/✗ with observed values,
// checks, then metrics grouped as CUSTOM, HTTP, EXECUTION, NETWORK; meshscope adds the slowest
// requests with their trace ids.
import { formatDuration } from '../duration.js';
import type { SummaryData, SummaryGroup, SummaryMetric } from './data.js';
import { HTTP_REQ_DURATION_UNCORRECTED } from '../metrics/builtin.js';

export type SummaryMode = 'compact' | 'full';

const HTTP_COMPACT = ['http_req_duration', HTTP_REQ_DURATION_UNCORRECTED, 'http_req_failed', 'http_reqs'];
const HTTP_FULL = [
  'http_req_blocked',
  'http_req_connecting',
  'http_req_duration',
  HTTP_REQ_DURATION_UNCORRECTED,
  'http_req_failed',
  'http_req_receiving',
  'http_req_sending',
  'http_req_tls_handshaking',
  'http_req_waiting',
  'http_reqs',
];
const EXECUTION = ['dropped_iterations', 'iteration_duration', 'iterations', 'vus', 'vus_max'];
const EXECUTION_FULL = ['dropped_iterations', 'group_duration', 'iteration_duration', 'iterations', 'vus', 'vus_max'];
const NETWORK = ['data_received', 'data_sent'];
const GROUP_EXECUTION = ['group_duration'];
/** Metrics the full summary breaks down per group, as submetrics tagged with the group's path. */
export const GROUP_METRICS = [...HTTP_FULL, ...GROUP_EXECUTION, ...NETWORK];
/** Metrics the full summary breaks down per scenario. */
export const SCENARIO_METRICS = [
  'checks',
  'http_req_duration',
  'http_req_failed',
  'http_reqs',
  'iteration_duration',
  'iterations',
];
const BUILTIN = new Set([...HTTP_FULL, ...EXECUTION_FULL, ...NETWORK, 'checks']);

function num(n: number): string {
  return String(Number(n.toFixed(6)));
}

/**
 * Bytes as k6 prints them (go-humanize's Bytes of the value as an unsigned integer): "147 B",
 * "1.5 kB", "17 kB"; a rate of 816.34 B/s is "816 B/s", not the float.
 */
function bytes(value: number): string {
  const n = Math.max(0, Math.floor(value));
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1000)));
  const v = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[e]}`;
}

function percent(r: number): string {
  return `${(r * 100).toFixed(2)}%`;
}

/** --summary-time-unit: every duration in one unit, two decimals, as k6 prints them. */
const TIME_UNITS: Readonly<Record<string, { unit: string; perMs: number }>> = {
  s: { unit: 's', perMs: 0.001 },
  ms: { unit: 'ms', perMs: 1 },
  us: { unit: 'µs', perMs: 1000 },
};

let timeUnit: { unit: string; perMs: number } | undefined;

function value(m: SummaryMetric, stat: string, v: number): string {
  // A trend's count is a number of samples, whatever the trend measures.
  if (stat === 'count') return num(v);
  if (m.contains === 'time')
    return timeUnit === undefined ? formatDuration(v) : `${(v * timeUnit.perMs).toFixed(2)}${timeUnit.unit}`;
  if (m.contains === 'data') return bytes(v);
  return num(v);
}

function metricColumns(m: SummaryMetric, stats: readonly string[]): string {
  const v = m.values;
  switch (m.type) {
    case 'counter':
      return m.contains === 'data'
        ? `${bytes(v.count!).padEnd(7)} ${bytes(v.rate!)}/s`
        : `${num(v.count!).padEnd(7)} ${num(v.rate!)}/s`;
    case 'gauge':
      return `${value(m, 'value', v.value!).padEnd(7)} min=${value(m, 'min', v.min!).padEnd(7)} max=${value(m, 'max', v.max!)}`;
    case 'rate': {
      const total = v.passes! + v.fails!;
      return `${percent(v.rate!).padEnd(7)} ${v.passes} out of ${total}`;
    }
    default:
      return stats
        .map((s) => `${s}=${value(m, s, v[s] ?? 0)}`.padEnd(s.startsWith('p(') ? 16 : 14))
        .join(' ')
        .trimEnd();
  }
}

function isEmpty(m: SummaryMetric): boolean {
  if (m.type === 'rate') return m.values.passes! + m.values.fails! === 0;
  if (m.type === 'counter') return m.values.count === 0;
  return false;
}

function line(indent: string, name: string, width: number, text: string): string {
  return `${indent}${name.padEnd(width, '.')}: ${text}`;
}

function checksBlock(g: SummaryGroup, indent: string, out: string[]): void {
  for (const c of g.checks) {
    const total = c.passes + c.fails;
    if (c.fails === 0) out.push(`${indent}✓ ${c.name}`);
    else {
      out.push(`${indent}✗ ${c.name}`);
      out.push(
        `${indent}  ↳  ${total === 0 ? 0 : Math.round((c.passes / total) * 100)}% — ✓ ${c.passes} / ✗ ${c.fails}`,
      );
    }
  }
}

function allChecks(g: SummaryGroup): Array<{ passes: number; fails: number }> {
  return [...g.checks, ...g.groups.flatMap(allChecks)];
}

export function renderSummary(data: SummaryData, mode: SummaryMode): string {
  timeUnit = TIME_UNITS[data.options.summaryTimeUnit];
  const out: string[] = [''];
  const stats = data.options.summaryTrendStats;
  const metrics = data.metrics;
  const width = Math.max(
    35,
    ...Object.keys(metrics)
      .filter((n) => !n.includes('{'))
      .map((n) => n.length + 4),
  );

  const withThresholds = Object.entries(metrics).filter(([, m]) => m.thresholds !== undefined);
  if (withThresholds.length > 0) {
    out.push('  █ THRESHOLDS', '');
    for (const [name, m] of withThresholds) {
      out.push(`    ${name}`);
      for (const [src, t] of Object.entries(m.thresholds!)) {
        const agg = /^\s*(count|rate|value|avg|min|max|med|p\([^)]*\))/.exec(src)?.[1]?.replace(/\s+/g, '') ?? '';
        const v =
          agg === 'rate' && m.type === 'rate'
            ? percent(m.values.rate!)
            : agg in m.values
              ? value(m, agg, m.values[agg]!)
              : agg === 'value'
                ? value(m, agg, m.values.value!)
                : agg === 'count'
                  ? num(m.values.count ?? 0)
                  : '';
        out.push(`    ${t.ok ? '✓' : '✗'} '${src}' ${agg}=${v}`);
      }
      out.push('');
    }
    out.push('');
  }

  out.push('  █ TOTAL RESULTS', '');
  const checks = allChecks(data.root_group);
  if (checks.length > 0) {
    const passes = checks.reduce((a, c) => a + c.passes, 0);
    const fails = checks.reduce((a, c) => a + c.fails, 0);
    const total = passes + fails;
    const secs = data.state.testRunDurationMs / 1000;
    out.push(line('    ', 'checks_total', width, `${String(total).padEnd(7)} ${num(secs > 0 ? total / secs : 0)}/s`));
    out.push(
      line(
        '    ',
        'checks_succeeded',
        width,
        `${percent(total === 0 ? 0 : passes / total).padEnd(7)} ${passes} out of ${total}`,
      ),
    );
    out.push(
      line(
        '    ',
        'checks_failed',
        width,
        `${percent(total === 0 ? 0 : fails / total).padEnd(7)} ${fails} out of ${total}`,
      ),
    );
    out.push('');
    checksBlock(data.root_group, '    ', out);
    if (mode === 'compact') for (const g of data.root_group.groups) checksBlock(g, '    ', out);
    out.push('');
  }

  // `tag` selects a per-group view (`{group:::g1}` submetrics) instead of the totals.
  const section = (title: string, names: readonly string[], indent = '    ', tag?: string): void => {
    const rows: string[] = [];
    for (const name of names) {
      const m = metrics[tag === undefined ? name : `${name}{${tag}}`];
      if (m === undefined || (tag !== undefined && isEmpty(m))) continue;
      rows.push(line(indent, name, width, metricColumns(m, stats)));
      if (tag !== undefined) continue;
      for (const [subName, sub] of Object.entries(metrics)) {
        if (subName.startsWith(`${name}{`) && !/^[^{]+\{(scenario|group):/.test(subName))
          rows.push(
            line(
              `${indent}  `,
              `{ ${subName.slice(name.length + 1, -1).replace(/,/g, ', ')} }`,
              width - 2,
              metricColumns(sub, stats),
            ),
          );
      }
    }
    if (rows.length > 0) out.push(`${indent}${title}`, ...rows, '');
  };
  const custom = Object.keys(metrics)
    .filter((n) => !n.includes('{') && !BUILTIN.has(n))
    .sort();
  section('CUSTOM', custom);
  section('HTTP', mode === 'full' ? HTTP_FULL : HTTP_COMPACT);
  section('EXECUTION', mode === 'full' ? EXECUTION_FULL : EXECUTION);
  section('NETWORK', NETWORK);

  if (mode === 'full') {
    // As k6: a section per top-level group (`█ GROUP: name`) with its checks and its own metrics,
    // nested groups inside it (`↳ GROUP: name`), one level deeper each.
    const groups = (g: SummaryGroup, depth: number): void => {
      for (const child of [...g.groups].sort((a, b) => a.name.localeCompare(b.name))) {
        const indent = '  '.repeat(depth + 1);
        out.push('', `${indent}${depth === 0 ? '█' : '↳'} GROUP: ${child.name}`, '');
        checksBlock(child, `${indent}  `, out);
        if (child.checks.length > 0) out.push('');
        const tag = `group:${child.path}`;
        section('HTTP', HTTP_FULL, `${indent}  `, tag);
        section('EXECUTION', GROUP_EXECUTION, `${indent}  `, tag);
        section('NETWORK', NETWORK, `${indent}  `, tag);
        groups(child, depth + 1);
      }
    };
    groups(data.root_group, 0);
    const scenarios = new Set(Object.keys(metrics).flatMap((n) => /\{scenario:([^},]+)\}$/.exec(n)?.slice(1) ?? []));
    for (const scenario of scenarios) {
      out.push('', `  █ SCENARIO: ${scenario}`, '');
      for (const name of SCENARIO_METRICS) {
        const m = metrics[`${name}{scenario:${scenario}}`];
        const empty = m === undefined || (m.type === 'rate' && m.values.passes! + m.values.fails! === 0);
        if (!empty) out.push(line('    ', name, width, metricColumns(m!, stats)));
      }
    }
  }

  if (data.slowest_requests.length > 0) {
    // Each sampled trace opens in the collector's UI (meshscope up's by default).
    const ui = (process.env.MESHSCOPE_TRACE_UI ?? 'http://127.0.0.1:16686').replace(/\/+$/, '');
    out.push('', `  █ SLOWEST REQUESTS (open a trace: ${ui}/trace/<trace_id>)`, '');
    for (const r of data.slowest_requests) {
      const corrected = r.duration !== r.uncorrected ? ` (uncorrected ${formatDuration(r.uncorrected)})` : '';
      out.push(
        `    ${formatDuration(r.duration).padEnd(9)} ${r.method} ${r.name} ${r.status} trace_id=${r.traceId}${r.sampled ? '' : ' (not sampled)'}${corrected}`,
      );
      if (r.sampled) out.push(`      ↳ ${ui}/trace/${r.traceId}`);
    }
  }
  out.push('', '');
  return out.join('\n');
}
