// `npm run bench:collector`: sustained OTLP/HTTP protobuf export into the collector (a child
// process `meshscope collector` on embedded chDB), batches of 512 spans encoded by the
// OpenTelemetry JS serializer, several concurrent clients, bounded in time. Prints JSON:
// spans/s stored, spans per CPU-second of the collector's own threads and of the whole process
// (embedded ClickHouse included), peak RSS, ack latency percentiles, time from ack to queryable,
// for two span shapes (BENCH_SHAPES=synthetic,sidecar), with the published anchors and goals.
// eventLoopRunQueueWaitMs: how long the event loop was ready but had no core, per request (schedstat).
// rssSampledMb.libchdbFilePagesAfterLoad: chDB's library pages resident after the run, and how much
// of them the run touched (the collector gives back what start touched once it has started).
// peakRssAtReadyMb: the resident set's peak once the collector is ready, before any load.
// Warm-up: BENCH_WARMUP_SECONDS (4; 0: none) of the same load first, drained (all stored), then
// the measured window, whose CPU, ack, stored and histogram figures are its own: a collector
// runs for days, and a cold start (V8's optimising compiler, inline caches not yet settled) is
// a fixed cost an 8 s window would otherwise spread over its spans. The warm-up's own figures
// are printed too (warmup: cold). Peak RSS and its sampled breakdown cover the whole run.
// ClickHouse's CPU: what embedded ClickHouse accounted to its statements and merges (the
// collector's meshscope_collector_clickhouse_cpu_seconds_total, from its system.events), and
// with it the collector's threads without ClickHouse's CPU on them (chDB runs part of each
// statement on the libuv thread that calls it): spansPerCpuSecondCollectorThreadsWithoutClickHouse,
// how accounting() splits it and what it still counts as ours. BENCH_PERF=1 adds perfEstimate:
// perf's samples of chDB's code on Node's threads in the window, all of it (an estimate).
// Knobs: BENCH_SECONDS (15), BENCH_CLIENTS (8), BENCH_RATE (spans/s offered at fixed times by
// the clients together, e.g. 5000 for the batching at a moderate rate; 0: closed loop, the default
// and the goals' setting), BENCH_SHAPES, BENCH_NODE_ARGS, BENCH_COLLECTOR_ARGS
// (extra `meshscope collector` flags, e.g. --memory-limit 256), BENCH_MICRO (1; 0 skips the
// decoder and insert-format sections, for quick interleaved A/B runs of the scenarios).
// Also measures the hand-written protobuf decoders (to objects then rows, and straight to rows,
// the ingest path) against protobufjs on the same body, for both shapes, and what one insert
// costs chDB stage by stage (parse and cast, part write, trace-id view, codecs, Native rows:
// lib/collector-insert-split.ts), for both shapes.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { Agent, request } from 'undici';
import { collectorLaunchEnv } from '../collector/launch-env.js';
import { spanWindow } from '../collector/pipeline/time-window.js';
import { decodeTracesProto } from '../collector/receivers/otlp/protobuf.js';
import { decodeTracesToColumns, decodeTracesToRows } from '../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../collector/servicegraph/store.js';
import { SPAN_COLUMNS, writeSpanRow } from '../collector/receivers/otlp/model.js';
import { RowBinaryWriter } from '../collector/storage/clickhouse/rowbinary.js';
import { SpanColumnsWriter } from '../collector/storage/clickhouse/span-columns.js';
import { createStorageClient } from '../collector/storage/clickhouse/client.js';
import { EMBEDDED_INSERT_SETTINGS, tuneEmbeddedTables } from '../collector/storage/clickhouse/embedded.js';
import { migrate } from '../collector/storage/clickhouse/migrate.js';
import { createRowWriter } from '../collector/storage/clickhouse/writer.js';
import { insertSplitBench } from './lib/collector-insert-split.js';
import { schedstat } from './lib/cpu.js';
import { makeSidecarBodies, makeSyntheticBodies, SPANS_PER_BATCH } from './lib/span-shapes.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
// Spans per second offered (0: each client sends its next request once the last is answered).
const RATE = Number(process.env.BENCH_RATE ?? 0);
// Seconds of the same load before the measured window, drained before the window starts.
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 4);
const ANCHORS = {
  otelCollectorClickHouseSpansPerSecPerCore: 137_000,
  rotelSpansPerSecPerCore: 462_000,
  uptraceSpansPerSecPerCore: 10_000,
};

// The OTLP trace messages for protobufjs (field numbers from opentelemetry-proto).
const OTLP_PROTO = `syntax = "proto3";
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message Status { string message = 2; int32 code = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
message Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10; repeated Event events = 11; uint32 dropped_events_count = 12; repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15; fixed32 flags = 16; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }`;

function decoderBench(body: Buffer): Record<string, number> {
  const type = protobuf.parse(OTLP_PROTO).root.lookupType('ExportTraceServiceRequest');
  // Best of several rounds: on a shared machine the minimum is the least disturbed figure.
  const time = (fn: () => void): number => {
    for (let i = 0; i < 20; i++) fn();
    let best = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 7; round++) {
      const n = 40;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn();
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9 / n);
    }
    return best;
  };
  // Both paths go as far as something insertable: our decoder + rows vs protobufjs objects
  // with longs as strings and bytes as hex-able buffers (before any row building).
  const w = new RowBinaryWriter();
  const hand = time(() => {
    for (const s of decodeTracesProto(body).items) writeSpanRow(w, s);
    if (w.take().length === 0) throw new Error('nothing decoded');
  });
  const handDecodeOnly = time(() => decodeTracesProto(body));
  // Straight to rows, strings only for what the service graph reads; and the ingest path,
  // straight to columns (each record's; the Native block is assembled per insert).
  const opts = {
    graphKeys: GRAPH_ATTRIBUTE_KEYS,
    ...spanWindow({ maxAgeDays: 7, maxFutureMs: 3_600_000 }, Date.now()),
  };
  const direct = time(() => {
    decodeTracesToRows(body, w, opts);
    if (w.take().length === 0) throw new Error('nothing decoded');
  });
  const c = new SpanColumnsWriter();
  const columns = time(() => {
    decodeTracesToColumns(body, c, opts);
    if (c.take().rows === 0) throw new Error('nothing decoded');
  });
  const pbjs = time(() => type.toObject(type.decode(body), { longs: String, bytes: String, defaults: false }));
  return {
    handDecodeSpansPerSec: Math.round(SPANS_PER_BATCH / handDecodeOnly),
    handDecodeAndRowsSpansPerSec: Math.round(SPANS_PER_BATCH / hand),
    directToRowsSpansPerSec: Math.round(SPANS_PER_BATCH / direct),
    directToColumnsSpansPerSec: Math.round(SPANS_PER_BATCH / columns),
    protobufjsDecodeToObjectSpansPerSec: Math.round(SPANS_PER_BATCH / pbjs),
    handDecodeSpeedupVsProtobufjs: Number((pbjs / handDecodeOnly).toFixed(2)),
  };
}

const INSERTS = 16;

/**
 * chDB's cost of a stream of inserts including the merges they cause: INSERTS inserts of the
 * same 10 240 rows into an emptied otel_traces (and its trace-id view), then process CPU until
 * no merge has run for a second, per 100k rows; with ClickHouse's defaults (FROM INFILE), or as the
 * collector inserts embedded (skip indexes built at merge, merges of at least 8 parts:
 * storage/clickhouse/embedded.ts; rows read without LowCardinality: writer.ts).
 * The parts left show what merging is still owed (the tuning leaves up to 7 unmerged).
 */
async function insertAndMerges(
  storage: ReturnType<typeof createStorageClient>,
  dir: string,
  rowBinary: Buffer,
  rows: number,
  tuned: boolean,
): Promise<{ inserts: number; total: number; parts: number }> {
  const chdb = storage.embedded!.chdb;
  const staged = join(dir, 'merges.RowBinary');
  writeFileSync(staged, rowBinary);
  for (const table of ['otel_traces', 'otel_traces_trace_id_ts']) {
    await chdb.queryAsync(`TRUNCATE TABLE ${table}`);
    if (!tuned) await chdb.queryAsync(`ALTER TABLE ${table} RESET SETTING min_parts_to_merge_at_once`);
  }
  if (tuned) await tuneEmbeddedTables(storage.client);
  const settings = Object.entries(tuned ? EMBEDDED_INSERT_SETTINGS : { materialize_skip_indexes_on_insert: 1 })
    .map(([k, v]) => `, ${k} = ${v}`)
    .join('');
  const cpu = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1e6;
  // Tuned, the writer's own statement (the staged rows read without LowCardinality: writer.ts).
  const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
  const c0 = process.cpuUsage();
  for (let i = 0; i < INSERTS; i++) {
    if (tuned) await writer.insert('otel_traces', [rowBinary], randomUUID());
    else
      await chdb.queryAsync(
        `INSERT INTO otel_traces (${SPAN_COLUMNS.join(', ')}) FROM INFILE '${staged}' SETTINGS insert_deduplication_token = '${randomUUID()}'${settings} FORMAT RowBinary`,
      );
  }
  const inserts = cpu(process.cpuUsage(c0));
  const deadline = Date.now() + 60_000;
  for (let idle = 0; idle < 4 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 250));
    const running = (await chdb.queryAsync('SELECT count() FROM system.merges', { format: 'CSV' })).text().trim();
    idle = running === '0' ? idle + 1 : 0;
  }
  const total = cpu(process.cpuUsage(c0));
  const parts = Number(
    (
      await chdb.queryAsync("SELECT count() FROM system.parts WHERE active AND table = 'otel_traces'", {
        format: 'CSV',
      })
    )
      .text()
      .trim(),
  );
  const per100k = (s: number): number => Number(((s / (rows * INSERTS)) * 100_000).toFixed(3));
  return { inserts: per100k(inserts), total: per100k(total), parts };
}

/**
 * The insert format, measured: the same 40 960 spans as RowBinary through FROM INFILE, as the
 * writer inserts them (read without LowCardinality, skip indexes deferred: writer.ts), and as
 * JSONCompactEachRow (the previous format, rendered by chDB from the stored rows) through
 * chDB's raw insert; CPU of this process (chDB's threads included) per 100k rows, best of 3.
 */
async function insertFormatBench(bodies: Buffer[]): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-format-'));
  const storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') });
  try {
    await migrate(storage.client, { ttlDays: 0 });
    const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
    const w = new RowBinaryWriter();
    let rows = 0;
    for (let i = 0; i < 80; i++) {
      for (const span of decodeTracesProto(bodies[i % bodies.length]!).items) {
        writeSpanRow(w, span);
        rows++;
      }
    }
    const rowBinary = w.take();
    const chdb = storage.embedded!.chdb;
    const staged = join(dir, 'staged.RowBinary');
    await writer.insert('otel_traces', [rowBinary], randomUUID());
    const compact = Buffer.from(
      (
        await storage.embedded!.chdb.queryAsync(
          `SELECT ${SPAN_COLUMNS.join(', ')} FROM otel_traces FORMAT JSONCompactEachRow`,
        )
      ).bytes(),
    );
    // Both formats build the skip indexes on insert here (the writer defers them on embedded).
    const insertRowBinary = async (): Promise<void> => {
      writeFileSync(staged, rowBinary);
      await chdb.queryAsync(
        `INSERT INTO otel_traces (${SPAN_COLUMNS.join(', ')}) FROM INFILE '${staged}' SETTINGS insert_deduplication_token = '${randomUUID()}' FORMAT RowBinary`,
      );
    };
    const best = {
      RowBinary: Number.POSITIVE_INFINITY,
      JSONCompactEachRow: Number.POSITIVE_INFINITY,
      ingestPath: Number.POSITIVE_INFINITY,
    };
    for (let round = 0; round < 3; round++) {
      let c0 = process.cpuUsage();
      await insertRowBinary();
      let c = process.cpuUsage(c0);
      best.RowBinary = Math.min(best.RowBinary, (c.user + c.system) / 1e6);
      c0 = process.cpuUsage();
      await storage.embedded!.chdb.rawInsert({
        table: 'otel_traces',
        columns: SPAN_COLUMNS,
        values: compact,
        format: 'JSONCompactEachRow',
      });
      c = process.cpuUsage(c0);
      best.JSONCompactEachRow = Math.min(best.JSONCompactEachRow, (c.user + c.system) / 1e6);
      // The writer's own path: the staged rows read without LowCardinality, cast column-wise.
      c0 = process.cpuUsage();
      await writer.insert('otel_traces', [rowBinary], randomUUID());
      c = process.cpuUsage(c0);
      best.ingestPath = Math.min(best.ingestPath, (c.user + c.system) / 1e6);
    }
    const per100k = (cpu: number): number => Number(((cpu / rows) * 100_000).toFixed(3));
    const quarter = new RowBinaryWriter();
    let quarterRows = 0;
    for (let i = 0; i < 20; i++) {
      for (const span of decodeTracesProto(bodies[i % bodies.length]!).items) {
        writeSpanRow(quarter, span);
        quarterRows++;
      }
    }
    const chunk = quarter.take();
    const defaults = await insertAndMerges(storage, dir, chunk, quarterRows, false);
    const tuned = await insertAndMerges(storage, dir, chunk, quarterRows, true);
    return {
      rows,
      rowBinaryCpuSecondsPer100kRows: per100k(best.RowBinary),
      jsonCompactEachRowCpuSecondsPer100kRows: per100k(best.JSONCompactEachRow),
      ingestPathCpuSecondsPer100kRows: per100k(best.ingestPath),
      rowBinaryBytesPerRow: Math.round(rowBinary.length / rows),
      jsonCompactEachRowBytesPerRow: Math.round(compact.length / rows),
      insertsAndMergesRows: INSERTS * quarterRows,
      insertsCpuSecondsPer100kRowsDefaults: defaults.inserts,
      insertsAndMergesCpuSecondsPer100kRowsDefaults: defaults.total,
      partsLeftDefaults: defaults.parts,
      insertsCpuSecondsPer100kRowsEmbeddedTuning: tuned.inserts,
      insertsAndMergesCpuSecondsPer100kRowsEmbeddedTuning: tuned.total,
      partsLeftEmbeddedTuning: tuned.parts,
    };
  } finally {
    // Every connection it opened: chDB holds one data directory per process (insertSplit opens another).
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function procStat(pid: number): { cpuSeconds: number; peakRssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: ticks / 100, peakRssMb: Math.round(Number(hwm?.[1] ?? 0) / 1024) };
}

function rssParts(pid: number): { anonMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { anonMb: Math.round(kb('RssAnon') / 1024), fileMb: Math.round(kb('RssFile') / 1024) };
}

/** Resets the referenced bits of the child's pages (libchdbPages reads what was touched since). */
function clearReferenced(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '1');
    return true;
  } catch {
    return false;
  }
}

/**
 * chDB's library pages (its VMAs without copy-on-write copies: code and read-only data) resident
 * now, and how much of them was touched since `clear_refs` reset the referenced bits at the start
 * of the load. Most of the library is touched once while it starts (static initialisers across
 * ~400 MB of code) and stays resident; what the run does not touch again is what giving those
 * pages back after start (madvise) would take off the peak. Undefined where /proc does not allow it.
 */
function libchdbPages(pid: number): { residentMb: number; touchedDuringLoadMb: number } {
  let resident = 0;
  let referenced = 0;
  let vma = { chdb: false, rss: 0, referenced: 0, anonymous: 0 };
  const close = (): void => {
    if (vma.chdb && vma.anonymous === 0) {
      resident += vma.rss;
      referenced += vma.referenced;
    }
  };
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const kb = (): number =>
      Number(
        line
          .slice(line.indexOf(':') + 1)
          .trim()
          .split(' ')[0],
      );
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      close();
      vma = { chdb: (line.split(/\s+/)[5] ?? '').endsWith('/libchdb.so'), rss: 0, referenced: 0, anonymous: 0 };
    } else if (line.startsWith('Rss:')) vma.rss = kb();
    else if (line.startsWith('Referenced:')) vma.referenced = kb();
    else if (line.startsWith('Anonymous:')) vma.anonymous = kb();
  }
  close();
  return { residentMb: Math.round(resident / 1024), touchedDuringLoadMb: Math.round(referenced / 1024) };
}

/**
 * The resident set by what backs it, from /proc/<pid>/smaps: chDB's library (its code and read-only
 * data: file pages, resident once touched and given back only under memory pressure), Node's own
 * binary, other files, and anonymous memory. All of it is RSS, the figure the goal is on.
 * The anonymous part by the kind of mapping holding it (anonymousParts): malloc's main heap
 * ([heap], glibc: Node's Buffers and the runtime's own allocations, which stays at its high-water
 * mark while a live allocation sits at its top), glibc's other arenas (64 MiB-aligned reservations:
 * threads' mallocs), thread stacks (a mapping right above a one-page guard), private copies of
 * libraries' relocated data, and the rest: V8's heap, chDB's jemalloc extents, large mmap'd
 * allocations (what V8's heap figures and jemalloc's stats split further).
 */
function rssByMapping(pid: number): {
  totalMb: number;
  anonymousMb: number;
  libchdbFileMb: number;
  nodeBinaryFileMb: number;
  otherFileMb: number;
  anonymousParts: {
    mallocHeap: number;
    mallocArenas: number;
    threadStacks: number;
    libraryCopies: number;
    other: number;
  };
} {
  const ARENA = 64 * 1024 * 1024;
  let anonymous = 0;
  let libchdb = 0;
  let node = 0;
  let other = 0;
  const parts = { mallocHeap: 0, mallocArenas: 0, threadStacks: 0, libraryCopies: 0, other: 0 };
  let path = '';
  let rss = 0;
  let anon = 0;
  let start = 0;
  let end = 0;
  let perms = '';
  // The mapping before this one: a guard page (---p, one page) right below marks a thread's stack.
  let prevGuardEnd = -1;
  const close = (): void => {
    if (path.endsWith('/libchdb.so')) libchdb += rss;
    else if (path === process.execPath || path.endsWith('/bin/node')) node += rss;
    else if (path.startsWith('/')) other += rss;
    if (anon > 0) {
      if (path === '[heap]') parts.mallocHeap += anon;
      else if (path.startsWith('/')) parts.libraryCopies += anon;
      else if (path === '' && start % ARENA === 0 && end - start <= ARENA) parts.mallocArenas += anon;
      else if (path === '' && prevGuardEnd === start) parts.threadStacks += anon;
      else parts.other += anon;
    }
  };
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      close();
      if (perms === '---p' && end - start === 4096) prevGuardEnd = end;
      else prevGuardEnd = -1;
      const f = line.split(/\s+/);
      const [a, b] = f[0]!.split('-');
      start = Number.parseInt(a!, 16);
      end = Number.parseInt(b!, 16);
      perms = f[1] ?? '';
      path = f[5] ?? '';
      rss = 0;
      anon = 0;
    } else if (line.startsWith('Rss:')) rss += Number(line.slice(4).trim().split(' ')[0]);
    // Anonymous pages of a file mapping (copy-on-write) count as anonymous, not as the file's.
    else if (line.startsWith('Anonymous:')) {
      const kb = Number(line.slice(10).trim().split(' ')[0]);
      anonymous += kb;
      anon += kb;
      rss -= kb;
    }
  }
  close();
  const mb = (kb: number): number => Math.round(kb / 1024);
  return {
    totalMb: mb(anonymous + libchdb + node + other),
    anonymousMb: mb(anonymous),
    libchdbFileMb: mb(libchdb),
    nodeBinaryFileMb: mb(node),
    otherFileMb: mb(other),
    anonymousParts: {
      mallocHeap: mb(parts.mallocHeap),
      mallocArenas: mb(parts.mallocArenas),
      threadStacks: mb(parts.threadStacks),
      libraryCopies: mb(parts.libraryCopies),
      other: mb(parts.other),
    },
  };
}

/**
 * CPU seconds per thread name of a live process (threads that already exited are only in the
 * process total): shows how the work splits between the event loop, V8's GC helpers, libuv's
 * pool and chDB's threads. Node names none of its threads: its platform workers (V8's GC and
 * compiler helpers) start with the process, libuv's pool at the first piece of work queued to
 * it, later (10-14 clock ticks later here), and the pool runs the WAL's and the staging file's
 * I/O and every chDB statement's calling thread (a statement's pipeline runs on it beside
 * chDB's own threads). So an unnamed thread that started after the first unnamed worker is
 * counted as libuv's pool; when both start in the same tick, as V8's (the conservative side).
 */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of threadList(pid)) out[t.name] = (out[t.name] ?? 0) + t.cpu;
  return out;
}

/**
 * The process's threads: id, name (the event loop, Node's unnamed threads told apart as
 * threadCpu says, chDB's by their names) and CPU seconds.
 */
function threadList(pid: number): { tid: string; name: string; cpu: number }[] {
  const named: { tid: string; name: string; cpu: number }[] = [];
  const unnamed: { tid: string; cpu: number; start: number }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const name = tid === String(pid) ? 'main (event loop)' : comm.replace(/[0-9]+$/, '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
      if (name === 'node')
        unnamed.push({ tid, cpu, start: Number(fields[19]) }); // starttime (field 22)
      else named.push({ tid, name, cpu });
    } catch {
      // The thread exited between listing and reading.
    }
  }
  const first = Math.min(...unnamed.map((t) => t.start));
  return [
    ...named,
    ...unnamed.map((t) => ({ tid: t.tid, name: t.start === first ? NODE_PLATFORM : LIBUV_POOL, cpu: t.cpu })),
  ];
}

/**
 * BENCH_PERF=1: perf samples the collector's threads through the window (cpu-clock, 999 Hz), so
 * that chDB's code on Node's threads is seen whole, including what ClickHouse does not account
 * (a statement's client-side parsing on the calling thread). An estimate: a thread's CPU times
 * the share of its samples in libchdb.so (user code only; the thread's kernel time, its own and
 * chDB's system calls alike, is left as ours). Undefined where perf is missing or refused.
 */
function perfStart(pid: number, file: string): ChildProcess | undefined {
  if (process.env.BENCH_PERF !== '1') return undefined;
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '999', '-p', String(pid), '-o', file], {
    stdio: 'ignore',
  });
  perf.on('error', () => undefined);
  return perf;
}

async function perfStop(
  perf: ChildProcess | undefined,
  file: string,
  threadsBefore: { tid: string; name: string; cpu: number }[],
  threadsAfter: { tid: string; name: string; cpu: number }[],
  storedSpans: number,
): Promise<Record<string, unknown> | undefined> {
  if (perf === undefined || perf.exitCode !== null || perf.pid === undefined) return undefined;
  await new Promise((r) => {
    perf.once('exit', r);
    perf.kill('SIGINT');
  });
  const report = await new Promise<string>((resolve) =>
    execFile(
      'perf',
      ['report', '-i', file, '--no-children', '--sort', 'pid,dso', '--stdio'],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => resolve(err === null ? stdout : ''),
    ),
  );
  // Share of all samples per thread id and per thread id in libchdb.so.
  const share = new Map<string, { all: number; libchdb: number; kernel: number }>();
  for (const m of report.matchAll(/^\s+([\d.]+)%\s+(\d+):\S*\s+(\S.*?)\s*$/gm)) {
    const s = share.get(m[2]!) ?? { all: 0, libchdb: 0, kernel: 0 };
    s.all += Number(m[1]);
    if (m[3] === 'libchdb.so') s.libchdb += Number(m[1]);
    else if (m[3] === '[kernel.kallsyms]') s.kernel += Number(m[1]);
    share.set(m[2]!, s);
  }
  if (share.size === 0) return undefined;
  const before = new Map(threadsBefore.map((t) => [t.tid, t.cpu]));
  const libchdbOnNode: Record<string, number> = {};
  let total = 0;
  let ownCpu = 0;
  let poolKernel = 0;
  for (const t of threadsAfter) {
    if (!NODE_THREAD.test(t.name)) continue;
    const cpu = t.cpu - (before.get(t.tid) ?? 0);
    ownCpu += cpu;
    const s = share.get(t.tid);
    if (s === undefined || s.all === 0) continue;
    const seconds = (cpu * s.libchdb) / s.all;
    if (t.name === LIBUV_POOL) poolKernel += (cpu * s.kernel) / s.all;
    libchdbOnNode[t.name] = (libchdbOnNode[t.name] ?? 0) + seconds;
    total += seconds;
  }
  return {
    note: 'estimate (perf cpu-clock samples): user time in libchdb.so on Node threads, by thread',
    libchdbOnNodeThreadsCpuSeconds: Object.fromEntries(
      Object.entries(libchdbOnNode).map(([k, v]) => [k, Number(v.toFixed(2))]),
    ),
    libchdbOnNodeThreadsCpuSecondsTotal: Number(total.toFixed(2)),
    // The rest of the pool's time is mostly system calls: the log's and the staging file's writes, chDB's.
    kernelOnLibuvPoolCpuSeconds: Number(poolKernel.toFixed(2)),
    spansPerCpuSecondCollectorThreadsWithoutChdbCode: Math.round(storedSpans / Math.max(ownCpu - total, 0.01)),
  };
}

/** Seconds the process's main thread has waited on a run queue (/proc schedstat; 0 where unavailable). */
function runQueueWaitSeconds(pid: number): number {
  return (schedstat(pid)?.waitNs ?? 0) / 1e9;
}

const NODE_PLATFORM = 'node (V8 platform workers: GC, compiler)';
const LIBUV_POOL = 'node (libuv pool: WAL and staging I/O, chDB statements)';

/** Threads of Node itself (event loop, V8's helpers, libuv's pool); every other one is chDB's. */
const NODE_THREAD = /^(main \(event loop\)|node|V8 |libuv|uv|SignalInspector|DelayedTaskSch|inspector)/;

/** CPU seconds per thread name between two threadCpu() readings. */
function threadCpuDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([name, s]) => [name, s - (before[name] ?? 0)]));
}

/** The CPU embedded ClickHouse accounted to itself (meshscope_collector_clickhouse_cpu_seconds_total), 0 if absent. */
function clickhouseCpuSeconds(metricsText: string): number {
  return [...metricsText.matchAll(/^meshscope_collector_clickhouse_cpu_seconds_total\{mode="[^"]+"\} (\S+)$/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

/**
 * Whose CPU a phase's was. `threads`: CPU per thread name (threadCpuDelta); `clickhouseCpu`:
 * what ClickHouse accounted to its statements and merges in the phase (its UserTimeMicroseconds
 * and SystemTimeMicroseconds events: getrusage of each thread while it runs a pipeline or a
 * merge). Part of that ran on Node's threads: every chDB statement is called from a libuv pool
 * thread, which runs part of it. That part is ClickHouse's accounted CPU minus what chDB's own
 * threads used (the process's CPU minus Node's threads': chDB's pool threads that exited are in
 * the first only), clamped to [0, libuv pool's CPU]. chDB's own threads also use CPU ClickHouse
 * does not account (MemoryWorker, idle schedule pools), which makes that part smaller, and not
 * all of chDB's work on the calling thread is accounted: "without ClickHouse" still counts the
 * rest as ours, a conservative figure. Measured on chDB 3.4.0: in this bench's window (load 7-9)
 * ClickHouse accounted 0.44 / 0.38 CPU-s to Node's threads where perf put 0.59 / 0.60 CPU-s of
 * libchdb.so's code (sidecar / synthetic; BENCH_PERF=1 prints that estimate); 300 `SELECT 1`
 * cost the calling threads 0.150 CPU-s, of which the events hold 0.094.
 */
function accounting(
  storedSpans: number,
  cpu: number,
  threads: Record<string, number>,
  clickhouseCpu: number,
): { ownCpu: number; jsCpu: number; figures: Record<string, unknown> } {
  // The existing figures' own rounding and floor (threads under 0.05 s are left out).
  const shown = Object.entries(threads)
    .map(([name, s]): [string, number] => [name, Number(s.toFixed(2))])
    .filter(([, s]) => s >= 0.05);
  const ownCpu = shown.filter(([name]) => NODE_THREAD.test(name)).reduce((n, [, v]) => n + v, 0);
  const pool = shown.find(([name]) => name === LIBUV_POOL)?.[1] ?? 0;
  // Without libuv's pool, whose CPU is mostly chDB's statements (see threadCpu): the event
  // loop and V8's helpers, what the collector's JavaScript costs.
  const jsCpu = ownCpu - pool;
  const chdbThreads = Math.max(0, cpu - ownCpu);
  const onNodeThreads = Math.min(pool, Math.max(0, clickhouseCpu - chdbThreads));
  const ownWithout = ownCpu - onNodeThreads;
  const s2 = (n: number): number => Number(n.toFixed(2));
  return {
    ownCpu,
    jsCpu,
    figures: {
      collectorCpuSeconds: s2(cpu),
      collectorOwnThreadsCpuSeconds: s2(ownCpu),
      clickhouseAccountedCpuSeconds: s2(clickhouseCpu),
      chdbThreadsCpuSeconds: s2(chdbThreads),
      clickhouseCpuOnNodeThreadsSeconds: s2(onNodeThreads),
      collectorOwnThreadsWithoutClickHouseCpuSeconds: s2(ownWithout),
      spansPerCpuSecondWholeProcess: Math.round(storedSpans / Math.max(cpu, 0.01)),
      spansPerCpuSecondCollectorThreads: Math.round(storedSpans / Math.max(ownCpu, 0.01)),
      spansPerCpuSecondCollectorThreadsWithoutClickHouse: Math.round(storedSpans / Math.max(ownWithout, 0.01)),
      spansPerCpuSecondEventLoopAndV8Threads: Math.round(storedSpans / Math.max(jsCpu, 0.01)),
    },
  };
}

/**
 * One of the collector's histograms over the window (since the scrape `since`, else the
 * process's life): count, mean, and the bucket bounds p50 and p99 fall under.
 */
function histogramFigures(
  metricsText: string,
  name: string,
  since?: string,
): {
  count: number;
  meanMs: number;
  p50AtMostMs: number;
  p99AtMostMs: number;
} {
  const read = (text: string) => ({
    count: Number(new RegExp(`^${name}_count (\\S+)$`, 'm').exec(text)?.[1] ?? 0),
    sum: Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(text)?.[1] ?? 0),
    buckets: [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => ({
      le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]),
      n: Number(m[2]),
    })),
  });
  // Since an earlier scrape: the histogram's counts are cumulative over the process's life.
  const now = read(metricsText);
  const before = since === undefined ? undefined : read(since);
  const count = now.count - (before?.count ?? 0);
  const sum = now.sum - (before?.sum ?? 0);
  const buckets = now.buckets.map((b, i) => ({ le: b.le, n: b.n - (before?.buckets[i]?.n ?? 0) }));
  const atMost = (q: number): number => {
    const b = buckets.find((x) => x.n >= q * count);
    return b === undefined || !Number.isFinite(b.le) ? -1 : b.le * 1000;
  };
  return {
    count,
    meanMs: Number(((sum / Math.max(1, count)) * 1000).toFixed(1)),
    p50AtMostMs: atMost(0.5),
    p99AtMostMs: atMost(0.99),
  };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const shapes: Record<string, Buffer[]> = { synthetic: makeSyntheticBodies(), sidecar: makeSidecarBodies() };
  const wanted = (process.env.BENCH_SHAPES ?? 'synthetic,sidecar').split(',').filter((n) => n in shapes);
  const micro = process.env.BENCH_MICRO !== '0';
  const decoder = micro
    ? { synthetic: decoderBench(shapes.synthetic![0]!), sidecar: decoderBench(shapes.sidecar![0]!) }
    : undefined;
  const insertFormat = micro ? await insertFormatBench(shapes.synthetic!) : undefined;
  const insertSplit = micro
    ? { synthetic: await insertSplitBench(shapes.synthetic!), sidecar: await insertSplitBench(shapes.sidecar!) }
    : undefined;
  const scenarios: Record<string, unknown> = {};
  for (const name of wanted) scenarios[name] = await runScenario(shapes[name]!);
  process.stdout.write(
    `${JSON.stringify(
      {
        scenario: `OTLP/HTTP protobuf, ${SPANS_PER_BATCH} spans per request, ${CLIENTS} concurrent clients, ${SECONDS}s, embedded chDB, one collector child process per shape`,
        machine: {
          cpus: cpus().length,
          note: 'load generator runs on the same cores as the collector; other work on the machine competes too',
        },
        shapes: {
          synthetic:
            '128 traces × 4 spans per request (frontend/catalog, OpenTelemetry SDK attributes, a db client span)',
          sidecar: "meshscope sidecars' spans: one sidecar per request, the proxy's 13-14 attributes each",
        },
        ...scenarios,
        decoder,
        insertFormat,
        insertSplit,
        anchors: ANCHORS,
        goals: GOALS,
      },
      null,
      2,
    )}\n`,
  );
}

const GOALS = {
  spansPerCpuSecondCollectorThreads: 205_000,
  spansPerCpuSecondWholeProcess: 137_000,
  peakRssMb: 400,
  ackP99Ms: 50,
  queryableMs: 2000,
};

async function runScenario(bodies: Buffer[]): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-collector-'));
  // BENCH_NODE_ARGS passes flags to the collector's node (e.g. --cpu-prof to profile it).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const collectorArgs = (process.env.BENCH_COLLECTOR_ARGS ?? '').split(' ').filter((a) => a !== '');
  // BENCH_COLLECTOR_ENV adds environment variables to the collector's only ('A=1 B=2'), e.g. an
  // allocator's settings, which a process reads before its first line runs.
  // The collector's memory settings go in as its launchers pass them (collector/launch-env.ts);
  // an empty value in BENCH_COLLECTOR_ENV ('MALLOC_MMAP_THRESHOLD_=') leaves one out.
  const collectorEnv = Object.fromEntries(
    (process.env.BENCH_COLLECTOR_ENV ?? '')
      .split(' ')
      .filter((a) => a.includes('='))
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      join(import.meta.dirname, '../cli/main.js'),
      'collector',
      '--otlp-http',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--data',
      dir,
      ...collectorArgs,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: Object.fromEntries(
        Object.entries({ ...process.env, ...collectorLaunchEnv(process.env), ...collectorEnv }).filter(
          ([, v]) => v !== '',
        ),
      ),
    },
  );
  const stopChild = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.on('exit', stopChild);
  try {
    const [otlp, api] = await new Promise<[string, string]>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /OTLP\/HTTP on (\S+), query API on (\S+)/.exec(out);
        if (m !== null) resolve([m[1]!, m[2]!]);
      });
      child.once('exit', (code) => reject(new Error(`collector exited with ${code}`)));
    });
    // The resident set's peak before any load: Node's and the engine's start (libchdb.so's
    // pages touched while loading stay resident), against which the run's peak is judged.
    const peakRssAtReadyMb = procStat(child.pid!).peakRssMb;
    const dispatcher = new Agent({ connections: CLIENTS + 2, pipelining: 1 });
    const stored = async (): Promise<number> => {
      const res = await request(`${api}/metrics`, { dispatcher });
      const m = /meshscope_collector_stored_items_total\{table="otel_traces"\} (\d+)/.exec(await res.body.text());
      return Number(m?.[1] ?? 0);
    };
    const scrape = async (): Promise<string> => (await request(`${api}/metrics`, { dispatcher })).body.text();

    const loadAtStart = Number(loadavg()[0]!.toFixed(2));
    // What the resident set's sampled peak was made of, over the whole run (warm-up included:
    // memory is never hidden by the window). File-backed pages are mostly chDB's library
    // (about 200 MB of its code once loaded), anonymous ones are the heaps.
    let peakAnonMb = 0;
    let fileMb = 0;
    // What the runtime and chDB's memory tracker held when the anonymous part peaked (the rest
    // is thread stacks, allocator slack and what neither counts).
    let atPeak = { v8HeapTotal: 0, v8HeapUsed: 0, external: 0, clickhouseTracked: 0 };
    // What backed the resident set at its sampled peak (smaps is read only when a sample beats it).
    let peakTotalMb = 0;
    let atTotalPeak = rssByMapping(child.pid!);

    // The probes' trace ids, unique over both phases.
    let probeSeq = 1;
    /** One phase of load: the clients, the queryable probe and the once-a-second sampler. */
    const drive = async (
      seconds: number,
    ): Promise<{
      started: number;
      loadSeconds: number;
      acks: number[];
      ackedSpans: number;
      refused: number;
      queryable: number[];
      loopP99: number[];
      loopMax: number[];
    }> => {
      const started = Date.now();
      const deadline = started + seconds * 1000;
      const acks: number[] = [];
      let ackedSpans = 0;
      let refused = 0;
      const client = async (c: number): Promise<void> => {
        for (let i = c; Date.now() < deadline; i += CLIENTS) {
          // At a fixed rate, request i goes at its slot (or at once when the collector is behind).
          if (RATE > 0) {
            const due = started + (i * SPANS_PER_BATCH * 1000) / RATE - Date.now();
            if (due > 0) await new Promise((r) => setTimeout(r, due));
            if (Date.now() >= deadline) break;
          }
          const t0 = process.hrtime.bigint();
          const res = await request(`${otlp}/v1/traces`, {
            method: 'POST',
            dispatcher,
            headers: { 'content-type': 'application/x-protobuf' },
            body: bodies[i % bodies.length]!,
          });
          await res.body.dump();
          if (res.statusCode === 200) {
            acks.push(Number(process.hrtime.bigint() - t0) / 1e6);
            ackedSpans += SPANS_PER_BATCH;
          } else {
            refused++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };
      // Time to queryable: a one-span probe every 500 ms, polled on the query API after its ack.
      const queryable: number[] = [];
      const probe = async (): Promise<void> => {
        while (Date.now() < deadline) {
          const traceId = `beef${(probeSeq++).toString(16).padStart(28, '0')}`;
          const now = BigInt(Date.now()) * 1_000_000n;
          const body = JSON.stringify({
            resourceSpans: [
              {
                resource: { attributes: [{ key: 'service.name', value: { stringValue: 'probe' } }] },
                scopeSpans: [
                  {
                    spans: [
                      {
                        traceId,
                        spanId: '00000000000000aa',
                        name: 'probe',
                        kind: 2,
                        startTimeUnixNano: String(now),
                        endTimeUnixNano: String(now + 1000n),
                      },
                    ],
                  },
                ],
              },
            ],
          });
          const res = await request(`${otlp}/v1/traces`, {
            method: 'POST',
            dispatcher,
            headers: { 'content-type': 'application/json' },
            body,
          });
          await res.body.dump();
          if (res.statusCode === 200) {
            const acked = Date.now();
            for (;;) {
              const q = await request(`${api}/api/meshscope/traces/${traceId}`, { dispatcher });
              await q.body.dump();
              if (q.statusCode === 200) {
                queryable.push(Date.now() - acked);
                break;
              }
              if (Date.now() - acked > 30_000) {
                queryable.push(Number.POSITIVE_INFINITY);
                break;
              }
              await new Promise((r) => setTimeout(r, 25));
            }
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      };
      // The collector's event-loop delay, sampled once a second (prom-client resets it per scrape).
      const loopP99: number[] = [];
      const loopMax: number[] = [];
      const sampleLoop = async (): Promise<void> => {
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1000));
          const text = await (await request(`${api}/metrics`, { dispatcher })).body.text();
          const ms = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0) * 1000;
          loopP99.push(Number(ms('nodejs_eventloop_lag_p99_seconds').toFixed(1)));
          loopMax.push(Number(ms('nodejs_eventloop_lag_max_seconds').toFixed(1)));
          const rss = rssParts(child.pid!);
          if (rss.anonMb > peakAnonMb) {
            const mb = (name: string): number =>
              Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0) / 1024 / 1024);
            atPeak = {
              v8HeapTotal: mb('nodejs_heap_size_total_bytes'),
              v8HeapUsed: mb('nodejs_heap_size_used_bytes'),
              external: mb('nodejs_external_memory_bytes'),
              clickhouseTracked: mb('meshscope_collector_clickhouse_memory_bytes'),
            };
          }
          if (rss.anonMb + rss.fileMb > peakTotalMb) {
            peakTotalMb = rss.anonMb + rss.fileMb;
            atTotalPeak = rssByMapping(child.pid!);
          }
          peakAnonMb = Math.max(peakAnonMb, rss.anonMb);
          fileMb = Math.max(fileMb, rss.fileMb);
        }
      };
      await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), probe(), sampleLoop()]);
      const loadSeconds = (Date.now() - started) / 1000;
      return { started, loadSeconds, acks, ackedSpans, refused, queryable, loopP99, loopMax };
    };
    /**
     * Until everything a phase acknowledged (its spans and probes) is in ClickHouse: the stored
     * count since `before`, polled every 200 ms (each /metrics scrape costs the collector CPU,
     * prom-client's default process metrics, which would otherwise be counted against ingest).
     */
    const drain = async (
      phase: { started: number; ackedSpans: number; queryable: number[] },
      before: number,
    ): Promise<{ storedSpans: number; storedSeconds: number }> => {
      let storedSpans = 0;
      const drainDeadline = Date.now() + 120_000;
      while (
        (storedSpans = (await stored()) - before) < phase.ackedSpans + phase.queryable.length &&
        Date.now() < drainDeadline
      )
        await new Promise((r) => setTimeout(r, 200));
      return { storedSpans, storedSeconds: (Date.now() - phase.started) / 1000 };
    };

    // The warm-up: the same load before the window, drained, so the window measures a collector
    // that has run for a while (optimised code, inline caches, engine caches and pools), as one
    // does for days. Its own figures are printed too (cold).
    let warmup: Record<string, unknown> | undefined;
    if (WARMUP_SECONDS > 0) {
      const cpuW0 = procStat(child.pid!).cpuSeconds;
      const threadsW0 = threadCpu(child.pid!);
      const clickhouseW0 = clickhouseCpuSeconds(await scrape());
      const phase = await drive(WARMUP_SECONDS);
      const { storedSpans, storedSeconds } = await drain(phase, 0);
      const w = accounting(
        storedSpans,
        procStat(child.pid!).cpuSeconds - cpuW0,
        threadCpuDelta(threadsW0, threadCpu(child.pid!)),
        clickhouseCpuSeconds(await scrape()) - clickhouseW0,
      );
      phase.acks.sort((a, b) => a - b);
      warmup = {
        seconds: WARMUP_SECONDS,
        spansStored: storedSpans,
        secondsUntilAllStored: Number(storedSeconds.toFixed(2)),
        spansPerSecStored: Math.round(storedSpans / storedSeconds),
        ...w.figures,
        ackLatencyMs: { p50: percentile(phase.acks, 0.5), p99: percentile(phase.acks, 0.99) },
      };
    }
    // The window starts once the warm-up is stored: every counter below is its own.
    const storedAtStart = await stored();
    const metricsAtStart = await scrape();
    const referencedCleared = clearReferenced(child.pid!);
    const cpu0 = procStat(child.pid!).cpuSeconds;
    const threads0 = threadCpu(child.pid!);
    const loopWait0 = runQueueWaitSeconds(child.pid!);
    const perfFile = join(dir, 'perf.data');
    const threadList0 = threadList(child.pid!);
    const perf = perfStart(child.pid!, perfFile);
    const phase = await drive(SECONDS);
    const { loadSeconds, acks, ackedSpans, refused, queryable, loopP99, loopMax } = phase;
    // Stored rate: everything acknowledged, over the time until all of it was in ClickHouse.
    const probes = queryable.length;
    const { storedSpans, storedSeconds } = await drain(phase, storedAtStart);
    const { cpuSeconds, peakRssMb } = procStat(child.pid!);
    const libchdb = referencedCleared ? libchdbPages(child.pid!) : undefined;
    const threads1 = threadCpu(child.pid!);
    const perfEstimate = await perfStop(perf, perfFile, threadList0, threadList(child.pid!), storedSpans);
    const loopWait = runQueueWaitSeconds(child.pid!) - loopWait0;
    const cpu = cpuSeconds - cpu0;
    const metricsText = await scrape();
    const own = accounting(
      storedSpans,
      cpu,
      threadCpuDelta(threads0, threads1),
      clickhouseCpuSeconds(metricsText) - clickhouseCpuSeconds(metricsAtStart),
    );
    const threadCpuSeconds = Object.fromEntries(
      Object.entries(threadCpuDelta(threads0, threads1))
        .map(([name, s]): [string, number] => [name, Number(s.toFixed(2))])
        .filter(([, s]) => s >= 0.05)
        .sort((a, b) => b[1] - a[1]),
    );
    // Inserts ClickHouse refused whole (memory or data) and that were split: each costs parts and merges.
    const counter = (text: string, re: RegExp): number => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
    const insertSplits =
      counter(metricsText, /^meshscope_collector_insert_splits_total\{[^}]*\} (\d+)$/gm) -
      counter(metricsAtStart, /^meshscope_collector_insert_splits_total\{[^}]*\} (\d+)$/gm);
    // One batch is one insert per table (spans, then their edges): its rows per insert set the
    // part sizes chDB writes and merges.
    // Spans accepted beyond the in-memory queue budget: decoded again from the log at insert.
    const spilled =
      counter(metricsText, /^meshscope_collector_spilled_items_total (\d+)$/gm) -
      counter(metricsAtStart, /^meshscope_collector_spilled_items_total (\d+)$/gm);
    const inserts =
      counter(metricsText, /^meshscope_collector_batch_latency_seconds_count (\d+)$/gm) -
      counter(metricsAtStart, /^meshscope_collector_batch_latency_seconds_count (\d+)$/gm);
    // The write-ahead log's group commits (the ack's floor under this load), and how long each
    // request waited for its record to be durable once decoded: the rest of an ack is reading,
    // decoding and waiting for the event loop.
    const walSync = histogramFigures(metricsText, 'meshscope_collector_wal_sync_duration_seconds', metricsAtStart);
    const ackDurableWait = histogramFigures(
      metricsText,
      'meshscope_collector_ack_durable_wait_seconds',
      metricsAtStart,
    );
    acks.sort((a, b) => a - b);
    queryable.sort((a, b) => a - b);
    const spansPerSecStored = Math.round(storedSpans / storedSeconds);
    const spansPerCpuSecond = Math.round(storedSpans / cpu);
    const ownCpu = own.ownCpu;
    const spansPerCpuSecondOwn = Math.round(storedSpans / Math.max(ownCpu, 0.01));
    const jsCpu = own.jsCpu;
    const ackP99 = percentile(acks, 0.99);
    const queryableMax = queryable[queryable.length - 1] ?? 0;
    await dispatcher.close();
    return {
      loadAverage1m: { atStart: loadAtStart, atEnd: Number(loadavg()[0]!.toFixed(2)) },
      offeredSpansPerSec: RATE > 0 ? RATE : 'closed loop',
      spansAcked: ackedSpans,
      spansStored: storedSpans,
      requestsRefused: refused,
      insertSplits,
      spansSpilled: spilled,
      batches: inserts,
      spansPerBatch: Math.round(storedSpans / Math.max(1, inserts)),
      loadSeconds: Number(loadSeconds.toFixed(2)),
      secondsUntilAllStored: Number(storedSeconds.toFixed(2)),
      spansPerSecAcked: Math.round(ackedSpans / loadSeconds),
      spansPerSecStored,
      collectorCpuSeconds: Number(cpu.toFixed(2)),
      collectorOwnThreadsCpuSeconds: Number(ownCpu.toFixed(2)),
      collectorJsThreadsCpuSeconds: Number(jsCpu.toFixed(2)),
      collectorCoresUsed: Number((cpu / storedSeconds).toFixed(2)),
      cpuSecondsPer100kSpans: Number(((cpu / storedSpans) * 100_000).toFixed(3)),
      spansPerCpuSecondWholeProcess: spansPerCpuSecond,
      spansPerCpuSecondCollectorThreads: spansPerCpuSecondOwn,
      spansPerCpuSecondEventLoopAndV8Threads: Math.round(storedSpans / Math.max(jsCpu, 0.01)),
      // The collector's threads without the CPU ClickHouse accounted to itself on them (the goal's
      // 1.5x the OpenTelemetry Collector, whose figure excludes ClickHouse's CPU): see accounting().
      clickhouseAccountedCpuSeconds: own.figures.clickhouseAccountedCpuSeconds,
      chdbThreadsCpuSeconds: own.figures.chdbThreadsCpuSeconds,
      clickhouseCpuOnNodeThreadsSeconds: own.figures.clickhouseCpuOnNodeThreadsSeconds,
      collectorOwnThreadsWithoutClickHouseCpuSeconds: own.figures.collectorOwnThreadsWithoutClickHouseCpuSeconds,
      spansPerCpuSecondCollectorThreadsWithoutClickHouse:
        own.figures.spansPerCpuSecondCollectorThreadsWithoutClickHouse,
      threadCpuSeconds,
      // BENCH_PERF=1 only: chDB's code on Node's threads as perf samples it (see perfStop).
      perfEstimate,
      // The same load before the window, cold (a freshly started collector), drained before it.
      warmup,
      peakRssMb,
      peakRssAtReadyMb,
      rssSampledMb: {
        peakAnonymous: peakAnonMb,
        fileBacked: fileMb,
        runtimeAtAnonymousPeak: atPeak,
        byMappingAtPeak: atTotalPeak,
        libchdbFilePagesAfterLoad: libchdb,
      },
      ackLatencyMs: {
        p50: percentile(acks, 0.5),
        p90: percentile(acks, 0.9),
        p99: ackP99,
        max: acks[acks.length - 1] ?? 0,
      },
      // What every ack waits for at least: its group commit's durable write.
      walSyncMs: walSync,
      ackWaitForDurableMs: ackDurableWait,
      eventLoopDelayMs: { worstP99PerSecond: Math.max(0, ...loopP99), max: Math.max(0, ...loopMax) },
      // How long the event loop was ready to run but had no core (other threads, ours and
      // chDB's, and the rest of the machine held them): per request, part of what its ack waited.
      eventLoopRunQueueWaitMs: {
        total: Math.round(loopWait * 1000),
        perRequest: Number(((loopWait * 1000) / Math.max(1, acks.length)).toFixed(2)),
      },
      timeToQueryableMs: { probes, p50: percentile(queryable, 0.5), max: queryableMax },
      ratios: {
        collectorThreadsVsOtelCollectorPerCore: Number(
          (spansPerCpuSecondOwn / ANCHORS.otelCollectorClickHouseSpansPerSecPerCore).toFixed(2),
        ),
        collectorThreadsWithoutClickHouseVsOtelCollectorPerCore: Number(
          (
            (own.figures.spansPerCpuSecondCollectorThreadsWithoutClickHouse as number) /
            ANCHORS.otelCollectorClickHouseSpansPerSecPerCore
          ).toFixed(2),
        ),
        wholeProcessVsOtelCollectorPerCore: Number(
          (spansPerCpuSecond / ANCHORS.otelCollectorClickHouseSpansPerSecPerCore).toFixed(2),
        ),
        collectorThreadsVsRotelPerCore: Number((spansPerCpuSecondOwn / ANCHORS.rotelSpansPerSecPerCore).toFixed(2)),
      },
      goalsMet: {
        collectorThreads: spansPerCpuSecondOwn >= GOALS.spansPerCpuSecondCollectorThreads,
        collectorThreadsWithoutClickHouse:
          (own.figures.spansPerCpuSecondCollectorThreadsWithoutClickHouse as number) >=
          GOALS.spansPerCpuSecondCollectorThreads,
        wholeProcess: spansPerCpuSecond >= GOALS.spansPerCpuSecondWholeProcess,
        peakRss: peakRssMb <= GOALS.peakRssMb,
        ackP99: ackP99 <= GOALS.ackP99Ms,
        queryable: queryableMax <= GOALS.queryableMs,
      },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        stopChild();
        r(undefined);
      }, 10_000);
      child.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
