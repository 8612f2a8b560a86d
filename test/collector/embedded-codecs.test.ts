// Embedded tables trade the exporter's ZSTD(1) codecs for LZ4 at start, and otel_traces writes
// and otel_logs write batch-sized parts compact (storage/clickhouse/embedded.ts). What an operator upgrading a data
// directory would check: the columns and their types stay the exporter's, and spans stored
// before the change read back beside the ones after, also once their parts merge.

import { expect, it } from 'vitest';
import { SPAN_KIND_SERVER, writeLogRow, writeSpanRow } from '../../collector/receivers/otlp/model.js';
import { lz4Codec, tuneEmbeddedTables } from '../../collector/storage/clickhouse/embedded.js';
import { RowBinaryWriter } from '../../collector/storage/clickhouse/rowbinary.js';
import { createRowWriter } from '../../collector/storage/clickhouse/writer.js';
import { useEmbeddedStore } from '../helpers/embedded-store.js';

const store = useEmbeddedStore('collector-embedded-codecs-');

interface Column {
  table: string;
  name: string;
  type: string;
  compression_codec: string;
}

async function columns(): Promise<Column[]> {
  const rs = await store.storage.client.query({
    query: `SELECT table, name, type, compression_codec FROM system.columns
WHERE database = currentDatabase() AND table IN ('otel_traces', 'otel_traces_trace_id_ts', 'otel_logs')
ORDER BY table, position`,
    format: 'JSONEachRow',
  });
  return rs.json<Column>();
}

function span(i: number, attributes: string[] = ['http.route', `/r/${i}`]): Buffer {
  const w = new RowBinaryWriter(1 << 12);
  const startNs = BigInt(Date.now()) * 1_000_000n + BigInt(i);
  writeSpanRow(w, {
    resource: { serviceName: 'codecs', schemaUrl: '', attributes: ['service.name', 'codecs'] },
    scope: { name: '', version: '', schemaUrl: '', attributes: [] },
    traceId: (i + 1).toString(16).padStart(32, '0'),
    spanId: (i + 1).toString(16).padStart(16, '0'),
    parentSpanId: '',
    traceState: '',
    name: `op-${i}`,
    kind: SPAN_KIND_SERVER,
    startNs,
    endNs: startNs + 1000n,
    attributes,
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
  });
  return w.take();
}

it('turns ZSTD into LZ4 and keeps every other part of a codec', () => {
  expect(lz4Codec('CODEC(ZSTD(1))')).toBe('CODEC(LZ4)');
  expect(lz4Codec('CODEC(Delta(8), ZSTD(1))')).toBe('CODEC(Delta(8), LZ4)');
  expect(lz4Codec('CODEC(Delta(4), ZSTD)')).toBe('CODEC(Delta(4), LZ4)');
  expect(lz4Codec('CODEC(T64, LZ4)')).toBe('CODEC(T64, LZ4)');
});

it('keeps the columns and their types, and spans stored before and after read back, also merged', async () => {
  const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
  const before = await columns();
  expect(before.some((c) => c.compression_codec.includes('ZSTD'))).toBe(true);
  await writer.insert('otel_traces', [span(0)], 'codecs-before');

  await tuneEmbeddedTables(store.storage.client);
  const after = await columns();
  expect(after.map((c) => [c.table, c.name, c.type])).toEqual(before.map((c) => [c.table, c.name, c.type]));
  expect(after.map((c) => c.compression_codec)).toEqual(before.map((c) => lz4Codec(c.compression_codec)));
  expect(after.find((c) => c.table === 'otel_traces' && c.name === 'Timestamp')?.compression_codec).toBe(
    'CODEC(Delta(8), LZ4)',
  );
  await writer.insert('otel_traces', [span(1)], 'codecs-after');

  const stored = async (): Promise<{ SpanName: string; TraceId: string; route: string }[]> => {
    const rs = await store.storage.client.query({
      query: `SELECT SpanName, TraceId, SpanAttributes['http.route'] AS route FROM otel_traces ORDER BY SpanName`,
      format: 'JSONEachRow',
    });
    return rs.json();
  };
  const expected = [0, 1].map((i) => ({
    SpanName: `op-${i}`,
    TraceId: (i + 1).toString(16).padStart(32, '0'),
    route: `/r/${i}`,
  }));
  expect(await stored()).toEqual(expected);
  const traceIds = await store.storage.client.query({
    query: 'SELECT TraceId FROM otel_traces_trace_id_ts ORDER BY TraceId',
    format: 'JSONEachRow',
  });
  expect((await traceIds.json<{ TraceId: string }>()).map((r) => r.TraceId)).toEqual(expected.map((e) => e.TraceId));

  // A ZSTD part and an LZ4 part merged into one.
  await store.storage.client.command({ query: 'OPTIMIZE TABLE otel_traces FINAL' });
  const parts = await store.storage.client.query({
    query:
      "SELECT count() AS n FROM system.parts WHERE active AND database = currentDatabase() AND table = 'otel_traces'",
    format: 'JSONEachRow',
  });
  expect(await parts.json()).toEqual([{ n: '1' }]);
  expect(await stored()).toEqual(expected);
});

it('writes a batch above the default wide-part threshold (10 MiB) as one compact part, read back whole', async () => {
  await tuneEmbeddedTables(store.storage.client);
  const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
  // 3000 spans of ~4 KiB each: ~12 MiB uncompressed, a wide part under ClickHouse's defaults.
  const filler = 'x'.repeat(4096);
  const rows = Array.from({ length: 3000 }, (_, i) => span(100 + i, ['http.route', `/big/${i}`, 'filler', filler]));
  await writer.insert('otel_traces', rows, 'compact-batch');
  const rs = await store.storage.client.query({
    query: `SELECT part_type, rows, data_uncompressed_bytes > 10485760 AS big FROM system.parts
WHERE active AND database = currentDatabase() AND table = 'otel_traces' AND rows = 3000`,
    format: 'JSONEachRow',
  });
  expect(await rs.json()).toEqual([{ part_type: 'Compact', rows: '3000', big: 1 }]);
  const read = await store.storage.client.query({
    query: `SELECT count() AS n, countIf(SpanAttributes['filler'] = '${filler}') AS whole FROM otel_traces WHERE SpanName LIKE 'op-%' AND SpanAttributes['http.route'] LIKE '/big/%'`,
    format: 'JSONEachRow',
  });
  expect(await read.json()).toEqual([{ n: '3000', whole: '3000' }]);
});

it('writes a log batch above the default wide-part threshold as one compact part, read back whole', async () => {
  await tuneEmbeddedTables(store.storage.client);
  const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
  // 3000 access-log records with ~4 KiB bodies: ~12 MiB uncompressed.
  const resource = { serviceName: 'codecs-logs', schemaUrl: '', attributes: ['service.name', 'codecs-logs'] };
  const scope = { name: '', version: '', schemaUrl: '', attributes: [] };
  const filler = 'y'.repeat(4096);
  const w = new RowBinaryWriter(1 << 16);
  for (let i = 0; i < 3000; i++)
    writeLogRow(w, {
      resource,
      scope,
      timeNs: BigInt(Date.now()) * 1_000_000n + BigInt(i),
      observedNs: 0n,
      traceId: (i + 1).toString(16).padStart(32, '0'),
      spanId: (i + 1).toString(16).padStart(16, '0'),
      flags: 1,
      severityText: 'INFO',
      severityNumber: 9,
      body: `GET /big/${i} 200 ${filler}`,
      attributes: ['url.path', `/big/${i}`],
      eventName: '',
    });
  await writer.insert('otel_logs', [w.take()], 'compact-log-batch');
  const rs = await store.storage.client.query({
    query: `SELECT part_type, rows, data_uncompressed_bytes > 10485760 AS big FROM system.parts
WHERE active AND database = currentDatabase() AND table = 'otel_logs'`,
    format: 'JSONEachRow',
  });
  expect(await rs.json()).toEqual([{ part_type: 'Compact', rows: '3000', big: 1 }]);
  const read = await store.storage.client.query({
    query: `SELECT count() AS n, countIf(Body = concat('GET ', LogAttributes['url.path'], ' 200 ${filler}')) AS whole FROM otel_logs WHERE ServiceName = 'codecs-logs'`,
    format: 'JSONEachRow',
  });
  expect(await read.json()).toEqual([{ n: '3000', whole: '3000' }]);
});

it('drops the attribute-key bloom filters, keeps the value ones, and a tag search still finds a span by its value, merged too', async () => {
  // Twice, as every start applies it: the second finds nothing left to drop.
  await tuneEmbeddedTables(store.storage.client);
  await tuneEmbeddedTables(store.storage.client);
  const indexes = await store.storage.client.query({
    query: `SELECT name FROM system.data_skipping_indices WHERE database = currentDatabase() AND table = 'otel_traces' ORDER BY name`,
    format: 'JSONEachRow',
  });
  expect((await indexes.json<{ name: string }>()).map((r) => r.name)).toEqual([
    'idx_duration',
    'idx_res_attr_value',
    'idx_span_attr_value',
    'idx_trace_id',
  ]);
  // Dropped once: the starts after it (every test of this file tuned the store) add no mutation
  // that each part would go through again.
  const mutations = await store.storage.client.query({
    query: `SELECT command FROM system.mutations WHERE database = currentDatabase() AND table = 'otel_traces' AND command LIKE '%DROP INDEX%' ORDER BY command`,
    format: 'JSONEachRow',
  });
  expect((await mutations.json<{ command: string }>()).map((m) => m.command)).toEqual([
    '(DROP INDEX idx_res_attr_key)',
    '(DROP INDEX idx_span_attr_key)',
  ]);
  const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
  // Two granules' worth of spans sharing every key, one request id each.
  for (const batch of [0, 1])
    await writer.insert(
      'otel_traces',
      Array.from({ length: 9000 }, (_, i) =>
        span(10_000 + batch * 9000 + i, ['guid:x-request-id', `rid-${batch}-${i}`]),
      ),
      `tags-${batch}`,
    );
  const search = async (): Promise<{ n: string; granules: string }> => {
    const rs = await store.storage.client.query({
      query: `SELECT count() AS n, SpanName FROM otel_traces WHERE SpanAttributes['guid:x-request-id'] = 'rid-1-42' GROUP BY SpanName`,
      format: 'JSONEachRow',
    });
    const explain = await store.storage.client.query({
      query: `EXPLAIN indexes = 1 SELECT count() FROM otel_traces WHERE SpanAttributes['guid:x-request-id'] = 'rid-1-42'`,
      format: 'TabSeparatedRaw',
    });
    const plan = await explain.text();
    // The value filter's line, then its "Granules: selected/total".
    const granules = /Name: idx_span_attr_value[\s\S]*?Granules: (\d+\/\d+)/.exec(plan)?.[1] ?? plan;
    const [row] = await rs.json<{ n: string; SpanName: string }>();
    expect(row?.SpanName).toBe(`op-${10_000 + 9000 + 42}`);
    return { n: row?.n ?? '0', granules };
  };
  // The skip filters are built when parts merge (not on insert): merged, the value filter skips.
  await store.storage.client.command({ query: 'OPTIMIZE TABLE otel_traces FINAL' });
  const merged = await search();
  expect(merged.n).toBe('1');
  expect(merged.granules).toMatch(/^1\/\d+$/);
});
