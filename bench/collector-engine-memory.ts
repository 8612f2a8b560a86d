// `npm run bench:collector-engine-memory`: embedded chDB's memory and CPU for a fixed amount of
// work, the allocator's options being what is compared (JE_MALLOC_CONF in this process's
// environment, e.g. JE_MALLOC_CONF=dirty_decay_ms:5000 for the library's built-in decay; unset:
// the collector's, storage/clickhouse/jemalloc-options.ts). The work: BENCH_INSERTS (10) inserts
// of BENCH_ROWS (60,000) spans of BENCH_SHAPE (sidecar | synthetic) decoded as the collector
// decodes them, inserted by its writer as one Native block each, BENCH_GAP_MS (0) apart, merges
// on, until no merge has run for a second. Prints process CPU (chDB's threads included), the
// peak anonymous resident set (sampled every 20 ms) and jemalloc's resident memory at the end.
// The decoded batches (two, reused) are held throughout and are part of every figure. Run it
// interleaved, one process per setting: the library reads its options once, when it loads,
// and in this bundle before any of its code runs, so the work runs in a child process started
// with the options in its environment.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorageClient } from '../collector/storage/clickhouse/client.js';
import { JEMALLOC_OPTIONS } from '../collector/storage/clickhouse/jemalloc-options.js';
import { tuneEmbeddedTables } from '../collector/storage/clickhouse/embedded.js';
import { migrate } from '../collector/storage/clickhouse/migrate.js';
import { createRowWriter } from '../collector/storage/clickhouse/writer.js';
import { decodedSpanBatches } from './lib/span-batches.js';
import { makeSidecarBodies, makeSyntheticBodies } from './lib/span-shapes.js';

async function run(): Promise<void> {
  const ROWS = Number(process.env.BENCH_ROWS ?? 60_000);
  const INSERTS = Number(process.env.BENCH_INSERTS ?? 10);
  const bodies = process.env.BENCH_SHAPE === 'synthetic' ? makeSyntheticBodies() : makeSidecarBodies();
  const batches = decodedSpanBatches(bodies, ROWS);
  const dir = mkdtempSync(join(tmpdir(), 'bench-engine-memory-'));
  const storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') }, 256 * 1024 * 1024, 0);
  const status = () => readFileSync('/proc/self/status', 'utf8');
  const kb = (s: string, k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  let peakAnon = 0;
  const timer = setInterval(() => {
    peakAnon = Math.max(peakAnon, kb(status(), 'RssAnon'));
  }, 20);
  try {
    await migrate(storage.client, { ttlDays: 0 });
    await tuneEmbeddedTables(storage.client);
    const chdb = storage.embedded!.chdb;
    const q = async (sql: string): Promise<string> => (await chdb.queryAsync(sql, { format: 'TSVRaw' })).text();
    const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
    const anon0 = kb(status(), 'RssAnon');
    const c0 = process.cpuUsage();
    const t0 = Date.now();
    for (let i = 0; i < INSERTS; i++) {
      await writer.insert('otel_traces', batches[i % 2]!, randomUUID());
      await new Promise((r) => setTimeout(r, Number(process.env.BENCH_GAP_MS ?? 0)));
    }
    // Until merges settle (five looks 200 ms apart without one running).
    for (let idle = 0; idle < 5; ) {
      await new Promise((r) => setTimeout(r, 200));
      const m = Number((await q('SELECT count() FROM system.merges')).trim());
      idle = m === 0 ? idle + 1 : 0;
      if (Date.now() - t0 > 120_000) break;
    }
    const cpu = process.cpuUsage(c0);
    const je = await q('SELECT * FROM system.jemalloc_stats');
    const m = /Allocated: (\d+), active: (\d+), metadata: (\d+).*?resident: (\d+), mapped: (\d+), retained: (\d+)/.exec(
      je,
    )!;
    const s = status();
    console.log(
      JSON.stringify({
        conf: process.env.JE_MALLOC_CONF ?? '',
        shape: process.env.BENCH_SHAPE ?? 'sidecar',
        cpuS: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
        sysS: Number((cpu.system / 1e6).toFixed(2)),
        hwmMb: kb(s, 'VmHWM') >> 10,
        peakAnonMb: peakAnon >> 10,
        anon0Mb: anon0 >> 10,
        anonEndMb: kb(s, 'RssAnon') >> 10,
        jeResEndMb: Number(m[4]) >> 20,
        jeActiveEndMb: Number(m[2]) >> 20,
        parts: (await q("SELECT count() FROM system.parts WHERE active AND table='otel_traces'")).trim(),
      }),
    );
  } finally {
    clearInterval(timer);
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.BENCH_ENGINE_MEMORY_CHILD === '1') await run();
else {
  // JE_MALLOC_CONF: the operator's, else the collector's (jemalloc-options.ts set it on import).
  const child = spawnSync(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    env: {
      ...process.env,
      JE_MALLOC_CONF: process.env.JE_MALLOC_CONF ?? JEMALLOC_OPTIONS,
      BENCH_ENGINE_MEMORY_CHILD: '1',
    },
  });
  process.exitCode = child.status ?? 1;
}
