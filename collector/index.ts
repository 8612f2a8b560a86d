// The collector's public face: startCollector(options) opens the write-ahead log (replaying
// what was not stored), connects to ClickHouse (embedded chDB or a server), applies the
// migrations, and starts the OTLP/HTTP receiver and the query API.

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { createApiServer } from './api/server.js';
import { parseCollectorOptions, type CollectorConfig, type CollectorOptions } from './config.js';
import { MemoryLimiter, memoryBudget } from './pipeline/memory-limiter.js';
import { Pipeline } from './pipeline/pipeline.js';
import { WriteAheadLog } from './pipeline/wal.js';
import { OtlpHttpReceiver } from './receivers/otlp/receiver.js';
import { createDatabase, createStorageClient, type ClickHouseTarget } from './storage/clickhouse/client.js';
import { repairDeduplicationLogs } from './storage/clickhouse/dedup-repair.js';
import { tuneEmbeddedTables } from './storage/clickhouse/embedded.js';
import { releaseEngineLibraryPagesOrWarn } from './storage/clickhouse/library-pages.js';
import { migrate } from './storage/clickhouse/migrate.js';
import { createRowWriter } from './storage/clickhouse/writer.js';
import { CollectorMetrics } from './telemetry.js';

export type { CollectorOptions, CollectorConfig } from './config.js';
export { parseCollectorOptions } from './config.js';
export * from './errors.js';

export interface Collector {
  /** http://host:port of the OTLP/HTTP receiver. */
  otlpUrl: string;
  /** http://host:port of the query API. */
  apiUrl: string;
  config: CollectorConfig;
  metrics: CollectorMetrics;
  /** Waits until everything accepted so far is in ClickHouse (false on timeout). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Emits virtual-node edges for spans still waiting for a peer, without waiting for the TTL. */
  flushServiceGraph(): void;
  /** Stops listening, stores what it can within `timeoutMs`, closes storage. */
  close(timeoutMs?: number): Promise<void>;
}

function listen(server: Server, address: string): Promise<string> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export async function startCollector(options: CollectorOptions = {}): Promise<Collector> {
  const config = parseCollectorOptions(options);
  const metrics = new CollectorMetrics();
  const target: ClickHouseTarget =
    config.clickhouse === undefined
      ? { kind: 'embedded', path: join(config.dataDir, 'clickhouse') }
      : { kind: 'url', ...config.clickhouse };
  const budget = memoryBudget(config.memoryLimitMiB);
  // Before the engine opens the directory: ids a kill left without their rows would drop the
  // log's replay of them as duplicates.
  if (target.kind === 'embedded')
    for (const { file, removed } of repairDeduplicationLogs(target.path))
      process.emitWarning(`collector: removed ${removed.length} deduplication records without parts from ${file}`);
  const storage = createStorageClient(target, budget.clickhouseBytes, config.embeddedThreadNice);
  const { client } = storage;
  if (target.kind === 'embedded')
    metrics.observeEmbeddedClickHouse(async () => {
      // One statement for both (a UNION ALL: ~2.6 ms of the process's CPU, two statements ~3.7,
      // three scalar subqueries ~4.0, measured on chDB 3.4.0).
      const rs = await client.query({
        query: `SELECT metric AS name, value FROM system.metrics WHERE metric = 'MemoryTracking'
          UNION ALL SELECT event, toInt64(value) FROM system.events
          WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')`,
        format: 'JSONEachRow',
      });
      const values = new Map(
        (await rs.json<{ name: string; value: string }>()).map((r): [string, number] => [r.name, Number(r.value)]),
      );
      return {
        memoryBytes: values.get('MemoryTracking') ?? 0,
        cpuSeconds: {
          user: (values.get('UserTimeMicroseconds') ?? 0) / 1e6,
          system: (values.get('SystemTimeMicroseconds') ?? 0) / 1e6,
        },
      };
    });

  // Migrations must succeed before the first insert. Embedded, a failure is fatal at start; a
  // server that is down at start must not stop the collector from accepting into the log, so
  // in URL mode they are retried in the background.
  let schemaError: string | undefined = 'schema migrations pending';
  let stopping = false;
  const applySchema = async (): Promise<void> => {
    if (target.kind === 'url' && target.database !== 'default') await createDatabase(target);
    await migrate(client, { ttlDays: config.ttlDays });
    if (target.kind === 'embedded') await tuneEmbeddedTables(client);
    schemaError = undefined;
  };
  let schemaReady: Promise<void>;
  if (target.kind === 'embedded') {
    try {
      await applySchema();
    } catch (err) {
      await storage.close();
      throw err;
    }
    schemaReady = Promise.resolve();
  } else {
    schemaReady = (async () => {
      let delay = 200;
      for (;;) {
        try {
          await applySchema();
          return;
        } catch (err) {
          schemaError = `ClickHouse schema migration failed: ${(err as Error).message}`;
          if (stopping) throw err;
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 5000);
        }
      }
    })();
    // Observed by the pipeline; this keeps a rejection at shutdown from going unhandled.
    schemaReady.catch(() => undefined);
  }
  // Embedded, the engine has started and run its first statements; with a server, chDB's
  // library is loaded all the same (client.ts imports it) and never runs: what loading it
  // touched and the load does not use leaves the resident set (library-pages.ts).
  releaseEngineLibraryPagesOrWarn();

  const { wal, replay, inflight } = await WriteAheadLog.open({
    dir: join(config.dataDir, 'wal'),
    maxBytes: config.walMaxBytes,
    segmentBytes: Math.min(config.walSegmentBytes, Math.max(1, Math.floor(config.walMaxBytes / 4))),
    onSync: (records, seconds) => {
      metrics.walSyncs.inc();
      metrics.walSyncDuration.observe(seconds);
      metrics.walRecords.inc(records);
    },
  });
  const maxAgeDays = config.maxItemAgeDays ?? (config.ttlDays > 0 ? config.ttlDays : 30);
  const pipeline = new Pipeline(
    createRowWriter(storage, { maxPartitionsPerInsert: Math.max(100, maxAgeDays + 2) }),
    wal,
    {
      batchMaxRows: config.batchMaxRows,
      // An insert took 4-8× its RowBinary size in ClickHouse's memory (columns, sort,
      // compression, five bloom-filter indexes), merges beside it more: 32 MiB batches (about
      // 100k synthetic spans, as before the cap) in a 256 MiB engine; one that does not fit is
      // split, durably. Smaller batches (8 MiB) halved the whole process's spans per CPU-second
      // in bench:collector, mostly in merges of the extra parts.
      batchMaxBytes: Math.floor(budget.clickhouseBytes / 8),
      batchMaxDelayMs: config.batchMaxDelayMs,
      maxQueueDelayMs: config.maxQueueDelayMs,
      memoryMaxBytes: config.memoryMaxBytes ?? budget.queueBytes,
      serviceGraph: config.serviceGraph,
      maxEdgesBuffered: config.maxEdgesBuffered,
      timeWindow: { maxAgeDays, maxFutureMs: 3_600_000 },
      storageReady: schemaReady,
    },
    metrics,
    replay,
    inflight,
  );
  const limiter = new MemoryLimiter({
    limitBytes: budget.runtimeBytes,
    inflightBytes: config.maxInflightBytes ?? budget.inflightBytes,
  });
  const receiver = new OtlpHttpReceiver(pipeline, metrics, limiter, {
    maxRequestBytes: config.maxRequestBytes,
    maxConcurrentRequests: config.maxConcurrentRequests,
    retryAfterSeconds: config.retryAfterSeconds,
  });
  const api = createApiServer(client, metrics, {
    notReady: () =>
      schemaError ??
      (pipeline.storageHealthy ? undefined : 'ClickHouse inserts are failing; accepting into the write-ahead log'),
  });
  let otlpUrl: string;
  let apiUrl: string;
  try {
    otlpUrl = await listen(receiver.server, config.otlpHttp);
    apiUrl = await listen(api, config.http);
  } catch (err) {
    receiver.server.close();
    limiter.close();
    api.close();
    stopping = true;
    await pipeline.close(0);
    await wal.close();
    await storage.close();
    throw err;
  }

  let closed: Promise<void> | undefined;
  return {
    otlpUrl,
    apiUrl,
    config,
    metrics,
    flush: (timeoutMs = 30_000) => pipeline.drain(timeoutMs),
    flushServiceGraph: () => pipeline.flushServiceGraph(),
    close(timeoutMs = 10_000) {
      closed ??= (async () => {
        stopping = true;
        await closeServer(receiver.server);
        limiter.close();
        await pipeline.close(timeoutMs);
        await wal.close();
        await closeServer(api);
        await storage.close();
      })();
      return closed;
    },
  };
}
