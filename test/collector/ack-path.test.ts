// What an ack waits for: the write-ahead log's durable write, never ClickHouse. An operator
// whose dashboards ask the embedded database many queries at once must still see requests
// acknowledged at the log's pace, not at the pace of those queries.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { WriteAheadLog } from '../../collector/pipeline/wal.js';
import { createStorageClient } from '../../collector/storage/clickhouse/client.js';

const dir = mkdtempSync(join(tmpdir(), 'collector-ack-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('makes an append durable while slow statements are queued on the embedded query connection', async () => {
  const storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') });
  const { wal } = await WriteAheadLog.open({ dir: join(dir, 'wal'), maxBytes: 1 << 20, segmentBytes: 1 << 20 });
  try {
    // As many statements as libuv has pool workers (4), each 1.5 s of sleeping (no CPU).
    const finished: number[] = [];
    const statements = Array.from({ length: 4 }, (_, i) =>
      storage.client
        .query({ query: 'SELECT sleepEachRow(0.3) FROM numbers(5)', format: 'JSONEachRow' })
        .then((rs) => rs.json())
        .then(() => finished.push(i)),
    );
    // Let them reach the connection before the append.
    await new Promise((r) => setImmediate(r));
    const order: string[] = [];
    const durable = wal.append(1, Buffer.from('acked record')).durable.then(() => order.push('durable'));
    const first = Promise.race(statements).then(() => order.push('first statement'));
    await Promise.all([durable, first]);
    expect(order).toEqual(['durable', 'first statement']);
    await Promise.all(statements);
    expect(finished).toHaveLength(4);
  } finally {
    await wal.close();
    await storage.close();
  }
});
