// URL mode (a ClickHouse server over HTTP): while the server is unreachable (a closed port on
// 127.0.0.1) the collector acknowledges into its write-ahead log up to the size limit, then
// answers 503 with Retry-After; when a server appears on that port (chDB behind ClickHouse's
// HTTP interface, see clickhouse-http-emulator.ts) migrations run and the log drains in order.
// Floods beyond the concurrency limit get 429 with Retry-After. Migrations run concurrently
// from two clients are harmless.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@clickhouse/client';
import { Session } from 'chdb';
import { startCollector, type Collector } from '../../collector/index.js';
import { migrate } from '../../collector/storage/clickhouse/migrate.js';
import { ClickHouseHttpEmulator } from './clickhouse-http-emulator.js';
import { freePort } from '../helpers/ports.js';
import { intAttr, otlpTraceBody, stringAttr } from '../helpers/otlp-json.js';

const SPANS = 20;
let dir: string;
let session: Session;
let collector: Collector | undefined;
let emulator: ClickHouseHttpEmulator | undefined;
let port: number;
const inserted: number[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-url-'));
  session = new Session(join(dir, 'server'));
  port = await freePort();
});

afterAll(async () => {
  await collector?.close(1000);
  await emulator?.close();
  session?.close();
  rmSync(dir, { recursive: true, force: true });
});

function body(i: number, service = 'url-mode'): string {
  return otlpTraceBody({
    service,
    trace: i + 1,
    spans: SPANS,
    attributes: () => [intAttr('seq', i), stringAttr('padding', 'x'.repeat(200))],
  });
}

async function send(i: number, service?: string): Promise<Response> {
  return fetch(`${collector!.otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body(i, service),
  });
}

async function sqlRows<T>(query: string): Promise<T[]> {
  const text = (await session.queryAsync(query, { format: 'JSONEachRow' })).text().trim();
  return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as T);
}

async function storedCount(): Promise<number> {
  try {
    const [r] = await sqlRows<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE ServiceName = 'url-mode'`);
    return Number(r!.n);
  } catch {
    return 0;
  }
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe('URL mode with an unreachable, then reachable ClickHouse', () => {
  it('acks into the log up to its limit, then 503; drains in order once the server is back', async () => {
    collector = await startCollector({
      otlpHttp: '127.0.0.1:0',
      http: '127.0.0.1:0',
      dataDir: join(dir, 'collector'),
      clickhouse: { url: `http://127.0.0.1:${port}` },
      walMaxBytes: 1024 * 1024,
      walSegmentBytes: 128 * 1024,
      // Most of what waits for the server is not kept in memory: it is read back from the log.
      memoryMaxBytes: 64 * 1024,
      batchMaxDelayMs: 50,
      retryAfterSeconds: 3,
      maxConcurrentRequests: 4,
      maxInflightBytes: 256 * 1024,
    });
    const notReady = await fetch(`${collector.apiUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toMatch(/not ready: ClickHouse schema migration failed|pending/);

    let acked = 0;
    let refused: Response | undefined;
    for (let i = 0; i < 1000 && refused === undefined; i++) {
      const res = await send(i);
      if (res.status === 200) acked++;
      else refused = res;
    }
    expect(acked).toBeGreaterThan(10);
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('3');
    expect(await storedCount()).toBe(0);

    emulator = new ClickHouseHttpEmulator(session, {
      onInsert: (statement, data) => {
        if (!statement.includes('otel_traces ')) return;
        // A Native block: SpanAttributes' values in row order, each span's "seq" (its length
        // and digits) followed by its 200-byte padding (a two-byte length, 0xc8 0x01).
        for (const m of data.toString('latin1').matchAll(/[\x01-\x05](\d{1,5})\xc8\x01x/g)) inserted.push(Number(m[1]));
      },
    });
    await emulator.listen(port);
    expect(await waitFor(async () => (await storedCount()) === acked * SPANS, 60_000)).toBe(true);
    // Drained in the order it was acknowledged.
    expect(inserted.length).toBe(acked * SPANS);
    expect(inserted.every((v, i) => i === 0 || v >= inserted[i - 1]!)).toBe(true);
    expect(await waitFor(async () => (await fetch(`${collector!.apiUrl}/readyz`)).status === 200, 30_000)).toBe(true);
    // The log released its space: new data is accepted again.
    expect(await collector.flush(30_000)).toBe(true);
    expect((await send(acked)).status).toBe(200);
    expect(await waitFor(async () => (await storedCount()) === (acked + 1) * SPANS, 30_000)).toBe(true);
  }, 120_000);

  it('sets aside rows ClickHouse refuses as data errors (kept on disk, counted) and stores the rest', async () => {
    const before = await storedCount();
    emulator!.refuse = (statement, data) => statement.startsWith('INSERT INTO otel_traces ') && data.includes('poison');
    try {
      const statuses = await Promise.all(
        [send(7001), send(7002, 'poison'), send(7003)].map((p) => p.then((r) => r.status)),
      );
      expect(statuses).toEqual([200, 200, 200]);
      expect(await collector!.flush(30_000)).toBe(true);
    } finally {
      emulator!.refuse = undefined;
    }
    expect(await storedCount()).toBe(before + 2 * SPANS);
    const rejectedDir = join(dir, 'collector', 'wal', 'rejected');
    const files = readdirSync(rejectedDir).filter((f) => f.endsWith('-otel_traces.Native'));
    expect(files).toHaveLength(1);
    const kept = join(rejectedDir, files[0]!);
    // Re-insertable as is: the operator's way back once the cause is fixed.
    expect(readFileSync(kept).includes('ServiceName')).toBe(true);
    await session.queryAsync(`INSERT INTO otel_traces FROM INFILE '${kept}' FORMAT Native`);
    const metrics = await (await fetch(`${collector!.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`meshscope_collector_dropped_items_total\\{what="rejected_by_clickhouse"\\} ${SPANS}\\b`),
    );
    // And the pipeline keeps going.
    expect((await send(7004)).status).toBe(200);
    expect(await collector!.flush(30_000)).toBe(true);
    expect(await storedCount()).toBe(before + 3 * SPANS);
    const [poison] = await sqlRows<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE ServiceName = 'poison'`);
    expect(Number(poison!.n)).toBe(SPANS);
  });

  it('keeps acknowledging while storage is slow, and stores everything', async () => {
    const before = await storedCount();
    emulator!.insertDelayMs = 400;
    try {
      // One after another (this collector admits 4 concurrent requests): each ack waits for the
      // log's fsync only, never for the slow inserts behind it.
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await send(8000 + i)).status);
      expect(statuses).toEqual(Array(12).fill(200));
      expect(await collector!.flush(30_000)).toBe(true);
    } finally {
      emulator!.insertDelayMs = 0;
    }
    expect(await storedCount()).toBe(before + 12 * SPANS);
  });

  it('answers 429 with Retry-After to a flood beyond the concurrency limit, and 200 to the rest', async () => {
    const big = body(5000).replace(/x{200}/g, 'y'.repeat(2000));
    const responses = await Promise.all(
      Array.from({ length: 48 }, () =>
        fetch(`${collector!.otlpUrl}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: big,
        }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
    const throttled = responses.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((r) => r.headers.get('retry-after') === '3')).toBe(true);
    expect(statuses).toContain(200);
    // One body alone above the in-flight memory bound: throttled, not too large (it is under 413's limit).
    const huge = await fetch(`${collector!.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(5001).replace(/x{200}/g, 'z'.repeat(20_000)),
    });
    expect(huge.status).toBe(429);
    expect(huge.headers.get('retry-after')).toBe('3');
    expect(await huge.text()).toMatch(/request bodies in flight exceed 262144 bytes/);
  });

  it('shuts down while the server is unreachable and delivers the log after a restart', async () => {
    const closedPort = await freePort();
    const dataDir = join(dir, 'restart');
    const down = await startCollector({
      otlpHttp: '127.0.0.1:0',
      http: '127.0.0.1:0',
      dataDir,
      clickhouse: { url: `http://127.0.0.1:${closedPort}` },
    });
    const res = await fetch(`${down.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(9001, 'restarted'),
    });
    expect(res.status).toBe(200);
    await down.close();

    const up = await startCollector({
      otlpHttp: '127.0.0.1:0',
      http: '127.0.0.1:0',
      dataDir,
      clickhouse: { url: `http://127.0.0.1:${port}` },
    });
    try {
      expect(await up.flush(30_000)).toBe(true);
      const [r] = await sqlRows<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE ServiceName = 'restarted'`);
      expect(Number(r!.n)).toBe(SPANS);
    } finally {
      await up.close();
    }
  }, 120_000);

  it('applies migrations safely twice and from two clients at once', async () => {
    const a = createClient({ url: `http://127.0.0.1:${port}` });
    const b = createClient({ url: `http://127.0.0.1:${port}` });
    try {
      const [ra, rb] = await Promise.all([migrate(a, { ttlDays: 7 }), migrate(b, { ttlDays: 7 })]);
      expect(ra.current).toBe(8);
      expect(rb.current).toBe(8);
      const versions = await sqlRows<{ Version: number }>(
        `SELECT DISTINCT Version FROM meshscope_schema_migrations ORDER BY Version`,
      );
      expect(versions.map((v) => v.Version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const tables = await sqlRows<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'otel_%' ORDER BY name`,
      );
      expect(tables.map((x) => x.name)).toEqual([
        'otel_logs',
        'otel_service_graph_1m',
        'otel_service_graph_1m_mv',
        'otel_service_graph_edges',
        'otel_traces',
        'otel_traces_trace_id_ts',
        'otel_traces_trace_id_ts_mv',
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
