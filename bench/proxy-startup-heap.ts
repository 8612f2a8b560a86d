// `npm run bench:proxy-startup-heap`: what a proxy holds once started, before any traffic, this
// build against others: V8's old, code and large-object spaces in use after two full collections
// (what start-up keeps alive: modules, schemas, the configuration's objects), and the process's
// resident memory split into anonymous pages and file pages (the node binary). Issue 21's peak
// RSS is this plus what load adds (the young generation, buffers), so a change to what start-up
// loads is judged here first: heap figures after a full collection do not depend on the host's
// load, where a peak RSS under wrk moves by a megabyte from run to run.
// meshscope --concurrency 1 with bench:proxy's bootstrap (one listener, one route, one STATIC
// cluster, written as YAML as bench:proxy writes it); each build is started BENCH_ROUNDS times,
// builds interleaved, and the medians reported. The figures are taken by a preload (written to
// the bench's work directory at run time) that collects garbage and reads the spaces on SIGUSR2,
// a settle time after the listener accepts.
// Builds: this checkout's dist/ ("this") and BENCH_BASELINE=<checkout with dist/> ("baseline").
// Knobs: BENCH_ROUNDS (3), SETTLE_MS (1000).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { baselineCli, freePort, proxyBootstrap, startMeshscope, stopAll, workDir } from './lib/peers.js';
import { median } from './lib/median.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 1000);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`BENCH_ROUNDS must be a whole number >= 1, got ${ROUNDS}`);
if (!Number.isFinite(SETTLE_MS) || SETTLE_MS < 0) throw new Error(`SETTLE_MS must be a number >= 0, got ${SETTLE_MS}`);

/** What the preload reports, in MB. */
interface HeldMemory {
  oldSpaceMb: number;
  codeSpaceMb: number;
  largeObjectSpaceMb: number;
  heapUsedMb: number;
  externalMb: number;
  rssMb: number;
  rssAnonMb: number;
  rssFileMb: number;
}

const PRELOAD = join(workDir, 'startup-heap-preload.cjs');
writeFileSync(
  PRELOAD,
  `const { getHeapSpaceStatistics } = require('node:v8');
const { readFileSync, writeFileSync } = require('node:fs');
process.on('SIGUSR2', () => {
  globalThis.gc();
  globalThis.gc();
  const mb = (b) => Math.round((b / 1048576) * 100) / 100;
  const used = (name) => mb(getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_used_size ?? 0);
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(new RegExp(key + ':\\\\s+(\\\\d+) kB').exec(status)?.[1] ?? 0);
  const m = process.memoryUsage();
  const out = {
    oldSpaceMb: used('old_space'),
    codeSpaceMb: used('code_space'),
    largeObjectSpaceMb: used('large_object_space'),
    heapUsedMb: mb(m.heapUsed),
    externalMb: mb(m.external),
    rssMb: mb(kb('VmRSS') * 1024),
    rssAnonMb: mb(kb('RssAnon') * 1024),
    rssFileMb: mb(kb('RssFile') * 1024),
  };
  writeFileSync(${JSON.stringify(workDir)} + '/startup-heap-' + process.pid + '.json', JSON.stringify(out));
});
`,
);

async function measure(name: string, cli: string): Promise<HeldMemory> {
  const port = await freePort();
  // Nothing listens on the upstream port: a STATIC cluster does not connect before a request.
  const upstreamPort = await freePort();
  const peer = await startMeshscope(
    name,
    proxyBootstrap(port, upstreamPort),
    port,
    ['--drain-time-s', '0'],
    ['--expose-gc', '--require', PRELOAD],
    cli,
  );
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const file = join(workDir, `startup-heap-${peer.pid}.json`);
    process.kill(peer.pid, 'SIGUSR2');
    for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(file)) throw new Error(`${name}: no report from the preload within 5 s`);
    return JSON.parse(readFileSync(file, 'utf8')) as HeldMemory;
  } finally {
    await peer.stop();
  }
}

async function main(): Promise<void> {
  const builds: Array<{ name: string; cli: string }> = [
    { name: 'this', cli: resolve(process.cwd(), 'dist/cli/main.js') },
  ];
  const baseline = baselineCli();
  if (baseline !== null) builds.push({ name: 'baseline', cli: baseline });
  const runs = new Map<string, HeldMemory[]>(builds.map((b) => [b.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const b of builds) runs.get(b.name)!.push(await measure(b.name, b.cli));
  }
  const rows = builds.map((b) => {
    const rs = runs.get(b.name)!;
    const med = (key: keyof HeldMemory): number => Math.round(median(rs.map((r) => r[key])) * 100) / 100;
    return {
      name: b.name,
      oldSpaceMb: med('oldSpaceMb'),
      codeSpaceMb: med('codeSpaceMb'),
      largeObjectSpaceMb: med('largeObjectSpaceMb'),
      heapUsedMb: med('heapUsedMb'),
      externalMb: med('externalMb'),
      rssMb: med('rssMb'),
      rssAnonMb: med('rssAnonMb'),
      rssFileMb: med('rssFileMb'),
      rounds: rs,
    };
  });
  const out = { benchmark: 'proxy-startup-heap', rounds: ROUNDS, settleMs: SETTLE_MS, rows };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench:proxy-startup-heap failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
