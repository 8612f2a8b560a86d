// The export pipelines' shared-memory hand-over (export-pipeline.ts) against the real export
// threads: no batch lost, duplicated, torn or reordered against the thread's control messages,
// whatever the thread's pace and the collector's; nothing hangs; every record admitted is
// accounted for (sent, failed or dropped) as the proxy's tracing.opentelemetry.spans_* counters
// would show it. The threads run from dist/ (npm run build), as the proxy runs them.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExportOutcomeCounters } from '../../../proxy/telemetry/export-pipeline.js';
import type { Counter } from '../../../proxy/stats/types.js';

const DIST = resolve(import.meta.dirname, '../../../dist/proxy');
const { ExportPipeline } = (await import(
  join(DIST, 'telemetry/export-pipeline.js')
)) as typeof import('../../../proxy/telemetry/export-pipeline.js');
const LOG_THREAD = new URL(`file://${join(DIST, 'extensions/access_loggers/log-thread.js')}`);

class Count implements Counter {
  value = 0;
  inc(): void {
    this.value++;
  }
  add(n: number): void {
    this.value += n;
  }
}

function counters(): ExportOutcomeCounters & { sent: Count; failed: Count; dropped: Count } {
  return { sent: new Count(), failed: new Count(), dropped: new Count() };
}

describe('access-log thread: control messages and batches', () => {
  it('a logger announced just before its first records is set up before the thread prints them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-stress-'));
    const path = join(dir, 'access.log');
    const c = counters();
    const pipeline = new ExportPipeline({
      thread: LOG_THREAD,
      workerData: null,
      maxOutstanding: 10_000,
      postEvery: 512,
      postEveryMs: 50,
      batchBytes: 16 * 1024,
      counters: c,
    });
    // As a listener added by LDS under load: the sink and logger messages, then at once a
    // batch of the new logger's records (handed over before the thread has read the messages).
    pipeline.postControl({ kind: 'sink', id: 1, path, fixedFd: null });
    pipeline.postControl({ kind: 'logger', id: 2, sink: 1, format: { text_format: 'a\n' } });
    for (let i = 0; i < 100; i++) {
      const w = pipeline.beginRecord()!;
      w.ensure(5);
      w.varint(2);
      pipeline.endRecord();
    }
    pipeline.postPending();
    await pipeline.shutdown();
    expect(readFileSync(path, 'utf8')).toBe('a\n'.repeat(100));
    expect(c.sent.value).toBe(100);
  });
});
