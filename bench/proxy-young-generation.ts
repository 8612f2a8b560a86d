// `npm run bench:proxy-young-generation`: what the size of V8's young generation costs and saves
// a proxy at saturation, the data proxy/core/young-generation.ts picks its size by. meshscope
// --concurrency 1 under wrk (bench:proxy's upstream and connection count), once per semi-space
// size (1, 2, 4, 8 and 16 MB, fixed with --min/--max-semi-space-size) and once as the CLI runs it
// (`held`: PROXY_SEMI_SPACE_BYTES, held by the growth factor). Per row, from the proxy's own
// --trace-gc-nvp lines during the measured runs: scavenges per 100k requests, their mean and
// median pause and the bytes that survive each; the process's CPU per request (user + system,
// every thread, from /proc), wrk's p99 latency and its peak RSS (VmHWM). Scavenges per request and survivors do not
// depend on the host's load; pauses and CPU do, so rows run interleaved for BENCH_ROUNDS rounds
// and the medians are reported.
// Knobs: BENCH_SECONDS (5), BENCH_CONNECTIONS (50), BENCH_ROUNDS (3), SEMI_SPACES_MB ('1,2,4,8,16'),
// WARM_SECONDS (5: long enough for the held row's young generation to grow to its size).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort, proxyBootstrap, startNginxUpstream, stopAll, workDir } from './lib/peers.js';
import { median } from './lib/median.js';
import { peakRssMb } from './lib/rss.js';
import { stealMeter } from './lib/steal.js';
import { runWrk, runWrkAsync } from './lib/wrk.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);
const SIZES = (process.env.SEMI_SPACES_MB ?? '1,2,4,8,16').split(',').map(Number);
const CLI = resolve(process.cwd(), 'dist/cli/main.js');
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface Scavenge {
  pauseMs: number;
  survivedBytes: number;
}

/** A proxy whose --trace-gc-nvp lines are read as they come (stdout must never fill and block it). */
interface TracedProxy {
  name: string;
  port: number;
  child: ChildProcess;
  scavenges: Scavenge[];
}

function nvp(line: string, key: string): number {
  const m = new RegExp(`\\b${key}=([\\d.]+)`).exec(line);
  return m === null ? NaN : Number(m[1]);
}

async function startTraced(name: string, upstreamPort: number, nodeFlags: string[]): Promise<TracedProxy> {
  const port = await freePort();
  const file = join(mkdtempSync(join(workDir, 'meshscope-')), 'envoy.yaml');
  writeFileSync(file, stringify(proxyBootstrap(port, upstreamPort)));
  const child = spawn(
    process.execPath,
    [...nodeFlags, '--trace-gc-nvp', CLI, 'proxy', '-c', file, '-l', 'error', '--concurrency', '1'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const proxy: TracedProxy = { name, port, child, scavenges: [] };
  let rest = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.includes(' gc=s ')) continue;
      proxy.scavenges.push({ pauseMs: nvp(line, 'pause'), survivedBytes: nvp(line, 'new_space_survived') });
    }
  });
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return proxy;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${name}: no answer on port ${port}`);
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface RoundResult {
  requests: number;
  requestsPerSecond: number;
  p99Ms: number;
  scavenges: Scavenge[];
  cpuUsPerRequest: number;
}

async function measure(p: TracedProxy): Promise<RoundResult> {
  const before = p.scavenges.length;
  const ticks = cpuTicks(p.child.pid!);
  const wrk = await runWrkAsync(`http://127.0.0.1:${p.port}/`, { connections: CONNECTIONS, seconds: SECONDS });
  // The last scavenge lines of the run may still be in the pipe.
  await new Promise((r) => setTimeout(r, 200));
  const cpuUs = ((cpuTicks(p.child.pid!) - ticks) * 1e6) / TICKS_PER_SECOND;
  return {
    requests: wrk.requests,
    requestsPerSecond: wrk.requestsPerSecond,
    p99Ms: wrk.p99Ms,
    scavenges: p.scavenges.slice(before),
    cpuUsPerRequest: cpuUs / wrk.requests,
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const proxies: TracedProxy[] = [];
  const perRound: Array<Map<string, RoundResult>> = [];
  let cpuStealPercent = 0;
  try {
    proxies.push(await startTraced('held', upstream.port, []));
    for (const mb of SIZES) {
      const flags = [`--min-semi-space-size=${mb}`, `--max-semi-space-size=${mb}`];
      proxies.push(await startTraced(`semi-space-${mb}mb`, upstream.port, flags));
    }
    for (const p of proxies) runWrk(`http://127.0.0.1:${p.port}/`, { connections: CONNECTIONS, seconds: WARM_SECONDS });
    const steal = stealMeter();
    for (let round = 0; round < ROUNDS; round++) {
      const results = new Map<string, RoundResult>();
      for (const p of proxies) results.set(p.name, await measure(p));
      perRound.push(results);
    }
    cpuStealPercent = steal();
  } catch (err) {
    for (const p of proxies) p.child.kill('SIGKILL');
    throw err;
  }
  const peakRss = new Map(proxies.map((p) => [p.name, peakRssMb(p.child.pid!)]));
  for (const p of proxies) p.child.kill('SIGKILL');
  await stopAll();
  const rows = proxies.map((p) => {
    const runs = perRound.map((r) => r.get(p.name)!);
    const all = runs.flatMap((r) => r.scavenges);
    const requests = runs.reduce((a, r) => a + r.requests, 0);
    const pauses = all.map((s) => s.pauseMs);
    return {
      name: p.name,
      requestsPerSecond: Math.round(median(runs.map((r) => r.requestsPerSecond))),
      p99Ms: round2(median(runs.map((r) => r.p99Ms))),
      cpuUsPerRequest: round2(median(runs.map((r) => r.cpuUsPerRequest))),
      scavengesPer100kRequests: Math.round((all.length * 1e5) / requests),
      scavengePauseMeanMs: round2(pauses.reduce((a, b) => a + b, 0) / Math.max(1, pauses.length)),
      scavengePauseMedianMs: pauses.length === 0 ? null : round2(median(pauses)),
      scavengeMsPer100kRequests: Math.round((pauses.reduce((a, b) => a + b, 0) * 1e5) / requests),
      survivedKbMedian: all.length === 0 ? null : Math.round(median(all.map((s) => s.survivedBytes)) / 1024),
      peakRssMb: peakRss.get(p.name)!,
    };
  });
  const out = {
    benchmark: 'proxy-young-generation',
    connections: CONNECTIONS,
    secondsPerRun: SECONDS,
    rounds: ROUNDS,
    cpuStealPercent,
    rows,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`bench:proxy-young-generation failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
