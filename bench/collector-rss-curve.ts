// The collector's memory over a long bench:collector run (issue 19: does its peak keep growing
// with run length?). Runs dist/bench/collector.js (build it first, with the knobs in this
// process's environment, e.g. BENCH_SECONDS=240 BENCH_MICRO=0 BENCH_SHAPES=sidecar
// BENCH_WARMUP_SECONDS=0) and samples its `meshscope collector` child every BENCH_SAMPLE_MS
// (500) from outside: the resident set (anonymous, file-backed, high-water mark), malloc's main
// heap ([heap] in smaps: Node's Buffers), thread count (names when it changes), part
// directories under the data dir (active and outdated), and from the collector's /metrics the
// V8 heap, external memory, embedded ClickHouse's MemoryTracking, queued items and refusals.
// Writes one JSON line per sample to BENCH_RSS_CURVE_OUT (collector-rss-curve.jsonl) and
// prints per-bin maxima (BENCH_BIN_SECONDS, 20) after the bench's own JSON.
// Build: esbuild bench/collector-rss-curve.ts --bundle --platform=node --format=esm
// --packages=external --outfile=dist/bench/collector-rss-curve.js
// Sampling from outside keeps bench:collector's figures as they are (its own sampler reads
// once a second; smaps and a directory walk every 500 ms cost the collector nothing).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, type Dirent, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../up/state.js';

const EVERY_MS = Number(process.env.BENCH_SAMPLE_MS ?? 500);
const OUT = process.env.BENCH_RSS_CURVE_OUT ?? 'collector-rss-curve.jsonl';
const BIN_SECONDS = Number(process.env.BENCH_BIN_SECONDS ?? 20);

interface Sample {
  t: number;
  rssMb: number;
  hwmMb: number;
  anonMb: number;
  fileMb: number;
  mallocHeapMb: number;
  threads: number;
  threadNames?: Record<string, number>;
  partDirs: number;
  v8HeapTotalMb?: number;
  v8HeapUsedMb?: number;
  externalMb?: number;
  clickhouseTrackedMb?: number;
  queuedItems?: number;
  refusedItems?: number;
  storedItems?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (n: number): number => Math.round(n * 10) / 10;

/** The bench's `meshscope collector` child, once it has started. */
async function findCollector(benchPid: number): Promise<number | undefined> {
  while (processAlive(benchPid)) {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
        if (ppid === String(benchPid) && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('collector'))
          return Number(d);
      } catch {
        // The process ended between the listing and the read.
      }
    }
    await sleep(100);
  }
  return undefined;
}

/** The collector's query API (the listening port that serves /metrics), from ss. */
async function findMetrics(pid: number): Promise<string | undefined> {
  for (let tries = 0; tries < 100 && processAlive(pid); tries++) {
    const ports = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(`pid=${pid},`))
      .map((l) => l.split(/\s+/)[3]!.split(':').pop()!);
    for (const port of ports) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        if (res.status === 200 && (await res.text()).includes('nodejs_heap')) return `http://127.0.0.1:${port}/metrics`;
      } catch {
        // The OTLP port answers something else.
      }
    }
    await sleep(200);
  }
  return undefined;
}

/** Part directories (active and outdated) of every MergeTree table under the data dir. */
function partDirs(dir: string, depth = 0): number {
  let n = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (/^(all|\d+)_\d+_\d+_\d+/.test(e.name)) n++;
    else if (depth < 5 && !e.name.startsWith('detached')) n += partDirs(join(dir, e.name), depth + 1);
  }
  return n;
}

function sample(pid: number, dataDir: string, t: number, lastThreads: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024;
  let heapKb = 0;
  let mapping = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mapping = line;
    else if (line.startsWith('Anonymous:') && mapping.endsWith('[heap]')) heapKb += Number(line.split(/\s+/)[1]);
  }
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const s: Sample = {
    t: round(t),
    rssMb: round(mb('VmRSS')),
    hwmMb: round(mb('VmHWM')),
    anonMb: round(mb('RssAnon')),
    fileMb: round(mb('RssFile')),
    mallocHeapMb: round(heapKb / 1024),
    threads,
    partDirs: partDirs(dataDir),
  };
  if (threads !== lastThreads) {
    const names: Record<string, number> = {};
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        const name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim();
        names[name] = (names[name] ?? 0) + 1;
      } catch {
        // The thread ended.
      }
    }
    s.threadNames = names;
  }
  return s;
}

function addMetrics(s: Sample, text: string): void {
  const value = (name: string): number =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  s.v8HeapTotalMb = round(value('nodejs_heap_size_total_bytes') / 1048576);
  s.v8HeapUsedMb = round(value('nodejs_heap_size_used_bytes') / 1048576);
  s.externalMb = round(value('nodejs_external_memory_bytes') / 1048576);
  s.clickhouseTrackedMb = round(value('meshscope_collector_clickhouse_memory_bytes') / 1048576);
  s.queuedItems = value('meshscope_collector_queued_items');
  s.refusedItems = value('meshscope_collector_refused_items_total');
  s.storedItems = Number(/^meshscope_collector_stored_items_total\{table="otel_traces"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

const bench = spawn(process.execPath, [join(import.meta.dirname, 'collector.js')], { stdio: 'inherit' });
process.on('exit', () => {
  if (bench.exitCode === null) bench.kill('SIGKILL');
});
const benchDone = new Promise<void>((resolve) => bench.once('exit', () => resolve()));
const pid = await findCollector(bench.pid!);
const samples: Sample[] = [];
if (pid !== undefined) {
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const dataDir = cmd[cmd.indexOf('--data') + 1]!;
  const metrics = await findMetrics(pid);
  writeFileSync(OUT, '');
  const t0 = Date.now();
  let lastThreads = 0;
  while (processAlive(pid)) {
    try {
      const s = sample(pid, dataDir, (Date.now() - t0) / 1000, lastThreads);
      lastThreads = s.threads;
      if (metrics !== undefined) addMetrics(s, await (await fetch(metrics)).text());
      samples.push(s);
      appendFileSync(OUT, `${JSON.stringify(s)}\n`);
    } catch {
      // The collector is stopping (the bench ended): its last sample stands.
    }
    await sleep(EVERY_MS);
  }
}
await benchDone;
// Per bin: the peaks (and the anonymous floor: what stays once merges and garbage are gone).
const bins = new Map<number, Sample[]>();
for (const s of samples) {
  const k = Math.floor(s.t / BIN_SECONDS) * BIN_SECONDS;
  bins.set(k, [...(bins.get(k) ?? []), s]);
}
const max = (ss: Sample[], f: (s: Sample) => number): number => Math.max(...ss.map(f));
const min = (ss: Sample[], f: (s: Sample) => number): number => Math.min(...ss.map(f));
console.log(
  JSON.stringify(
    {
      rssCurve: [...bins].map(([from, ss]) => ({
        fromSeconds: from,
        hwmMb: max(ss, (s) => s.hwmMb),
        anonMaxMb: max(ss, (s) => s.anonMb),
        anonMinMb: min(ss, (s) => s.anonMb),
        mallocHeapMaxMb: max(ss, (s) => s.mallocHeapMb),
        clickhouseTrackedMaxMb: max(ss, (s) => s.clickhouseTrackedMb ?? 0),
        clickhouseTrackedMinMb: min(ss, (s) => s.clickhouseTrackedMb ?? 0),
        externalMaxMb: max(ss, (s) => s.externalMb ?? 0),
        v8HeapTotalMaxMb: max(ss, (s) => s.v8HeapTotalMb ?? 0),
        threadsMax: max(ss, (s) => s.threads),
        partDirsMax: max(ss, (s) => s.partDirs),
        refusedItems: ss.at(-1)!.refusedItems,
      })),
    },
    null,
    1,
  ),
);
