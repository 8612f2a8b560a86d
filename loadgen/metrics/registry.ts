// The metric registry: k6's four metric types, built-in and custom metrics by name, and
// submetrics (tag-filtered views such as `http_req_duration{status:200}`) that thresholds and the
// summary ask for. Executors and k6 modules only call `add`; aggregation happens here and
// per-sample observers (outputs) are called only when some output is configured.
import { CounterSink, GaugeSink, RateSink, TrendSink, type Sink } from './sinks.js';

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';
export type ValueType = 'default' | 'time' | 'data';
export type Tags = Readonly<Record<string, string>>;

export interface SampleObserver {
  /** `traceId` rides along with HTTP samples (k6 puts it in the sample's metadata). */
  sample(metric: Metric, time: number, value: number, tags: Tags, traceId: string | undefined): void;
}

function newSink(type: MetricType): Sink {
  switch (type) {
    case 'counter':
      return new CounterSink();
    case 'gauge':
      return new GaugeSink();
    case 'rate':
      return new RateSink();
    case 'trend':
      return new TrendSink();
  }
}

const TAG_SETS_MAX = 4096;
const tagSets = new Map<string, Record<string, string>>();

/**
 * The one object that stands for `tags`' content: the first equal set seen, or `tags` itself.
 * Sources of tag sets that repeat (a scenario's VU tags, a group's, k6/http's per URL and status)
 * go through here, so that every VU's samples carry the same object for the same tags and a
 * submetric's one-entry cache (Submetric.matches) hits whichever VU's sample comes next; without
 * it, 50 VUs taking turns missed it on every sample. Bounded: cleared when full.
 */
export function internTags(tags: Record<string, string>): Record<string, string> {
  let key = '';
  for (const k in tags) key += `${k}\u0000${tags[k]}\u0001`;
  const hit = tagSets.get(key);
  if (hit !== undefined) return hit;
  if (tagSets.size >= TAG_SETS_MAX) tagSets.clear();
  tagSets.set(key, tags);
  return tags;
}

export class Submetric {
  readonly name: string;
  readonly parent: Metric;
  readonly filter: ReadonlyArray<readonly [string, string]>;
  readonly sink: Sink;
  constructor(parent: Metric, filter: ReadonlyArray<readonly [string, string]>) {
    this.parent = parent;
    this.filter = filter;
    this.name = `${parent.name}{${filter.map(([k, v]) => `${k}:${v}`).join(',')}}`;
    this.sink = newSink(parent.type);
  }
  // The last tag set asked about and the answer. Tag sets are never mutated once samples carry
  // them (VuState.tags is replaced, k6/http reuses one set per URL and status) and repeated ones
  // are interned (internTags), so a loop of requests asks about the same object each time, from
  // any VU: one comparison instead of a megamorphic keyed load per filter entry and sample.
  #lastTags: Tags | null = null;
  #lastMatch = false;

  matches(tags: Tags): boolean {
    if (tags === this.#lastTags) return this.#lastMatch;
    let match = true;
    const filter = this.filter;
    for (let i = 0; i < filter.length; i++) {
      const entry = filter[i]!;
      if (tags[entry[0]] !== entry[1]) {
        match = false;
        break;
      }
    }
    this.#lastTags = tags;
    this.#lastMatch = match;
    return match;
  }
}

export class Metric {
  readonly name: string;
  readonly type: MetricType;
  readonly contains: ValueType;
  readonly sink: Sink;
  readonly submetrics: Submetric[] = [];
  #samples = 0;
  #observers: readonly SampleObserver[];

  constructor(name: string, type: MetricType, contains: ValueType, observers: readonly SampleObserver[]) {
    this.name = name;
    this.type = type;
    this.contains = contains;
    this.sink = newSink(type);
    this.#observers = observers;
  }

  add(value: number, tags: Tags, traceId?: string): void {
    this.#samples++;
    this.sink.add(value);
    const subs = this.submetrics;
    for (let i = 0; i < subs.length; i++) if (subs[i]!.matches(tags)) subs[i]!.sink.add(value);
    const obs = this.#observers;
    if (obs.length !== 0) {
      const now = Date.now();
      for (let i = 0; i < obs.length; i++) obs[i]!.sample(this, now, value, tags, traceId);
    }
  }

  /** Returns the submetric for a tag filter, creating it once. */
  submetric(filter: ReadonlyArray<readonly [string, string]>): Submetric {
    const probe = new Submetric(this, filter);
    const existing = this.submetrics.find((s) => s.name === probe.name);
    if (existing !== undefined) return existing;
    this.submetrics.push(probe);
    return probe;
  }

  /** Samples seen; the summary hides metrics that never got one. */
  get observed(): boolean {
    return this.#samples !== 0;
  }
}

const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export class MetricNameError extends Error {}

export class MetricRegistry {
  readonly #metrics = new Map<string, Metric>();
  readonly observers: SampleObserver[] = [];

  /** Gets or creates a metric; redefining a name with another type or value type is an error, as in k6. */
  get(name: string, type: MetricType, contains: ValueType = 'default'): Metric {
    const found = this.#metrics.get(name);
    if (found !== undefined) {
      if (found.type !== type || found.contains !== contains) {
        throw new MetricNameError(
          `metric '${name}' already exists as a ${found.type} (${found.contains}), cannot redefine it as a ${type} (${contains})`,
        );
      }
      return found;
    }
    if (!METRIC_NAME.test(name))
      throw new MetricNameError(
        `invalid metric name '${name}': use letters, digits and underscores, starting with a letter or underscore`,
      );
    const metric = new Metric(name, type, contains, this.observers);
    this.#metrics.set(name, metric);
    return metric;
  }

  find(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }

  all(): Metric[] {
    return [...this.#metrics.values()];
  }
}

/** Parses `name{tag:value,other:value}` (k6 threshold/submetric keys). */
export function parseMetricKey(key: string): { name: string; filter: Array<[string, string]> } | string {
  const brace = key.indexOf('{');
  if (brace === -1) return { name: key.trim(), filter: [] };
  if (!key.endsWith('}')) return `'${key}': missing closing '}'`;
  const name = key.slice(0, brace).trim();
  const body = key.slice(brace + 1, -1).trim();
  const filter: Array<[string, string]> = [];
  if (body === '') return `'${key}': empty tag filter`;
  for (const part of body.split(',')) {
    const colon = part.indexOf(':');
    if (colon === -1) return `'${key}': tag filter '${part.trim()}' is not 'tag:value'`;
    const k = part.slice(0, colon).trim();
    const v = part
      .slice(colon + 1)
      .trim()
      .replace(/^(['"])(.*)\1$/, '$2');
    if (k === '') return `'${key}': empty tag name`;
    filter.push([k, v]);
  }
  return { name, filter };
}
