// --out csv=FILE: k6's CSV output. One row per sample under k6's header: the metric, a unix-seconds
// timestamp, the value with six decimals, then k6's system tags in their fixed columns, every other
// tag as `key=value&…` in extra_tags and the trace id in metadata. A FILE ending in .gz is gzipped.
// Rows are built by concatenation into a bounded buffer flushed every second (k6's saveInterval).
import * as fs from 'node:fs';
import { createGzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import type { Metric, Tags } from '../../metrics/registry.js';
import { registerOutput, type Output } from '../output.js';

const MAX_BUFFERED_ROWS = 200_000;
const FLUSH_MS = 1000;

/** k6's fixed tag columns, in k6's order. */
const TAG_COLUMNS = [
  'check',
  'error',
  'error_code',
  'expected_response',
  'group',
  'method',
  'name',
  'proto',
  'scenario',
  'service',
  'status',
  'subproto',
  'tls_version',
  'url',
] as const;
const COLUMN_SET = new Set<string>(TAG_COLUMNS);

export const CSV_HEADER = `metric_name,timestamp,metric_value,${TAG_COLUMNS.join(',')},extra_tags,metadata`;

/** RFC 4180 quoting, only when a field needs it. */
function field(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csvRow(metric: string, time: number, value: number, tags: Tags, traceId: string | undefined): string {
  let row = `${field(metric)},${Math.floor(time / 1000)},${value.toFixed(6)}`;
  for (const c of TAG_COLUMNS) row += `,${field(tags[c] ?? '')}`;
  let extra = '';
  for (const k of Object.keys(tags)) {
    if (COLUMN_SET.has(k)) continue;
    extra += `${extra === '' ? '' : '&'}${k}=${tags[k]}`;
  }
  return `${row},${field(extra)},${traceId === undefined ? '' : `trace_id=${traceId}`}`;
}

class CsvOutput implements Output {
  readonly name = 'csv';
  readonly #path: string;
  #file: fs.WriteStream | undefined;
  #out: Writable | undefined;
  #rows: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  dropped = 0;

  constructor(path: string) {
    if (path === '') throw new Error('--out csv needs a file: csv=FILE');
    this.#path = path;
  }

  async start(): Promise<void> {
    const file = fs.createWriteStream(this.#path);
    await new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', reject);
    });
    file.on('error', () => undefined);
    this.#file = file;
    if (this.#path.endsWith('.gz')) {
      const gz = createGzip();
      gz.pipe(file);
      this.#out = gz;
    } else this.#out = file;
    this.#out.write(`${CSV_HEADER}\n`);
    this.#timer = setInterval(() => this.#flush(), FLUSH_MS);
    this.#timer.unref();
  }

  sample(metric: Metric, time: number, value: number, tags: Tags, traceId: string | undefined): void {
    if (this.#rows.length >= MAX_BUFFERED_ROWS) {
      this.dropped++;
      return;
    }
    this.#rows.push(csvRow(metric.name, time, value, tags, traceId));
  }

  #flush(): void {
    if (this.#rows.length === 0 || this.#out === undefined) return;
    const chunk = `${this.#rows.join('\n')}\n`;
    this.#rows = [];
    this.#out.write(chunk);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#flush();
    const out = this.#out;
    const file = this.#file;
    if (out === undefined || file === undefined) return;
    await new Promise<void>((resolve) => {
      file.once('close', () => resolve());
      out.end();
    });
  }
}

registerOutput('csv', async (arg) => new CsvOutput(arg));
