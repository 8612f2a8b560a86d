// Jaeger's query API on the collector's query port, checked as Grafana's Jaeger data source and
// the Jaeger UI call it and against Jaeger's JSON model (model/json: traceID, spans with spanID,
// operationName, CHILD_OF/FOLLOWS_FROM references, µs startTime/duration, {key,type,value}
// tags, logs, processID → processes) and the v3 gateway's OTLP JSON. Spans are sent by the
// OpenTelemetry SDK's OTLP/HTTP exporter to a real collector on embedded ClickHouse.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, SpanKind, SpanStatusCode, trace, type HrTime } from '@opentelemetry/api';
import { type BasicTracerProvider, RandomIdGenerator } from '@opentelemetry/sdk-trace-base';
import type { Collector } from '../../collector/index.js';
import { otlpTracerProvider, startTestCollector } from '../helpers/collector.js';
import type { JaegerResponse, JaegerTrace } from '../../collector/api/jaeger-model.js';
import type { TracesData } from '../../collector/api/otlp-json.js';

let dir: string;
let collector: Collector;
/** The checkout trace (128-bit id) and a trace whose id is 64-bit (high half zero). */
let checkout: { traceId: string; rootId: string; clientId: string; paymentId: string };
let short: { traceId: string };
const burst: string[] = [];
/** Span start of the checkout root, as [s, ns] with sub-millisecond digits. */
const nowS = Math.floor(Date.now() / 1000) - 5;
const at = (offsetUs: number): HrTime => [nowS, 123_456_000 + offsetUs * 1000];
const rootStartUs = nowS * 1e6 + 123_456;

async function get<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(collector.apiUrl + path);
  return { status: res.status, body: (await res.json()) as T };
}

function provider(service: string, idGenerator?: RandomIdGenerator): BasicTracerProvider {
  return otlpTracerProvider(
    collector,
    { 'service.name': service, 'service.version': 'v2', 'host.name': 'node-a' },
    idGenerator,
  );
}

/** A 64-bit trace id generator, as a Zipkin/B3 client produces: the high 64 bits are zero. */
class SixtyFourBitIds extends RandomIdGenerator {
  override generateTraceId = (): string => `${'0'.repeat(16)}${new RandomIdGenerator().generateSpanId()}`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-jaeger-'));
  collector = await startTestCollector(dir);
  const frontend = provider('frontend');
  const payment = provider('payment');
  const ft = frontend.getTracer('shop', '1.0.0');
  const root = ft.startSpan('POST /checkout', {
    kind: SpanKind.SERVER,
    startTime: at(0),
    attributes: { 'http.request.method': 'POST', 'http.route': '/checkout' },
  });
  const client = ft.startSpan(
    'POST /charge',
    {
      kind: SpanKind.CLIENT,
      startTime: at(250),
      links: [{ context: { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 } }],
    },
    trace.setSpan(context.active(), root),
  );
  const server = payment
    .getTracer('shop')
    .startSpan(
      'POST /charge',
      { kind: SpanKind.SERVER, startTime: at(400), attributes: { 'http.response.status_code': 503 } },
      trace.setSpan(context.active(), client),
    );
  server.addEvent('card declined', { 'card.brand': 'visa' }, at(900));
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'declined' });
  server.end(at(1_400));
  client.end(at(1_650));
  root.end(at(2_000));
  const s = provider('legacy', new SixtyFourBitIds());
  const legacy = s.getTracer('zipkin').startSpan('GET /old', { kind: SpanKind.SERVER, startTime: at(0) });
  legacy.end(at(300));
  // Three traces of 'burst', a second apart, the middle one with two spans: limit=2 must pick the
  // two most recent traces (by their latest span), newest first.
  const b = provider('burst');
  const bt = b.getTracer('burst');
  for (const [i, spans] of [
    [0, 1],
    [1, 2],
    [2, 1],
  ] as const) {
    const first = bt.startSpan(`op${i}`, { kind: SpanKind.SERVER, startTime: at(-10_000_000 + i * 1_000_000) });
    if (spans === 2) {
      bt.startSpan(
        `op${i}b`,
        { startTime: at(-10_000_000 + i * 1_000_000 + 10) },
        trace.setSpan(context.active(), first),
      ).end(at(-10_000_000 + i * 1_000_000 + 20));
    }
    first.end(at(-10_000_000 + i * 1_000_000 + 100));
    burst.push(first.spanContext().traceId);
  }
  for (const p of [frontend, payment, s, b]) await p.forceFlush();
  checkout = {
    traceId: root.spanContext().traceId,
    rootId: root.spanContext().spanId,
    clientId: client.spanContext().spanId,
    paymentId: server.spanContext().spanId,
  };
  short = { traceId: legacy.spanContext().traceId };
  collector.flushServiceGraph();
  expect(await collector.flush(30_000)).toBe(true);
}, 60_000);

afterAll(async () => {
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Jaeger's v1 API, as Grafana's Jaeger data source calls it", () => {
  it('lists services and operations in the {data} envelope', async () => {
    const services = await get<JaegerResponse<string[]>>('/api/services');
    expect(services.status).toBe(200);
    expect(services.body).toMatchObject({ limit: 0, offset: 0, errors: null });
    expect(services.body.data).toEqual(expect.arrayContaining(['frontend', 'payment', 'legacy']));
    expect(services.body.total).toBe(services.body.data.length);

    const ops = await get<JaegerResponse<string[]>>('/api/services/frontend/operations');
    expect(ops.body.data.sort()).toEqual(['POST /charge', 'POST /checkout']);

    const server = await get<JaegerResponse<Array<{ name: string; spanKind: string }>>>(
      '/api/operations?service=frontend&spanKind=server',
    );
    expect(server.body.data).toEqual([{ name: 'POST /checkout', spanKind: 'server' }]);
    const all = await get<JaegerResponse<Array<{ name: string; spanKind: string }>>>(
      '/api/operations?service=frontend',
    );
    expect(all.body.data).toEqual([
      { name: 'POST /charge', spanKind: 'client' },
      { name: 'POST /checkout', spanKind: 'server' },
    ]);
  });

  it("returns a trace in Jaeger's JSON model, with µs times, references, tags, logs and processes", async () => {
    const { status, body } = await get<JaegerResponse<JaegerTrace[]>>(`/api/traces/${checkout.traceId}`);
    expect(status).toBe(200);
    expect(body.errors).toBeNull();
    expect(body.data).toHaveLength(1);
    const t = body.data[0]!;
    expect(t.traceID).toBe(checkout.traceId);
    expect(t.spans).toHaveLength(3);
    const byId = new Map(t.spans.map((s) => [s.spanID, s]));
    const root = byId.get(checkout.rootId)!;
    const client = byId.get(checkout.clientId)!;
    const pay = byId.get(checkout.paymentId)!;
    expect(root.operationName).toBe('POST /checkout');
    expect(root.references).toEqual([]);
    expect(root.startTime).toBe(rootStartUs);
    expect(root.duration).toBe(2_000);
    expect(client.references).toEqual([
      { refType: 'CHILD_OF', traceID: checkout.traceId, spanID: checkout.rootId },
      { refType: 'FOLLOWS_FROM', traceID: 'ab'.repeat(16), spanID: 'cd'.repeat(8) },
    ]);
    expect(client.startTime).toBe(rootStartUs + 250);
    expect(client.duration).toBe(1_400);
    expect(pay.references).toEqual([{ refType: 'CHILD_OF', traceID: checkout.traceId, spanID: checkout.clientId }]);
    expect(pay.tags).toEqual(
      expect.arrayContaining([
        { key: 'span.kind', type: 'string', value: 'server' },
        { key: 'error', type: 'bool', value: true },
        { key: 'otel.status_code', type: 'string', value: 'ERROR' },
        { key: 'otel.status_description', type: 'string', value: 'declined' },
        { key: 'otel.scope.name', type: 'string', value: 'shop' },
        { key: 'http.response.status_code', type: 'string', value: '503' },
      ]),
    );
    expect(pay.logs).toEqual([
      {
        timestamp: rootStartUs + 900,
        fields: [
          { key: 'event', type: 'string', value: 'card declined' },
          { key: 'card.brand', type: 'string', value: 'visa' },
        ],
      },
    ]);
    for (const s of t.spans) {
      expect(s.traceID).toBe(checkout.traceId);
      expect(s.spanID).toMatch(/^[0-9a-f]{16}$/);
      for (const tag of s.tags) expect(Object.keys(tag).sort()).toEqual(['key', 'type', 'value']);
    }
    expect(t.processes[root.processID]).toEqual({
      serviceName: 'frontend',
      tags: expect.arrayContaining([
        { key: 'host.name', type: 'string', value: 'node-a' },
        { key: 'service.version', type: 'string', value: 'v2' },
      ]),
    });
    expect(t.processes[pay.processID]?.serviceName).toBe('payment');
    expect(root.processID).toBe(client.processID);
    expect(Object.keys(t.processes)).toHaveLength(2);
  });

  it('finds 64-bit trace ids (16 hex digits, as Jaeger prints them) and answers 404 as Jaeger shapes it', async () => {
    expect(short.traceId.startsWith('0'.repeat(16))).toBe(true);
    const low = short.traceId.slice(16);
    for (const id of [low, short.traceId, low.replace(/^0+/, '')]) {
      const { status, body } = await get<JaegerResponse<JaegerTrace[]>>(`/api/traces/${id}`);
      expect(status, id).toBe(200);
      expect(body.data[0]!.traceID).toBe(low);
      expect(body.data[0]!.spans[0]!.operationName).toBe('GET /old');
    }
    const missing = await get<JaegerResponse<null>>(`/api/traces/${'5e'.repeat(16)}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      data: null,
      total: 0,
      limit: 0,
      offset: 0,
      errors: [{ code: 404, msg: 'trace not found' }],
    });
  });

  it('searches as Grafana does (µs start/end, tags JSON, Go durations, lookback) and returns whole traces', async () => {
    const start = rootStartUs - 60_000_000;
    const end = rootStartUs + 60_000_000;
    const q = new URLSearchParams({
      service: 'frontend',
      operation: 'POST /checkout',
      tags: JSON.stringify({ 'http.request.method': 'POST' }),
      minDuration: '1.2ms',
      maxDuration: '1.2s',
      limit: '20',
      start: String(start),
      end: String(end),
      lookback: 'custom',
    });
    const { status, body } = await get<JaegerResponse<JaegerTrace[]>>(`/api/traces?${q}`);
    expect(status).toBe(200);
    expect(body.data.map((t) => t.traceID)).toEqual([checkout.traceId]);
    expect(body.data[0]!.spans).toHaveLength(3);
    expect(
      Object.values(body.data[0]!.processes)
        .map((p) => p.serviceName)
        .sort(),
    ).toEqual(['frontend', 'payment']);

    // Each condition excludes it on its own.
    for (const [k, v] of [
      ['minDuration', '2.1ms'],
      ['maxDuration', '1.5ms'],
      ['tags', '{"http.request.method":"GET"}'],
      ['start', String(rootStartUs + 1)],
      ['end', String(rootStartUs - 1)],
    ] as const) {
      const r = await get<JaegerResponse<JaegerTrace[]>>(
        `/api/traces?${new URLSearchParams({ ...Object.fromEntries(q), [k]: v })}`,
      );
      expect(r.body.data, `${k}=${v}`).toEqual([]);
    }
    // Grafana's Jaeger data source: no start/end (the default lookback), tags as JSON from logfmt.
    const grafana = await get<JaegerResponse<JaegerTrace[]>>(
      `/api/traces?${new URLSearchParams({ service: 'payment', operation: 'POST /charge', tags: '{"error":"true"}', minDuration: '500us', limit: '20' })}`,
    );
    expect(grafana.body.data.map((t) => t.traceID)).toEqual([checkout.traceId]);
    // ... and a trace by id with the panel's range (traceIdTimeParams).
    const byId = await get<JaegerResponse<JaegerTrace[]>>(`/api/traces/${checkout.traceId}?start=${start}&end=${end}`);
    expect(byId.body.data[0]!.spans).toHaveLength(3);
    // The Jaeger UI's form: lookback without start, repeated tag=key:value, error=true.
    const ui = await get<JaegerResponse<JaegerTrace[]>>(
      '/api/traces?service=payment&lookback=1h&tag=error:true&limit=20',
    );
    expect(ui.body.data.map((t) => t.traceID)).toEqual([checkout.traceId]);
    const byIds = await get<JaegerResponse<JaegerTrace[]>>(
      `/api/traces?traceID=${checkout.traceId}&traceID=${short.traceId.slice(16)}`,
    );
    expect(byIds.body.data).toHaveLength(2);
  });

  it('returns the most recent traces first, `limit` of them', async () => {
    const two = await get<JaegerResponse<JaegerTrace[]>>('/api/traces?service=burst&limit=2&lookback=1h');
    expect(two.body.data.map((t) => t.traceID)).toEqual([burst[2], burst[1]]);
    expect(two.body.data[1]!.spans).toHaveLength(2);
    const all = await get<JaegerResponse<JaegerTrace[]>>('/api/traces?service=burst&limit=20&lookback=1h');
    expect(all.body.data.map((t) => t.traceID)).toEqual([burst[2], burst[1], burst[0]]);
  });

  it('answers /api/dependencies from the service graph (endTs and lookback in ms)', async () => {
    const { body } = await get<JaegerResponse<Array<{ parent: string; child: string; callCount: number }>>>(
      `/api/dependencies?endTs=${Date.now() + 60_000}&lookback=3600000`,
    );
    expect(body.errors).toBeNull();
    expect(body.data).toEqual(
      expect.arrayContaining([
        { parent: 'frontend', child: 'payment', callCount: 1 },
        { parent: 'user', child: 'frontend', callCount: 1 },
      ]),
    );
  });

  it('refuses bad parameters with 400 and a message naming the parameter', async () => {
    for (const [path, msg] of [
      ['/api/traces?lookback=1h', /parameter 'service' is required/],
      ['/api/traces?service=frontend&minDuration=fast', /'minDuration' must be a duration/],
      [
        '/api/traces?service=frontend&minDuration=2s&maxDuration=1s',
        /'maxDuration' .* should be greater than 'minDuration'/,
      ],
      ['/api/traces?service=frontend&start=2024-01-01', /'start' must be Unix microseconds/],
      ['/api/traces?service=frontend&tags=%7Bbroken', /'tags' must be a JSON object/],
      ['/api/traces?service=frontend&tag=novalue', /'tag' must be key:value/],
      ['/api/traces/xyz', /trace id must be 1 to 32 hex characters/],
      ['/api/services/%E0%A4%A/operations', /malformed percent-encoding/],
      [`/api/traces/${'ab'.repeat(16)}?start=yesterday`, /'start' must be Unix microseconds/],
      ['/api/operations?spanKind=server', /'service' is required/],
      ['/api/operations?service=a&spanKind=sideways', /'spanKind' must be one of/],
      ['/api/dependencies?endTs=soon', /'endTs' must be a number/],
    ] as const) {
      const { status, body } = await get<JaegerResponse<null>>(path);
      expect(status, path).toBe(400);
      expect(body.data, path).toBeNull();
      expect(body.errors?.[0]?.code, path).toBe(400);
      expect(body.errors?.[0]?.msg, path).toMatch(msg);
    }
  });
});

describe("Jaeger's v3 API (OTLP JSON)", () => {
  const spansOf = (d: TracesData) => d.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));

  it('lists services and operations', async () => {
    const services = await get<{ services: string[] }>('/api/v3/services');
    expect(services.body.services).toEqual(expect.arrayContaining(['frontend', 'payment']));
    const ops = await get<{ operations: Array<{ name: string; spanKind: string }> }>(
      '/api/v3/operations?service=payment&spanKind=server',
    );
    expect(ops.body.operations).toEqual([{ name: 'POST /charge', spanKind: 'server' }]);
  });

  it('returns a trace as OTLP JSON under result, and searches by RFC 3339 bounds', async () => {
    const { status, body } = await get<{ result: TracesData }>(`/api/v3/traces/${checkout.traceId}`);
    expect(status).toBe(200);
    const spans = spansOf(body.result);
    expect(spans).toHaveLength(3);
    const pay = spans.find((s) => s.spanId === checkout.paymentId)!;
    expect(pay).toMatchObject({
      traceId: checkout.traceId,
      parentSpanId: checkout.clientId,
      name: 'POST /charge',
      kind: 2,
      startTimeUnixNano: String(BigInt(rootStartUs + 400) * 1000n),
      endTimeUnixNano: String(BigInt(rootStartUs + 1_400) * 1000n),
      status: { code: 2, message: 'declined' },
    });
    const paymentResource = body.result.resourceSpans.find((r) =>
      r.scopeSpans.some((s) => s.spans.some((x) => x.spanId === checkout.paymentId)),
    )!;
    expect(paymentResource.resource.attributes).toContainEqual({
      key: 'service.name',
      value: { stringValue: 'payment' },
    });

    const min = new Date(rootStartUs / 1000 - 60_000).toISOString();
    const max = new Date(rootStartUs / 1000 + 60_000).toISOString();
    const found = await get<{ result: TracesData }>(
      `/api/v3/traces?query.serviceName=payment&query.startTimeMin=${min}&query.startTimeMax=${max}&query.durationMin=500us`,
    );
    expect(new Set(spansOf(found.body.result).map((s) => s.traceId))).toEqual(new Set([checkout.traceId]));
    expect(spansOf(found.body.result)).toHaveLength(3);
  });

  it('shapes 404 and 400 as the v3 gateway does', async () => {
    const missing = await get<{ error: { httpCode: number; message: string } }>(`/api/v3/traces/${'5e'.repeat(16)}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.httpCode).toBe(404);
    const bad = await get<{ error: { httpCode: number; message: string } }>('/api/v3/traces?query.serviceName=payment');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({
      httpCode: 400,
      message: 'query.startTimeMin and query.startTimeMax are required',
    });
  });
});
