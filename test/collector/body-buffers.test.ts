// Request bodies with a Content-Length are read into buffers the receiver uses again for later
// requests. A buffer must not be reused before its request is answered: the write-ahead log
// writes the body after the decode. Concurrent exports of different sizes (plus a chunked and
// a gzip one, read the other ways) are acknowledged while ClickHouse refuses every connection,
// so everything stays in the log; the log, opened after the collector stops, holds every
// acknowledged body byte for byte.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeSidecarBodies, makeSyntheticBodies } from '../../bench/lib/span-shapes.js';
import { startCollector, type Collector } from '../../collector/index.js';
import { WriteAheadLog } from '../../collector/pipeline/wal.js';

let dir: string;
let refusing: Server;
let collector: Collector | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-bodies-'));
  // A "ClickHouse" that drops every connection: nothing leaves the log.
  refusing = createServer((s) => s.destroy());
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  await collector?.close(100);
  await new Promise((r) => refusing.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

it('logs every acknowledged body byte for byte while request buffers are reused', async () => {
  const port = (refusing.address() as { port: number }).port;
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    clickhouse: { url: `http://127.0.0.1:${port}` },
  });
  const sidecar = makeSidecarBodies();
  const synthetic = makeSyntheticBodies();
  // Sizes that differ (two shapes, each body distinct), several rounds: buffers are handed
  // from one request to the next.
  const bodies = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? sidecar : synthetic)[i % 6]!);
  const post = async (
    body: Buffer | ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
  ): Promise<void> => {
    const res = await fetch(`${collector!.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', ...headers },
      body,
      duplex: 'half',
    } as RequestInit);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  };
  for (let round = 0; round < 3; round += 1) await Promise.all(bodies.map((b) => post(b)));
  // No Content-Length (chunked), and gzip: read chunk by chunk as before.
  const chunked = sidecar[7]!;
  await post(
    new ReadableStream({
      start(c) {
        c.enqueue(chunked.subarray(0, 1000));
        c.enqueue(chunked.subarray(1000));
        c.close();
      },
    }),
  );
  const gzipped = synthetic[7]!;
  await post(gzipSync(gzipped), { 'content-encoding': 'gzip' });
  await collector.close(100);
  collector = undefined;

  const { wal, replay } = await WriteAheadLog.open({
    dir: join(dir, 'wal'),
    maxBytes: 1 << 30,
    segmentBytes: 64 << 20,
  });
  const logged = replay.map((r) => sha(r.payload)).sort();
  await wal.close();
  const sent = [...bodies, ...bodies, ...bodies, chunked, gzipped].map(sha).sort();
  expect(logged).toEqual(sent);
});
