// The collector's web UI in real Chromium (playwright-core, Debian's chromium) against a real
// collector fed by the OpenTelemetry SDK's OTLP exporters: the topology names every service
// and every edge; /trace/<id> shows every span with its service; search, latency and logs
// render; no page errors. Screenshots go to reports/ for review. Needs `npm run build` (the
// bundle is dist/collector/ui).

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startCollector, type Collector } from '../../collector/index.js';

const REPORTS = join(import.meta.dirname, '../../reports');
const SERVICES = ['front-proxy', 'frontend', 'catalog', 'cart'];
const EDGES: Array<[string, string]> = [
  ['user', 'front-proxy'],
  ['front-proxy', 'frontend'],
  ['frontend', 'catalog'],
  ['frontend', 'cart'],
];

let dir: string;
let collector: Collector;
let browser: Browser;
let traceId = '';
const spans: Array<{ id: string; service: string; name: string }> = [];

async function sendShopTrace(): Promise<void> {
  const providers = new Map<string, BasicTracerProvider>();
  const tracer = (service: string) => {
    let p = providers.get(service);
    if (p === undefined) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${collector.otlpUrl}/v1/traces` }))],
      });
      providers.set(service, p);
    }
    return p.getTracer('shop');
  };
  const record = (service: string, name: string, s: Span): Span => {
    spans.push({ id: s.spanContext().spanId, service, name });
    return s;
  };
  const start = (service: string, name: string, kind: SpanKind, parent?: Span): Span =>
    record(
      service,
      name,
      tracer(service).startSpan(
        name,
        { kind, attributes: { 'http.request.method': 'GET' } },
        parent === undefined ? undefined : trace.setSpan(context.active(), parent),
      ),
    );
  const root = start('front-proxy', 'GET /', SpanKind.SERVER);
  traceId = root.spanContext().traceId;
  const toFrontend = start('front-proxy', 'router frontend egress', SpanKind.CLIENT, root);
  const frontend = start('frontend', 'frontend.default.svc.cluster.local:8080/*', SpanKind.SERVER, toFrontend);
  const toCatalog = start('frontend', 'GET /products', SpanKind.CLIENT, frontend);
  const catalog = start('catalog', 'catalog.default.svc.cluster.local:8080/*', SpanKind.SERVER, toCatalog);
  catalog.addEvent('cache miss', { key: 'products' });
  const toCart = start('frontend', 'GET /cart', SpanKind.CLIENT, frontend);
  const cart = start('cart', 'cart.default.svc.cluster.local:8080/*', SpanKind.SERVER, toCart);
  cart.setStatus({ code: SpanStatusCode.ERROR, message: 'cart unavailable' });
  for (const s of [catalog, toCatalog, cart, toCart, frontend, toFrontend, root]) {
    await new Promise((r) => setTimeout(r, 3));
    s.end();
  }
  for (const p of providers.values()) await p.forceFlush();

  const logs = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'frontend' }),
    processors: [
      new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${collector.otlpUrl}/v1/logs` }) }),
    ],
  });
  logs.getLogger('access').emit({
    body: '[2026-01-01T00:00:00.000Z] "GET / HTTP/1.1" 200 - 0 42 12 - "-" "curl" "rid-1" "shop" "127.0.0.1:9001"',
    context: trace.setSpan(context.active(), frontend),
  });
  await logs.forceFlush();
}

beforeAll(async () => {
  mkdirSync(REPORTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'collector-ui-'));
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    batchMaxDelayMs: 20,
  });
  await sendShopTrace();
  collector.flushServiceGraph();
  expect(await collector.flush(30_000)).toBe(true);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A page that records every page error and console error. */
async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  // Only the collector's own origin: the UI must not need the network beyond it.
  await page.route('**/*', (route) =>
    route.request().url().startsWith(collector.apiUrl) ? route.continue() : route.abort(),
  );
  await page.goto(collector.apiUrl + path);
  return { page, errors };
}

describe('the web UI in Chromium', () => {
  it('draws the topology and names every service and every edge', async () => {
    const { page, errors } = await open('/');
    await page.waitForSelector('table');
    await page.waitForSelector('.graph canvas');
    for (const s of SERVICES) expect(await page.getByLabel(`service ${s}`, { exact: true }).count(), s).toBe(1);
    for (const [a, b] of EDGES) {
      const edge = page.locator(`[aria-label^="edge ${a} to ${b}: "]`);
      expect(await edge.count(), `${a} -> ${b}`).toBe(1);
    }
    const graphLabel = await page.locator('.graph').getAttribute('aria-label');
    for (const s of [...SERVICES, 'user']) expect(graphLabel).toContain(s);
    for (const [a, b] of EDGES) expect(graphLabel).toContain(`${a} → ${b}`);
    await page.screenshot({ path: join(REPORTS, 'ui-topology.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('/trace/<id> shows every span and its service, span details and the access log line', async () => {
    const { page, errors } = await open(`/trace/${traceId}`);
    await page.waitForSelector('.waterfall .row');
    expect(await page.locator('.waterfall .row').count()).toBe(spans.length);
    for (const s of spans) {
      const row = page.locator(`[data-span-id="${s.id}"]`);
      const label = await row.getAttribute('aria-label');
      expect(label, s.name).toContain(`span ${s.name} of ${s.service}`);
      expect(await row.textContent()).toContain(s.service);
    }
    const cart = spans.find((s) => s.service === 'cart')!;
    await page.locator(`[data-span-id="${cart.id}"]`).click();
    const details = page.locator('section.details');
    await details.getByText('cart unavailable').waitFor();
    expect(await details.textContent()).toContain('http.request.method');
    await page.getByText('"GET / HTTP/1.1" 200').waitFor();
    await page.screenshot({ path: join(REPORTS, 'ui-trace.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('searches traces, charts service and edge latency and lists access logs linked to their trace', async () => {
    const search = await open('/traces?service=frontend');
    await search.page.getByLabel(`trace ${traceId}`).waitFor();
    await search.page.screenshot({ path: join(REPORTS, 'ui-traces.png'), fullPage: true });
    // Following the result opens the trace (client-side navigation).
    await search.page.getByLabel(`trace ${traceId}`).click();
    await search.page.waitForSelector(`[data-span-id="${spans[0]!.id}"]`);
    expect(search.page.url()).toBe(`${collector.apiUrl}/trace/${traceId}`);
    expect(search.errors).toEqual([]);
    await search.page.close();

    const latency = await open('/latency?service=catalog');
    await latency.page.waitForSelector('.uplot canvas');
    await latency.page.screenshot({ path: join(REPORTS, 'ui-latency.png'), fullPage: true });
    expect(latency.errors).toEqual([]);
    await latency.page.close();

    // Status error: the cart span failed, the catalog span did not.
    const failing = await open('/traces?service=cart&status=error');
    await failing.page.getByLabel(`trace ${traceId}`).waitFor();
    await failing.page.close();
    const healthy = await open('/traces?service=catalog&status=error');
    await healthy.page.getByText('0 traces').waitFor();
    expect(failing.errors.concat(healthy.errors)).toEqual([]);
    await healthy.page.close();

    const edge = await open('/latency?source=frontend&target=cart');
    await edge.page.waitForSelector('.uplot canvas');
    expect(await edge.page.locator('h1').textContent()).toBe('Latency of frontend → cart');
    // One request, failed: the per-minute row says so.
    expect(await edge.page.locator('#view > table tbody tr td').nth(1).textContent()).toBe('1');
    expect(await edge.page.locator('#view > table tbody tr td').nth(2).textContent()).toBe('1');
    await edge.page.screenshot({ path: join(REPORTS, 'ui-edge-latency.png'), fullPage: true });
    expect(edge.errors).toEqual([]);
    await edge.page.close();

    const logs = await open('/logs?service=frontend&tail=1');
    await logs.page.getByLabel(`trace ${traceId}`).waitFor();
    await logs.page.getByText('1 lines (newest first), following').waitFor();
    await logs.page.screenshot({ path: join(REPORTS, 'ui-logs.png'), fullPage: true });
    expect(logs.errors).toEqual([]);
    await logs.page.close();
  });

  it('answers every UI path with the page and says when a trace is missing', async () => {
    const missing = await open(`/trace/${'5e'.repeat(16)}`);
    await missing.page.getByRole('alert').waitFor();
    expect(await missing.page.getByRole('alert').textContent()).toBe('trace not found');
    // Chromium logs the API's 404 itself; nothing else may fail.
    expect(missing.errors.filter((e) => !/Failed to load resource: .* 404/.test(e))).toEqual([]);
    await missing.page.close();
    for (const path of ['/', '/topology', '/traces', '/latency', '/logs', `/trace/${traceId}`]) {
      const res = await fetch(collector.apiUrl + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(/text\/html/);
    }
    expect((await fetch(`${collector.apiUrl}/ui/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${collector.apiUrl}/ui/build.js`)).status).toBe(404);
  });
});
