// --out otlp=URL: the run's metrics over OTLP/HTTP (JSON) through the OpenTelemetry SDK. Samples go
// into a bounded ring first and are recorded into OTel instruments on a timer, so neither the SDK
// nor a slow or dead collector is ever on the request path. Names follow k6's OpenTelemetry
// output: `k6_` prefix; Rate metrics become `<name>_occurred` and `<name>_total` counters.
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Counter, Gauge, Histogram, Meter } from '@opentelemetry/api';
import type { Metric, Tags } from '../../metrics/registry.js';
import type { Output } from '../output.js';

const CAPACITY = 100_000;
const DRAIN_MS = 250;
const EXPORT_MS = 1000;
const STOP_TIMEOUT_MS = 1000;

type Instrument =
  | { kind: 'counter'; c: Counter }
  | { kind: 'gauge'; g: Gauge }
  | { kind: 'histogram'; h: Histogram }
  | { kind: 'rate'; occurred: Counter; total: Counter };

export class OtlpOutput implements Output {
  readonly name = 'otlp';
  readonly #url: string;
  #provider: MeterProvider | undefined;
  #meter: Meter | undefined;
  readonly #instruments = new Map<string, Instrument>();
  readonly #metrics: Array<Metric | undefined> = new Array(CAPACITY);
  readonly #values = new Float64Array(CAPACITY);
  readonly #tags: Array<Tags | undefined> = new Array(CAPACITY);
  #head = 0;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  dropped = 0;

  constructor(url: string) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`--out otlp needs an http(s) URL, got '${url}'`);
    }
    // A bare collector address gets the standard metrics path.
    this.#url = u.pathname === '/' ? new URL('/v1/metrics', u).href : u.href;
  }

  async start(): Promise<void> {
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: this.#url, timeoutMillis: EXPORT_MS }),
      exportIntervalMillis: EXPORT_MS,
      exportTimeoutMillis: EXPORT_MS / 2,
    });
    this.#provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'meshscope-load' }),
      readers: [reader],
    });
    this.#meter = this.#provider.getMeter('meshscope/loadgen');
    this.#timer = setInterval(() => this.#drain(), DRAIN_MS);
    this.#timer.unref();
  }

  sample(metric: Metric, _time: number, value: number, tags: Tags): void {
    if (this.#size === CAPACITY) {
      this.dropped++;
      return;
    }
    const i = (this.#head + this.#size) % CAPACITY;
    this.#metrics[i] = metric;
    this.#values[i] = value;
    this.#tags[i] = tags;
    this.#size++;
  }

  #instrument(m: Metric): Instrument {
    let ins = this.#instruments.get(m.name);
    if (ins !== undefined) return ins;
    const meter = this.#meter!;
    const name = `k6_${m.name}`;
    const unit = m.contains === 'time' ? 'ms' : m.contains === 'data' ? 'By' : '';
    switch (m.type) {
      case 'counter':
        ins = { kind: 'counter', c: meter.createCounter(name, { unit }) };
        break;
      case 'gauge':
        ins = { kind: 'gauge', g: meter.createGauge(name, { unit }) };
        break;
      case 'trend':
        ins = { kind: 'histogram', h: meter.createHistogram(name, { unit }) };
        break;
      case 'rate':
        ins = {
          kind: 'rate',
          occurred: meter.createCounter(`${name}_occurred`),
          total: meter.createCounter(`${name}_total`),
        };
        break;
    }
    this.#instruments.set(m.name, ins);
    return ins;
  }

  #drain(): void {
    while (this.#size > 0) {
      const i = this.#head;
      const m = this.#metrics[i]!;
      const v = this.#values[i]!;
      const tags = this.#tags[i]!;
      this.#metrics[i] = undefined;
      this.#tags[i] = undefined;
      this.#head = (i + 1) % CAPACITY;
      this.#size--;
      const ins = this.#instrument(m);
      if (ins.kind === 'counter') ins.c.add(v, tags);
      else if (ins.kind === 'gauge') ins.g.record(v, tags);
      else if (ins.kind === 'histogram') ins.h.record(v, tags);
      else {
        ins.total.add(1, tags);
        if (v !== 0) ins.occurred.add(1, tags);
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#drain();
    const p = this.#provider;
    if (p === undefined) return;
    // A dead or slow collector must neither fail nor hold up the end of the test: the final
    // flush gets a bounded time and its errors are not the test's.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, STOP_TIMEOUT_MS);
      timer.unref();
    });
    await Promise.race([p.shutdown().catch(() => undefined), deadline]);
    clearTimeout(timer);
  }
}
