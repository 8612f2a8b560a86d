// Embedded chDB's merge memory as parts accumulate (issue 19: the collector's peak RSS grows with
// run length): BENCH_INSERTS (150) inserts of BENCH_ROWS (16,384) sidecar spans through the
// collector's writer, back to back, the engine's ceiling at 256 MiB (the default --memory-limit's
// share), merges on; every 100 ms the running merges (system.merges: parts, uncompressed size,
// algorithm, memory_usage), MemoryTracking and RssAnon. Prints one line per merge (its peak) and
// a summary (peaks, inserts refused at the ceiling, process CPU). BENCH_ALTER: statements run
// after the collector's table tuning (';'-separated), e.g. "ALTER TABLE otel_traces MODIFY
// SETTING max_parts_to_merge_at_once = 16", to compare merge settings.
// Build: esbuild bench/collector-merge-memory.ts --bundle --platform=node --format=esm
// --packages=external --outfile=dist/bench/collector-merge-memory.js
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorageClient } from '../collector/storage/clickhouse/client.js';
import { tuneEmbeddedTables } from '../collector/storage/clickhouse/embedded.js';
import { migrate } from '../collector/storage/clickhouse/migrate.js';
import { createRowWriter } from '../collector/storage/clickhouse/writer.js';
import { decodedSpanBatches } from './lib/span-batches.js';
import { makeSidecarBodies } from './lib/span-shapes.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 16_384);
const INSERTS = Number(process.env.BENCH_INSERTS ?? 150);
const EXTRA = process.env.BENCH_ALTER ?? '';
const batches = decodedSpanBatches(makeSidecarBodies(), ROWS);
const dir = mkdtempSync(join(tmpdir(), 'bench-merge-memory-'));
const storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') }, 256 * 1024 * 1024, 0);
const kb = (k: string): number =>
  Number(new RegExp(`${k}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
try {
  await migrate(storage.client, { ttlDays: 0 });
  await tuneEmbeddedTables(storage.client);
  if (EXTRA) for (const s of EXTRA.split(';')) await storage.client.command({ query: s });
  const chdb = storage.embedded!.chdb;
  const q = async (sql: string): Promise<string> => (await chdb.queryAsync(sql, { format: 'TSVRaw' })).text();
  const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
  const merges = new Map<
    string,
    { table: string; parts: number; mb: number; rows: number; alg: string; peakMb: number }
  >();
  let peakTracked = 0;
  let peakAnon = 0;
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      const rows = await q(
        'SELECT table, result_part_name, num_parts, total_size_bytes_uncompressed, rows_read, merge_algorithm, memory_usage FROM system.merges',
      );
      for (const line of rows.split('\n').filter(Boolean)) {
        const [table, name, parts, size, rowsRead, alg, mem] = line.split('\t');
        const m = merges.get(name!) ?? {
          table: table!,
          parts: Number(parts),
          mb: Math.round(Number(size) / 1048576),
          rows: 0,
          alg: alg!,
          peakMb: 0,
        };
        m.peakMb = Math.max(m.peakMb, Math.round(Number(mem) / 1048576));
        m.rows = Math.max(m.rows, Number(rowsRead));
        m.alg = alg!;
        merges.set(name!, m);
      }
      peakTracked = Math.max(
        peakTracked,
        Number((await q("SELECT value FROM system.metrics WHERE metric='MemoryTracking'")).trim()),
      );
      peakAnon = Math.max(peakAnon, kb('RssAnon'));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  let refused = 0;
  for (let i = 0; i < INSERTS; i++) {
    try {
      await writer.insert('otel_traces', batches[i % 2]!, randomUUID());
    } catch (err) {
      // The engine's ceiling (merges and this insert together): the collector would split and retry.
      if (!String(err).includes('MEMORY_LIMIT_EXCEEDED')) throw err;
      refused++;
      i--;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  for (let idle = 0; idle < 5; ) {
    await new Promise((r) => setTimeout(r, 200));
    idle = Number((await q('SELECT count() FROM system.merges')).trim()) === 0 ? idle + 1 : 0;
    if (Date.now() - t0 > 300_000) break;
  }
  stop = true;
  await poll;
  for (const [name, m] of merges) console.log(JSON.stringify({ name, ...m }));
  console.log(
    JSON.stringify({
      alter: EXTRA,
      refused,
      cpuS: Number(((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6).toFixed(2)),
      peakMergeMb: Math.max(...[...merges.values()].map((m) => m.peakMb)),
      seconds: (Date.now() - t0) / 1000,
      peakTrackedMb: Math.round(peakTracked / 1048576),
      peakAnonMb: peakAnon >> 10,
      hwmMb: kb('VmHWM') >> 10,
      parts: (
        await q('SELECT table, count(), groupArray(part_type) FROM system.parts WHERE active GROUP BY table')
      ).trim(),
    }),
  );
} finally {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
