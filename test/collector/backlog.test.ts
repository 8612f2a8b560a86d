// Back-pressure on a store slower than ingest (maxQueueDelayMs): what an operator flooding the
// collector would check. Requests are refused as retryable (429 + Retry-After, saying why) once
// more than a batch waits behind the insert and the oldest acknowledged data has waited too long,
// and everything acknowledged is still stored exactly once.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import { createStorageClient, type StorageClient } from '../../collector/storage/clickhouse/client.js';
import { otlpTraceBody } from '../helpers/otlp-json.js';

let dir: string;
let collector: Collector;
let sql: StorageClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-backlog-'));
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    // Small batches, so a flood queues many of them behind each insert.
    batchMaxRows: 400,
    maxQueueDelayMs: 100,
  });
  sql = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') });
});

afterAll(async () => {
  await sql?.close();
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

function traceBody(trace: number, count: number): string {
  return otlpTraceBody({ service: 'flood', trace, spans: count });
}

it('refuses a flood with 429 + Retry-After while the store is behind, and stores every acked span once', async () => {
  const SPANS = 100;
  let acked = 0;
  const refusals: { retryAfter: string | null; message: string }[] = [];
  // Rounds of concurrent requests: each round queues far more than one batch.
  for (let round = 0; round < 15 && refusals.length === 0; round++) {
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await fetch(`${collector.otlpUrl}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: traceBody(1 + round * 40 + i, SPANS),
        });
        const text = await res.text();
        if (res.status === 200) acked += SPANS;
        else if (res.status === 429) refusals.push({ retryAfter: res.headers.get('retry-after'), message: text });
        else throw new Error(`unexpected ${res.status}: ${text}`);
      }),
    );
  }
  expect(refusals.length).toBeGreaterThan(0);
  // Not the default 2 s: the backlog it waits for is kept under maxQueueDelayMs.
  expect(refusals[0]!.retryAfter).toBe('1');
  expect(refusals[0]!.message).toMatch(
    /storage backlog: accepted data has waited \d+ ms to be stored \(at most 100 ms\)/,
  );
  expect(await collector.flush(60_000)).toBe(true);
  const rs = await sql.client.query({
    query: "SELECT count() AS n, uniqExact(TraceId, SpanId) AS u FROM otel_traces WHERE ServiceName = 'flood'",
    format: 'JSONEachRow',
  });
  expect(await rs.json()).toEqual([{ n: String(acked), u: String(acked) }]);
  // Once the store has caught up, requests are accepted again.
  const after = await fetch(`${collector.otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: traceBody(9999, 3),
  });
  expect(after.status).toBe(200);
  const metrics = await (await fetch(`${collector.apiUrl}/metrics`)).text();
  expect(metrics).toMatch(
    /^meshscope_collector_refused_items_total\{signal="traces",reason="storage_backlog"\} [1-9]/m,
  );
});
