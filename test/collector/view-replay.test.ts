// A batch whose spans reached otel_traces while the trace-id view's part did not (a crash
// between the two commits of one INSERT, simulated here by a constraint on the view's target
// that refuses the first attempt) is replayed under the same token, as the pipeline does after a
// restart: otel_traces drops the replay as a duplicate, and the view is still fed, exactly once.
// This is what exactly-once in otel_traces_trace_id_ts rests on
// (deduplicate_blocks_in_dependent_materialized_views: each view's target deduplicates the
// replayed block by its own block id, whether or not the source table kept it).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPAN_KIND_SERVER, type SpanRecord } from '../../collector/receivers/otlp/model.js';
import { createStorageClient, type StorageClient } from '../../collector/storage/clickhouse/client.js';
import { migrate } from '../../collector/storage/clickhouse/migrate.js';
import {
  SpanColumnsWriter,
  writeSpanColumns,
  type SpanColumns,
} from '../../collector/storage/clickhouse/span-columns.js';
import { createRowWriter } from '../../collector/storage/clickhouse/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'collector-view-replay-'));
let storage: StorageClient;

beforeAll(async () => {
  storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') });
  await migrate(storage.client, { ttlDays: 0 });
});

afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const traceId = (t: number): string => t.toString(16).padStart(32, '0');

/** Three spans for each of `traces` traces, as one Native record (what the pipeline inserts). */
function spans(traces: number): SpanColumns {
  const w = new SpanColumnsWriter(8);
  const resource = { serviceName: 'replay', schemaUrl: '', attributes: ['service.name', 'replay'] };
  const scope = { name: '', version: '', schemaUrl: '', attributes: [] };
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let t = 1; t <= traces; t++) {
    for (let i = 0; i < 3; i++) {
      const s: SpanRecord = {
        resource,
        scope,
        traceId: traceId(t),
        spanId: (t * 4 + i).toString(16).padStart(16, '0'),
        parentSpanId: '',
        traceState: '',
        name: 'op',
        kind: SPAN_KIND_SERVER,
        startNs: now + BigInt(i) * 1000n,
        endNs: now + BigInt(i) * 1000n + 500n,
        attributes: [],
        events: [],
        links: [],
        statusCode: 0,
        statusMessage: '',
      };
      writeSpanColumns(w, s);
    }
  }
  return w.take();
}

const one = async (sql: string): Promise<number> => {
  const rs = await storage.client.query({ query: `SELECT (${sql}) AS n`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]!.n);
};

describe('a batch replayed after the view missed it', () => {
  it('reaches otel_traces_trace_id_ts exactly once while otel_traces drops it as a duplicate', async () => {
    const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
    const batch = [spans(20)];
    // The view's target refuses this batch's first trace: the view's part of the insert fails
    // after otel_traces has its part.
    await storage.client.command({
      query: `ALTER TABLE otel_traces_trace_id_ts ADD CONSTRAINT refuse_once CHECK TraceId != '${traceId(1)}'`,
    });
    await expect(writer.insert('otel_traces', batch, 'epoch:1-20')).rejects.toThrow(/refuse_once/);
    expect(await one('SELECT count() FROM otel_traces')).toBe(60);
    expect(await one('SELECT count() FROM otel_traces_trace_id_ts')).toBe(0);

    await storage.client.command({ query: 'ALTER TABLE otel_traces_trace_id_ts DROP CONSTRAINT refuse_once' });
    // The replay, then a retry of the replay (a second crash before the checkpoint).
    for (let attempt = 0; attempt < 2; attempt++) {
      await writer.insert('otel_traces', batch, 'epoch:1-20');
      expect(await one('SELECT count() FROM otel_traces')).toBe(60);
      expect(await one('SELECT uniqExact(TraceId, SpanId) FROM otel_traces')).toBe(60);
      expect(await one('SELECT count() FROM otel_traces_trace_id_ts')).toBe(20);
      expect(await one('SELECT uniqExact(TraceId) FROM otel_traces_trace_id_ts')).toBe(20);
    }
  });
});
