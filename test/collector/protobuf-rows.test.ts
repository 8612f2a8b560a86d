// The ingest decoder (protobuf straight to RowBinary rows) against the object decoder plus
// writeSpanRow it replaces: the same bytes for every row, the same spans refused, and the
// service graph handed the same spans with the attributes it reads. Bodies are encoded by
// protobufjs from opentelemetry-proto's messages, hostile ones included.

import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { applyTimeWindow, spanWindow, windowBounds } from '../../collector/pipeline/time-window.js';
import {
  graphSpanOf,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  writeSpanRow,
  type GraphSpan,
  type SpanRecord,
} from '../../collector/receivers/otlp/model.js';
import { decodeTracesProto } from '../../collector/receivers/otlp/protobuf.js';
import { decodeTracesToColumns, decodeTracesToRows } from '../../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../../collector/servicegraph/store.js';
import { RowBinaryWriter } from '../../collector/storage/clickhouse/rowbinary.js';
import { SpanColumnsWriter } from '../../collector/storage/clickhouse/span-columns.js';
import { OtlpDecodeError } from '../../collector/errors.js';

const OTLP_PROTO = `syntax = "proto3";
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; }
message Status { string message = 2; int32 code = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; repeated Event events = 11; repeated Link links = 13; Status status = 15; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }`;

const Request = protobuf.parse(OTLP_PROTO).root.lookupType('ExportTraceServiceRequest');
const encode = (req: object): Buffer => Buffer.from(Request.encode(Request.fromObject(req)).finish());

const ACCEPTED_AT = Date.UTC(2026, 5, 1, 12);
const WINDOW = { maxAgeDays: 7, maxFutureMs: 3_600_000 };
const NOW_NS = BigInt(ACCEPTED_AT) * 1_000_000n;
const ns = (offsetMs: number): string => String(NOW_NS + BigInt(offsetMs) * 1_000_000n + 123n);
const id = (bytes: number, seed: number): Buffer => Buffer.alloc(bytes, seed);
const str = (s: string): object => ({ stringValue: s });
const kv = (key: string, value: object): object => ({ key, value });

function span(n: number, extra: Record<string, unknown> = {}): object {
  return {
    traceId: id(16, n + 1),
    spanId: id(8, n + 2),
    parentSpanId: n % 2 === 0 ? Buffer.alloc(0) : id(8, n + 3),
    name: `GET /product/${n}`,
    kind: [0, 1, 2, 3, 4, 5][n % 6],
    startTimeUnixNano: ns(-n * 1000),
    endTimeUnixNano: ns(-n * 1000 + 5),
    attributes: [
      kv('http.request.method', str('GET')),
      kv('peer.service', str(`svc-${n}`)),
      kv('http.response.status_code', { intValue: 200 + n }),
      kv('upstream_cluster', str('outbound|8080||catalog.default.svc.cluster.local')),
      kv('tls.established', { boolValue: n % 3 === 0 }),
      kv('ratio', { doubleValue: n / 7 }),
      kv('tags', { arrayValue: { values: [str('a'), { intValue: -5 }, { boolValue: true }] } }),
      kv('nested', { kvlistValue: { values: [kv('k', { arrayValue: { values: [str('x')] } })] } }),
      kv('blob', { bytesValue: Buffer.from([0, 1, 2, 255]) }),
      kv('unicode', str('caf\u00e9 \u{1f680} \u4e2d')),
      kv('long', str('x'.repeat(300))),
      kv('empty', {}),
      kv('db.system', str('postgresql')),
      // A key the graph reads with a small int value (one and two varint bytes): read in place.
      kv('db.name', { intValue: 120 + n * 5 }),
    ],
    status: { code: n % 3, message: n % 3 === 2 ? 'upstream reset' : '' },
    ...extra,
  };
}

const resource = (service: string): object => ({
  attributes: [kv('service.name', str(service)), kv('service.version', str('1.4.2')), kv('host.name', str('h'))],
});

function bothWays(body: Buffer) {
  const expected = applyTimeWindow(decodeTracesProto(body), 'span', WINDOW, ACCEPTED_AT);
  const ew = new RowBinaryWriter(256);
  for (const s of expected.items) writeSpanRow(ew, s);
  const w = new RowBinaryWriter(256);
  const actual = decodeTracesToRows(body, w, { graphKeys: GRAPH_ATTRIBUTE_KEYS, ...spanWindow(WINDOW, ACCEPTED_AT) });
  return { expected, expectedRows: ew.take(), actual, rows: w.take() };
}

/** What the graph is handed: its span kinds, with only the attributes it reads. */
function forGraph(spans: SpanRecord[]): GraphSpan[] {
  return spans
    .filter((s) => s.kind >= SPAN_KIND_SERVER)
    .map((s) =>
      graphSpanOf({
        ...s,
        attributes: s.attributes.flatMap((v, i, a) =>
          i % 2 === 0 && GRAPH_ATTRIBUTE_KEYS.has(v) ? [v, a[i + 1]!] : [],
        ),
      }),
    );
}

describe('protobuf straight to rows', () => {
  it('writes the same rows as the object decoder and writeSpanRow, and hands the graph the same spans', () => {
    const body = encode({
      resourceSpans: [
        {
          resource: resource('frontend'),
          schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
          scopeSpans: [
            { scope: { name: 'meshscope', version: '1.0.0' }, spans: Array.from({ length: 12 }, (_, n) => span(n)) },
            {
              spans: [
                span(20, {
                  events: [{ timeUnixNano: ns(-1), name: 'retry', attributes: [kv('attempt', { intValue: 2 })] }],
                  links: [{ traceId: id(16, 9), spanId: id(8, 9), traceState: 'a=b', attributes: [kv('l', str('v'))] }],
                  traceState: 'vendor=1',
                }),
                span(21, { name: '', attributes: [], status: undefined, kind: SPAN_KIND_CLIENT }),
              ],
            },
          ],
        },
        { resource: resource('catalog'), scopeSpans: [{ spans: [span(30), span(31)] }] },
        { scopeSpans: [{ spans: [span(40)] }] },
      ],
    });
    const { expected, expectedRows, actual, rows } = bothWays(body);
    expect(expected.items.length).toBe(17);
    expect(actual.count).toBe(17);
    expect(actual.rejected).toBe(0);
    expect(rows.equals(expectedRows)).toBe(true);
    expect(actual.graph).toEqual(forGraph(expected.items));
  });

  it('writes spans of 100 attributes between spans of a few as the object decoder does', () => {
    // More attributes than the decoder's per-span table starts with: it grows, and the spans
    // after it see only their own.
    const many = Array.from({ length: 100 }, (_, n) => kv(n % 10 === 0 ? 'peer.service' : `a${n}`, str(`v${n}`)));
    const body = encode({
      resourceSpans: [
        {
          resource: resource('frontend'),
          scopeSpans: [{ spans: [span(2), span(3, { attributes: many }), span(5), span(7, { attributes: [] })] }],
        },
      ],
    });
    const { expectedRows, actual, rows, expected } = bothWays(body);
    expect(actual.count).toBe(4);
    expect(rows.equals(expectedRows)).toBe(true);
    expect(actual.graph).toEqual(forGraph(expected.items));
  });

  it('refuses the same spans for the same reasons, and writes the others', () => {
    // Five refusals at most per body: the reasons list keeps the first five.
    const bodies = [
      [
        span(1),
        span(2, { traceId: Buffer.alloc(16) }),
        span(3, { traceId: id(15, 1) }),
        span(4, { spanId: Buffer.alloc(8) }),
        span(5, { parentSpanId: id(4, 1) }),
        span(11, { spanId: undefined }),
      ],
      [
        span(1),
        span(6, { startTimeUnixNano: ns(-8 * 86_400_000) }),
        span(7, { startTimeUnixNano: ns(2 * 3_600_000) }),
        span(8, { startTimeUnixNano: '18446744073709551615' }),
        span(9, { startTimeUnixNano: undefined }),
        span(10, { endTimeUnixNano: ns(-1_000_000) }),
      ],
    ];
    for (const spans of bodies) {
      const body = encode({ resourceSpans: [{ resource: resource('frontend'), scopeSpans: [{ spans }] }] });
      const { expected, expectedRows, actual, rows } = bothWays(body);
      expect(actual.count).toBe(expected.items.length);
      expect(actual.rejected).toBe(expected.rejected);
      expect(actual.rejected).toBe(spans.length - actual.count);
      expect(actual.count).toBeGreaterThan(0);
      expect([...actual.reasons].sort()).toEqual([...expected.reasons].sort());
      expect(rows.equals(expectedRows)).toBe(true);
      expect(actual.graph).toEqual(forGraph(expected.items));
    }
  });

  it('copies names, keys and values with non-ASCII or invalid UTF-8 at any offset as the object decoder stores them', () => {
    // Strings are copied (and keys matched) four bytes at a time: a multi-byte character (or a
    // byte that is not UTF-8, or a byte that differs) in the first, a middle or the trailing
    // partial word must still be found.
    const texts = Array.from({ length: 14 }, (_, n) => `${'k'.repeat(n)}\u00e9${'v'.repeat(13 - n)}`);
    const marker = (n: number): string => String.fromCharCode(65 + n).repeat(3 + n);
    const body = encode({
      resourceSpans: [
        {
          resource: resource('frontend'),
          scopeSpans: [
            {
              spans: texts.map((t, n) =>
                span(n, {
                  name: t,
                  kind: SPAN_KIND_SERVER,
                  attributes: [
                    kv(t, str(t)),
                    kv('peer.service', str(marker(n))),
                    kv(`k${marker(n)}`, str('ok')),
                    // Graph keys but for the last word, or the last byte after the words.
                    kv('peer.servicf', str('no')),
                    kv('db.systen', str('no')),
                    kv('db.system', str('yes')),
                  ],
                }),
              ),
            },
          ],
        },
      ],
    });
    // A byte that is never UTF-8 in place of one letter of each marker (same length, same framing).
    for (let n = 0; n < texts.length; n++) {
      const m = Buffer.from(marker(n));
      for (let at = body.indexOf(m); at >= 0; at = body.indexOf(m, at + m.length)) body[at + (n % m.length)] = 0xff;
    }
    const { expected, expectedRows, actual, rows } = bothWays(body);
    expect(actual.count).toBe(texts.length);
    expect(expected.items[3]!.attributes).toContain('DDD\ufffdDD');
    expect(rows.equals(expectedRows)).toBe(true);
    expect(actual.graph).toEqual(forGraph(expected.items));
  });

  it('hands the graph the ids it pairs by, start and duration as the object decoder does, to rows and to columns', () => {
    // Spans of one trace around a root SERVER span and across bodies (the columns decoder keeps
    // the last trace id's hex), and durations past 2^53 ns (rounded once) or negative (0).
    const t1 = id(16, 0xa1);
    const t2 = id(16, 0xa2);
    const DAY_NS = 86_400_000_000_000n;
    const long = String(NOW_NS + 200n * DAY_NS + 777n);
    const sp = (n: number, kind: number, traceId: Buffer, parent: Buffer, end?: string): object =>
      span(n, {
        kind,
        traceId,
        spanId: id(8, 0x10 + n),
        parentSpanId: parent,
        ...(end ? { endTimeUnixNano: end } : {}),
      });
    const bodies = [
      [
        sp(0, SPAN_KIND_CLIENT, t1, id(8, 0x99)),
        sp(1, SPAN_KIND_SERVER, t1, Buffer.alloc(0)),
        sp(2, SPAN_KIND_SERVER, t1, id(8, 0x10)),
        sp(3, 4, t2, Buffer.alloc(0), long),
        sp(4, 5, t2, id(8, 0x13)),
        sp(5, SPAN_KIND_CLIENT, t1, id(8, 0x12), ns(-20_000)),
      ],
      [sp(6, SPAN_KIND_SERVER, t1, id(8, 0x15)), sp(7, 5, t2, Buffer.alloc(0)), sp(8, 5, t2, id(8, 0x13))],
    ].map((spans) => encode({ resourceSpans: [{ resource: resource('frontend'), scopeSpans: [{ spans }] }] }));
    const c = new SpanColumnsWriter();
    const opts = { graphKeys: GRAPH_ATTRIBUTE_KEYS, ...spanWindow(WINDOW, ACCEPTED_AT) };
    const graphs = bodies.map((body) => {
      const { expected, actual } = bothWays(body);
      const columns = decodeTracesToColumns(body, c, opts).graph;
      c.take().release();
      expect(actual.graph).toEqual(forGraph(expected.items));
      expect(columns).toEqual(actual.graph);
      return columns;
    });
    const [first, second] = graphs as [GraphSpan[], GraphSpan[]];
    expect(first.map((g) => [g.traceId.slice(0, 4), g.pairId])).toEqual([
      ['a1a1', '1010101010101010'],
      ['', ''],
      ['a1a1', '1010101010101010'],
      ['a2a2', '1313131313131313'],
      ['a2a2', '1313131313131313'],
      ['a1a1', '1515151515151515'],
    ]);
    expect(second.map((g) => [g.traceId, g.pairId])).toEqual([
      ['a1'.repeat(16), '1515151515151515'],
      ['', ''],
      ['a2'.repeat(16), '1313131313131313'],
    ]);
    const start = BigInt(ns(-3000));
    expect(first[3]!.durationMs).toBe(Number(BigInt(long) - start) / 1e6);
    expect(first[3]!.durationMs).toBeGreaterThan(2 ** 53 / 1e6);
    expect(first[5]!.durationMs).toBe(0);
    expect(first[0]!.durationMs).toBe(5);
    expect([first[3]!.startHi, first[3]!.startLo]).toEqual([Number(start >> 32n), Number(start & 0xffffffffn)]);
  });

  it('walks more scopes and spans than its envelope tables start with, and a smaller body after them', () => {
    // The resource and scope levels keep their child tables across bodies (1,024 slots, two per
    // child): a body past that grows them, and the next body sees only its own children.
    const sp = (i: number, name: string): object =>
      span(i, { name, kind: SPAN_KIND_CLIENT, traceId: id(16, (i % 250) + 1), spanId: id(8, (i % 250) + 2) });
    const big = encode({
      resourceSpans: [
        {
          resource: resource('frontend'),
          scopeSpans: [{ spans: Array.from({ length: 600 }, (_, i) => sp(i % 300, `a${i}`)) }],
        },
        {
          resource: resource('catalog'),
          scopeSpans: Array.from({ length: 520 }, (_, i) => ({ spans: [sp(i % 300, `b${i}`)] })),
        },
      ],
    });
    const small = encode({
      resourceSpans: [{ resource: resource('cart'), scopeSpans: [{ spans: [sp(1, 'c0'), sp(2, 'c1')] }] }],
    });
    const names = [
      ...Array.from({ length: 600 }, (_, i) => `a${i}`),
      ...Array.from({ length: 520 }, (_, i) => `b${i}`),
    ];
    for (const [body, expectedNames] of [
      [big, names],
      [small, ['c0', 'c1']],
    ] as const) {
      const { expected, expectedRows, actual, rows } = bothWays(body);
      expect(expected.items.map((s) => s.name)).toEqual(expectedNames);
      expect(actual.count).toBe(expectedNames.length);
      expect(rows.equals(expectedRows)).toBe(true);
      expect(actual.graph.map((g) => g.service)).toEqual(expected.items.map((s) => s.resource.serviceName));
    }
  });

  it('leaves nothing in the writer when the body is undecodable', () => {
    const good = encode({ resourceSpans: [{ resource: resource('a'), scopeSpans: [{ spans: [span(1), span(2)] }] }] });
    // The last attribute's value claims more bytes than its message holds.
    const bad = Buffer.from(good);
    const at = bad.lastIndexOf(Buffer.from('postgresql'));
    bad[at - 1] = 0x7f;
    const w = new RowBinaryWriter(256);
    w.string('earlier row');
    const { min, max } = windowBounds(WINDOW, ACCEPTED_AT);
    const opts = { graphKeys: GRAPH_ATTRIBUTE_KEYS, minNs: min, maxNs: max, outside: () => 'outside' };
    expect(() => decodeTracesProto(bad)).toThrow(OtlpDecodeError);
    expect(() => decodeTracesToRows(bad, w, opts)).toThrow(OtlpDecodeError);
    expect(w.take().toString('latin1')).toBe('\x0bearlier row');
    expect(() => decodeTracesToRows(good.subarray(0, good.length - 3), w, opts)).toThrow(OtlpDecodeError);
    expect(w.length).toBe(0);
  });

  it('hands the graph the next body its own ids and attributes after a body refused midway through a graph span', () => {
    // The decoder keeps the last trace id's hex, a graph span's attributes and the envelope's
    // child ranges across bodies: a body that throws in the middle of a CLIENT span's
    // attributes (t1's, after a span of t2) must leave none of that span to the next body.
    const t1 = id(16, 0xb1);
    const t2 = id(16, 0xb2);
    const sp = (n: number, kind: number, traceId: Buffer, parent: Buffer, extra: object = {}): object =>
      span(n, { kind, traceId, spanId: id(8, 0x40 + n), parentSpanId: parent, ...extra });
    const body = (spans: object[]): Buffer =>
      encode({ resourceSpans: [{ resource: resource('checkout'), scopeSpans: [{ spans }] }] });
    const bad = body([
      sp(0, SPAN_KIND_CLIENT, t1, Buffer.alloc(0)),
      sp(1, SPAN_KIND_SERVER, t2, id(8, 0x77)),
      sp(2, SPAN_KIND_CLIENT, t1, id(8, 0x41)),
    ]);
    // The last span's db.system value claims more bytes than its message holds: its graph
    // attributes before it (peer.service, upstream_cluster, ...) are read when it throws.
    bad[bad.lastIndexOf(Buffer.from('postgresql')) - 1] = 0x7f;
    const good = body([
      sp(3, SPAN_KIND_CLIENT, t1, id(8, 0x41), { attributes: [] }),
      sp(4, SPAN_KIND_SERVER, t2, id(8, 0x40), { attributes: [kv('rpc.system', str('grpc'))] }),
      sp(5, SPAN_KIND_SERVER, t2, Buffer.alloc(0), { attributes: [] }),
    ]);
    const c = new SpanColumnsWriter();
    const w = new RowBinaryWriter(256);
    const opts = { graphKeys: GRAPH_ATTRIBUTE_KEYS, ...spanWindow(WINDOW, ACCEPTED_AT) };
    expect(() => decodeTracesToColumns(bad, c, opts)).toThrow(OtlpDecodeError);
    expect(() => decodeTracesToRows(bad, w, opts)).toThrow(OtlpDecodeError);
    const columns = decodeTracesToColumns(good, c, opts).graph;
    c.take().release();
    const { expected, actual } = bothWays(good);
    expect(columns).toEqual(forGraph(expected.items));
    expect(actual.graph).toEqual(columns);
    expect(columns.map((g) => [g.traceId.slice(0, 4), g.pairId, g.attributes])).toEqual([
      ['b1b1', '4343434343434343', []],
      ['b2b2', '4040404040404040', ['rpc.system', 'grpc']],
      ['', '', []],
    ]);
  });
});
