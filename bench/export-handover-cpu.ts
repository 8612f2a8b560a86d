// What handing finished records to an export thread costs the request thread, this build against
// another (BENCH_BASELINE, a checkout with dist/ built), rounds interleaved in one process. Each
// build gets its own ExportPipeline and span export thread (OTLP/HTTP to a local receiver in its
// own process at nice 10), and is fed span-sized records (400 bytes) at about the rate of a
// sidecar under wrk (BENCH_RECORDS_PER_MS, default 32, every 1 ms timer tick); the request
// thread's CPU (its /proc task's schedstat) per record is the figure. Writing the records
// costs both builds the same; what differs is the hand-over of each batch (512 records) and
// what comes back from the thread. Records dropped are reported: a round with drops is not a
// fair comparison (a dropped record costs less than a written one).
// exportThreadCpuNsPerRecord is the other side: the export thread's own CPU per record (the
// thread that appeared when the build's pipeline was made), read after each run's last batch
// settled. On 2 cores shared with wrk and nginx it takes from the request path as much as the
// request thread's own; in a sidecar under wrk it was about 1.3-1.5 us per span (issue 21).
// Run: `npm run bench:export-handover-cpu`. Knobs: BENCH_BASELINE, BENCH_ROUNDS (7),
// BENCH_SECONDS (3 per build per round), BENCH_RECORDS_PER_MS (32).
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { schedstat } from './lib/cpu.js';
import { loadBuilds, medianRatio } from './lib/in-process.js';
import { median } from './lib/median.js';
import { startSink } from './lib/telemetry.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const PER_MS = Number(process.env.BENCH_RECORDS_PER_MS ?? 32);
const RECORD = new Uint8Array(400).fill(0x41);

interface Counter {
  name: string;
  tags: [];
  inc(): void;
  add(n: number): void;
  value(): number;
}
interface PipelineLike {
  beginRecord(): { append(b: Uint8Array): void } | null;
  endRecord(): void;
  shutdown(): Promise<void>;
}
type PipelineCtor = new (options: Record<string, unknown>) => PipelineLike;

function counter(): Counter {
  let n = 0;
  return { name: '', tags: [], inc: () => void n++, add: (a) => void (n += a), value: () => n };
}

/** This process's thread ids now. */
function taskIds(): Set<string> {
  return new Set(readdirSync(`/proc/${process.pid}/task`));
}

/** CPU nanoseconds the threads `tids` have used so far (a thread that has exited counts 0). */
function threadsCpuNs(tids: readonly string[]): number {
  let ns = 0;
  for (const t of tids) ns += schedstat(process.pid, t)?.runNs ?? 0;
  return ns;
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

async function main(): Promise<void> {
  const sink = await startSink();
  const url = `http://127.0.0.1:${sink.port}/v1/traces`;
  const builds = await loadBuilds(async (root) => {
    const mod = (await import(pathToFileURL(resolve(root, 'dist/proxy/telemetry/export-pipeline.js')).href)) as {
      ExportPipeline: PipelineCtor;
    };
    const counters = { sent: counter(), dropped: counter(), failed: counter() };
    const before = taskIds();
    const pipeline = new mod.ExportPipeline({
      thread: pathToFileURL(resolve(root, 'dist/proxy/tracing/export-thread.js')),
      workerData: {
        exporter: { kind: 'otlp-proto', url, headers: {}, timeoutMillis: 10_000 },
        resourceAttributes: { 'service.name': 'bench' },
      },
      maxOutstanding: 1 << 20,
      postEvery: 512,
      postEveryMs: 5000,
      counters,
      reserve: 256,
    });
    // The build's export thread is the thread that appears now (its isolate's own threads too).
    await new Promise((r) => setTimeout(r, 200));
    const threads = [...taskIds()].filter((t) => !before.has(t));
    return { pipeline, counters, threads };
  });
  const feed = async (p: PipelineLike, seconds: number): Promise<number> => {
    const total = Math.round(seconds * 1000 * PER_MS);
    for (let n = 0; n < total; ) {
      for (let i = 0; i < PER_MS; i++, n++) {
        const w = p.beginRecord();
        if (w === null) continue;
        w.append(RECORD);
        p.endRecord();
      }
      await tick();
    }
    return total;
  };
  for (const b of builds) await feed(b.build.pipeline, 1);
  const perRecord = new Map<string, number[]>(builds.map((b) => [b.name, []]));
  const threadPerRecord = new Map<string, number[]>(builds.map((b) => [b.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const b of round % 2 === 0 ? builds : [...builds].reverse()) {
      const before = schedstat(process.pid)!.runNs;
      const threadBefore = threadsCpuNs(b.build.threads);
      const n = await feed(b.build.pipeline, SECONDS);
      perRecord.get(b.name)!.push(Math.round((schedstat(process.pid)!.runNs - before) / n));
      // The batches handed over last are still being sent: let them settle before reading.
      await new Promise((r) => setTimeout(r, 100));
      threadPerRecord.get(b.name)!.push(Math.round((threadsCpuNs(b.build.threads) - threadBefore) / n));
    }
  }
  // Let the last batches settle, then count what was sent and dropped.
  await new Promise((r) => setTimeout(r, 1000));
  const rows = builds.map((b) => ({
    name: b.name,
    mainThreadCpuNsPerRecord: median(perRecord.get(b.name)!),
    rounds: perRecord.get(b.name)!,
    exportThreadCpuNsPerRecord: median(threadPerRecord.get(b.name)!),
    exportThreadRounds: threadPerRecord.get(b.name)!,
    sent: b.build.counters.sent.value(),
    dropped: b.build.counters.dropped.value(),
    failed: b.build.counters.failed.value(),
  }));
  const base = perRecord.get('baseline');
  const out = {
    benchmark: 'export-handover-cpu',
    recordsPerSecond: PER_MS * 1000,
    secondsPerRun: SECONDS,
    rounds: ROUNDS,
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
    rows,
    thisOverBaseline: base === undefined ? null : medianRatio(perRecord.get('this')!, base),
    exportThreadThisOverBaseline:
      base === undefined ? null : medianRatio(threadPerRecord.get('this')!, threadPerRecord.get('baseline')!),
  };
  for (const b of builds) await b.build.pipeline.shutdown();
  sink.process.kill('SIGTERM');
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench:export-handover-cpu failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
