// A batch whose spans reached otel_traces while the trace-id view's part did not (a crash
// between the two commits of one INSERT, simulated here by a constraint on the view's target
// that refuses the first attempt) is replayed under the same token, as the pipeline does after a
// restart: otel_traces drops the replay as a duplicate, and the view is still fed, exactly once.
// This is what exactly-once in otel_traces_trace_id_ts rests on
// (deduplicate_blocks_in_dependent_materialized_views: each view's target deduplicates the
// replayed block by its own block id, whether or not the source table kept it).

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPAN_KIND_SERVER, type SpanRecord } from '../../collector/receivers/otlp/model.js';
import {
  SpanColumnsWriter,
  writeSpanColumns,
  type SpanColumns,
} from '../../collector/storage/clickhouse/span-columns.js';
import { createRowWriter } from '../../collector/storage/clickhouse/writer.js';
import { useEmbeddedStore } from '../helpers/embedded-store.js';

const store = useEmbeddedStore('collector-view-replay-');

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
  const rs = await store.storage.client.query({ query: `SELECT (${sql}) AS n`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]!.n);
};

describe('a batch replayed after the view missed it', () => {
  it('reaches otel_traces_trace_id_ts exactly once while otel_traces drops it as a duplicate', async () => {
    const writer = createRowWriter(store.storage, { maxPartitionsPerInsert: 100 });
    const batch = [spans(20)];
    // The view's target refuses this batch's first trace: the view's part of the insert fails
    // after otel_traces has its part.
    await store.storage.client.command({
      query: `ALTER TABLE otel_traces_trace_id_ts ADD CONSTRAINT refuse_once CHECK TraceId != '${traceId(1)}'`,
    });
    await expect(writer.insert('otel_traces', batch, 'epoch:1-20')).rejects.toThrow(/refuse_once/);
    expect(await one('SELECT count() FROM otel_traces')).toBe(60);
    expect(await one('SELECT count() FROM otel_traces_trace_id_ts')).toBe(0);

    await store.storage.client.command({ query: 'ALTER TABLE otel_traces_trace_id_ts DROP CONSTRAINT refuse_once' });
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

// A kill between a part's deduplication record and the part itself (ClickHouse writes the
// record first): the record survives, the part does not. Built here as that state exactly, in
// child processes (the engine is one per process and reads its tables at start): an insert
// through the collector's writer, then the view target's part removed from disk as if it was
// never renamed into place, then a restart that replays the same insert under the same token.
const DIST = join(import.meta.dirname, '../../dist/collector');
const CHILD = `
import { createStorageClient } from '${DIST}/storage/clickhouse/client.js';
import { migrate } from '${DIST}/storage/clickhouse/migrate.js';
import { repairDeduplicationLogs } from '${DIST}/storage/clickhouse/dedup-repair.js';
import { SpanColumnsWriter, writeSpanColumns } from '${DIST}/storage/clickhouse/span-columns.js';
import { createRowWriter } from '${DIST}/storage/clickhouse/writer.js';
const [path, repair] = process.argv.slice(1);
if (repair === 'repair') repairDeduplicationLogs(path);
const storage = createStorageClient({ kind: 'embedded', path });
await migrate(storage.client, { ttlDays: 0 });
const w = new SpanColumnsWriter(8);
const resource = { serviceName: 'replay', schemaUrl: '', attributes: ['service.name', 'replay'] };
const scope = { name: '', version: '', schemaUrl: '', attributes: [] };
const at = 1_765_000_000_000_000_000n;
for (let t = 1; t <= 20; t++)
  writeSpanColumns(w, { resource, scope, traceId: t.toString(16).padStart(32, '0'), spanId: t.toString(16).padStart(16, '0'),
    parentSpanId: '', traceState: '', name: 'op', kind: 2, startNs: at, endNs: at + 500n, attributes: [], events: [],
    links: [], statusCode: 0, statusMessage: '' });
await createRowWriter(storage, { maxPartitionsPerInsert: 100 }).insert('otel_traces', [w.take()], 'epoch:1-20');
const one = async (sql) => Number((await (await storage.client.query({ query: sql, format: 'JSONEachRow' })).json())[0].n);
const paths = await (await storage.client.query({ query: "SELECT data_paths[1] AS p FROM system.tables WHERE name = 'otel_traces_trace_id_ts'", format: 'JSONEachRow' })).json();
console.log(JSON.stringify({ spans: await one('SELECT count() AS n FROM otel_traces'), view: await one('SELECT count() AS n FROM otel_traces_trace_id_ts'), viewDir: paths[0].p }));
await storage.close();
`;

function runChild(path: string, repair: boolean): { spans: number; view: number; viewDir: string } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, path, repair ? 'repair' : ''], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { spans: number; view: number; viewDir: string };
}

describe('a deduplication record whose part a kill lost', () => {
  it('is removed at start, so the replay reaches the view', () => {
    const path = join(store.dir, 'killed', 'clickhouse');
    const first = runChild(path, true);
    expect(first).toMatchObject({ spans: 20, view: 20 });
    // The view target's part, as if the kill came before its rename: gone, its record kept.
    const parts = readdirSync(first.viewDir).filter((n) => /^\d{8}_\d+_\d+_\d+$/.test(n));
    expect(parts.length).toBe(1);
    rmSync(join(first.viewDir, parts[0]!), { recursive: true });
    expect(readFileSync(join(first.viewDir, 'deduplication_logs', 'deduplication_log_1.txt'), 'utf8')).toContain(
      parts[0]!,
    );

    const replayed = runChild(path, true);
    expect(replayed).toMatchObject({ spans: 20, view: 20 });
  }, 60_000);
});
