// OTLP ingest end to end on one embedded-chDB collector: real OpenTelemetry exporters (HTTP
// JSON, HTTP protobuf, logs), the opentelemetry-proto JSON examples, partial success, hostile
// payloads, the query API and SQL on the exporter's tables.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, type Link } from '@opentelemetry/api';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ClickHouseClient } from '@clickhouse/client';
import { startCollector, type Collector } from '../../collector/index.js';
import { createStorageClient } from '../../collector/storage/clickhouse/client.js';
import type { LatencyPoint, LogView, SpanView, TraceSummary } from '../../collector/api/queries.js';

const fixture = (name: string): Buffer => readFileSync(join(import.meta.dirname, 'fixtures', name));

let dir: string;
let collector: Collector;
let sql: ClickHouseClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-ingest-'));
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    // The fixtures carry 2018 timestamps: a TTL would drop them on insert, and the default
    // age window (30 days without a TTL) would refuse them.
    ttlDays: 0,
    maxItemAgeDays: 3650,
    batchMaxDelayMs: 50,
    maxRequestBytes: 1024 * 1024,
  });
  // A second connection on the same data path: chDB lets them coexist in one process.
  sql = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') }).client;
});

afterAll(async () => {
  await sql?.close();
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function query<T>(q: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await sql.query({ query: q, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** Every query API answer's fields; each test asserts the ones its endpoint returns. */
interface ApiBody {
  spans: SpanView[];
  logs: LogView[];
  services: string[];
  traces: TraceSummary[];
  series: LatencyPoint[];
  error: { code: string; message: string };
}

async function api(path: string): Promise<{ status: number; body: ApiBody }> {
  const res = await fetch(collector.apiUrl + path);
  return { status: res.status, body: (await res.json()) as ApiBody };
}

function post(path: string, body: Buffer | string, headers: Record<string, string>): Promise<Response> {
  return fetch(collector.otlpUrl + path, { method: 'POST', body, headers });
}

async function exportWith(exporter: SpanExporter, service: string): Promise<string> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test', 'host.cpus': 2 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('meshscope-test', '1.2.3');
  const parent = tracer.startSpan('GET /items', { kind: SpanKind.SERVER });
  const link: Link = {
    context: { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 },
    attributes: { 'link.kind': 'follows' },
  };
  const { context: ctx, trace } = await import('@opentelemetry/api');
  const child = tracer.startSpan(
    'SELECT items',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        str: 'text "quoted" \\ ünïcode',
        int: 42,
        negative: -7,
        double: 3.25,
        bool: true,
        strs: ['a', 'b'],
        ints: [1, 2, 3],
        doubles: [1.5, 2.5],
        bools: [true, false],
      },
      links: [link],
    },
    trace.setSpan(ctx.active(), parent),
  );
  child.addEvent('cache miss', { 'cache.key': 'items:1', attempt: 2 });
  child.addEvent('retry');
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'db timeout' });
  child.end();
  parent.setStatus({ code: SpanStatusCode.OK });
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  return parent.spanContext().traceId;
}

describe('real OpenTelemetry exporters', () => {
  for (const [label, make] of [
    ['exporter-trace-otlp-http (JSON)', () => new OTLPTraceExporterJson({ url: `${collector.otlpUrl}/v1/traces` })],
    [
      'exporter-trace-otlp-proto (protobuf)',
      () => new OTLPTraceExporterProto({ url: `${collector.otlpUrl}/v1/traces` }),
    ],
  ] as const) {
    it(`${label}: every attribute type, events, links and status arrive intact`, async () => {
      const service = label.includes('JSON') ? 'exporter-json' : 'exporter-proto';
      const traceId = await exportWith(make(), service);
      expect(await collector.flush(30_000)).toBe(true);

      const { status, body } = await api(`/api/meshscope/traces/${traceId.toUpperCase()}`);
      expect(status).toBe(200);
      expect(body.spans).toHaveLength(2);
      const child = body.spans.find((s) => s.name === 'SELECT items')!;
      const parent = body.spans.find((s) => s.name === 'GET /items')!;
      expect(child.parentSpanId).toBe(parent.spanId);
      expect(child.kind).toBe('Client');
      expect(parent.kind).toBe('Server');
      expect(child.serviceName).toBe(service);
      expect(child.scopeName).toBe('meshscope-test');
      expect(child.scopeVersion).toBe('1.2.3');
      expect(child.attributes).toEqual({
        str: 'text "quoted" \\ ünïcode',
        int: '42',
        negative: '-7',
        double: '3.25',
        bool: 'true',
        strs: '["a","b"]',
        ints: '[1,2,3]',
        doubles: '[1.5,2.5]',
        bools: '[true,false]',
      });
      expect(child.resourceAttributes).toMatchObject({
        'service.name': service,
        'deployment.environment': 'test',
        'host.cpus': '2',
      });
      expect(child.events.map((e) => e.name)).toEqual(['cache miss', 'retry']);
      expect(child.events[0]!.attributes).toEqual({ 'cache.key': 'items:1', attempt: '2' });
      expect(child.links).toEqual([
        { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceState: '', attributes: { 'link.kind': 'follows' } },
      ]);
      expect(child.statusCode).toBe('Error');
      expect(child.statusMessage).toBe('db timeout');
      expect(parent.statusCode).toBe('Ok');
      expect(Number(child.durationNs)).toBeGreaterThanOrEqual(0);

      const rows = await query<{
        SpanName: string;
        ServiceName: string;
        Attr: string;
        EventNames: string[];
        LinkSpan: string[];
      }>(
        `SELECT SpanName, ServiceName, SpanAttributes['double'] AS Attr, Events.Name AS EventNames, Links.SpanId AS LinkSpan
         FROM otel_traces WHERE TraceId = {id:String} ORDER BY SpanName`,
        { id: traceId },
      );
      expect(rows).toEqual([
        { SpanName: 'GET /items', ServiceName: service, Attr: '', EventNames: [], LinkSpan: [] },
        {
          SpanName: 'SELECT items',
          ServiceName: service,
          Attr: '3.25',
          EventNames: ['cache miss', 'retry'],
          LinkSpan: ['cd'.repeat(8)],
        },
      ]);
      const lookup = await query<{ n: string }>(
        `SELECT count() AS n FROM otel_traces_trace_id_ts WHERE TraceId = {id:String}`,
        { id: traceId },
      );
      expect(Number(lookup[0]!.n)).toBeGreaterThan(0);
    });
  }

  it('exporter-logs-otlp-http: access-log fields land in LogAttributes and are found by trace id', async () => {
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'front-proxy' }),
      processors: [
        new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${collector.otlpUrl}/v1/logs` }) }),
      ],
    });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const { context: ctx, trace } = await import('@opentelemetry/api');
    const spanCtx = trace.setSpanContext(ctx.active(), { traceId, spanId: 'b7ad6b7169203331', traceFlags: 1 });
    provider.getLogger('envoy.access_loggers.open_telemetry').emit({
      severityNumber: 9,
      severityText: 'INFO',
      body: '[2024-01-01T00:00:00.000Z] "GET /items HTTP/1.1" 200 - 0 12 3 2 "-" "curl" "req-1" "shop" "10.0.0.2:8080"',
      attributes: {
        'http.request.method': 'GET',
        'url.path': '/items',
        'http.response.status_code': 200,
        response_flags: '-',
        upstream_host: '10.0.0.2:8080',
      },
      context: spanCtx,
    });
    await provider.forceFlush();
    await provider.shutdown();
    expect(await collector.flush(30_000)).toBe(true);

    const { status, body } = await api(`/api/meshscope/logs?traceId=${traceId.toUpperCase()}`);
    expect(status).toBe(200);
    expect(body.logs).toHaveLength(1);
    expect(body.logs[0]!).toMatchObject({
      traceId,
      spanId: 'b7ad6b7169203331',
      severityText: 'INFO',
      severityNumber: 9,
      serviceName: 'front-proxy',
    });
    expect(body.logs[0]!.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/items',
      'http.response.status_code': '200',
      response_flags: '-',
      upstream_host: '10.0.0.2:8080',
    });
    const rows = await query<{ Flags: number; Code: string; Scope: string }>(
      `SELECT TraceFlags AS Flags, LogAttributes['http.response.status_code'] AS Code, ScopeName AS Scope FROM otel_logs WHERE TraceId = {id:String}`,
      { id: traceId },
    );
    expect(rows).toEqual([{ Flags: 1, Code: '200', Scope: 'envoy.access_loggers.open_telemetry' }]);
  });
});

describe('opentelemetry-proto JSON examples (upper-case hex ids)', () => {
  it('trace.json and logs.json are stored with ids normalized and every value rendered', async () => {
    for (const [path, file] of [
      ['/v1/traces', 'trace.json'],
      ['/v1/logs', 'logs.json'],
    ] as const) {
      const res = await post(path, fixture(file), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
    }
    expect(await collector.flush(30_000)).toBe(true);
    const { body } = await api('/api/meshscope/traces/5b8efff798038103d269b633813fc60c');
    expect(body.spans).toHaveLength(1);
    expect(body.spans[0]!).toMatchObject({
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: 'eee19b7ec3c1b173',
      name: "I'm a server span",
      kind: 'Server',
      serviceName: 'my.service',
      startTimeUnixNano: '1544712660000000000',
      durationNs: '1000000000',
      startTime: '2018-12-13T14:51:00.000000000Z',
      attributes: { 'my.span.attr': 'some value' },
      scopeName: 'my.library',
      scopeVersion: '1.0.0',
    });
    const logs = await query<Record<string, unknown>>(
      `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS Ts, SpanId, SeverityNumber, SeverityText, Body, LogAttributes, ScopeAttributes
       FROM otel_logs WHERE TraceId = '5b8efff798038103d269b633813fc60c'`,
    );
    expect(logs).toEqual([
      {
        Ts: '1544712660300000000',
        SpanId: 'eee19b7ec3c1b174',
        SeverityNumber: 10,
        SeverityText: 'Information',
        Body: 'Example log record',
        LogAttributes: {
          'string.attribute': 'some string',
          'boolean.attribute': 'true',
          'int.attribute': '10',
          'double.attribute': '637.704',
          'array.attribute': '["many","values"]',
          'map.attribute': '{"some.map.key":"some value"}',
        },
        ScopeAttributes: { 'my.scope.attribute': 'some scope attribute' },
      },
    ]);
  });
});

describe('partial success', () => {
  it('refuses spans with bad ids or out-of-range times, stores the rest (an empty name too), and says why', async () => {
    const good = {
      traceId: '11'.repeat(16),
      spanId: '22'.repeat(8),
      name: 'ok',
      startTimeUnixNano: '1700000000000000000',
      endTimeUnixNano: '1700000000500000000',
    };
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'partial' } }] },
          scopeSpans: [
            {
              spans: [
                good,
                { ...good, traceId: 'zz', spanId: '33'.repeat(8) },
                { ...good, spanId: '44'.repeat(4) },
                { ...good, spanId: '55'.repeat(8), name: '' },
                // Past DateTime64(9)'s range: would poison the batch it sits in.
                { ...good, spanId: '66'.repeat(8), endTimeUnixNano: '18446744073709551615' },
              ],
            },
          ],
        },
      ],
    };
    const res = await post('/v1/traces', JSON.stringify(body), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    // The proto allows an empty name, and the OpenTelemetry Collector stores it.
    expect(json.partialSuccess.rejectedSpans).toBe('3');
    expect(json.partialSuccess.errorMessage).toMatch(/trace_id must be 16/);
    expect(json.partialSuccess.errorMessage).toMatch(/span_id must be 8/);
    expect(json.partialSuccess.errorMessage).toMatch(/before 2262-04-11/);
    expect(await collector.flush(30_000)).toBe(true);
    const rows = await query<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE ServiceName = 'partial'`);
    expect(rows[0]!.n).toBe('2');
  });
});

describe('deeply nested attribute values', () => {
  it('stores an AnyValue nested 33 deep, protobuf and JSON, as the OpenTelemetry Collector does', async () => {
    const DEPTH = 33;
    // AnyValue{array_value{values: …}} 33 times around string_value "x".
    let inner = Buffer.from([0x0a, 0x01, 0x78]);
    for (let i = 0; i < DEPTH; i++) {
      const arrayValue = Buffer.concat([Buffer.from([0x0a]), varint(inner.length), inner]);
      inner = Buffer.concat([Buffer.from([0x2a]), varint(arrayValue.length), arrayValue]);
    }
    const field = (n: number, b: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2]), varint(b.length), b]);
    const kv = Buffer.concat([field(1, Buffer.from('deep')), field(2, inner)]);
    const serviceAttr = Buffer.concat([
      field(1, Buffer.from('service.name')),
      field(2, field(1, Buffer.from('deep-attrs'))),
    ]);
    const fixed64 = (tag: number, v: bigint) => {
      const b = Buffer.alloc(9);
      b[0] = tag;
      b.writeBigUInt64LE(v, 1);
      return b;
    };
    const span = Buffer.concat([
      field(1, Buffer.alloc(16, 0x31)),
      field(2, Buffer.alloc(8, 0x32)),
      field(5, Buffer.from('proto')),
      fixed64(0x39, 1_700_000_000_000_000_000n),
      fixed64(0x41, 1_700_000_000_500_000_000n),
      field(9, kv),
    ]);
    const protoBody = field(1, Buffer.concat([field(1, field(1, serviceAttr)), field(2, field(2, span))]));
    let deepJson = '{"stringValue":"x"}';
    for (let i = 0; i < DEPTH; i++) deepJson = `{"arrayValue":{"values":[${deepJson}]}}`;
    const jsonBody = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"deep-attrs"}}]},"scopeSpans":[{"spans":[{"traceId":"${'31'.repeat(16)}","spanId":"${'33'.repeat(8)}","name":"json","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000","attributes":[{"key":"deep","value":${deepJson}}]}]}]}]}`;

    const viaProto = await post('/v1/traces', protoBody, { 'content-type': 'application/x-protobuf' });
    expect(viaProto.status).toBe(200);
    expect((await viaProto.arrayBuffer()).byteLength).toBe(0);
    const viaJson = await post('/v1/traces', jsonBody, { 'content-type': 'application/json' });
    expect(viaJson.status).toBe(200);
    expect(await viaJson.json()).toEqual({});
    expect(await collector.flush(30_000)).toBe(true);
    const rows = await query<{ SpanName: string; deep: string }>(
      `SELECT SpanName, SpanAttributes['deep'] AS deep FROM otel_traces WHERE ServiceName = 'deep-attrs' ORDER BY SpanName`,
    );
    // The exporter renders arrays as JSON (AsString).
    const rendered = `${'['.repeat(DEPTH)}"x"${']'.repeat(DEPTH)}`;
    expect(rows).toEqual([
      { SpanName: 'json', deep: rendered },
      { SpanName: 'proto', deep: rendered },
    ]);
  });
});

describe('malformed and hostile payloads', () => {
  const proto = { 'content-type': 'application/x-protobuf' };

  it('answers 400/413/415 as the OTLP specification says and stays up', async () => {
    const deepProto = (() => {
      // AnyValue{array_value{values: AnyValue{array_value{…}}}} nested 5000 times.
      let inner = Buffer.from([0x0a, 0x01, 0x78]); // string_value "x"
      for (let i = 0; i < 5000; i++) {
        const arrayValue = Buffer.concat([Buffer.from([0x0a]), varint(inner.length), inner]);
        inner = Buffer.concat([Buffer.from([0x2a]), varint(arrayValue.length), arrayValue]);
      }
      const kv = Buffer.concat([Buffer.from([0x0a, 0x01, 0x6b, 0x12]), varint(inner.length), inner]);
      const span = Buffer.concat([
        Buffer.from([0x0a, 0x10]),
        Buffer.alloc(16, 1),
        Buffer.from([0x12, 0x08]),
        Buffer.alloc(8, 2),
        Buffer.from([0x2a, 0x01, 0x73, 0x4a]),
        varint(kv.length),
        kv,
      ]);
      const ss = Buffer.concat([Buffer.from([0x12]), varint(span.length), span]);
      const rs = Buffer.concat([Buffer.from([0x12]), varint(ss.length), ss]);
      return Buffer.concat([Buffer.from([0x0a]), varint(rs.length), rs]);
    })();
    let deepJson = '{"stringValue":"x"}';
    for (let i = 0; i < 5000; i++) deepJson = `{"arrayValue":{"values":[${deepJson}]}}`;
    const deepJsonBody = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${'11'.repeat(16)}","spanId":"${'22'.repeat(8)}","name":"s","attributes":[{"key":"k","value":${deepJson}}]}]}]}]}`;

    const cases: Array<[string, string, Buffer | string, Record<string, string>, number, RegExp]> = [
      ['garbage protobuf', '/v1/traces', Buffer.from('this is not protobuf at all'), proto, 400, /invalid protobuf/],
      ['truncated varint', '/v1/traces', Buffer.from([0x0a, 0xff, 0xff]), proto, 400, /truncated varint|exceeds/],
      ['wrong wire type', '/v1/traces', Buffer.from([0x08, 0x01]), proto, 400, /wire type/],
      ['length past the end', '/v1/logs', Buffer.from([0x0a, 0x7f, 0x01]), proto, 400, /exceeds the enclosing/],
      ['deeply nested AnyValue (protobuf)', '/v1/traces', deepProto, proto, 400, /nested deeper/],
      [
        'deeply nested AnyValue (JSON)',
        '/v1/traces',
        deepJsonBody,
        { 'content-type': 'application/json' },
        400,
        /nested deeper|invalid JSON/,
      ],
      [
        'invalid JSON',
        '/v1/traces',
        '{"resourceSpans": [',
        { 'content-type': 'application/json' },
        400,
        /invalid JSON/,
      ],
      [
        'JSON of the wrong type',
        '/v1/logs',
        '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":5}}]}]}]}',
        { 'content-type': 'application/json' },
        400,
        /resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.body\.stringValue/,
      ],
      ['huge string above the limit', '/v1/traces', Buffer.alloc(2 * 1024 * 1024, 0x61), proto, 413, /exceeds/],
      [
        'gzip bomb',
        '/v1/traces',
        gzipSync(Buffer.alloc(8 * 1024 * 1024)),
        { ...proto, 'content-encoding': 'gzip' },
        413,
        /exceeds/,
      ],
      [
        'corrupt gzip',
        '/v1/traces',
        Buffer.from('not gzip'),
        { ...proto, 'content-encoding': 'gzip' },
        400,
        /invalid gzip/,
      ],
      ['text/plain', '/v1/traces', 'hello', { 'content-type': 'text/plain' }, 415, /unsupported Content-Type/],
      ['brotli', '/v1/traces', 'x', { ...proto, 'content-encoding': 'br' }, 415, /unsupported Content-Encoding/],
    ];
    for (const [label, path, body, headers, status, message] of cases) {
      const res = await post(path, body, headers);
      expect(res.status, label).toBe(status);
      const text =
        headers['content-type'] === 'application/json' || status === 415
          ? await res.text()
          : Buffer.from(await res.arrayBuffer()).toString('latin1');
      expect(text, label).toMatch(message);
    }
    // Lone UTF-16 surrogates are valid JSON escapes but not UTF-8: stored, and nothing stalls.
    const surrogates = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"surrogates"}}]},"scopeSpans":[{"spans":[{"traceId":"${'77'.repeat(16)}","spanId":"${'88'.repeat(8)}","name":"odd \\ud800 name","startTimeUnixNano":"1700000000000000000","attributes":[{"key":"k\\udc00","value":{"stringValue":"\\ud83d"}}]}]}]}]}`;
    expect((await post('/v1/traces', surrogates, { 'content-type': 'application/json' })).status).toBe(200);
    expect(await collector.flush(30_000)).toBe(true);
    expect(await query<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE ServiceName = 'surrogates'`)).toEqual(
      [{ n: '1' }],
    );
    const health = await fetch(`${collector.apiUrl}/healthz`);
    expect(health.status).toBe(200);
    // gzip'ed protobuf still works after all of that.
    const traceId = await exportWith(
      new OTLPTraceExporterProto({ url: `${collector.otlpUrl}/v1/traces`, compression: 'gzip' as never }),
      'after-hostile',
    );
    expect(await collector.flush(30_000)).toBe(true);
    expect((await api(`/api/meshscope/traces/${traceId}`)).body.spans).toHaveLength(2);
  });
});

describe('query API', () => {
  it('searches traces by service, operation, duration, status and time; lists services; latency series', async () => {
    const services = (await api('/api/meshscope/services')).body.services;
    expect(services).toEqual(expect.arrayContaining(['exporter-json', 'exporter-proto', 'my.service', 'partial']));

    const now = Date.now();
    const found = await api(
      `/api/meshscope/traces?service=exporter-proto&operation=${encodeURIComponent('SELECT items')}&status=error&start=${now - 600_000}&end=${new Date(now + 60_000).toISOString()}&limit=5`,
    );
    expect(found.status).toBe(200);
    expect(found.body.traces).toHaveLength(1);
    expect(found.body.traces[0]!).toMatchObject({ spanCount: 2, hasError: true, serviceName: 'exporter-proto' });

    const byDuration = await api(
      '/api/meshscope/traces?service=my.service&minDurationMs=999&maxDurationMs=1001&start=2018-12-13T14:00:00Z&end=2018-12-13T15:00:00Z',
    );
    expect(byDuration.body.traces.map((t) => t.traceId)).toEqual(['5b8efff798038103d269b633813fc60c']);
    const none = await api(
      '/api/meshscope/traces?service=my.service&minDurationMs=1001&start=2018-12-13T14:00:00Z&end=2018-12-13T15:00:00Z',
    );
    expect(none.body.traces).toEqual([]);

    for (const step of ['60', '1m']) {
      const lat = await api(
        `/api/meshscope/latency?service=my.service&start=2018-12-13T14:00:00Z&end=2018-12-13T15:00:00Z&step=${step}`,
      );
      expect(lat.body.series).toEqual([
        { time: '2018-12-13T14:51:00.000Z', count: 1, p50Ms: 1000, p95Ms: 1000, p99Ms: 1000 },
      ]);
    }
  });

  it('answers 400 with a clear message for bad parameters and 404 for unknown traces', async () => {
    const bad: Array<[string, RegExp]> = [
      ['/api/meshscope/traces?start=yesterday', /'start' must be an RFC 3339 time/],
      ['/api/meshscope/traces?limit=0', /'limit' must be a number between 1 and 1000/],
      ['/api/meshscope/traces?status=broken', /'status' must be one of ok, error, unset/],
      ['/api/meshscope/traces?start=2024-01-02T00:00:00Z&end=2024-01-01T00:00:00Z', /'start' .* is after 'end'/],
      ['/api/meshscope/traces?minDurationMs=5&maxDurationMs=1', /above 'maxDurationMs'/],
      ['/api/meshscope/traces?service=x%27%20OR%201%3D1&bogus=1', /unknown parameter 'bogus'/],
      ['/api/meshscope/traces/not-a-trace-id', /trace id must be 32 hex characters/],
      ['/api/meshscope/latency?start=0', /'service' is required/],
      ['/api/meshscope/latency?service=a&step=1fortnight', /'step' must be seconds or a duration/],
      ['/api/meshscope/logs', /'traceId' is required/],
    ];
    for (const [path, message] of bad) {
      const { status, body } = await api(path);
      expect(status, path).toBe(400);
      expect(body.error.code, path).toBe('MS_ERR_COLLECTOR_QUERY_PARAM');
      expect(body.error.message, path).toMatch(message);
    }
    // Values are bound, never spliced: a quote in a service name is just a name.
    const injected = await api(`/api/meshscope/traces?service=${encodeURIComponent("x' OR 1=1 --")}`);
    expect(injected).toEqual({ status: 200, body: { traces: [] } });
    const missing = await api(`/api/meshscope/traces/${'0f'.repeat(16)}`);
    expect(missing.status).toBe(404);
  });

  it('serves its own Prometheus metrics and health', async () => {
    const text = await (await fetch(`${collector.apiUrl}/metrics`)).text();
    expect(text).toMatch(/meshscope_collector_received_items_total\{signal="traces"\} \d+/);
    expect(text).toMatch(/meshscope_collector_refused_items_total\{signal="traces",reason="invalid"\} 3/);
    expect(text).toMatch(/meshscope_collector_stored_items_total\{table="otel_traces"\} \d+/);
    expect(text).toMatch(/meshscope_collector_batch_latency_seconds_count \d+/);
    // Embedded ClickHouse's own tracked memory, beside the runtime's (a live engine holds some).
    const engine = /^meshscope_collector_clickhouse_memory_bytes (\d+)$/m.exec(text);
    expect(Number(engine?.[1])).toBeGreaterThan(0);
    expect((await fetch(`${collector.apiUrl}/readyz`)).status).toBe(200);
  });

  it("counts embedded ClickHouse's own CPU, which an insert raises", async () => {
    const cpu = async (): Promise<{ user: number; system: number }> => {
      const text = await (await fetch(`${collector.apiUrl}/metrics`)).text();
      const mode = (m: string): number =>
        Number(
          new RegExp(`^meshscope_collector_clickhouse_cpu_seconds_total\\{mode="${m}"\\} (\\S+)$`, 'm').exec(text)?.[1],
        );
      return { user: mode('user'), system: mode('system') };
    };
    const before = await cpu();
    expect(before.user).toBeGreaterThan(0);
    const traceId = await exportWith(
      new OTLPTraceExporterProto({ url: `${collector.otlpUrl}/v1/traces` }),
      'clickhouse-cpu',
    );
    for (let i = 0; i < 200 && (await api(`/api/meshscope/traces/${traceId}`)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 50));
    const after = await cpu();
    expect(after.user + after.system).toBeGreaterThan(before.user + before.system);
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
