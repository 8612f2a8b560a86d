// Accepted data flows: decode → write-ahead log (fsync, group commit) → ack; in parallel the
// rows wait in an ordered in-memory queue that one writer loop drains into ClickHouse in
// batches (by row count or age). Above the memory budget new entries keep only their place in
// the queue and are read back from the log when their turn comes.
//
// Exactly once: a batch is a run of durable log records [from, to]; its bounds are made
// durable (the log's checkpoint) before its first insert, and every insert of it carries the
// token epoch:from-to. A failed insert is retried with the same token; after a crash the
// first batch is formed again with the same bounds; ClickHouse drops whatever already
// arrived. Service-graph edges travel with the records whose spans produced them, so a
// replayed batch carries the same edges under the same token.
//
// Poison never blocks: a table's insert ClickHouse refuses as data (or has no memory for) is
// split, durably and deterministically, and a record still refused is set aside while the
// rest flows (table-insert.ts).

import { randomUUID } from 'node:crypto';
import { decodeLogsJson, decodeTracesJson } from '../receivers/otlp/json.js';
import {
  graphSpanOf,
  SPAN_KIND_SERVER,
  writeLogRow,
  type Decoded,
  type GraphSpan,
  type LogRecord,
  type SpanRecord,
} from '../receivers/otlp/model.js';
import { decodeLogsProto } from '../receivers/otlp/protobuf.js';
import { decodeTracesToColumns } from '../receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS, ServiceGraph, writeEdgeRow } from '../servicegraph/store.js';
import { RowBinaryWriter, SlabPool } from '../storage/clickhouse/rowbinary.js';
import { SpanColumns, SpanColumnsWriter, writeSpanColumns } from '../storage/clickhouse/span-columns.js';
import { isDataError, type Rows, type RowWriter, type TableName } from '../storage/clickhouse/writer.js';
import type { CollectorMetrics, Signal } from '../telemetry.js';
import { TableInserter, type Part } from './table-insert.js';
import { applyTimeWindow, spanWindow, type TimeWindow } from './time-window.js';
import type { BatchIntent, WalLocation, WalRecord, WriteAheadLog } from './wal.js';

export type Encoding = 'protobuf' | 'json';

// WAL record kinds: the signal and the body's encoding, so replay decodes exactly as ingest did.
const KIND = { 'traces/protobuf': 1, 'traces/json': 2, 'logs/protobuf': 3, 'logs/json': 4 } as const;

export interface PipelineOptions {
  batchMaxRows: number;
  /** Rows bytes per batch at most: what one insert asks of ClickHouse's memory. */
  batchMaxBytes: number;
  /** A smaller batch waits while its oldest entry, inserted now, would be stored sooner than this after it was accepted. */
  batchMaxDelayMs: number;
  /** With more than a batch queued, new data waits while the oldest has waited longer than this. */
  maxQueueDelayMs: number;
  /** Serialized rows held in memory at most; beyond it entries are re-read from the log. */
  memoryMaxBytes: number;
  serviceGraph: { maxItems: number; ttlMs: number };
  maxEdgesBuffered: number;
  /** Items outside it are refused at decode (partial success). */
  timeWindow: TimeWindow;
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

type ItemTable = 'otel_traces' | 'otel_logs';

interface Entry {
  seq: number;
  kind: number;
  table: ItemTable;
  count: number;
  acceptedAt: number;
  /** Its rows (otel_traces: columns; otel_logs: RowBinary), or undefined when spilled to the log only (or released). */
  rows: Rows | undefined;
  /** Its rows' size, or its body's when spilled (what it adds to a batch). */
  size: number;
  /** The service-graph edges its spans produced, as RowBinary rows. */
  edges: Buffer | undefined;
  edgeCount: number;
  loc: Promise<WalLocation> | undefined;
  /** In the log (fsync'ed): only durable records are inserted, so nothing unacked is stored. */
  durable: boolean;
  /** The append failed: never acknowledged, never inserted. */
  failed: boolean;
}

interface Batch {
  intent: BatchIntent;
  token: string;
  entries: Entry[];
  /** Queue index one past the batch's last entry. */
  end: number;
  /** Tables whose insert completed (a retry does not repeat them; the token would drop them anyway). */
  done: Set<TableName>;
}

/** Table order within a batch: spans first, then what is derived from them, then logs. */
const TABLES: readonly TableName[] = ['otel_traces', 'otel_service_graph_edges', 'otel_logs'];

/** What a record decodes to: its rows and what the service graph reads. */
interface DecodedRows {
  count: number;
  /** Its rows, unless they were not wanted (the queue is over its memory budget). */
  rows: Rows | undefined;
  /** Spans for the service graph (traces only). */
  graph: readonly GraphSpan[] | undefined;
  rejected: number;
  reasons: string[];
}

/** The object decoders; protobuf traces go straight to columns (Pipeline.#decodeRows). */
function decode(kind: number, body: Buffer): Decoded<SpanRecord> | Decoded<LogRecord> {
  switch (kind) {
    case KIND['traces/json']:
      return decodeTracesJson(body);
    case KIND['logs/protobuf']:
      return decodeLogsProto(body);
    default:
      return decodeLogsJson(body);
  }
}

const isTraces = (kind: number): boolean => kind === KIND['traces/protobuf'] || kind === KIND['traces/json'];

// One encoder per table for every entry: each entry's rows are views of the encoder's slabs,
// never copied. Spans are written as columns (one Native block per insert), logs as rows.
const rowWriter = new RowBinaryWriter();
/**
 * The span columns' and edges' slabs, used again once the batch that read them is stored
 * (SlabPool). Bounded at about one batch of sidecar-shaped spans' slabs (~13 MiB per 30k).
 */
const slabs = new SlabPool(16 << 20);
const spanColumns = new SpanColumnsWriter(undefined, slabs);

function serialize(kind: number, items: readonly (SpanRecord | LogRecord)[]): Rows {
  if (isTraces(kind)) {
    for (const s of items as readonly SpanRecord[]) writeSpanColumns(spanColumns, s);
    return spanColumns.take();
  }
  for (const l of items as readonly LogRecord[]) writeLogRow(rowWriter, l);
  return rowWriter.take();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export class Pipeline {
  readonly #writer: RowWriter;
  readonly #wal: WriteAheadLog;
  readonly #opts: PipelineOptions;
  readonly #metrics: CollectorMetrics;
  readonly #graph: ServiceGraph;
  readonly #tables: TableInserter;
  #queue: (Entry | undefined)[] = [];
  #head = 0;
  #queuedItems = 0;
  /** What the queued entries add to batches (Entry.size): rows, or bodies when spilled. */
  #queuedBytes = 0;
  #memoryBytes = 0;
  /** Edges the service graph emits, taken per entry right after its spans are observed. */
  readonly #edges = new RowBinaryWriter(1 << 20, slabs);
  #edgeCount = 0;
  /** Queued trace entries whose spans the service graph has not seen yet, oldest first. */
  #unobserved: { e: Entry; spans: readonly GraphSpan[] }[] = [];
  #observeQueued = false;
  /** Edges emitted by expiry (virtual nodes), not tied to a record: inserted on their own. */
  #stray: Buffer[] = [];
  #strayCount = 0;
  /** Stray edges being inserted (taken off #stray, not yet stored). */
  #strayInFlight = 0;
  #wake: (() => void) | undefined;
  #running = true;
  #loop: Promise<void>;
  #sweep: NodeJS.Timeout;
  #storageHealthy = true;
  /** How long the last batch took to insert (what the next one's wait leaves room for). */
  #lastInsertMs = 0;
  /** drain() calls in progress. */
  #draining = 0;
  #giveUp = false;
  #schemaReady = false;
  #stop!: () => void;
  readonly #stopped = new Promise<void>((resolve) => {
    this.#stop = resolve;
  });
  /** The batch being written; kept across retries so a retry repeats exactly it. */
  #batch: Batch | undefined;
  /** The batch the last run was inserting: the first batch now has exactly its bounds. */
  #replayIntent: BatchIntent | undefined;

  constructor(
    writer: RowWriter,
    wal: WriteAheadLog,
    opts: PipelineOptions,
    metrics: CollectorMetrics,
    replay: WalRecord[],
    inflight: BatchIntent | undefined,
  ) {
    this.#writer = writer;
    this.#wal = wal;
    this.#opts = opts;
    this.#metrics = metrics;
    this.#replayIntent = inflight;
    this.#tables = new TableInserter(writer, wal, metrics);
    this.#graph = new ServiceGraph(opts.serviceGraph, {
      edge: (edge) => {
        writeEdgeRow(this.#edges, edge);
        this.#edgeCount++;
      },
      unpaired: (kind) => metrics.graphUnpaired.inc({ kind }),
      dropped: () => metrics.graphDropped.inc(),
    });
    // Acknowledged but not stored before the last stop: queued again in order, decoded with
    // the time rules of their acceptance, and their spans feed the service graph (its pairing
    // state did not survive the restart).
    for (const r of replay) {
      this.#enqueue(
        r.seq,
        r.kind,
        r.acceptedAt,
        this.#decodeRows(r.kind, r.payload, r.acceptedAt),
        r.loc,
        r.loc.length,
      );
    }
    metrics.buffered.set(wal.bytes);
    this.#sweep = setInterval(
      () => {
        this.#graph.expire(Date.now());
        this.#takeStrayEdges();
        slabs.trim();
      },
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
   * Why new data must wait for the store, or undefined. Refused only with more than a full
   * batch queued (the next insert stays as big as it would be) and while inserts succeed (an
   * outage is what the log buffers): the oldest acknowledged entry not stored yet has waited
   * longer than maxQueueDelayMs, and whatever is accepted now would be queryable later still.
   */
  backlogRefusal(now = Date.now()): string | undefined {
    if (!this.#storageHealthy || !this.#schemaReady) return undefined;
    if (this.#queuedItems <= this.#opts.batchMaxRows && this.#queuedBytes <= this.#opts.batchMaxBytes) return undefined;
    const head = this.#queue[this.#head];
    if (head === undefined) return undefined;
    const waited = now - head.acceptedAt;
    if (waited <= this.#opts.maxQueueDelayMs) return undefined;
    return `storage backlog: accepted data has waited ${waited} ms to be stored (at most ${this.#opts.maxQueueDelayMs} ms)`;
  }

  /** How long a client refused for the backlog should wait: about as long as the backlog is allowed to be. */
  get backlogRetryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.#opts.maxQueueDelayMs / 1000));
  }

  /** Bytes of rows and edges the queue holds in memory. */
  get memoryBytes(): number {
    return this.#memoryBytes;
  }

  /**
   * Decodes one record with the time rules of its acceptance. Its rows are kept while the
   * queue is within its memory budget (or when `keepRows`), else re-read when their turn comes.
   */
  #decodeRows(kind: number, body: Buffer, acceptedAt: number, keepRows = false): DecodedRows {
    const keep = keepRows || this.#memoryBytes < this.#opts.memoryMaxBytes;
    const spilled = (n: number): void => {
      if (!keep && n > 0) this.#metrics.spilled.inc(n);
    };
    const window = this.#opts.timeWindow;
    if (kind === KIND['traces/protobuf']) {
      const d = decodeTracesToColumns(body, spanColumns, {
        graphKeys: GRAPH_ATTRIBUTE_KEYS,
        ...spanWindow(window, acceptedAt),
      });
      const rows = spanColumns.take();
      spilled(d.count);
      return {
        count: d.count,
        rows: keep ? rows : undefined,
        graph: d.graph,
        rejected: d.rejected,
        reasons: d.reasons,
      };
    }
    const traces = isTraces(kind);
    const raw = decode(kind, body);
    const { items, rejected, reasons } = traces
      ? applyTimeWindow(raw as Decoded<SpanRecord>, 'span', window, acceptedAt)
      : applyTimeWindow(raw as Decoded<LogRecord>, 'log record', window, acceptedAt);
    spilled(items.length);
    return {
      count: items.length,
      rows: keep ? serialize(kind, items) : undefined,
      // The kinds the graph pairs (SERVER and up), as the protobuf decoder hands them.
      graph: traces ? (items as SpanRecord[]).filter((s) => s.kind >= SPAN_KIND_SERVER).map(graphSpanOf) : undefined,
      rejected,
      reasons,
    };
  }

  /**
   * Decodes and accepts one OTLP body. Throws OtlpDecodeError (400) for undecodable bodies and
   * CollectorOverloadedError (503) when the log is full; nothing is kept in either case.
   */
  accept(signal: Signal, encoding: Encoding, body: Buffer): AcceptResult {
    const kind = KIND[`${signal}/${encoding}`];
    const acceptedAt = Date.now();
    const decoded = this.#decodeRows(kind, body, acceptedAt);
    const n = decoded.count;
    this.#metrics.received.inc({ signal }, n + decoded.rejected);
    if (decoded.rejected > 0) this.#metrics.refused.inc({ signal, reason: 'invalid' }, decoded.rejected);
    if (n === 0)
      return { accepted: 0, rejected: decoded.rejected, reasons: decoded.reasons, durable: Promise.resolve() };
    let append;
    try {
      append = this.#wal.append(kind, body, acceptedAt);
    } catch (err) {
      this.#metrics.refused.inc({ signal, reason: 'overload' }, n);
      throw err;
    }
    this.#metrics.buffered.set(this.#wal.bytes);
    const appended = performance.now();
    append.durable.then(
      () => this.#metrics.ackDurableWait.observe((performance.now() - appended) / 1000),
      () => undefined,
    );
    this.#enqueue(append.seq, kind, acceptedAt, decoded, append.durable, body.length);
    return { accepted: n, rejected: decoded.rejected, reasons: decoded.reasons, durable: append.durable };
  }

  #enqueue(
    seq: number,
    kind: number,
    acceptedAt: number,
    decoded: DecodedRows,
    /** Where it is in the log: durable already (replayed), or once the append's fsync settles. */
    loc: Promise<WalLocation> | WalLocation,
    bodyBytes: number,
  ): void {
    const traces = isTraces(kind);
    const rows = decoded.rows;
    this.#memoryBytes += rows?.length ?? 0;
    const e: Entry = {
      seq,
      kind,
      table: traces ? 'otel_traces' : 'otel_logs',
      count: decoded.count,
      acceptedAt,
      rows,
      edges: undefined,
      edgeCount: 0,
      size: rows?.length ?? bodyBytes,
      loc: loc instanceof Promise ? loc : Promise.resolve(loc),
      durable: !(loc instanceof Promise),
      failed: false,
    };
    if (loc instanceof Promise)
      loc.then(
        () => {
          e.durable = true;
          this.#poke();
        },
        () => {
          // Never acknowledged: the writer skips it. The request path reports the failure.
          e.failed = true;
          this.#poke();
        },
      );
    if (traces && decoded.graph !== undefined && decoded.graph.length > 0) {
      // Paired after the log's write is under way (the flush was queued first by the append),
      // not before: the pairing is a good part of the event loop's work per span, and the ack
      // waits for the fsync, not for the service graph.
      this.#unobserved.push({ e, spans: decoded.graph });
      if (!this.#observeQueued) {
        this.#observeQueued = true;
        setImmediate(() => this.#observePending());
      }
    }
    this.#queue.push(e);
    this.#queuedItems += decoded.count;
    this.#queuedBytes += e.size;
    this.#metrics.queued.set(this.#queuedItems);
    this.#poke();
  }

  /** The service graph sees the spans of queued entries in order; each entry keeps its edges. */
  #observePending(): void {
    this.#observeQueued = false;
    if (this.#unobserved.length === 0) return;
    const pending = this.#unobserved;
    this.#unobserved = [];
    // Edges the expiry sweep left in the buffer are not these entries'.
    this.#takeStrayEdges();
    const now = Date.now();
    for (const { e, spans } of pending) {
      this.#graph.observe(spans, now);
      if (this.#edgeCount === 0) continue;
      e.edges = this.#edges.take();
      e.edgeCount = this.#edgeCount;
      this.#edgeCount = 0;
      this.#memoryBytes += e.edges.length;
    }
  }

  #poke(): void {
    if (this.#wake !== undefined) {
      const w = this.#wake;
      this.#wake = undefined;
      w();
    }
  }

  #takeStrayEdges(): void {
    if (this.#edgeCount === 0) return;
    if (this.#strayCount + this.#edgeCount > this.#opts.maxEdgesBuffered) {
      this.#metrics.dropped.inc({ what: 'service_graph_edge' }, this.#edgeCount);
      this.#edges.take();
    } else {
      this.#stray.push(this.#edges.take());
      this.#strayCount += this.#edgeCount;
    }
    this.#edgeCount = 0;
  }

  async #rowsOf(e: Entry): Promise<Rows> {
    if (e.rows !== undefined) return e.rows;
    const payload = this.#wal.read(await e.loc!);
    const rows = this.#decodeRows(e.kind, payload, e.acceptedAt, true).rows!;
    // A batch of spilled entries is read back and decoded entry by entry; without a turn of
    // the event loop between them, a 100k-span batch held every request (and its ack) for
    // hundreds of milliseconds.
    await yieldToEventLoop();
    return rows;
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
          setTimeout(resolve, this.#opts.batchMaxDelayMs).unref();
        });
        continue;
      }
      // Give a small queue time to fill up into a bigger batch (bigger parts cost chDB less CPU
      // per span, at insert and at every merge): until its oldest entry, inserted now, would be
      // stored about batchMaxDelayMs after it was accepted (the last insert's duration taken as
      // what this one will take), or it holds a full batch (by rows or by bytes: the store must
      // not idle with a batch waiting). Each entry queued meanwhile wakes the writer to look
      // again. Counted from the oldest entry, not from the last insert: a backlog that an
      // insert left behind is already old, and a replayed entry goes at once.
      const head = this.#queue[this.#head];
      const young =
        head === undefined ? 0 : this.#opts.batchMaxDelayMs - this.#lastInsertMs - (Date.now() - head.acceptedAt);
      if (
        this.#running &&
        this.#draining === 0 &&
        this.#batch === undefined &&
        this.#queuedItems < this.#opts.batchMaxRows &&
        this.#queuedBytes < this.#opts.batchMaxBytes &&
        young > 0
      ) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, young);
          timer.unref();
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        continue;
      }
      const started = process.hrtime.bigint();
      try {
        if (this.#batch !== undefined || this.#head < this.#queue.length) {
          const batch = this.#batch ?? (await this.#buildBatch());
          if (batch !== undefined) {
            this.#batch = batch;
            await this.#insertBatch(batch);
            this.#batch = undefined;
            this.#release(batch);
          }
        }
        if (this.#strayCount > 0) await this.#insertStrayEdges();
      } catch (err) {
        this.#metrics.storageErrors.inc();
        if (this.#storageHealthy)
          process.emitWarning(`collector: ClickHouse insert failed, retrying in order: ${(err as Error).message}`);
        this.#storageHealthy = false;
        await Promise.race([sleep(backoff), this.#stopped]);
        backoff = Math.min(backoff * 2, 5000);
        if (!this.#running && this.#giveUp) break;
        continue;
      }
      backoff = 100;
      this.#storageHealthy = true;
      const took = Number(process.hrtime.bigint() - started) / 1e6;
      this.#lastInsertMs = took;
      this.#metrics.batchLatency.observe(took / 1000);
    }
  }

  /**
   * Takes the next batch off the queue: durable entries up to batchMaxRows (or, first after a
   * restart, exactly the bounds the last run was inserting). Waits for the head's fsync.
   */
  async #buildBatch(): Promise<Batch | undefined> {
    // A batch carries its entries' edges: every queued entry has been through the graph first.
    this.#observePending();
    const forced = this.#replayIntent;
    this.#replayIntent = undefined;
    if (forced !== undefined && this.#queue[this.#head]?.seq !== forced.from) {
      // The batch's first record is gone from the log: the log only releases records once
      // their whole batch is stored, so all of it was. (A split batch's groups could not be
      // formed again the same without it.)
      this.#skipStored(forced.to);
      return undefined;
    }
    const entries: Entry[] = [];
    let rows = 0;
    let bytes = 0;
    let i = this.#head;
    for (; i < this.#queue.length; i++) {
      const e = this.#queue[i]!;
      const size = e.size;
      if (
        forced !== undefined
          ? e.seq > forced.to
          : rows > 0 && (rows + e.count > this.#opts.batchMaxRows || bytes + size > this.#opts.batchMaxBytes)
      )
        break;
      if (!e.durable && !e.failed) {
        if (entries.length > 0 || forced !== undefined) break;
        // The head is being fsync'ed: its turn comes when that settles.
        await e.loc!.catch(() => undefined);
        // Entries accepted meanwhile may join the batch: their edges first.
        this.#observePending();
      }
      if (e.failed) {
        if (entries.length > 0) break;
        this.#dropFailed(i);
        continue;
      }
      entries.push(e);
      rows += e.count;
      bytes += size;
    }
    if (entries.length === 0) return undefined;
    const intent = forced ?? { from: entries[0]!.seq, to: entries[entries.length - 1]!.seq };
    return { intent, token: `${this.#wal.epoch}:${intent.from}-${intent.to}`, entries, end: i, done: new Set() };
  }

  /** Replayed entries up to `to` that the last run had stored already. */
  #skipStored(to: number): void {
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.seq <= to) {
      const e = this.#queue[this.#head]!;
      this.#queuedItems -= e.count;
      this.#queuedBytes -= e.size;
      this.#memoryBytes -= (e.rows?.length ?? 0) + (e.edges?.length ?? 0);
      this.#queue[this.#head++] = undefined;
    }
    this.#wal.markStored(to);
    this.#metrics.queued.set(this.#queuedItems);
  }

  /** An entry at the head whose append failed: it was never acknowledged. */
  #dropFailed(index: number): void {
    const e = this.#queue[index]!;
    this.#head = index + 1;
    this.#queuedItems -= e.count;
    this.#queuedBytes -= e.size;
    this.#memoryBytes -= (e.rows?.length ?? 0) + (e.edges?.length ?? 0);
    this.#queue[index] = undefined;
  }

  async #insertBatch(batch: Batch): Promise<void> {
    // Durable bounds first: whatever arrives in ClickHouse from here on can be recognised.
    if (batch.done.size === 0) await this.#wal.commitBatch(batch.intent);
    for (const table of TABLES) {
      if (batch.done.has(table)) continue;
      const parts = await this.#partsOf(batch, table);
      if (parts.length > 0) await this.#tables.insert(batch, table, parts);
      batch.done.add(table);
    }
  }

  async #partsOf(batch: Batch, table: TableName): Promise<Part[]> {
    const parts: Part[] = [];
    for (const e of batch.entries) {
      if (table === 'otel_service_graph_edges') {
        if (e.edges !== undefined) parts.push({ seq: e.seq, rows: e.edges, count: e.edgeCount });
      } else if (e.table === table) {
        parts.push({ seq: e.seq, rows: await this.#rowsOf(e), count: e.count });
      }
    }
    return parts;
  }

  async #insertStrayEdges(): Promise<void> {
    const chunks = this.#stray;
    const count = this.#strayCount;
    this.#stray = [];
    this.#strayCount = 0;
    this.#strayInFlight = count;
    // Derived from in-memory pairing state, never replayed: a fresh identity per insert.
    try {
      await this.#writer.insert('otel_service_graph_edges', chunks, `${this.#wal.epoch}:edges:${randomUUID()}`);
      this.#metrics.stored.inc({ table: 'otel_service_graph_edges' }, count);
    } catch (err) {
      if (isDataError(err)) {
        this.#tables.setAside(`edges-${Date.now()}`, 'otel_service_graph_edges', chunks, count, err);
        return;
      }
      // Back in front of newer ones, for the retry.
      this.#stray = chunks.concat(this.#stray);
      this.#strayCount += count;
      throw err;
    } finally {
      this.#strayInFlight = 0;
    }
  }

  /** The batch is stored: its entries' memory goes at once, its log records are released. */
  #release(batch: Batch): void {
    let items = 0;
    let edges = 0;
    for (const e of batch.entries) {
      this.#queuedBytes -= e.size;
      this.#memoryBytes -= (e.rows?.length ?? 0) + (e.edges?.length ?? 0);
      // Stored: their slabs may be written again.
      if (e.rows instanceof SpanColumns) e.rows.release();
      if (e.edges !== undefined) slabs.release(e.edges);
      e.rows = undefined;
      e.edges = undefined;
      e.loc = undefined;
      this.#metrics.stored.inc({ table: e.table }, e.count);
      items += e.count;
      edges += e.edgeCount;
    }
    if (edges > 0) this.#metrics.stored.inc({ table: 'otel_service_graph_edges' }, edges);
    for (let i = this.#head; i < batch.end; i++) this.#queue[i] = undefined;
    this.#head = batch.end;
    this.#queuedItems -= items;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#wal.markStored(batch.intent.to);
    this.#metrics.queued.set(this.#queuedItems);
    this.#metrics.buffered.set(this.#wal.bytes);
  }

  #pendingWork(): boolean {
    return (
      this.#batch !== undefined || this.#head < this.#queue.length || this.#strayCount > 0 || this.#strayInFlight > 0
    );
  }

  /** Waits until everything queued so far is stored (tests, shutdown). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.#takeStrayEdges();
    // Whoever drains wants it stored now: the writer does not wait for a small batch to grow.
    this.#draining++;
    try {
      while (this.#pendingWork()) {
        if (Date.now() > deadline) return false;
        this.#poke();
        await new Promise((r) => setTimeout(r, 10));
      }
      return true;
    } finally {
      this.#draining--;
    }
  }

  /** Emits edges for every unpaired span now (virtual nodes) instead of waiting for the TTL. */
  flushServiceGraph(): void {
    this.#observePending();
    this.#graph.expire(Date.now(), true);
    this.#takeStrayEdges();
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
    this.#poke();
    await this.#loop;
  }
}
