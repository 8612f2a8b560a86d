// Accepted data flows: decode → write-ahead log (fsync, group commit) → ack; in parallel the
// rows wait in an ordered in-memory queue that one writer loop drains into ClickHouse in
// batches (by row count or age). A failed insert is retried with backoff, same batch, same
// order, while the log keeps accepting up to its size limit. Above the memory budget new
// entries keep only their place in the queue and are read back from the log when their turn
// comes, so the memory queue never bounds what the log may hold.

import { decodeLogsJson, decodeTracesJson } from '../receivers/otlp/json.js';
import { writeLogRow, writeSpanRow, type Decoded, type LogRecord, type SpanRecord } from '../receivers/otlp/model.js';
import { decodeLogsProto, decodeTracesProto } from '../receivers/otlp/protobuf.js';
import { ServiceGraph, writeEdgeRow } from '../servicegraph/store.js';
import { RowBinaryWriter } from '../storage/clickhouse/rowbinary.js';
import { TABLE_COLUMNS, type RowWriter, type TableName } from '../storage/clickhouse/writer.js';
import type { CollectorMetrics, Signal } from '../telemetry.js';
import type { WalLocation, WalRecord, WriteAheadLog } from './wal.js';

export type Encoding = 'protobuf' | 'json';

// WAL record kinds: the signal and the body's encoding, so replay decodes exactly as ingest did.
const KIND = { 'traces/protobuf': 1, 'traces/json': 2, 'logs/protobuf': 3, 'logs/json': 4 } as const;

export interface PipelineOptions {
  batchMaxRows: number;
  batchMaxDelayMs: number;
  /** Serialized rows held in memory at most; beyond it entries are re-read from the log. */
  memoryMaxBytes: number;
  serviceGraph: { maxItems: number; ttlMs: number };
  maxEdgesBuffered: number;
  /** The writer starts once this settles (schema migrated). */
  storageReady: Promise<void>;
}

export interface AcceptResult {
  accepted: number;
  rejected: number;
  reasons: string[];
  /** Settles once the data is durable (fsync'ed in the log). */
  durable: Promise<unknown>;
}

interface Batch {
  /** Queue index one past the batch's last entry. */
  end: number;
  bodies: Record<TableName, Buffer[]>;
  counts: Record<TableName, number>;
  memory: number;
  done: Set<TableName>;
}

const TABLES: readonly TableName[] = ['otel_traces', 'otel_logs', 'otel_service_graph_edges'];

/** ClickHouse refused the data itself (not the connection, not capacity). */
function isDataError(err: unknown): boolean {
  const text = `${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`;
  return /CANNOT_PARSE|INCORRECT_DATA|TOO_LARGE_STRING_SIZE|TOO_LARGE_ARRAY_SIZE|Cannot parse/.test(text);
}

interface Entry {
  seq: number;
  kind: number;
  table: TableName;
  count: number;
  /** RowBinary rows, or undefined when spilled to the log only. */
  rows: Buffer | undefined;
  loc: Promise<WalLocation> | undefined;
  payload: Buffer | undefined;
}

function decode(kind: number, body: Buffer): Decoded<SpanRecord> | Decoded<LogRecord> {
  switch (kind) {
    case KIND['traces/protobuf']:
      return decodeTracesProto(body);
    case KIND['traces/json']:
      return decodeTracesJson(body);
    case KIND['logs/protobuf']:
      return decodeLogsProto(body);
    default:
      return decodeLogsJson(body);
  }
}

const isTraces = (kind: number): boolean => kind === KIND['traces/protobuf'] || kind === KIND['traces/json'];

// One encoder for every entry: each entry's rows are a view of its slab, never copied.
const rowWriter = new RowBinaryWriter();

function serialize(kind: number, items: readonly (SpanRecord | LogRecord)[]): Buffer {
  if (isTraces(kind)) for (const s of items as readonly SpanRecord[]) writeSpanRow(rowWriter, s);
  else for (const l of items as readonly LogRecord[]) writeLogRow(rowWriter, l);
  return rowWriter.take();
}

export class Pipeline {
  readonly #writer: RowWriter;
  readonly #wal: WriteAheadLog;
  readonly #opts: PipelineOptions;
  readonly #metrics: CollectorMetrics;
  readonly #graph: ServiceGraph;
  #queue: Entry[] = [];
  #head = 0;
  #queuedItems = 0;
  #memoryBytes = 0;
  /** Edges derived since the last batch, as RowBinary rows. */
  readonly #edges = new RowBinaryWriter(1 << 20);
  #edgeCount = 0;
  #wake: (() => void) | undefined;
  #running = true;
  #loop: Promise<void>;
  #sweep: NodeJS.Timeout;
  #storageHealthy = true;
  #lastStoredAt = 0;
  #giveUp = false;
  #schemaReady = false;
  #stop!: () => void;
  readonly #stopped = new Promise<void>((resolve) => {
    this.#stop = resolve;
  });
  /** The batch being written; kept across retries so a retry repeats exactly it. */
  #batch: Batch | undefined;
  /** This many queue entries are inserted one per batch, without edges (isolating refused rows). */
  #isolateRemaining = 0;

  constructor(
    writer: RowWriter,
    wal: WriteAheadLog,
    opts: PipelineOptions,
    metrics: CollectorMetrics,
    replay: WalRecord[],
  ) {
    this.#writer = writer;
    this.#wal = wal;
    this.#opts = opts;
    this.#metrics = metrics;
    this.#graph = new ServiceGraph(opts.serviceGraph, {
      edge: (edge) => {
        if (this.#edgeCount >= opts.maxEdgesBuffered) {
          metrics.dropped.inc({ what: 'service_graph_edge' });
          return;
        }
        writeEdgeRow(this.#edges, edge);
        this.#edgeCount++;
      },
      unpaired: (kind) => metrics.graphUnpaired.inc({ kind }),
      dropped: () => metrics.graphDropped.inc(),
    });
    // Acknowledged but not stored before the last stop: queued again in order, and their spans
    // feed the service graph (its pairing state did not survive the restart).
    const now = Date.now();
    for (const r of replay) {
      const decoded = decode(r.kind, r.payload);
      if (isTraces(r.kind)) this.#graph.observe(decoded.items as SpanRecord[], now);
      this.#enqueue(r.seq, r.kind, decoded.items, undefined, r.payload);
    }
    metrics.buffered.set(wal.bytes);
    this.#sweep = setInterval(
      () => this.#graph.expire(Date.now()),
      Math.max(50, Math.min(1000, opts.serviceGraph.ttlMs / 2)),
    );
    this.#sweep.unref();
    this.#loop = this.#run();
  }

  /** Storage accepted the last batch (or nothing has failed yet). */
  get storageHealthy(): boolean {
    return this.#storageHealthy;
  }

  get queuedItems(): number {
    return this.#queuedItems;
  }

  /**
   * Decodes and accepts one OTLP body. Throws OtlpDecodeError (400) for undecodable bodies and
   * CollectorOverloadedError (503) when the log is full; nothing is kept in either case.
   */
  accept(signal: Signal, encoding: Encoding, body: Buffer): AcceptResult {
    const kind = KIND[`${signal}/${encoding}`];
    const decoded = decode(kind, body);
    const n = decoded.items.length;
    this.#metrics.received.inc({ signal }, n + decoded.rejected);
    if (decoded.rejected > 0) this.#metrics.refused.inc({ signal, reason: 'invalid' }, decoded.rejected);
    if (n === 0)
      return { accepted: 0, rejected: decoded.rejected, reasons: decoded.reasons, durable: Promise.resolve() };
    let append;
    try {
      append = this.#wal.append(kind, body);
    } catch (err) {
      this.#metrics.refused.inc({ signal, reason: 'overload' }, n);
      throw err;
    }
    this.#metrics.buffered.set(this.#wal.bytes);
    if (isTraces(kind)) this.#graph.observe(decoded.items as SpanRecord[], Date.now());
    this.#enqueue(append.seq, kind, decoded.items, append.durable, undefined);
    return { accepted: n, rejected: decoded.rejected, reasons: decoded.reasons, durable: append.durable };
  }

  #enqueue(
    seq: number,
    kind: number,
    items: readonly (SpanRecord | LogRecord)[],
    loc: Promise<WalLocation> | undefined,
    payload: Buffer | undefined,
  ): void {
    const table: TableName = isTraces(kind) ? 'otel_traces' : 'otel_logs';
    let rows: Buffer | undefined;
    if (this.#memoryBytes < this.#opts.memoryMaxBytes) {
      rows = serialize(kind, items);
      this.#memoryBytes += rows.length;
    }
    if (rows === undefined && loc !== undefined) {
      // Spilled: keep the place in line only. A rejection is handled by the request path.
      loc.catch(() => undefined);
    }
    this.#queue.push({
      seq,
      kind,
      table,
      count: items.length,
      rows,
      loc,
      payload: rows === undefined ? payload : undefined,
    });
    this.#queuedItems += items.length;
    this.#metrics.queued.set(this.#queuedItems);
    if (this.#wake !== undefined) {
      const w = this.#wake;
      this.#wake = undefined;
      w();
    }
  }

  async #rowsOf(e: Entry): Promise<Buffer> {
    if (e.rows !== undefined) return e.rows;
    let payload = e.payload;
    if (payload === undefined) payload = this.#wal.read(await e.loc!);
    return serialize(e.kind, decode(e.kind, payload).items);
  }

  async #run(): Promise<void> {
    const ready = await Promise.race([
      this.#opts.storageReady.then(
        () => true,
        () => false,
      ),
      this.#stopped.then(() => false),
    ]);
    // Closed before the schema could be applied: everything stays in the log for next time.
    if (!ready) return;
    this.#schemaReady = true;
    let backoff = 100;
    while (this.#running || this.#pendingWork()) {
      if (!this.#pendingWork()) {
        if (!this.#running) break;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          const t = setTimeout(resolve, this.#opts.batchMaxDelayMs);
          t.unref();
        });
        continue;
      }
      // Give a young, small queue time to fill up into a bigger batch.
      if (
        this.#running &&
        this.#batch === undefined &&
        this.#queuedItems < this.#opts.batchMaxRows &&
        Date.now() - this.#lastStoredAt < this.#opts.batchMaxDelayMs
      ) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#opts.batchMaxDelayMs - (Date.now() - this.#lastStoredAt));
          t.unref();
        });
      }
      const batch = this.#batch ?? (await this.#buildBatch());
      if (batch === undefined) continue;
      this.#batch = batch;
      const started = process.hrtime.bigint();
      try {
        // Tables already written in an earlier attempt of this batch are not written again.
        for (const table of TABLES) {
          if (batch.done.has(table)) continue;
          await this.#writer.insert(table, batch.bodies[table]);
          batch.done.add(table);
        }
      } catch (err) {
        this.#metrics.storageErrors.inc();
        if (isDataError(err)) {
          // ClickHouse refused the rows themselves: retrying cannot help. Retry the batch
          // entry by entry to find the culprit; a single entry it still refuses is set aside.
          const entries = batch.end - this.#head;
          if (entries > 1 || (entries === 1 && batch.counts.otel_service_graph_edges > 0)) {
            this.#isolateRemaining = entries;
            this.#requeueEdges(batch);
            this.#batch = undefined;
          } else {
            this.#setAside(batch, err);
          }
          continue;
        }
        if (this.#storageHealthy)
          process.emitWarning(`collector: ClickHouse insert failed, retrying in order: ${(err as Error).message}`);
        this.#storageHealthy = false;
        await Promise.race([new Promise((r) => setTimeout(r, backoff).unref()), this.#stopped]);
        backoff = Math.min(backoff * 2, 5000);
        if (!this.#running && this.#giveUp) break;
        continue;
      }
      this.#batch = undefined;
      backoff = 100;
      this.#storageHealthy = true;
      this.#lastStoredAt = Date.now();
      this.#metrics.batchLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const table of TABLES) if (batch.counts[table] > 0) this.#metrics.stored.inc({ table }, batch.counts[table]);
      this.#release(this.#head, batch.end, batch.memory);
    }
  }

  /**
   * Takes the next batch off the queue: entries up to batchMaxRows, plus every service-graph
   * edge derived so far (edges are derived data, inserted after the spans they came from).
   */
  async #buildBatch(): Promise<Batch | undefined> {
    const end = this.#batchEnd();
    const bodies: Record<TableName, Buffer[]> = { otel_traces: [], otel_logs: [], otel_service_graph_edges: [] };
    const counts: Record<TableName, number> = { otel_traces: 0, otel_logs: 0, otel_service_graph_edges: 0 };
    let memory = 0;
    try {
      for (let i = this.#head; i < end; i++) {
        const e = this.#queue[i]!;
        bodies[e.table].push(await this.#rowsOf(e));
        counts[e.table] += e.count;
        if (e.rows !== undefined) memory += e.rows.length;
      }
    } catch (err) {
      // A spilled record whose append failed was never acknowledged: skip it.
      process.emitWarning(`collector: skipping unreadable queued record: ${(err as Error).message}`);
      this.#release(this.#head, this.#head + 1, 0);
      return undefined;
    }
    if (this.#isolateRemaining === 0 && this.#edgeCount > 0) {
      bodies.otel_service_graph_edges.push(this.#edges.take());
      counts.otel_service_graph_edges = this.#edgeCount;
      this.#edgeCount = 0;
    }
    return { end, bodies, counts, memory, done: new Set() };
  }

  /** Edges of a batch being split go back in front of the newer ones, in their own batch. */
  #requeueEdges(batch: Batch): void {
    const edges = batch.bodies.otel_service_graph_edges;
    if (edges.length === 0) return;
    const newer = this.#edges.take();
    for (const b of edges) this.#edges.bytes(b);
    this.#edges.bytes(newer);
    this.#edgeCount += batch.counts.otel_service_graph_edges;
  }

  /**
   * Keeps rows ClickHouse refuses in `<data>/wal/rejected/`, one file per record and table in
   * RowBinaryWithNames (re-insertable as is: `INSERT INTO <table> FROM INFILE '<file>' FORMAT
   * RowBinaryWithNames`), so nothing acknowledged is lost.
   */
  #setAside(batch: Batch, err: unknown): void {
    const name = batch.end > this.#head ? String(this.#queue[this.#head]!.seq) : `edges-${Date.now()}`;
    for (const table of TABLES) {
      if (batch.done.has(table) || batch.bodies[table].length === 0) continue;
      const header = RowBinaryWriter.header(TABLE_COLUMNS[table]);
      const file = this.#wal.setAside(`${name}-${table}.RowBinaryWithNames`, [header, ...batch.bodies[table]]);
      this.#metrics.dropped.inc({ what: 'rejected_by_clickhouse' }, batch.counts[table]);
      process.emitWarning(
        `collector: ClickHouse refused ${batch.counts[table]} rows of ${table}; kept in ${file}: ${(err as Error).message}`,
      );
    }
    this.#batch = undefined;
    this.#release(this.#head, batch.end, batch.memory);
  }

  #batchEnd(): number {
    if (this.#isolateRemaining > 0) return Math.min(this.#head + 1, this.#queue.length);
    let rows = 0;
    let i = this.#head;
    while (i < this.#queue.length && (rows === 0 || rows + this.#queue[i]!.count <= this.#opts.batchMaxRows)) {
      rows += this.#queue[i]!.count;
      i++;
    }
    return i;
  }

  #release(from: number, to: number, memory: number): void {
    let items = 0;
    let lastSeq = 0;
    for (let i = from; i < to; i++) {
      items += this.#queue[i]!.count;
      lastSeq = this.#queue[i]!.seq;
    }
    this.#head = to;
    this.#queuedItems -= items;
    this.#memoryBytes -= memory;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (lastSeq > 0) this.#wal.markStored(lastSeq);
    if (this.#isolateRemaining > 0) this.#isolateRemaining = Math.max(0, this.#isolateRemaining - (to - from));
    this.#metrics.queued.set(this.#queuedItems);
    this.#metrics.buffered.set(this.#wal.bytes);
  }

  #pendingWork(): boolean {
    return this.#batch !== undefined || this.#head < this.#queue.length || this.#edgeCount > 0;
  }

  /** Waits until everything queued so far is stored (tests, shutdown). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#pendingWork()) {
      if (Date.now() > deadline) return false;
      if (this.#wake !== undefined) {
        const w = this.#wake;
        this.#wake = undefined;
        w();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  /** Emits edges for every unpaired span now (virtual nodes) instead of waiting for the TTL. */
  flushServiceGraph(): void {
    this.#graph.expire(Date.now(), true);
  }

  /**
   * Stops accepting, tries to store what is queued for up to `timeoutMs`, then stops the
   * writer. Anything not stored stays in the log and is replayed at the next start.
   */
  async close(timeoutMs: number): Promise<void> {
    clearInterval(this.#sweep);
    // Waiting on storage that is down or not migrated yet gains nothing: the log keeps it all.
    if (this.#schemaReady && this.#storageHealthy) await this.drain(timeoutMs);
    this.#running = false;
    this.#stop();
    this.#giveUp = true;
    if (this.#wake !== undefined) this.#wake();
    await this.#loop;
  }
}
