// `meshscope trace <id>` and `meshscope top`, run as a user runs them, against a real collector
// on embedded ClickHouse that received a trace from the OpenTelemetry SDK's OTLP exporter:
// frontend (server) → frontend (client) → payment (server, failed), and cart beside it.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, type HrTime, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collector } from '../../collector/index.js';
import { otlpTracerProvider, startTestCollector } from '../helpers/collector.js';

let dir: string;
let collector: Collector;
let traceId: string;
const base = Math.floor(Date.now() / 1000) - 2;
const at = (ms: number): HrTime => [base, ms * 1_000_000];

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['dist/cli/main.js', ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      done({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-cli-views-'));
  collector = await startTestCollector(dir);
  const provider = (service: string): BasicTracerProvider => otlpTracerProvider(collector, { 'service.name': service });
  const [frontend, payment, cart] = ['frontend', 'payment', 'cart'].map(provider) as [
    BasicTracerProvider,
    BasicTracerProvider,
    BasicTracerProvider,
  ];
  const root = frontend.getTracer('shop').startSpan('POST /checkout', {
    kind: SpanKind.SERVER,
    startTime: at(0),
    attributes: { 'http.response.status_code': 502 },
  });
  const call = frontend
    .getTracer('shop')
    .startSpan('POST /charge', { kind: SpanKind.CLIENT, startTime: at(10) }, trace.setSpan(context.active(), root));
  const charge = payment
    .getTracer('shop')
    .startSpan('POST /charge', { kind: SpanKind.SERVER, startTime: at(20) }, trace.setSpan(context.active(), call));
  charge.setStatus({ code: SpanStatusCode.ERROR, message: 'declined' });
  charge.end(at(70));
  call.end(at(80));
  root.end(at(100));
  for (let i = 0; i < 3; i++)
    cart
      .getTracer('shop')
      .startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: at(i) })
      .end(at(i + 5));
  for (const p of [frontend, payment, cart]) await p.forceFlush();
  traceId = root.spanContext().traceId;
  collector.flushServiceGraph();
  expect(await collector.flush(30_000)).toBe(true);
}, 60_000);

afterAll(async () => {
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('meshscope trace', () => {
  it('prints the waterfall: every span under its parent, with service, offset, duration and outcome', async () => {
    const { code, stdout } = await cli(['trace', traceId, '--collector', collector.apiUrl]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`trace ${traceId}: 3 spans, 2 services (frontend, payment), 100.00ms`);
    const spans = lines.slice(2);
    expect(spans).toHaveLength(3);
    expect(spans[0]).toMatch(/^frontend: POST \/checkout\s+\+0µs\s+100\.00ms {2}\|█{40}\| {2}502$/);
    expect(spans[1]).toMatch(/^ {2}frontend: POST \/charge\s+\+10\.00ms\s+70\.00ms {2}\| {4}█{28} {8}\|$/);
    expect(spans[2]).toMatch(/^ {4}payment: POST \/charge\s+\+20\.00ms\s+50\.00ms {2}\| {8}█{20} {12}\| {2}ERROR$/);
  });

  it('says a trace is not found with exit code 3, and a bad flag with 2', async () => {
    const missing = await cli(['trace', 'ab'.repeat(16), '--collector', collector.apiUrl]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('not found');
    expect((await cli(['trace', traceId, '--width', 'wide'])).code).toBe(2);
    expect((await cli(['trace'])).stderr).toContain('a trace id is required');
  });
});

describe('meshscope top', () => {
  it('prints rate, errors and latency per service, busiest first', async () => {
    const { code, stdout } = await cli(['top', '--once', '--window', '600', '--collector', collector.apiUrl]);
    expect(code).toBe(0);
    const rows = stdout.split('\n').slice(3, -1);
    const byService = new Map(rows.map((r) => [r.split(/\s+/)[0], r.trim().split(/\s+/)]));
    expect([...byService.keys()][0]).toBe('cart');
    expect(byService.get('cart')?.at(-1)).toBe('3');
    expect(byService.get('payment')?.at(-1)).toBe('1');
    expect(byService.get('payment')?.[2]).toBe('100.0');
  });

  it('names an unreachable collector with exit code 1', async () => {
    const { code, stderr } = await cli(['top', '--once', '--collector', 'http://127.0.0.1:9']);
    expect(code).toBe(1);
    expect(stderr).toContain('cannot reach the collector at http://127.0.0.1:9');
  });
});
