// Inserts pre-encoded rows with explicit column lists: spans as one Native block of columns
// per insert (span-columns.ts: no per-row parse, LowCardinality keys once per block;
// sidecar-shaped spans cost 0.33-0.45 CPU-s per 100k instead of 0.44-0.60 as RowBinary, paired
// at load ~20), logs and service-graph edges as RowBinary. What follows is about RowBinary.
// chDB parses RowBinary for
// about half the CPU of JSONCompactEachRow (bench/collector.ts measures both on the same
// spans). chdb/connection's raw insert only takes text formats, so embedded, a batch is
// written to a staging file and inserted from it (a page-cache write, then parsed on chDB's
// threads, never on the event loop); to a server the rows stream as the HTTP body. Rows stay
// in Buffers (off the V8 heap) from encoding to insert.
//
// Embedded, the file is read as the table's columns with LowCardinality taken off
// (`INSERT … SELECT * FROM file(…, RowBinary, structure)`), not parsed into the table's own
// types (`FROM INFILE`): RowBinary into Map(LowCardinality(String), String) builds the key
// dictionary value by value, and that was most of the parse. Into a Null table, sidecar-shaped
// spans parsed for 0.50-0.57 CPU-s per 100k rows with the table's types and 0.12-0.13 with
// LowCardinality taken off; the whole insert into otel_traces (part written, trace-id view)
// went from 1.56-1.94 to 0.92-1.48, the column-wise cast to LowCardinality included. Same rows
// stored (equal cityHash64 sums), same deduplication by token (one block per batch either way).

import { constants, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { StorageError } from '../../errors.js';
import { LOG_COLUMNS, SPAN_COLUMNS } from '../../receivers/otlp/model.js';
import { EDGE_COLUMNS } from '../../servicegraph/store.js';
import type { StorageClient } from './client.js';
import { EMBEDDED_INSERT_SETTINGS } from './embedded.js';
import { BlockArena } from './native.js';
import { SpanColumns, spanBlock, spanBlockInTurns } from './span-columns.js';

export type TableName = 'otel_traces' | 'otel_logs' | 'otel_service_graph_edges';

/** A record's rows: RowBinary, or otel_traces columns (inserted as one Native block). */
export type Rows = Buffer | SpanColumns;

/** The format of one insert's chunks: all RowBinary, or all columns (a Native block). */
function formatOf(chunks: readonly Rows[]): 'RowBinary' | 'Native' {
  const native = chunks.length > 0 && chunks[0] instanceof SpanColumns;
  if (chunks.some((c) => c instanceof SpanColumns !== native))
    throw new StorageError('an insert mixes columns and rows');
  return native ? 'Native' : 'RowBinary';
}

/** The chunks of one insert: all RowBinary, or all columns (a Native block). */
export function insertData(chunks: readonly Rows[]): { format: 'RowBinary' | 'Native'; chunks: Buffer[] } {
  const format = formatOf(chunks);
  if (format === 'Native') return { format, chunks: spanBlock(chunks as SpanColumns[]) };
  return { format, chunks: chunks as Buffer[] };
}

/** insertData, a Native block assembled a column per turn of the event loop (spanBlockInTurns). */
async function insertDataInTurns(
  chunks: readonly Rows[],
  arena: BlockArena | undefined,
): Promise<{ format: 'RowBinary' | 'Native'; chunks: Buffer[] }> {
  const format = formatOf(chunks);
  if (format === 'Native') return { format, chunks: await spanBlockInTurns(chunks as SpanColumns[], arena) };
  return { format, chunks: chunks as Buffer[] };
}

export interface RowWriter {
  /**
   * Inserts the chunks as one INSERT. `token` is its insert_deduplication_token: the same
   * token again (a replay after a crash) is dropped by ClickHouse, in the table and in every
   * materialized view's target.
   */
  insert(table: TableName, chunks: readonly Rows[], token: string): Promise<void>;
}

/** Settings of every insert: deduplication by token, also in the views' targets. */
function insertSettings(token: string, maxPartitions: number): Record<string, string | number> {
  return {
    insert_deduplication_token: token,
    insert_deduplicate: 1,
    deduplicate_blocks_in_dependent_materialized_views: 1,
    // Items are refused at decode outside the accepted age window, so a batch spans at most
    // that many daily partitions; the default (100) would refuse a legitimate batch.
    max_partitions_per_insert_block: maxPartitions,
  };
}

const settingsSql = (settings: Record<string, string | number>): string =>
  Object.entries(settings)
    .map(([k, v]) => `${k} = ${typeof v === 'number' ? v : sqlString(v)}`)
    .join(', ');

export const TABLE_COLUMNS: Record<TableName, readonly string[]> = {
  otel_traces: SPAN_COLUMNS,
  otel_logs: LOG_COLUMNS,
  otel_service_graph_edges: EDGE_COLUMNS,
};

const sqlString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Writes a batch's chunks to `file` as they are (vectored, no concatenated copy of the batch),
 * over the previous batch's bytes: the file is kept between inserts and cut to this batch's
 * length, so its pages stay in the page cache and are overwritten in place. A new file per
 * batch (written, read, unlinked) had the kernel allocate, zero-fill and free every page of
 * every block. A 35,840-span sidecar-shaped block (14.2 MB) written and read back in 1 MiB
 * preads, as chDB reads it: 15.6 ms of CPU per 100k spans that way, 8.1 over the kept file
 * (medians of 8 rounds, alternated). A tmpfs (/dev/shm) was no cheaper: 2.2-4.0 ms per 6 MiB
 * new, 1.4-1.9 kept, against 2.0-2.6 and 1.1-1.5 here. The kept pages are page cache (not the
 * process's RSS), written back by the kernel's flusher at most every ~30 s while inserts run.
 */
async function stage(file: string, chunks: readonly Buffer[]): Promise<void> {
  const fh = await open(file, constants.O_WRONLY | constants.O_CREAT, 0o600);
  try {
    let position = 0;
    // In groups of IOV_MAX (1024) buffers; a short write continues where it stopped.
    for (let i = 0; i < chunks.length; i += 1024) {
      let group = chunks.slice(i, i + 1024);
      for (;;) {
        const expected = group.reduce((n, c) => n + c.length, 0);
        const { bytesWritten } = await fh.writev(group, position);
        position += bytesWritten;
        if (bytesWritten === expected) break;
        let skip = bytesWritten;
        const rest: Buffer[] = [];
        for (const c of group) {
          if (skip >= c.length) skip -= c.length;
          else {
            rest.push(skip > 0 ? c.subarray(skip) : c);
            skip = 0;
          }
        }
        group = rest;
      }
    }
    // The previous batch's tail goes: chDB reads the file to its end.
    await fh.truncate(position);
  } finally {
    await fh.close();
  }
}

/**
 * ClickHouse refused the data itself: the same insert fails again however often it is retried
 * (parse errors, values out of range, too many partitions in one block). Capacity and
 * availability errors are not: 252 TOO_MANY_PARTS is back-pressure ("Too many parts": merges
 * are behind) unless its message says too many partitions for a single INSERT block.
 */
export function isDataError(err: unknown): boolean {
  const text = `${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`;
  if (/Too many partitions for single INSERT block/i.test(text)) return true;
  if (/\b(TOO_MANY_PARTS|MEMORY_LIMIT_EXCEEDED|TIMEOUT_EXCEEDED|TOO_MANY_SIMULTANEOUS_QUERIES)\b/.test(text))
    return false;
  return DATA_ERROR.test(text);
}

// Codes (by name, as both chDB and the server print them) that describe the rows themselves.
const DATA_ERROR = new RegExp(
  [
    'CANNOT_PARSE\\w*',
    'INCORRECT_DATA',
    'TOO_LARGE_STRING_SIZE',
    'TOO_LARGE_ARRAY_SIZE',
    'SIZES_OF_ARRAYS_DONT_MATCH',
    'SIZES_OF_NESTED_COLUMNS_ARE_INCONSISTENT',
    'CANNOT_READ_ALL_DATA',
    'ARGUMENT_OUT_OF_BOUND',
    'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
    'DECIMAL_OVERFLOW',
    'CANNOT_CONVERT_TYPE',
    'ILLEGAL_TYPE_OF_ARGUMENT',
    'TYPE_MISMATCH',
    'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN',
    'UNKNOWN_IDENTIFIER',
    'NO_SUCH_COLUMN_IN_TABLE',
    'Cannot parse',
  ].join('|'),
);

/**
 * ClickHouse ran out of its memory for this insert: a smaller insert may pass where retrying
 * the same one would fail again and again.
 */
export function isMemoryError(err: unknown): boolean {
  const text = `${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`;
  return /\bMEMORY_LIMIT_EXCEEDED\b|memory limit exceeded/i.test(text);
}

export interface RowWriterOptions {
  /** Daily partitions one insert may touch (the accepted age window, in days, plus margin). */
  maxPartitionsPerInsert: number;
}

/**
 * How chDB reads a staged batch: with read calls into its own buffers, one parser. Embedded
 * (clickhouse-local) maps files by default, and a mapped batch is resident beside the rows
 * parsed from it; parallel parsing adds threads and chunk buffers for a file of a few MiB.
 */
const STAGED_READ_SETTINGS = { storage_file_read_method: 'pread', input_format_parallel_parsing: 0 } as const;

/** How long a writer keeps its block arena's slabs without an insert. */
const ARENA_IDLE_MS = 2000;

/** A type with every LowCardinality(T) replaced by T (what the staged rows are read as). */
export function withoutLowCardinality(type: string): string {
  let out = type;
  for (let at = out.indexOf('LowCardinality('); at >= 0; at = out.indexOf('LowCardinality(')) {
    // The matching parenthesis: the inner type may have its own, e.g. LowCardinality(FixedString(2)).
    let depth = 0;
    let end = at + 'LowCardinality'.length;
    for (; end < out.length; end++) {
      if (out[end] === '(') depth++;
      else if (out[end] === ')' && --depth === 0) break;
    }
    out = `${out.slice(0, at)}${out.slice(at + 'LowCardinality('.length, end)}${out.slice(end + 1)}`;
  }
  return out;
}

export function createRowWriter(storage: StorageClient, opts: RowWriterOptions): RowWriter {
  const { client, embedded, target } = storage;
  // Beside the chDB data directory; one file per table, since the pipeline inserts one
  // batch at a time.
  const staging = target.kind === 'embedded' ? resolve(dirname(target.path), 'insert-staging') : '';
  if (embedded !== undefined) mkdirSync(staging, { recursive: true });
  // Per table, the structure its staged rows are read as, from the migrated schema (asked at
  // the first insert: the writer starts once migrations are done).
  const structures = new Map<TableName, Promise<string>>();
  const structureOf = (table: TableName): Promise<string> => {
    let s = structures.get(table);
    if (s === undefined) {
      s = (async () => {
        const rs = await client.query({
          query: `SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ${sqlString(table)}`,
          format: 'JSONEachRow',
        });
        const types = new Map((await rs.json<{ name: string; type: string }>()).map((c) => [c.name, c.type]));
        return TABLE_COLUMNS[table]
          .map((c) => {
            const type = types.get(c);
            if (type === undefined) throw new StorageError(`table ${table} has no column ${c}`);
            return `\`${c}\` ${withoutLowCardinality(type)}`;
          })
          .join(', ');
      })();
      // A failed lookup is asked again at the next insert.
      s.catch(() => structures.delete(table));
      structures.set(table, s);
    }
    return s;
  };
  // A Native block's own buffers, cut from slabs kept between inserts; one block at a time (a
  // span insert that finds it taken assembles without). Let go after ARENA_IDLE_MS without inserts.
  // Embedded only: a staged block is read no more once written, a server's request body
  // (streamed) has no such point this writer sees.
  const arena = new BlockArena();
  let arenaTaken = false;
  let arenaIdle: NodeJS.Timeout | undefined;
  return {
    async insert(table, rows, token) {
      if (rows.length === 0) return;
      const columns = TABLE_COLUMNS[table].join(', ');
      const settings = insertSettings(token, opts.maxPartitionsPerInsert);
      const ownArena = embedded !== undefined && !arenaTaken && rows[0] instanceof SpanColumns;
      let arenaFree = (): void => undefined;
      if (ownArena) {
        arenaTaken = true;
        clearTimeout(arenaIdle);
        // Once the block is staged, nothing reads its buffers.
        arenaFree = () => {
          arenaFree = () => undefined;
          arena.reset();
          arenaTaken = false;
          arenaIdle = setTimeout(() => arena.clear(), ARENA_IDLE_MS).unref();
        };
      }
      try {
        const { format, chunks } = await insertDataInTurns(rows, ownArena ? arena : undefined);
        if (embedded !== undefined) {
          const file = join(staging, `${table}.${format}`);
          const embeddedSettings = settingsSql({ ...settings, ...EMBEDDED_INSERT_SETTINGS, ...STAGED_READ_SETTINGS });
          // A Native block names its columns and their types (the table's own, LowCardinality
          // included): read as it is. RowBinary is read as the table's types without
          // LowCardinality, then cast column-wise.
          const source =
            format === 'Native'
              ? `file(${sqlString(file)}, Native)`
              : `file(${sqlString(file)}, RowBinary, ${sqlString(await structureOf(table))})`;
          await stage(file, chunks);
          arenaFree();
          try {
            await embedded.chdb.queryAsync(
              `INSERT INTO ${table} (${columns}) SELECT * FROM ${source} SETTINGS ${embeddedSettings}`,
            );
          } finally {
            // Pool threads the insert started have the priority of the thread that ran it.
            storage.engineThreads?.apply();
          }
          return;
        }
        const result = await client.exec({
          query: `INSERT INTO ${table} (${columns}) FORMAT ${format}`,
          values: Readable.from(chunks, { objectMode: false }),
          clickhouse_settings: settings,
        });
        result.stream.resume();
      } catch (err) {
        throw new StorageError(`insert into ${table} failed: ${(err as Error).message}`, err);
      } finally {
        arenaFree();
      }
    },
  };
}
