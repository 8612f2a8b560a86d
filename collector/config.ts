// Collector options, validated at the edge with a strict schema: an unknown or invalid option
// is reported with its path, all of them at once, before anything starts.

import { z } from 'zod';
import { CollectorConfigError } from './errors.js';

const hostPort = z
  .string()
  .regex(/^[^:\s]+:\d{1,5}$/, 'expected host:port')
  .refine((v) => !/:\d+$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be ≤ 65535');

const positiveInt = z.number().int().positive();

export const collectorOptionsSchema = z.strictObject({
  /** OTLP/HTTP listen address (port 0 picks a free port). */
  otlpHttp: hostPort.default('127.0.0.1:4318'),
  /** Query API, /metrics, /healthz, /readyz listen address. */
  http: hostPort.default('127.0.0.1:16686'),
  /** Write-ahead log and embedded ClickHouse data live here. */
  dataDir: z.string().min(1).default('./data'),
  /** A ClickHouse server instead of embedded chDB. */
  clickhouse: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }),
      username: z.string().default('default'),
      password: z.string().default(''),
      database: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a plain database name')
        .default('default'),
    })
    .optional(),
  /** Rows older than this are dropped by ClickHouse's TTL; 0 keeps them for good (the exporter's default). */
  ttlDays: z.number().int().min(0).max(3650).default(7),
  /**
   * Items older than this many days are refused at decode; by default the TTL, or 30 days
   * without one. Every day an insert touches is a partition.
   */
  maxItemAgeDays: z.number().int().min(1).max(3650).optional(),
  /**
   * The collector's memory budget, in MiB, as the OpenTelemetry Collector's memory_limiter:
   * requests are refused with 429 + Retry-After before it is reached. Embedded ClickHouse's
   * caches are capped inside it. Below 256 MiB the engine's share (half) cannot hold one
   * insert beside its merges.
   */
  memoryLimitMiB: z
    .number()
    .int()
    .min(256)
    .max(1 << 20)
    .default(512),
  /**
   * Embedded only: how many nice levels (0-19) chDB's threads, which store and merge, run below
   * the event loop, which every ack waits for (storage/clickhouse/engine-threads.ts); 0, the
   * default, leaves them at the process's priority. At 5 a contended core gives the event loop
   * about three times a chDB thread's share; an idle core still goes to chDB. Not on by default:
   * in a quiet paired run of bench:collector (sidecar spans) 5 against 0 changed neither ack
   * p99 (63 and 55 ms against 65) nor CPU per span beyond the run-to-run swing, and on a loaded
   * host chDB fell behind sooner, refusing more requests with the storage-backlog 429.
   */
  embeddedThreadNice: z.number().int().min(0).max(19).default(0),
  maxRequestBytes: positiveInt.default(16 * 1024 * 1024),
  maxConcurrentRequests: positiveInt.default(256),
  /** Body bytes (compressed and decompressed) in flight at most; by default a quarter of the memory limit. */
  maxInflightBytes: positiveInt.optional(),
  retryAfterSeconds: positiveInt.default(2),
  walMaxBytes: positiveInt.default(1024 * 1024 * 1024),
  walSegmentBytes: positiveInt.default(64 * 1024 * 1024),
  // Below ClickHouse's input block size (max_insert_block_size, 1,048,449 rows), so one batch
  // is one block per partition: refused whole or stored whole.
  batchMaxRows: positiveInt.max(1_000_000).default(100_000),
  /**
   * A batch smaller than batchMaxRows (or its share of memory) waits for more entries while
   * its oldest entry, inserted now, would be stored sooner than this after it was accepted
   * (the last insert's duration taken as this one's): bigger parts cost chDB less CPU per span,
   * at insert and at every merge, within the time from ack to queryable.
   */
  batchMaxDelayMs: positiveInt.default(700),
  /**
   * Back-pressure on a store slower than ingest: with more than a batch queued behind the
   * insert, requests are refused (429 + Retry-After) while the oldest acknowledged data not
   * stored yet has waited longer than this. It bounds the time from ack to queryable (and the
   * rows held for it) without making batches smaller. Not applied while inserts fail: then
   * the write-ahead log is the buffer.
   */
  maxQueueDelayMs: positiveInt.default(1000),
  /** Rows queued in memory at most (beyond, re-read from the log); by default a quarter of the memory limit. */
  memoryMaxBytes: positiveInt.optional(),
  serviceGraph: z
    .strictObject({
      maxItems: positiveInt.default(100_000),
      ttlMs: positiveInt.default(2_000),
    })
    .default({ maxItems: 100_000, ttlMs: 2_000 }),
  maxEdgesBuffered: positiveInt.default(200_000),
});

export type CollectorOptions = z.input<typeof collectorOptionsSchema>;
export type CollectorConfig = z.output<typeof collectorOptionsSchema>;

export function parseCollectorOptions(input: unknown): CollectorConfig {
  const r = collectorOptionsSchema.safeParse(input ?? {});
  if (!r.success) {
    throw new CollectorConfigError(
      r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(options)'}: ${i.message}`),
    );
  }
  return r.data;
}
