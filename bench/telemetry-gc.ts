// `npm run bench:telemetry-gc`: what telemetry's request-thread add is made of outside its own JS
// (issue 21): V8's young generation, syscalls, wake-ups and preemptions. meshscope --concurrency 1
// under wrk -c50, telemetry off and on (measuredSidecarBootstrap: 100% sampled OTLP to a local
// sink, istio.stats, file access log), each with --trace-gc-nvp; rows interleaved (order reversed
// every other round) for BENCH_ROUNDS rounds. Per row: the request thread's and the other
// threads' CPU per request (/proc/<pid>/task/*/stat), the request thread's read/write syscalls
// (/proc/.../io syscr + syscw), wake-ups and preemptions per request; the main isolate's
// scavenges per 100k requests, their pause (mean, median, us per request), bytes allocated per
// request (the lines' `allocated`, summed over the requests), the median allocated between two
// scavenges (about a semi-space's capacity: the size the young generation is held at) and the
// median surviving a scavenge; the export threads' isolates' scavenges (their lines carry
// another isolate address) and peak RSS.
// Knobs: BENCH_SECONDS (5), BENCH_CONNECTIONS (50), BENCH_ROUNDS (3), WARM_SECONDS (5),
// BENCH_BUILDS=name=dir,… (default: this checkout only), BENCH_SIDECAR_OFF=1 (also the "on"
// row's bootstrap with telemetry left out).
// What it found on proxy12's 6080b04 (8 MB semi-spaces; 4 runs, load average 10-17, steal 0%):
// with telemetry the request thread's CPU rose 2.6-3.6 us per request (e.g. 13.47 -> 16.52),
// and none of it is the young generation: scavenges per 100k requests 77-84 off and 78-82 on,
// ~6 kB allocated per request both ways, the median pause 0.4 ms both, scavenging 0.33-0.37 us
// per request both (once 0.51 against 0.33), the semi-space held at 8 MB with the export
// threads started (7.73 MB allocated between scavenges on, 7.79 off); survivors double (131-136
// KB against 70-72) without lengthening the median pause. Read/write syscalls per request 4.00
// both, wake-ups 0.01 both; preemptions 0.83-0.85 against 0.70-0.79, the same rate per us of
// CPU (0.050 against 0.052). The bootstrap alone (INBOUND sidecar, telemetry off) is the "off"
// row's cost (13.46 against 13.47 us). The export threads' isolates scavenge 3 times per 100k
// requests with ~1 MB young generations; other threads' CPU 1.56-1.92 us per request; peak RSS
// 113-121 MB against 66-68. perf of the request thread (--perf-basic-prof-only-functions,
// -F 1999, 8 s of wrk each, samples per request): +4.0 us under perf, of which
// finish_task_switch +0.94 (the switch back in after a preemption), the access log's recordInto
// and its header reads +0.55, the span's finishSpan/beginSpanFields/stringAttribute/startSpan
// +0.5, the strings' copies into the batch buffers (WriteToFlat, CopyChars, memmove) +0.38,
// istio record +0.07; the rest spread over symbols below +0.05 each.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort, startNginxUpstream, stopAll, workDir } from './lib/peers.js';
import { median } from './lib/median.js';
import { peakRssMb } from './lib/rss.js';
import { stealMeter } from './lib/steal.js';
import { runWrk, runWrkAsync } from './lib/wrk.js';
import { bootstrapFor, measuredSidecarBootstrap, startSink } from './lib/telemetry.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);
const BUILDS = (process.env.BENCH_BUILDS ?? 'this=').split(',').map((b) => {
  const [name, dir] = b.split('=');
  return { name: name!, dir: resolve(dir === undefined || dir === '' ? process.cwd() : dir) };
});
const TICKS_PER_SECOND = 100;
/** BENCH_SIDECAR_OFF=1: also the "on" row's bootstrap with telemetry left out. */
const SIDECAR_OFF = process.env.BENCH_SIDECAR_OFF === '1';

interface Scavenge {
  pauseMs: number;
  survivedBytes: number;
  allocatedBytes: number;
}

interface TracedProxy {
  name: string;
  port: number;
  child: ChildProcess;
  scavenges: Scavenge[];
  marks: number;
  /** Scavenges of the other isolates (the export threads'), by count and pause. */
  workerScavenges: Scavenge[];
}

function nvp(line: string, key: string): number {
  const m = new RegExp(`\\b${key}=([\\d.]+)`).exec(line);
  return m === null ? NaN : Number(m[1]);
}

async function startTraced(name: string, cli: string, bootstrap: (port: number) => object): Promise<TracedProxy> {
  const port = await freePort();
  const file = join(mkdtempSync(join(workDir, 'meshscope-')), 'envoy.yaml');
  writeFileSync(file, stringify(bootstrap(port)));
  const child = spawn(
    process.execPath,
    ['--trace-gc-nvp', cli, 'proxy', '-c', file, '-l', 'error', '--concurrency', '1'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const proxy: TracedProxy = { name, port, child, scavenges: [], marks: 0, workerScavenges: [] };
  let mainIsolate: string | null = null;
  let rest = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      // Worker isolates print their own lines, with another isolate address; the main isolate's
      // line comes first (it collects while the modules load, before any worker starts).
      const isolate = /^\[\d+:(0x[0-9a-f]+)\]/.exec(line)?.[1];
      if (isolate === undefined) continue;
      mainIsolate ??= isolate;
      if (isolate === mainIsolate && (line.includes(' gc=mc ') || line.includes(' gc=mmc '))) proxy.marks++;
      if (!line.includes(' gc=s ')) continue;
      (isolate === mainIsolate ? proxy.scavenges : proxy.workerScavenges).push({
        pauseMs: nvp(line, 'pause'),
        survivedBytes: nvp(line, 'new_space_survived'),
        allocatedBytes: nvp(line, 'allocated'),
      });
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

function mainCounters(pid: number): { syscalls: number; voluntary: number; involuntary: number } {
  const io = readFileSync(`/proc/${pid}/task/${pid}/io`, 'utf8');
  const st = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const f = (text: string, key: string): number => Number(new RegExp(`${key}:\\s*(\\d+)`).exec(text)?.[1] ?? NaN);
  return {
    syscalls: f(io, 'syscr') + f(io, 'syscw'),
    voluntary: f(st, 'voluntary_ctxt_switches'),
    involuntary: f(st, 'nonvoluntary_ctxt_switches'),
  };
}

function threadTicks(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const t = Number(fields[11]) + Number(fields[12]);
    if (Number(tid) === pid) main += t;
    else others += t;
  }
  return { main, others };
}

interface RoundResult {
  requests: number;
  requestsPerSecond: number;
  scavenges: Scavenge[];
  mainUs: number;
  othersUs: number;
  readWriteSyscalls: number;
  wakeUps: number;
  preemptions: number;
  workerScavenges: number;
}

async function measure(p: TracedProxy): Promise<RoundResult> {
  const before = p.scavenges.length;
  const workersBefore = p.workerScavenges.length;
  const c0 = mainCounters(p.child.pid!);
  const t0 = threadTicks(p.child.pid!);
  const wrk = await runWrkAsync(`http://127.0.0.1:${p.port}/`, { connections: CONNECTIONS, seconds: SECONDS });
  const t1 = threadTicks(p.child.pid!);
  const c1 = mainCounters(p.child.pid!);
  await new Promise((r) => setTimeout(r, 200));
  return {
    requests: wrk.requests,
    requestsPerSecond: wrk.requestsPerSecond,
    scavenges: p.scavenges.slice(before),
    mainUs: ((t1.main - t0.main) * 1e6) / TICKS_PER_SECOND / wrk.requests,
    othersUs: ((t1.others - t0.others) * 1e6) / TICKS_PER_SECOND / wrk.requests,
    readWriteSyscalls: (c1.syscalls - c0.syscalls) / wrk.requests,
    wakeUps: (c1.voluntary - c0.voluntary) / wrk.requests,
    preemptions: (c1.involuntary - c0.involuntary) / wrk.requests,
    workerScavenges: p.workerScavenges.length - workersBefore,
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const sink = await startSink();
  const proxies: TracedProxy[] = [];
  const perRound: Array<Map<string, RoundResult>> = [];
  let cpuStealPercent = 0;
  try {
    for (const b of BUILDS) {
      const cli = join(b.dir, 'dist/cli/main.js');
      for (const telemetry of [false, true]) {
        const name = `${b.name}-${telemetry ? 'on' : 'off'}`;
        proxies.push(
          await startTraced(name, cli, (port) =>
            measuredSidecarBootstrap({ name, port, admin: 0, upstream: upstream.port, telemetry, sink: sink.port }),
          ),
        );
      }
      // The "on" row's bootstrap with telemetry's parts left out (INBOUND listener, node
      // metadata, admin, the sink's cluster): what the bootstrap alone changes against "off".
      if (SIDECAR_OFF) {
        const name = `${b.name}-sidecar-off`;
        proxies.push(
          await startTraced(name, cli, (port) =>
            bootstrapFor({
              name,
              port,
              admin: 0,
              direction: 'INBOUND',
              upstream: upstream.port,
              telemetry: false,
              sink: sink.port,
            }),
          ),
        );
      }
    }
    for (const p of proxies) runWrk(`http://127.0.0.1:${p.port}/`, { connections: CONNECTIONS, seconds: WARM_SECONDS });
    const steal = stealMeter();
    for (let round = 0; round < ROUNDS; round++) {
      const results = new Map<string, RoundResult>();
      const order = round % 2 === 0 ? proxies : [...proxies].reverse();
      for (const p of order) results.set(p.name, await measure(p));
      perRound.push(results);
    }
    cpuStealPercent = steal();
  } catch (err) {
    for (const p of proxies) p.child.kill('SIGKILL');
    sink.process.kill('SIGKILL');
    throw err;
  }
  const peakRss = new Map(proxies.map((p) => [p.name, peakRssMb(p.child.pid!)]));
  for (const p of proxies) p.child.kill('SIGKILL');
  sink.process.kill('SIGKILL');
  await stopAll();
  const rows = proxies.map((p) => {
    const runs = perRound.map((r) => r.get(p.name)!);
    const all = runs.flatMap((r) => r.scavenges);
    const requests = runs.reduce((a, r) => a + r.requests, 0);
    const pauses = all.map((s) => s.pauseMs);
    const pauseSum = pauses.reduce((a, b) => a + b, 0);
    return {
      name: p.name,
      requestsPerSecond: Math.round(median(runs.map((r) => r.requestsPerSecond))),
      mainThreadUsPerRequest: round2(median(runs.map((r) => r.mainUs))),
      otherThreadsUsPerRequest: round2(median(runs.map((r) => r.othersUs))),
      readWriteSyscallsPerRequest: round2(median(runs.map((r) => r.readWriteSyscalls))),
      wakeUpsPerRequest: round2(median(runs.map((r) => r.wakeUps))),
      preemptionsPerRequest: round2(median(runs.map((r) => r.preemptions))),
      scavengesPer100kRequests: Math.round((all.length * 1e5) / requests),
      workerScavengesPer100kRequests: Math.round((runs.reduce((a, r) => a + r.workerScavenges, 0) * 1e5) / requests),
      scavengePauseMeanMs: round2(pauseSum / Math.max(1, pauses.length)),
      scavengePauseMedianMs: pauses.length === 0 ? null : round2(median(pauses)),
      scavengeUsPerRequest: round2((pauseSum * 1e3) / requests),
      allocatedBytesPerRequest: Math.round(all.reduce((a, s) => a + s.allocatedBytes, 0) / requests),
      allocatedMbBetweenScavengesMedian:
        all.length === 0 ? null : round2(median(all.map((s) => s.allocatedBytes)) / 1048576),
      survivedKbMedian: all.length === 0 ? null : Math.round(median(all.map((s) => s.survivedBytes)) / 1024),
      workerAllocatedMbBetweenScavengesMedian:
        p.workerScavenges.length === 0
          ? null
          : round2(median(p.workerScavenges.map((s) => s.allocatedBytes)) / 1048576),
      markCompacts: p.marks,
      peakRssMb: peakRss.get(p.name)!,
    };
  });
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'telemetry-gc', connections: CONNECTIONS, secondsPerRun: SECONDS, rounds: ROUNDS, cpuStealPercent, loadAverage: readFileSync('/proc/loadavg', 'utf8').trim(), rows }, null, 2)}\n`,
  );
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`bench:telemetry-gc failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
