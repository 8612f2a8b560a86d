// --out experimental-prometheus-rw: k6's Prometheus remote-write output. Samples are aggregated
// per time series (metric + tags) as they come, and every push interval (K6_PROMETHEUS_RW_PUSH_INTERVAL,
// default 5s) the current aggregate of every series is sent to K6_PROMETHEUS_RW_SERVER_URL (default
// http://localhost:9090/api/v1/write; an argument, experimental-prometheus-rw=URL, wins), and once
// more when the test ends. Names follow k6's mapping: `k6_` prefix; counters `k6_<name>_total`,
// rates `_rate`, gauges and trends (one gauge per K6_PROMETHEUS_RW_TREND_STATS entry, default
// p(99), as `k6_<name>_<stat>`) suffixed with their base unit: time in seconds (`_seconds`), data
// in bytes (`_bytes`).
// Series are bounded (MAX_SERIES); samples of series past the bound are dropped and counted, and
// so are series a failed push could not deliver. Nothing here runs on the request path but the
// per-sample aggregation.
import { parseDuration } from '../../duration.js';
import type { Metric, Tags } from '../../metrics/registry.js';
import { TrendSink } from '../../metrics/sinks.js';
import type { Output } from '../output.js';
import { encodeWriteRequest, type Series, snappyLiteral } from './remote-write.js';

const MAX_SERIES = 10_000;
const DEFAULT_URL = 'http://localhost:9090/api/v1/write';
const DEFAULT_PUSH_MS = 5000;

interface Aggregate {
  readonly metric: Metric;
  readonly labels: Array<[string, string]>;
  count: number;
  sum: number;
  last: number;
  trues: number;
  trend: TrendSink | null;
}

function labelName(tag: string): string {
  const s = tag.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** `p(99)` → `p99`, `p(99.9)` → `p999`, as k6 names trend stats in Prometheus. */
function statSuffix(stat: string): string {
  return stat.replace(/[().]/g, '');
}

export class PrometheusRemoteWriteOutput implements Output {
  readonly name = 'experimental-prometheus-rw';
  readonly #url: string;
  readonly #pushMs: number;
  readonly #trendStats: string[];
  readonly #series = new Map<string, Aggregate>();
  #timer: NodeJS.Timeout | undefined;
  #pushing: Promise<void> = Promise.resolve();
  dropped = 0;
  pushes = 0;

  constructor(arg: string, env: Readonly<Record<string, string | undefined>>) {
    const url = arg !== '' ? arg : (env.K6_PROMETHEUS_RW_SERVER_URL ?? DEFAULT_URL);
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new Error(`'${url}' is not an http(s) URL (K6_PROMETHEUS_RW_SERVER_URL or experimental-prometheus-rw=URL)`);
    }
    this.#url = url;
    const push = env.K6_PROMETHEUS_RW_PUSH_INTERVAL;
    const pushMs = push === undefined ? DEFAULT_PUSH_MS : parseDuration(push);
    if (pushMs === undefined || pushMs <= 0) throw new Error(`K6_PROMETHEUS_RW_PUSH_INTERVAL=${push}: not a duration`);
    this.#pushMs = pushMs;
    const stats = (env.K6_PROMETHEUS_RW_TREND_STATS ?? 'p(99)').split(',').map((s) => s.trim());
    for (const s of stats)
      if (!/^(avg|min|med|max|count|sum|p\(\d+(\.\d+)?\))$/.test(s))
        throw new Error(`K6_PROMETHEUS_RW_TREND_STATS: unknown stat '${s}' (avg, min, med, max, count, sum, p(N))`);
    this.#trendStats = stats;
  }

  async start(): Promise<void> {
    this.#timer = setInterval(() => {
      this.#pushing = this.#pushing.then(() => this.#push());
    }, this.#pushMs);
    this.#timer.unref();
  }

  sample(metric: Metric, _time: number, value: number, tags: Tags): void {
    let key = metric.name;
    for (const k in tags) key += `\u0000${k}\u0001${tags[k]}`;
    let agg = this.#series.get(key);
    if (agg === undefined) {
      if (this.#series.size >= MAX_SERIES) {
        this.dropped++;
        return;
      }
      const labels: Array<[string, string]> = [];
      for (const k in tags) if (tags[k] !== '') labels.push([labelName(k), tags[k]!]);
      agg = {
        metric,
        labels,
        count: 0,
        sum: 0,
        last: 0,
        trues: 0,
        trend: metric.type === 'trend' ? new TrendSink() : null,
      };
      this.#series.set(key, agg);
    }
    agg.count++;
    agg.sum += value;
    agg.last = value;
    if (value !== 0) agg.trues++;
    agg.trend?.add(value);
  }

  /** The current aggregate of every series, as Prometheus series named the k6 way. */
  #collect(now: number): Series[] {
    const out: Series[] = [];
    for (const a of this.#series.values()) {
      const m = a.metric;
      const time = m.contains === 'time';
      const unit = time ? '_seconds' : m.contains === 'data' ? '_bytes' : '';
      const scale = time ? 0.001 : 1;
      const base = `k6_${m.name}`;
      const push = (name: string, value: number): void => {
        out.push({ labels: [['__name__', name], ...a.labels], value, timestampMs: now });
      };
      switch (m.type) {
        case 'counter':
          push(`${base}_total`, a.sum * scale);
          break;
        case 'gauge':
          push(`${base}${unit}`, a.last * scale);
          break;
        case 'rate':
          push(`${base}_rate`, a.count === 0 ? 0 : a.trues / a.count);
          break;
        case 'trend':
          for (const stat of this.#trendStats) {
            const v = stat === 'sum' ? a.sum : a.trend!.stat(stat);
            const scaled = stat === 'count' ? v : v * scale;
            push(`${base}_${statSuffix(stat)}${stat === 'count' ? '' : unit}`, scaled);
          }
          break;
      }
    }
    return out;
  }

  async #push(): Promise<void> {
    if (this.#series.size === 0) return;
    const series = this.#collect(Date.now());
    const body = snappyLiteral(encodeWriteRequest(series));
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-protobuf',
          'Content-Encoding': 'snappy',
          'X-Prometheus-Remote-Write-Version': '0.1.0',
          'User-Agent': 'meshscope-loadgen',
        },
        body,
        signal: AbortSignal.timeout(this.#pushMs),
      });
      await res.arrayBuffer();
      if (res.ok) this.pushes++;
      else this.dropped += series.length;
    } catch {
      this.dropped += series.length;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pushing;
    await this.#push();
  }
}
