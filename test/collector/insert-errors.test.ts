// The writer's error classes, read from real ClickHouse (chDB) errors: code 252 "Too many
// partitions for single INSERT block" is the rows' fault (split or set aside, never retried
// whole), 252 "Too many parts" is back-pressure (retried), and a token makes a repeated insert a
// no-op in the table and in the materialized views' targets.

import { describe, expect, it } from 'vitest';
import { SPAN_KIND_SERVER, writeSpanRow, type SpanRecord } from '../../collector/receivers/otlp/model.js';
import { RowBinaryWriter } from '../../collector/storage/clickhouse/rowbinary.js';
import { createRowWriter, isDataError, isMemoryError } from '../../collector/storage/clickhouse/writer.js';
import { useEmbeddedStore } from '../helpers/embedded-store.js';

const store = useEmbeddedStore('collector-insert-errors-');

const DAY_NS = 86_400_000_000_000n;

function rows(count: number, startNs: (i: number) => bigint, trace = 1): Buffer {
  const w = new RowBinaryWriter(1 << 16);
  const resource = { serviceName: 'errors', schemaUrl: '', attributes: ['service.name', 'errors'] };
  const scope = { name: '', version: '', schemaUrl: '', attributes: [] };
  for (let i = 0; i < count; i++) {
    const s: SpanRecord = {
      resource,
      scope,
      traceId: trace.toString(16).padStart(32, '0'),
      spanId: (i + 1).toString(16).padStart(16, '0'),
      parentSpanId: '',
      traceState: '',
      name: 'op',
      kind: SPAN_KIND_SERVER,
      startNs: startNs(i),
      endNs: startNs(i) + 1000n,
      attributes: [],
      events: [],
      links: [],
      statusCode: 0,
      statusMessage: '',
    };
    writeSpanRow(w, s);
  }
  return w.take();
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the insert to fail');
}

const count = async (table: string): Promise<number> => {
  const rs = await store.storage.client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]!.n);
};

describe('ClickHouse insert errors and tokens', () => {
  it('drops a repeated token in the table and in the view target', async () => {
    const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
    const now = BigInt(Date.now()) * 1_000_000n;
    const batch = rows(10, () => now, 7);
    await writer.insert('otel_traces', [batch], 'epoch:1-5');
    await writer.insert('otel_traces', [batch], 'epoch:1-5');
    expect(await count('otel_traces')).toBe(10);
    expect(await count('otel_traces_trace_id_ts')).toBe(1);
    // Same rows under another token: stored again (tokens, not content, decide).
    await writer.insert('otel_traces', [batch], 'epoch:6-9');
    expect(await count('otel_traces')).toBe(20);
  });

  it('classifies too many partitions as the rows’ fault and too many parts as back-pressure', async () => {
    const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 3 });
    const now = BigInt(Date.now()) * 1_000_000n;
    const partitions = await failure(
      writer.insert('otel_traces', [rows(5, (i) => now - BigInt(i) * DAY_NS)], 't-partitions'),
    );
    expect(String(partitions)).toMatch(/Too many partitions for single INSERT block/);
    expect(isDataError(partitions)).toBe(true);
    expect(isMemoryError(partitions)).toBe(false);

    await store.storage.client.command({ query: 'ALTER TABLE otel_traces MODIFY SETTING parts_to_throw_insert = 1' });
    try {
      await store.storage.client.command({ query: 'SYSTEM STOP MERGES otel_traces' });
      const parts = await failure(
        (async () => {
          for (let i = 0; i < 5; i++) await writer.insert('otel_traces', [rows(1, () => now, 100 + i)], `t-parts-${i}`);
        })(),
      );
      expect(String(parts)).toMatch(/Too many parts/);
      expect(isDataError(parts)).toBe(false);
    } finally {
      await store.storage.client.command({ query: 'ALTER TABLE otel_traces RESET SETTING parts_to_throw_insert' });
      await store.storage.client.command({ query: 'SYSTEM START MERGES otel_traces' });
    }
  });
});
