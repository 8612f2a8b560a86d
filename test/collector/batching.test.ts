// The writer waits for a small queue to fill up until its oldest entry is batchMaxDelayMs old,
// never while a full batch is already waiting: what an operator would see as a store idling behind a backlog.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import { otlpTraceBody, stringAttr } from '../helpers/otlp-json.js';

let dir: string;
let collector: Collector;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-batching-'));
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    // Batches are cut by bytes here (a sixteenth of the default limit: 32 MiB of rows), never by rows.
    batchMaxRows: 1_000_000,
    // Far longer than the flush below waits: a writer that waited it would never be done.
    batchMaxDelayMs: 600_000,
    maxQueueDelayMs: 600_000,
  });
});

afterAll(async () => {
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

function traceBody(trace: number, count: number): string {
  const payload = 'x'.repeat(4096);
  return otlpTraceBody({
    service: 'batching',
    trace,
    spans: count,
    attributes: () => [stringAttr('payload', payload)],
  });
}

// Refused ones (the memory limiter, with this process's own garbage counted, answers 429 as an
// OTLP client is told to retry) are sent again, as an exporter would.
async function send(body: string): Promise<void> {
  for (;;) {
    const res = await fetch(`${collector.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (res.status === 200) return;
    if (res.status !== 429) throw new Error(`unexpected ${res.status}: ${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it('stores a backlog of several full batches back to back, without the small-queue wait', async () => {
  // About 80 MiB of rows, a few requests at a time (within the in-flight budget): more than two
  // full batches queue up.
  for (let round = 0; round < 10; round++)
    await Promise.all(Array.from({ length: 4 }, (_, i) => send(traceBody(1 + round * 4 + i, 500))));
  // Each full batch goes without waiting for batchMaxDelayMs (the rest, less than a batch, may).
  const batches = async (): Promise<number> => {
    const text = await (await fetch(`${collector.apiUrl}/metrics`)).text();
    return Number(/^meshscope_collector_batch_latency_seconds_count (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  const deadline = Date.now() + 60_000;
  while ((await batches()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(await batches()).toBeGreaterThanOrEqual(2);
});

it('stores a small queue at once when flushed, without waiting for it to grow', async () => {
  // A batch far from full would wait batchMaxDelayMs (10 minutes here) for more data; a flush
  // (what shutdown does) must not.
  const stored = async (): Promise<number> => {
    const text = await (await fetch(`${collector.apiUrl}/metrics`)).text();
    return Number(/^meshscope_collector_stored_items_total\{table="otel_traces"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  expect(await collector.flush(60_000)).toBe(true);
  const before = await stored();
  await send(traceBody(999, 3));
  expect(await collector.flush(20_000)).toBe(true);
  expect(await stored()).toBe(before + 3);
});
