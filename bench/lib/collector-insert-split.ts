// bench:collector's split of what one embedded insert costs ClickHouse (chDB runs in this
// process, so process.cpuUsage() counts its threads), per 100k spans decoded as the collector
// decoded them before it wrote columns (decodeTracesToRows), in inserts of INSERT_ROWS rows with merges stopped, best
// of ROUNDS. Each step adds one stage to the one before it:
// - parse: the rows read as the writer reads them (RowBinary, LowCardinality taken off, then
//   cast column-wise) into a Null table with otel_traces' columns: nothing written;
// - part: the same into a MergeTree copy of otel_traces without the trace-id view (a part
//   written: sort, compression, marks, the files);
// - view: the same into otel_traces (part + otel_traces_trace_id_ts's view);
// - ingest: the writer's own insert (writer.ts: the batch staged to a file first, then the
//   insert above), what the collector pays per batch, merges aside;
// - zstdCodecs: the same into a copy with the exporter's ZSTD(1) codecs (embedded tables are
//   LZ4: storage/clickhouse/embedded.ts);
// - nativeRows: the same rows as ClickHouse's Native format with the table's own types
//   (rendered by chDB beforehand): what an insert of columns costs at best;
// - ingestColumns: the collector's ingest path, the same spans decoded into columns
//   (decodeTracesToColumns) and inserted by the writer as one Native block (assembly included).

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spanWindow } from '../../collector/pipeline/time-window.js';
import { decodeTracesToColumns, decodeTracesToRows } from '../../collector/receivers/otlp/protobuf-rows.js';
import { SPAN_COLUMNS } from '../../collector/receivers/otlp/model.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../../collector/servicegraph/store.js';
import { createStorageClient } from '../../collector/storage/clickhouse/client.js';
import { tuneEmbeddedTables } from '../../collector/storage/clickhouse/embedded.js';
import { migrate } from '../../collector/storage/clickhouse/migrate.js';
import { RowBinaryWriter } from '../../collector/storage/clickhouse/rowbinary.js';
import { type SpanColumns, SpanColumnsWriter } from '../../collector/storage/clickhouse/span-columns.js';
import { createRowWriter, withoutLowCardinality } from '../../collector/storage/clickhouse/writer.js';

const INSERT_ROWS = 16_384;
const INSERTS = 4;
const ROUNDS = 3;

export interface InsertSplit {
  rowsPerInsert: number;
  /** CPU-s per 100k spans of each step (see the header). */
  cpuSecondsPer100kSpans: {
    parse: number;
    part: number;
    view: number;
    ingest: number;
    zstdCodecs: number;
    nativeRows: number;
    ingestColumns: number;
  };
  /** Differences between steps: what each stage adds. */
  stages: {
    parseAndCast: number;
    partWrite: number;
    traceIdView: number;
    staging: number;
    lz4VsZstd: number;
    nativeVsRows: number;
    columnsVsRows: number;
  };
}

export async function insertSplitBench(bodies: Buffer[]): Promise<InsertSplit> {
  const w = new RowBinaryWriter();
  const c = new SpanColumnsWriter();
  const batches: Buffer[] = [];
  const columnBatches: SpanColumns[][] = [];
  const opts = {
    graphKeys: GRAPH_ATTRIBUTE_KEYS,
    ...spanWindow({ maxAgeDays: 7, maxFutureMs: 3_600_000 }, Date.now()),
  };
  for (let b = 0; b < INSERTS; b++) {
    let n = 0;
    const records: SpanColumns[] = [];
    for (let i = 0; n < INSERT_ROWS; i++) {
      const body = bodies[(b * 7 + i) % bodies.length]!;
      n += decodeTracesToRows(body, w, opts).count;
      decodeTracesToColumns(body, c, opts);
      records.push(c.take());
      if (n > INSERT_ROWS) throw new Error('bodies do not divide INSERT_ROWS');
    }
    batches.push(w.take());
    columnBatches.push(records);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-insert-split-'));
  const storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') });
  try {
    const chdb = storage.embedded!.chdb;
    const q = async (sql: string): Promise<string> => (await chdb.queryAsync(sql, { format: 'TSVRaw' })).text().trim();
    await migrate(storage.client, { ttlDays: 0 });
    // The exporter's codecs, before the embedded tuning turns them to LZ4.
    await q('CREATE TABLE split_zstd AS otel_traces');
    await tuneEmbeddedTables(storage.client);
    await q('CREATE TABLE split_part AS otel_traces');
    await q(
      `CREATE TABLE split_null (${(
        await q(
          "SELECT arrayStringConcat(groupArray(concat('`', name, '` ', type)), ', ') FROM (SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'otel_traces' ORDER BY position)",
        )
      ).trim()}) ENGINE = Null`,
    );
    const types = new Map(
      (await q("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'otel_traces'"))
        .split('\n')
        .map((l) => l.split('\t') as [string, string]),
    );
    const sql = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const structure = sql(SPAN_COLUMNS.map((c) => `\`${c}\` ${withoutLowCardinality(types.get(c)!)}`).join(', '));
    const files = batches.map((rows, i) => {
      const file = join(dir, `batch${i}.RowBinary`);
      writeFileSync(file, rows);
      return file;
    });
    const natives: string[] = [];
    for (const [i, file] of files.entries()) {
      const native = join(dir, `batch${i}.Native`);
      const typed = sql(SPAN_COLUMNS.map((c) => `\`${c}\` ${types.get(c)!}`).join(', '));
      await q(`SELECT * FROM file(${sql(file)}, RowBinary, ${typed}) INTO OUTFILE ${sql(native)} FORMAT Native`);
      natives.push(native);
    }
    await q('SYSTEM STOP MERGES');
    // As the writer reads a staged batch (writer.ts), into each step's table.
    const read = `SETTINGS insert_deduplicate = 1, max_partitions_per_insert_block = 100, materialize_skip_indexes_on_insert = 0, storage_file_read_method = 'pread', input_format_parallel_parsing = 0`;
    const columns = SPAN_COLUMNS.join(', ');
    const into = (table: string) => (i: number) =>
      `INSERT INTO ${table} (${columns}) SELECT * FROM file(${sql(files[i]!)}, RowBinary, ${structure}) ${read}, insert_deduplication_token = '${randomUUID()}'`;
    const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
    const steps: Record<keyof InsertSplit['cpuSecondsPer100kSpans'], (i: number) => Promise<unknown>> = {
      parse: (i) => chdb.queryAsync(into('split_null')(i)),
      part: (i) => chdb.queryAsync(into('split_part')(i)),
      view: (i) => chdb.queryAsync(into('otel_traces')(i)),
      ingest: (i) => writer.insert('otel_traces', [batches[i]!], randomUUID()),
      zstdCodecs: (i) => chdb.queryAsync(into('split_zstd')(i)),
      nativeRows: (i) =>
        chdb.queryAsync(
          `INSERT INTO otel_traces (${columns}) SELECT * FROM file(${sql(natives[i]!)}, Native) ${read}, insert_deduplication_token = '${randomUUID()}'`,
        ),
      ingestColumns: (i) => writer.insert('otel_traces', columnBatches[i]!, randomUUID()),
    };
    const best = {
      parse: Infinity,
      part: Infinity,
      view: Infinity,
      ingest: Infinity,
      zstdCodecs: Infinity,
      nativeRows: Infinity,
      ingestColumns: Infinity,
    };
    // Interleaved rounds: load on a shared machine hits every step alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, step] of Object.entries(steps) as [keyof typeof best, (i: number) => Promise<unknown>][]) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < INSERTS; i++) await step(i);
        const c = process.cpuUsage(c0);
        best[name] = Math.min(best[name], (((c.user + c.system) / 1e6) * 100_000) / (INSERTS * INSERT_ROWS));
      }
      for (const t of ['split_part', 'split_zstd', 'otel_traces', 'otel_traces_trace_id_ts'])
        await q(`TRUNCATE TABLE ${t}`);
    }
    const r = (n: number): number => Number(n.toFixed(3));
    return {
      rowsPerInsert: INSERT_ROWS,
      cpuSecondsPer100kSpans: {
        parse: r(best.parse),
        part: r(best.part),
        view: r(best.view),
        ingest: r(best.ingest),
        zstdCodecs: r(best.zstdCodecs),
        nativeRows: r(best.nativeRows),
        ingestColumns: r(best.ingestColumns),
      },
      stages: {
        parseAndCast: r(best.parse),
        partWrite: r(best.part - best.parse),
        traceIdView: r(best.view - best.part),
        staging: r(best.ingest - best.view),
        lz4VsZstd: r(best.part - best.zstdCodecs),
        nativeVsRows: r(best.nativeRows - best.view),
        columnsVsRows: r(best.ingestColumns - best.ingest),
      },
    };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
