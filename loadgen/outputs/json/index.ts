// --out json=FILE: k6's JSON lines (a "Metric" line the first time a metric is seen, with the
// sources of its thresholds, then one "Point" line per sample), built by concatenation into a
// bounded buffer flushed every 200 ms.
import * as fs from 'node:fs';
import type { Metric, Tags } from '../../metrics/registry.js';
import { registerOutput, type Output, type OutputParams } from '../output.js';

const MAX_BUFFERED_LINES = 200_000;
const FLUSH_MS = 200;

class JsonOutput implements Output {
  readonly name = 'json';
  readonly #path: string;
  #stream: fs.WriteStream | undefined;
  #lines: string[] = [];
  readonly #seen = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  dropped = 0;

  readonly #thresholds: ReadonlyMap<string, readonly string[]>;

  constructor(path: string, params: OutputParams) {
    if (path === '') throw new Error('--out json needs a file: json=FILE');
    this.#path = path;
    this.#thresholds = params.thresholds;
  }

  async start(): Promise<void> {
    const stream = fs.createWriteStream(this.#path);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    stream.on('error', () => undefined);
    this.#stream = stream;
    this.#timer = setInterval(() => this.#flush(), FLUSH_MS);
    this.#timer.unref();
  }

  sample(metric: Metric, time: number, value: number, tags: Tags, traceId: string | undefined): void {
    if (this.#lines.length >= MAX_BUFFERED_LINES) {
      this.dropped++;
      return;
    }
    if (!this.#seen.has(metric.name)) {
      this.#seen.add(metric.name);
      this.#lines.push(
        `{"type":"Metric","data":{"name":${JSON.stringify(metric.name)},"type":"${metric.type}","contains":"${metric.contains}","thresholds":${JSON.stringify(this.#thresholds.get(metric.name) ?? [])},"submetrics":null},"metric":${JSON.stringify(metric.name)}}`,
      );
    }
    const metadata = traceId === undefined ? '' : `,"metadata":{"trace_id":"${traceId}"}`;
    this.#lines.push(
      `{"metric":${JSON.stringify(metric.name)},"type":"Point","data":{"time":"${new Date(time).toISOString()}","value":${value},"tags":${JSON.stringify(tags)}${metadata}}}`,
    );
  }

  #flush(): void {
    if (this.#lines.length === 0 || this.#stream === undefined) return;
    const chunk = `${this.#lines.join('\n')}\n`;
    this.#lines = [];
    this.#stream.write(chunk);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#flush();
    const s = this.#stream;
    if (s !== undefined) await new Promise<void>((resolve) => s.end(() => resolve()));
  }
}

registerOutput('json', async (arg, params) => new JsonOutput(arg, params));
