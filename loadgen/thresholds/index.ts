// Thresholds in k6's syntax: `{'metric{tag:value}': ['p(95)<200', {threshold, abortOnFail,
// delayAbortEval}]}`. Parsed and checked against the metric types once the script's metrics exist;
// evaluated on their own ticker (abortOnFail) and once more at the end of the test.
import { parseDuration } from '../duration.js';
import { CounterSink, GaugeSink, RateSink, type TrendSink, type Sink } from '../metrics/sinks.js';
import { parseMetricKey, type Metric, type MetricRegistry, type MetricType } from '../metrics/registry.js';

export interface Threshold {
  readonly key: string;
  readonly source: string;
  readonly aggregation: string;
  readonly operator: string;
  readonly value: number;
  readonly abortOnFail: boolean;
  readonly delayAbortEval: number;
  readonly metric: Metric;
  readonly sink: Sink;
  /** Latest evaluation. */
  ok: boolean;
  observed: number;
}

const EXPR =
  /^\s*(count|rate|value|avg|min|max|med|p\(\s*\d+(?:\.\d+)?\s*\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$/;

const ALLOWED: Readonly<Record<MetricType, RegExp>> = {
  counter: /^(count|rate)$/,
  gauge: /^value$/,
  rate: /^rate$/,
  trend: /^(avg|min|max|med|count|p\(.*\))$/,
};

function aggregate(sink: Sink, aggregation: string, elapsedMs: number): number {
  if (sink instanceof CounterSink)
    return aggregation === 'rate' ? (elapsedMs > 0 ? sink.count / (elapsedMs / 1000) : 0) : sink.count;
  if (sink instanceof GaugeSink) return sink.value;
  if (sink instanceof RateSink) return sink.rate;
  return (sink as TrendSink).stat(aggregation);
}

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '!=':
      return a !== b;
    default:
      return a === b;
  }
}

/** Parses and binds every threshold; returns all problems at once (k6 exits 104 on any). */
export function buildThresholds(
  spec: unknown,
  registry: MetricRegistry,
): { thresholds: Threshold[]; errors: string[] } {
  const thresholds: Threshold[] = [];
  const errors: string[] = [];
  if (spec === undefined) return { thresholds, errors };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    return { thresholds, errors: ['thresholds: must be an object of metric → list of thresholds'] };
  for (const [key, raw] of Object.entries(spec)) {
    const where = `thresholds['${key}']`;
    const parsedKey = parseMetricKey(key);
    if (typeof parsedKey === 'string') {
      errors.push(`${where}: ${parsedKey}`);
      continue;
    }
    const metric = registry.find(parsedKey.name);
    if (metric === undefined) {
      errors.push(
        `${where}: no metric named '${parsedKey.name}' (built-in metrics, or custom ones created in init code)`,
      );
      continue;
    }
    const sink = parsedKey.filter.length === 0 ? metric.sink : metric.submetric(parsedKey.filter).sink;
    const list = Array.isArray(raw) ? raw : [raw];
    list.forEach((item: unknown, i) => {
      const at = `${where}[${i}]`;
      let source: unknown;
      let abortOnFail = false;
      let delayAbortEval = 0;
      if (typeof item === 'string') source = item;
      else if (item !== null && typeof item === 'object') {
        const o = item as Record<string, unknown>;
        for (const k of Object.keys(o))
          if (!['threshold', 'abortOnFail', 'delayAbortEval'].includes(k))
            errors.push(`${at}.${k}: unknown field (threshold, abortOnFail, delayAbortEval)`);
        source = o.threshold;
        if (o.abortOnFail !== undefined) {
          if (typeof o.abortOnFail !== 'boolean') errors.push(`${at}.abortOnFail: must be a boolean`);
          else abortOnFail = o.abortOnFail;
        }
        if (o.delayAbortEval !== undefined) {
          const d = parseDuration(o.delayAbortEval);
          if (d === undefined) errors.push(`${at}.delayAbortEval: invalid duration '${String(o.delayAbortEval)}'`);
          else delayAbortEval = d;
        }
      }
      if (typeof source !== 'string') {
        errors.push(`${at}: expected a string like 'p(95)<200' or {threshold: '…'}`);
        return;
      }
      const m = EXPR.exec(source);
      if (m === null) {
        errors.push(`${at}: cannot parse '${source}' (expected <aggregation> <operator> <number>, e.g. 'p(95)<200')`);
        return;
      }
      const aggregation = m[1]!.replace(/\s+/g, '');
      if (!ALLOWED[metric.type].test(aggregation)) {
        errors.push(`${at}: '${aggregation}' does not apply to ${metric.type} metric ${metric.name}`);
        return;
      }
      if (aggregation.startsWith('p(')) {
        const p = Number(aggregation.slice(2, -1));
        if (p < 0 || p > 100) {
          errors.push(`${at}: percentile ${p} outside 0..100`);
          return;
        }
      }
      thresholds.push({
        key,
        source,
        aggregation,
        operator: m[2]!,
        value: Number(m[3]),
        abortOnFail,
        delayAbortEval,
        metric,
        sink,
        ok: true,
        observed: 0,
      });
    });
  }
  return { thresholds, errors };
}

function hasSamples(sink: Sink): boolean {
  if (sink instanceof CounterSink) return true;
  if (sink instanceof GaugeSink) return sink.seen;
  if (sink instanceof RateSink) return sink.total !== 0;
  return sink.count !== 0;
}

/** Evaluates all thresholds; returns the first one that should abort the test, if any. */
export function evaluateThresholds(
  thresholds: readonly Threshold[],
  elapsedMs: number,
  final: boolean,
): Threshold | undefined {
  let abort: Threshold | undefined;
  for (const t of thresholds) {
    // Mid-run, a metric with no samples yet has nothing to judge (an empty rate would read as 0).
    if (!final && !hasSamples(t.sink)) continue;
    t.observed = aggregate(t.sink, t.aggregation, elapsedMs);
    t.ok = compare(t.observed, t.operator, t.value);
    if (!final && !t.ok && t.abortOnFail && elapsedMs >= t.delayAbortEval && abort === undefined) abort = t;
  }
  return abort;
}
