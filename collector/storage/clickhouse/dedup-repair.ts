// Embedded only, before the engine opens the data directory: removes insert-deduplication
// records whose rows never landed. A non-replicated MergeTree writes a block's id to its
// deduplication log (<table>/deduplication_logs/deduplication_log_N.txt: operation, part name,
// block id, tab-separated; 1 = add) before it renames the new part into place. A process killed
// in between keeps the id and loses the part (temporary parts are removed at start), and the
// replay of that insert under the same token is then dropped as a duplicate for good. Seen
// under exactly-once's SIGKILLs on chDB 26.7: otel_service_graph_1m's log named part
// 20261207_9_9_1 twice (the first id's rows were nowhere; after the restart the block number
// was given to the next insert) and the per-minute counts were 860 short; once before the same
// in otel_traces_trace_id_ts.
//
// A record is an orphan when no part directory of its table covers its block range in its
// partition: a part that landed is on disk itself or inside the merged part that replaced it.
// (A part dropped by TTL also leaves its record uncovered; forgetting it costs nothing, since a
// replay only ever repeats the latest batch.) Only add records with a plain part name are
// judged; anything else is kept as it is.

import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** partition_min_max_level[_mutation], partition ids without '_' (the collector's: dates, 'all'). */
const PART_NAME = /^([^_]+)_(\d+)_(\d+)_\d+(?:_\d+)?$/;
const LOG_FILE = /^deduplication_log_\d+\.txt$/;

interface BlockRange {
  partition: string;
  min: number;
  max: number;
}

function blockRange(name: string): BlockRange | undefined {
  const m = PART_NAME.exec(name);
  return m === null ? undefined : { partition: m[1]!, min: Number(m[2]), max: Number(m[3]) };
}

const dirs = (path: string): string[] =>
  readdirSync(path, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);

/**
 * Removes orphaned add records from every table's deduplication log under the chDB data
 * directory `path` (store/<prefix>/<uuid>/). Must run before any session opens `path` in this
 * process: a running engine holds the logs open. Returns the records removed, per log file.
 */
export function repairDeduplicationLogs(path: string): { file: string; removed: string[] }[] {
  const store = join(path, 'store');
  if (!existsSync(store)) return [];
  const repaired: { file: string; removed: string[] }[] = [];
  for (const prefix of dirs(store)) {
    for (const table of dirs(join(store, prefix))) {
      const tableDir = join(store, prefix, table);
      const logs = join(tableDir, 'deduplication_logs');
      if (!existsSync(logs)) continue;
      const parts = dirs(tableDir)
        .map(blockRange)
        .filter((r) => r !== undefined);
      const landed = (r: BlockRange): boolean =>
        parts.some((p) => p.partition === r.partition && p.min <= r.min && p.max >= r.max);
      for (const name of readdirSync(logs).filter((f) => LOG_FILE.test(f))) {
        const file = join(logs, name);
        const removed: string[] = [];
        const kept = readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => {
            const [op, part] = line.split('\t');
            const range = op === '1' && part !== undefined ? blockRange(part) : undefined;
            if (range === undefined || landed(range)) return true;
            removed.push(line);
            return false;
          });
        if (removed.length === 0) continue;
        // Replaced whole (write, then rename): a kill meanwhile leaves the old log or the new.
        writeFileSync(`${file}.repair`, kept.join('\n'));
        renameSync(`${file}.repair`, file);
        repaired.push({ file, removed });
      }
    }
  }
  return repaired;
}
