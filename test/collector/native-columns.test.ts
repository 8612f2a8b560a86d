// The ingest path's columns (decoder → per-column streams → one Native block per insert)
// against the RowBinary rows they replace: both shapes bench:collector sends, and spans with
// every kind of field (events, links, non-ASCII, long and empty values, hundreds of distinct
// names), stored into chDB both ways and read back column by column. The dictionaries are kept
// small here so records of one insert refer to different ones, as they do after a long run.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { makeSidecarBodies, makeSyntheticBodies } from '../../bench/lib/span-shapes.js';
import { spanWindow } from '../../collector/pipeline/time-window.js';
import { decodeTracesProto } from '../../collector/receivers/otlp/protobuf.js';
import { decodeTracesToColumns, decodeTracesToRows } from '../../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../../collector/servicegraph/store.js';
import { RowBinaryWriter } from '../../collector/storage/clickhouse/rowbinary.js';
import { SpanColumnsWriter, spanBlock, writeSpanColumns } from '../../collector/storage/clickhouse/span-columns.js';
import { createRowWriter, type Rows } from '../../collector/storage/clickhouse/writer.js';
import { useEmbeddedStore } from '../helpers/embedded-store.js';

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
const str = (s: string): object => ({ stringValue: s });
const kv = (key: string, value: object): object => ({ key, value });
const nowNs = (offsetMs: number): string => String(BigInt(Date.now() + offsetMs) * 1_000_000n + 7n);

/** Spans with every field the columns carry, `count` distinct names (UInt16 indexes past 256). */
function everyField(seed: number, count: number): Buffer {
  const spans = Array.from({ length: count }, (_, n) => ({
    traceId: Buffer.alloc(16, ((seed + n) % 250) + 1).fill(n % 256, 0, 2),
    spanId: Buffer.alloc(8, (n % 250) + 1).fill(seed, 0, 1),
    parentSpanId: n % 2 === 0 ? Buffer.alloc(0) : Buffer.alloc(8, 3),
    traceState: n % 5 === 0 ? 'vendor=1' : '',
    name: n % 7 === 0 ? '' : `GET /product/${n} caf\u00e9`,
    kind: n % 7,
    startTimeUnixNano: nowNs(-n),
    endTimeUnixNano: n % 9 === 0 ? nowNs(-n - 1) : nowNs(-n + 3),
    attributes: [
      kv('http.request.method', str('GET')),
      kv(`k${n % 40}`, str(`v${n}`)),
      kv('\u4e2d\u6587', str('caf\u00e9 \u{1f680}')),
      kv('http.response.status_code', { intValue: 200 + (n % 3) }),
      kv('tags', { arrayValue: { values: [str('a'), { intValue: -5 }, { boolValue: true }] } }),
      kv('long', str('x'.repeat(200 + (n % 3)))),
      // Keys of 127-129 bytes and values of 124-126 around where a length takes two varint
      // bytes (the decoder reads one-byte lengths in place), and an empty string value.
      kv(`edge${'k'.repeat(123 + (n % 3))}`, str('y'.repeat(124 + (n % 3)))),
      kv('empty', str('')),
      // Ints of one, two and three varint bytes (0-127, up to 16383, 16384 on) and a negative one.
      kv('int', { intValue: n % 4 === 0 ? n % 128 : 16382 + (n % 4) }),
      kv('negative', { intValue: -1 - (n % 3) }),
      kv('', {}),
    ],
    events:
      n % 3 === 0
        ? []
        : [
            { timeUnixNano: nowNs(-n), name: 'retry', attributes: [kv('attempt', { intValue: n })] },
            { timeUnixNano: nowNs(-n + 1), name: `e${n % 4}`, attributes: [] },
          ],
    links:
      n % 4 === 1
        ? [
            {
              traceId: Buffer.alloc(16, 9),
              spanId: Buffer.alloc(8, 9),
              traceState: 'a=b',
              attributes: [kv('l', str('v'))],
            },
          ]
        : [],
    status: { code: n % 4, message: n % 4 === 2 ? 'upstream reset' : '' },
  }));
  return encode({
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', str(`svc-${seed}`)), kv('host.name', str('h\u00e9'))] },
        scopeSpans: [
          { scope: { name: 'meshscope', version: '1.0.0' }, spans: spans.slice(0, count >>> 1) },
          { spans: spans.slice(count >>> 1) },
        ],
      },
      { resource: {}, scopeSpans: [{ spans: [{ ...spans[0]!, spanId: Buffer.alloc(8, 0xee) }] }] },
    ],
  });
}

const store = useEmbeddedStore('collector-native-columns-');

const WINDOW = { maxAgeDays: 7, maxFutureMs: 3_600_000 };

function options() {
  return { graphKeys: GRAPH_ATTRIBUTE_KEYS, ...spanWindow(WINDOW, Date.now()) };
}

let token = 0;

/** Every column of every stored span, in a stable order; then the table is emptied. */
async function storeAndReadBack(chunks: readonly Rows[]): Promise<unknown[]> {
  const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
  await writer.insert('otel_traces', chunks, `native-columns-${token++}`);
  const rs = await store.storage.client.query({
    query: 'SELECT * FROM otel_traces ORDER BY TraceId, SpanId, Timestamp',
    format: 'JSONEachRow',
  });
  const rows = await rs.json();
  await store.storage.client.command({ query: 'TRUNCATE TABLE otel_traces' });
  return rows;
}

async function compare(bodies: Buffer[]): Promise<number> {
  const w = new RowBinaryWriter();
  const graphs: unknown[] = [];
  const expected = await storeAndReadBack(
    bodies.map((b) => {
      graphs.push(decodeTracesToRows(b, w, options()).graph);
      return w.take();
    }),
  );
  // Dictionaries of 8 keys: the records of one insert refer to several of them.
  const c = new SpanColumnsWriter(8);
  const columns = bodies.map((b, i) => {
    // The service graph is handed the same spans (ids, kinds, times, the attributes it reads).
    expect(decodeTracesToColumns(b, c, options()).graph).toEqual(graphs[i]);
    return c.take();
  });
  expect(await storeAndReadBack(columns)).toEqual(expected);
  // The JSON decoder's path: the same columns from decoded span records.
  const records = bodies.map((b) => {
    for (const s of decodeTracesProto(b).items) writeSpanColumns(c, s);
    return c.take();
  });
  expect(await storeAndReadBack(records)).toEqual(expected);
  return expected.length;
}

describe('otel_traces as Native columns', () => {
  it('stores every column of synthetic spans as their RowBinary rows do', async () => {
    expect(await compare(makeSyntheticBodies().slice(0, 3))).toBe(3 * 512);
  });

  it('stores every column of sidecar-shaped spans as their RowBinary rows do', async () => {
    expect(await compare(makeSidecarBodies().slice(0, 3))).toBe(3 * 512);
  });

  it('stores a block whose span-attributes column is assembled over several event-loop turns', async () => {
    // 20 × 512 sidecar spans of 13-14 attributes: more key ids than one step of the
    // LowCardinality assembly takes, spread over many small dictionaries.
    const bodies = makeSidecarBodies();
    const many = Array.from({ length: 20 }, (_, i) => bodies[i % bodies.length]!);
    expect(await compare(many)).toBe(20 * 512);
  });

  it('stores events, links, non-ASCII, long and empty values and 300 distinct names as rows do', async () => {
    expect(await compare([everyField(1, 300), everyField(2, 20), everyField(3, 1)])).toBe(300 + 20 + 1 + 3);
  });

  it('stores a block whose spans have no events, links or attributes at all', async () => {
    const body = encode({
      resourceSpans: [
        {
          resource: {},
          scopeSpans: [
            {
              spans: [1, 2].map((n) => ({
                traceId: Buffer.alloc(16, n),
                spanId: Buffer.alloc(8, n),
                name: 'bare',
                startTimeUnixNano: nowNs(0),
                endTimeUnixNano: nowNs(1),
              })),
            },
          ],
        },
      ],
    });
    expect(await compare([body])).toBe(2);
  });

  it("hands chDB each block in otel_traces' key order, which its part writer then does not sort", async () => {
    // Services, names (upper case sorts first, as ClickHouse compares bytes) and start seconds
    // out of order within and across records; the JSON decoder's path and both shapes besides.
    const mixed = (seed: number): Buffer =>
      encode({
        resourceSpans: ['svc-b', 'svc-a'].map((service) => ({
          resource: { attributes: [kv('service.name', str(service))] },
          scopeSpans: [
            {
              spans: Array.from({ length: 24 }, (_, n) => ({
                traceId: Buffer.alloc(16, seed * 31 + n + 1),
                spanId: Buffer.alloc(8, n + 1),
                name: ['b', 'a', 'B', 'ab'][n % 4],
                startTimeUnixNano: nowNs(-((n * 7919 + seed * 104729) % 5000)),
                endTimeUnixNano: nowNs(0),
              })),
            },
          ],
        })),
      });
    const c = new SpanColumnsWriter(8);
    const records = [mixed(1), ...makeSidecarBodies().slice(0, 2), mixed(2), ...makeSyntheticBodies().slice(0, 1)].map(
      (b) => {
        decodeTracesToColumns(b, c, options());
        return c.take();
      },
    );
    for (const s of decodeTracesProto(mixed(3)).items) writeSpanColumns(c, s);
    records.push(c.take());
    const file = join(store.dir, 'ordered.Native');
    writeFileSync(file, Buffer.concat(spanBlock(records)));
    const q = async (query: string): Promise<unknown> =>
      Object.values(
        ((await (await store.storage.client.query({ query, format: 'JSONEachRow' })).json()) as object[])[0]!,
      )[0];
    // The block's rows in file order against the same keys sorted by ClickHouse.
    expect(
      await q(`SELECT groupArray(k) = arraySort(groupArray(k)) FROM (SELECT (ServiceName, SpanName, toDateTime(Timestamp)) AS k
        FROM file('${file}', Native)) SETTINGS max_threads = 1`),
    ).toBe(1);
    const alreadySorted = async (): Promise<number> =>
      Number(await q("SELECT sum(value) FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'"));
    const before = await alreadySorted();
    const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
    await writer.insert('otel_traces', records, `native-columns-${token++}`);
    // otel_traces' part: already sorted (the trace-id view's block is its GROUP BY's order, sorted by chDB).
    expect((await alreadySorted()) - before).toBe(1);
    expect(await q('SELECT count() FROM otel_traces')).toBe(String(3 * 48 + 2 * 512 + 512));
    await store.storage.client.command({ query: 'TRUNCATE TABLE otel_traces' });
  });
});
