// Embedded ClickHouse (chDB) inside the collector's memory budget, by ClickHouse's own
// settings. Its memory tracker counts only the engine's allocations (never V8's heap or
// Node's Buffers); its ceiling is max_server_memory_usage, for queries, inserts and merges
// together. Measured on chDB 26.7 (the tracker's peak while one INSERT ran, merges stopped):
// - writing a wide part costs a fixed ~130 MiB on otel_traces whatever its row count: every
//   column stream (about 40 with the maps' and Nested's sub-streams, plus the skip indexes)
//   holds a compression buffer and a file buffer of max_compress_block_size (1 MiB). At 64 KiB
//   the same insert of 300k rows peaked at 205 MiB instead of 323 MiB, and the parts were as
//   small on disk. Merges write wide parts the same way.
// - INSERT … SELECT squashes its blocks up to min_insert_block_size_bytes (256 MiB) before
//   writing: a million generated spans needed more than the engine's whole share.

import type { ClickHouseClient } from '@clickhouse/client';

const KiB = 1024;

/**
 * Engine arguments (clickhouse-local's command line): the memory tracker's ceiling, caches it
 * would otherwise size from the machine's RAM, merges and INSERT … SELECT blocks inside it.
 */
export function engineArgs(memoryBytes: number): string[] {
  return [
    `--max_server_memory_usage=${memoryBytes}`,
    `--mark_cache_size=${Math.floor(memoryBytes / 16)}`,
    `--primary_index_cache_size=${Math.floor(memoryBytes / 16)}`,
    '--uncompressed_cache_size=0',
    '--index_mark_cache_size=0',
    '--index_uncompressed_cache_size=0',
    '--mmap_cache_size=0',
    // Caches the collector's statements fill only a little (JIT-compiled expressions, the
    // conditions of repeated queries), sized for a server by default (128 and 100 MiB), and
    // caches of features its tables do not use (vector and text indexes, unique keys, Parquet,
    // Iceberg; up to 5 GiB by default): all inside the engine's ceiling, none can outgrow it.
    `--compiled_expression_cache_size=${Math.floor(memoryBytes / 32)}`,
    `--query_condition_cache_size=${Math.floor(memoryBytes / 32)}`,
    '--vector_similarity_index_cache_size=0',
    '--text_index_tokens_cache_size=0',
    '--text_index_header_cache_size=0',
    '--text_index_postings_cache_size=0',
    '--parquet_metadata_cache_size=0',
    '--iceberg_metadata_files_cache_size=0',
    '--unique_key_index_cache_size_bytes=0',
    // No new merge starts while running ones hold this much; inserts keep the rest.
    `--merges_mutations_memory_usage_soft_limit=${Math.floor(memoryBytes / 2)}`,
  ];
}

/**
 * Query settings of every statement on an embedded connection (engine arguments only reach the
 * connection they open with, so they go on each client): an INSERT … SELECT (the UI bench's
 * seed, a backfill) writes its rows in blocks of this size, not 256 MiB ones. A million
 * generated spans peaked at 131 MiB of the tracker with 8 MiB blocks, 568 MiB by default.
 */
export const EMBEDDED_QUERY_SETTINGS = { min_insert_block_size_bytes: String(8 * 1024 * KiB) } as const;

/** MergeTree settings of the collector's wide tables, embedded only (a server has the memory). */
const TABLE_SETTINGS = `max_compress_block_size = ${64 * KiB}, min_compress_block_size = ${16 * KiB}`;

/** Tables with many column streams: the ones whose part writers the settings shrink. */
const WIDE_TABLES = ['otel_traces', 'otel_logs'] as const;

/**
 * Merges, embedded only: in bench:collector's window chDB's merges cost about as much CPU as
 * its inserts (each part of a sustained stream is rewritten once per merge level). A merge
 * waits for 8 parts of a range instead of a few (the selector's default), so each row is
 * rewritten fewer times; parts stay far below parts_to_delay_insert. Measured with 20k-row
 * inserts of 160k spans until merges settled (CPU-s per 100k rows, insert / insert + merges):
 * synthetic 1.1 / 2.1 -> 0.57 / 1.16 with the insert setting below, sidecar-shaped
 * 1.69 / 2.05 -> 1.20 / 1.69.
 */
const MERGE_SETTINGS = 'min_parts_to_merge_at_once = 8';

/**
 * Parts of otel_traces and otel_logs below this many uncompressed bytes are written compact
 * (every column in one file) instead of wide (a data and a marks file per column stream, ~40):
 * every insert of the collector (at most batchMaxRows items, ~500-560 bytes each) and merges of
 * small parts, while a merge of 8 inserts' parts of ≥ 16 MiB is wide again. chDB pays a wide
 * part's files at every insert (opens, writes, renames: system time), about as much for a small
 * batch as for a big one. Measured (rows encoded and inserted as the writer does, merges until
 * settled, interleaved against 10 MiB (ClickHouse's default), load 9-16), CPU-s:
 * bench:collector-engine-memory (10 x 60k spans) 2.29/2.55/2.50 -> 2.03/1.97/2.09, system time
 * 0.72/0.92/0.89 -> 0.46/0.61/0.50, peak anonymous RSS 342/297/336 -> 322/359/310 MB;
 * bench/chdb-cost.ts per 100k spans, 16 x 32k: 0.505/0.533/0.535/0.529/0.594 ->
 * 0.43/0.47/0.499/0.379/0.545, 8 x 64k: 0.36/0.425/0.445 -> 0.354/0.374/0.375, 27 x 19k (within
 * noise): 0.601/0.605/0.707 -> 0.557/0.631/0.753. The inserting threads' CPU fell, the merges'
 * rose a little (reading compact parts). otel_logs (SHAPE=logs: access-log records, load 7-10),
 * per 100k logs, inserts / in all: 16 x 32k 0.478 / 0.610 -> 0.405 / 0.568 (medians of 4),
 * 12 x 64k 0.412 / 0.482 -> 0.342 / 0.419 (medians of 3; in all 0.458-0.491 -> 0.413-0.424).
 * Storage only: columns, codecs, indexes and queries stay.
 */
const COMPACT_SETTINGS = `min_bytes_for_wide_part = ${128 * 1024 * KiB}`;

/** The tables every span or log insert writes a part to (directly or through a view). */
const INSERTED_TABLES = ['otel_traces', 'otel_traces_trace_id_ts', 'otel_logs'] as const;

/**
 * Settings of every embedded insert. Skip indexes (five bloom filters on otel_traces, seven
 * on otel_logs) are built when parts merge instead of on insert, where they are built again
 * anyway: a part not merged yet is read without skipping, and recent parts are the small ones.
 */
export const EMBEDDED_INSERT_SETTINGS = { materialize_skip_indexes_on_insert: 0 } as const;

/**
 * Column codecs, embedded only: LZ4 where the exporter's DDL says ZSTD(1) (Delta stays), since
 * chDB compresses on the collector's own CPU, at every insert and again at every merge. Measured
 * on 262k sidecar-shaped spans in inserts of 8k to 64k rows until merges settled (paired runs,
 * CPU-s per 100k rows): 1.36/1.53 -> 1.20/1.23 at 8k, 0.78/0.83 -> 0.69/0.66 at 16k (the bench's
 * batches), 0.81/0.86 -> 0.70/0.72 at 32k; the merges' share fell by a fifth. The parts grow
 * from 51 to 73 bytes per span on disk. A codec is storage only: the columns, their types and
 * every query stay as they are, and ALTER … CODEC rewrites nothing (parts written before keep
 * ZSTD until they merge). A server keeps the exporter's codecs: its CPU is not ours.
 */
const CODEC_TABLES = ['otel_traces', 'otel_traces_trace_id_ts', 'otel_logs'] as const;

/** A codec expression with ZSTD(level) replaced by LZ4 (`CODEC(Delta(8), ZSTD(1))` -> `CODEC(Delta(8), LZ4)`). */
export const lz4Codec = (codec: string): string => codec.replace(/\bZSTD(\(\d+\))?/g, 'LZ4');

/**
 * Derived data chDB rebuilds at every merge level of a sustained span stream and no query of the
 * collector reads, embedded only: the bloom filters over the attribute maps' keys (a proxy's
 * spans carry the same few keys in every granule, so they never skip one; the value filters,
 * which find a request id among a million spans 30x faster, stay) and the per-column statistics
 * ClickHouse collects by default on every part written (auto_statistics_types 'basic, uniq_v2',
 * for the optimizer's estimates). The key filters cost about as much to build as the value ones
 * (mapKeys turns every LowCardinality key back into a string to hash it). Measured, OPTIMIZE
 * FINAL of 500k sidecar-shaped spans, the same part rewritten in alternated rounds, CPU-s per
 * 100k spans, medians of 5 and 6 rounds (load ~12): all 0.134 / 0.122, without the key filters
 * 0.123 / 0.110, without both 0.110 / 0.110 (the statistics alone: 16 of 22 rounds lower, ~3%).
 * Jaeger tag searches (findTraceIds) on 1M spans, by request id / by a status present in every
 * granule: 36 / 477 ms with the key filters, 26 / 466 without, 1065 / 491 without the value
 * filters too. A server keeps the exporter's indexes: its CPU is not ours.
 */
const UNREAD_KEY_INDEXES: Readonly<Record<string, readonly string[]>> = {
  otel_traces: ['idx_res_attr_key', 'idx_span_attr_key'],
};
const NO_STATISTICS = "auto_statistics_types = ''";

/** Applies the embedded table settings (idempotent; after the migrations, at every start). */
export async function tuneEmbeddedTables(client: ClickHouseClient): Promise<void> {
  for (const table of WIDE_TABLES)
    await client.command({ query: `ALTER TABLE ${table} MODIFY SETTING ${TABLE_SETTINGS}, ${COMPACT_SETTINGS}` });
  for (const table of INSERTED_TABLES)
    await client.command({ query: `ALTER TABLE ${table} MODIFY SETTING ${MERGE_SETTINGS}, ${NO_STATISTICS}` });
  for (const [table, indexes] of Object.entries(UNREAD_KEY_INDEXES)) {
    // Only those still there: a DROP INDEX IF EXISTS of a dropped index is still a mutation,
    // which every part of the table would go through again at every start.
    const rs = await client.query({
      query: `SELECT name FROM system.data_skipping_indices WHERE database = currentDatabase() AND table = '${table}'`,
      format: 'JSONEachRow',
    });
    const present = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
    const drops = indexes.filter((i) => present.has(i)).map((i) => `DROP INDEX ${i}`);
    if (drops.length > 0) await client.command({ query: `ALTER TABLE ${table} ${drops.join(', ')}` });
  }
  for (const table of CODEC_TABLES) {
    const rs = await client.query({
      query: `SELECT name, compression_codec FROM system.columns WHERE database = currentDatabase() AND table = '${table}' AND compression_codec LIKE '%ZSTD%'`,
      format: 'JSONEachRow',
    });
    const columns = await rs.json<{ name: string; compression_codec: string }>();
    // Once changed, nothing matches: later starts issue no ALTER.
    if (columns.length === 0) continue;
    const clauses = columns.map((c) => `MODIFY COLUMN \`${c.name}\` ${lz4Codec(c.compression_codec)}`);
    await client.command({ query: `ALTER TABLE ${table} ${clauses.join(', ')}` });
  }
}
