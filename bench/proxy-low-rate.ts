// `npm run bench:proxy-low-rate`: CPU per request of meshscope sidecars at a low, constant rate
// (1000 req/s open loop, bench/open-loop-client.ts), this build against another build
// (BENCH_BASELINE) in paired, interleaved rounds, beside a bare Node socket-piping proxy
// (bench/h1-plain-proxy.ts: the floor Node sets) and nginx. At this rate a request's cost is
// mostly per wake-up (event-loop turns, syscalls, timers, cold caches), not what saturation
// measures; the two-sidecar rows of bench:proxy and bench:proxy-tls judge the added p99, this
// bench says what each change did to the CPU behind it. On a shared host CPU per request moves
// much less than latency, so it is the A/B figure; the added p99 is printed beside it.
// Knobs: LOWRATE_MODE (telemetry: 100% sampling, istio.stats, access log | plain | mtls between
// the two sidecars), LOWRATE_HOPS (2; 1 for one sidecar, not with mtls), LOWRATE_ROWS
// (this,baseline,node,nginx: the chains run, baseline only with BENCH_BASELINE), LOWRATE_THIS_NODE_ARGS
// (node flags for the 'this' row's hops only), LAT_RATE (1000),
// LAT_SECONDS (5), WARM_SECONDS (2), BENCH_ROUNDS (3), LOWRATE_CONCURRENT (0). Steal is printed for the
// whole run and per round (cpuStealPercentPerRound). LOWRATE_HOLD=1 starts the chains, prints
// their ports and pids and waits for SIGTERM (for perf, strace and the like). LOWRATE_GC_TRACE=1
// (plain and telemetry modes) records every GC of the meshscope hops and reports per round each
// hop's request-thread scavenges per second, other GCs, longest pause and pause time per second,
// and the share of the row's requests at or above its p99 that a GC overlapped beside the share of
// all its requests (bench/lib/gc-trace.ts): whether GC pauses are what the tail is made of.
// LOWRATE_PREEMPTORS=1 (needs perf) records every CPU's context switches during each row and
// reports who preempted the chain's request threads, per request (bench/lib/preemptors.ts): the
// hop's own other threads (V8, libuv, telemetry workers), the other hop, or another process.
// What it found (issue 21, one sidecar, load average 10-22): per request, a meshscope sidecar's
// request thread makes the same syscalls as the bare Node pipe (two reads, two writes, one
// blocking epoll_pwait per turn plus the non-blocking one libuv's idle-time metrics add), arms
// no timer, and wakes no other thread (the export and access-log threads wake 10-20 times a
// second); yet it spends 100-145 us (plain) and 165-195 us (telemetry) against the pipe's
// 63-85 us and nginx's 45. perf at 1000 req/s against saturation (wrk -c50): the same functions,
// 3-4.5 times slower per call (the request path 40 us against 9, the stream's telemetry 16 against
// 6, the kernel's share of the two writes 35 against 20): cold caches between wake-ups. So a
// microsecond saved at saturation is worth three or four here, and what runs only at low rate
// (stream machinery per read, a tick per read) is worth removing outright.
// Round 1 measures the chains' traffic seconds 2-7, inside their warm-up (bench/proxy-warmup.ts
// prints the curve). Rounds 2-4 meet chains that sat idle while the other rows ran, and V8 shrinks
// an idle process's young generation (proxy/core/young-generation.ts): with LOWRATE_GC_TRACE=1
// (telemetry, two hops, BENCH_ROUNDS=4, 2 runs, load average 7-12, steal <= 0.1%) each hop's
// request thread scavenged 2.0-2.2 times a second in round 1 and 2.2-8.0 in rounds 2-4, and in
// those rounds 8-100% (median ~70%) of the requests at or above p99 overlapped a GC against 3-7%
// of all. The same runs with LOWRATE_NODE_ARGS=--min-semi-space-size=4 (V8 takes it only on
// node's command line): 1.8-2.2 scavenges a second in every round, 0-56% (median ~1%) of the
// p99 requests overlapping one against 1-2% of all.
// V8's and libuv's threads and the tail (issue 21; telemetry, two hops, against main's build with
// BENCH_BASELINE, load average 4-17 from other sessions, steal <= 1%, so the added p99 moved by
// tens of ms between rows and CPU per request and the GC/preemption figures are what can be read):
// - GC: each hop's request thread scavenged 2-7.4 times a second (median 3.5), 1.6 ms of pauses a
//   second, longest pause 0.64 ms (medians, 22 rows); a GC overlapped 39% (median; quartiles 2% and
//   77%) of the requests at or above p99 against 3.4% of all: over-represented in the tail, but
//   ~0.5 ms of a tail that was several ms here (1.46 ms on a quiet host).
// - Helper threads: their preemptions of the request threads were 0.3-3% of the total
//   (LOWRATE_PREEMPTORS). Nice 19 on V8's and libuv's threads cut them from 0.004-0.038 to
//   0.003-0.011 per request (of 0.8-1.6), request-thread CPU 0.983 of main's; not kept.
//   --single-threaded-gc: request-thread CPU 0.934 of main's here, and under wrk (bench:proxy,
//   BENCH_THIS_NODE_ARGS) 16.86 + 0.18 against 16.87 + 0.22 us/request; --v8-pool-size=1 16.53 +
//   0.11 against 15.47 + 0.09: neither kept (the scavenges already run on the request thread).
// - SCHED_BATCH on both hops' request threads (chrt, by hand): preemptions per request 0.86-1.44
//   against 1.31-1.98, but p50 0.41-1.30 ms added against 0.28-0.42: a woken hop waits instead.
// - --minor-gc-task (V8's default; the proxy turns it off, proxy/core/scavenge-threads.ts): GC
//   overlapped fewer p99 requests in three sequential runs (share 0.06 against 0.2, median of the
//   first two's 11 rounds; 0.13 against 0.55 in the third's 6) but not with LOWRATE_CONCURRENT=1;
//   added p99 medians 5.4, -0.7, 15.6 against 9.2, 12.7, 5.5 ms (unreadable at that load);
//   request-thread CPU 0.98-1.07 of main's; under wrk 15.51 + 0.20 against 16.15 + 0.15
//   us/request. Worth judging on a quiet host before changing the default.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { median } from './lib/median.js';
import { makeSvids, meshscopeChain } from './lib/mtls-sidecars.js';
import { openLoop, type OpenLoopResult } from './lib/open-loop.js';
import {
  baselineCli,
  freePort,
  launch,
  type Peer,
  startMeshscope,
  startNginxProxy,
  startNginxUpstream,
  stopAll,
} from './lib/peers.js';
import { nginxWorkerPid, runQueueMeter, type RunQueueFigures } from './lib/run-queue.js';
import { stealMeter } from './lib/steal.js';
import { bootstrapFor, startSink } from './lib/telemetry.js';
import { gcTrace, rowGcFigures, type RowGcFigures } from './lib/gc-trace.js';
import { perfCanTraceSwitches, recordPreemptors, type PreemptorFigures } from './lib/preemptors.js';

type Mode = 'telemetry' | 'plain' | 'mtls';
const MODE = (process.env.LOWRATE_MODE ?? 'telemetry') as Mode;
if (!['telemetry', 'plain', 'mtls'].includes(MODE)) throw new Error(`LOWRATE_MODE=${MODE}: telemetry, plain or mtls`);
const HOPS = Number(process.env.LOWRATE_HOPS ?? 2);
if (HOPS !== 1 && HOPS !== 2) throw new Error(`LOWRATE_HOPS=${HOPS}: 1 or 2`);
if (MODE === 'mtls' && HOPS !== 2) throw new Error('LOWRATE_MODE=mtls needs LOWRATE_HOPS=2');
const ROWS = (process.env.LOWRATE_ROWS ?? 'this,baseline,node,nginx').split(',').map((r) => r.trim());
const RATE = Number(process.env.LAT_RATE ?? 1000);
const SECONDS = Number(process.env.LAT_SECONDS ?? 5);
const WARM = Number(process.env.WARM_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/**
 * LOWRATE_CONCURRENT=1: every chain's client runs at once, so each pair of figures saw the same
 * minute of a shared host (on a busy one, sequential rows meet different neighbours).
 */
const CONCURRENT = process.env.LOWRATE_CONCURRENT === '1';
const THIS_CLI = resolve(process.cwd(), 'dist/cli/main.js');
/** Extra node flags for meshscope's processes (e.g. --perf-basic-prof with LOWRATE_HOLD). */
const NODE_ARGS = (process.env.LOWRATE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
/**
 * Node flags for the 'this' row's hops only (e.g. --single-threaded-gc), so a V8 flag is judged
 * against the same code without it: BENCH_BASELINE pointing at a build of the same commit.
 */
const THIS_NODE_ARGS = (process.env.LOWRATE_THIS_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const PLAIN_PROXY = resolve(process.cwd(), 'dist/bench/h1-plain-proxy.js');
const GC_TRACE = process.env.LOWRATE_GC_TRACE === '1' && MODE !== 'mtls' ? gcTrace() : null;
// The open-loop clients (child processes) then report each request's write time.
if (GC_TRACE !== null) process.env.OPEN_LOOP_WRITTEN = '1';
/** LOWRATE_PREEMPTORS=1: who preempted each chain's request threads (bench/lib/preemptors.ts; needs perf). */
const PREEMPTORS = process.env.LOWRATE_PREEMPTORS === '1';
if (PREEMPTORS && !perfCanTraceSwitches())
  throw new Error('LOWRATE_PREEMPTORS=1: perf cannot record sched:sched_switch here');

interface Chain {
  name: string;
  port: number;
  /** One process per hop, outbound first; their main threads serve the requests. */
  pids: () => number[];
  /** Whether its hops record their GCs (LOWRATE_GC_TRACE, meshscope hops). */
  gcTraced?: boolean;
  stop(): Promise<void>;
}

async function meshscopePair(name: string, cli: string, upstream: number, sink: number): Promise<Chain> {
  if (MODE === 'mtls') {
    const c = await meshscopeChain(upstream, makeSvids(), cli);
    return { name, port: c.port, pids: c.requestThreadPids, stop: c.stop };
  }
  const hops: Peer[] = [];
  let next = upstream;
  for (let i = HOPS - 1; i >= 0; i--) {
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    const hop = `${name}_${i === 0 ? 'outbound' : 'inbound'}`;
    const direction = i === 0 ? 'OUTBOUND' : 'INBOUND';
    const bootstrap = bootstrapFor({
      name: hop,
      port,
      admin,
      direction,
      upstream: next,
      telemetry: MODE === 'telemetry',
      sink,
    });
    const own = name === 'this' ? [...NODE_ARGS, ...THIS_NODE_ARGS] : NODE_ARGS;
    const nodeArgs = GC_TRACE === null ? own : [...own, ...GC_TRACE.nodeArgs];
    hops.unshift(
      await startMeshscope(hop, bootstrap, port, ['--concurrency', '1', '--drain-time-s', '1'], nodeArgs, cli),
    );
    next = port;
  }
  return { ...chainOf(name, hops, (p) => p.pid), gcTraced: GC_TRACE !== null };
}

async function plainPair(upstream: number): Promise<Chain> {
  const hops: Peer[] = [];
  let next = upstream;
  for (let i = 0; i < HOPS; i++) {
    const port = await freePort();
    hops.unshift(await launch(`node-pipe-${i}`, process.execPath, [PLAIN_PROXY, String(port), String(next)], port));
    next = port;
  }
  return chainOf('node_pipe', hops, (p) => p.pid);
}

async function nginxPair(upstream: number): Promise<Chain> {
  const hops: Peer[] = [];
  let next = upstream;
  for (let i = 0; i < HOPS; i++) {
    hops.unshift(await startNginxProxy(next));
    next = hops[0]!.port;
  }
  return chainOf('nginx', hops, (p) => nginxWorkerPid(p.pid));
}

function chainOf(name: string, hops: Peer[], pidOf: (p: Peer) => number): Chain {
  return {
    name,
    port: hops[0]!.port,
    pids: () => hops.map(pidOf),
    stop: async () => void (await Promise.all(hops.map((h) => h.stop()))),
  };
}

/** utime + stime of every thread of `pids`, µs (USER_HZ ticks of 10 ms), and voluntary context switches. */
function processCpu(pids: readonly number[]): { us: number; voluntary: number } {
  let ticks = 0;
  let voluntary = 0;
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[11]) + Number(f[12]);
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        voluntary += Number(/voluntary_ctxt_switches:\s*(\d+)/.exec(status)?.[1] ?? 0);
      } catch {
        // The thread ended while we looked.
      }
    }
  }
  return { us: ticks * 10_000, voluntary };
}

interface RowRound {
  addedP99Ms: number;
  addedP50Ms: number;
  /** The hops' request threads, summed, per request (schedstat). */
  requestThreads: RunQueueFigures | null;
  /** Every thread of the hops' processes, summed, per request. */
  allThreadsCpuUs: number;
  /** Voluntary context switches (sleeps) of every thread of the hops, per request. */
  sleepsPerRequest: number;
  clientConnections: number;
  errors: number;
  /** LOWRATE_GC_TRACE: the hops' request-thread GCs in the row's window, against its slowest requests. */
  gc?: RowGcFigures;
  /** LOWRATE_PREEMPTORS: who preempted the hops' request threads in the row's window. */
  preemptors?: PreemptorFigures;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const sink = await startSink();
  const chains: Chain[] = [];
  try {
    const base = baselineCli();
    for (const row of ROWS) {
      if (row === 'this') chains.push(await meshscopePair('this', THIS_CLI, upstream.port, sink.port));
      else if (row === 'baseline' && base !== null)
        chains.push(await meshscopePair('baseline', base, upstream.port, sink.port));
      else if (row === 'node') chains.push(await plainPair(upstream.port));
      else if (row === 'nginx') chains.push(await nginxPair(upstream.port));
    }
    if (process.env.LOWRATE_HOLD === '1') {
      const held = {
        upstream: upstream.port,
        chains: chains.map((c) => ({ name: c.name, port: c.port, pids: c.pids() })),
      };
      process.stdout.write(`${JSON.stringify(held)}\n`);
      await new Promise<void>((r) => process.once('SIGTERM', () => r()));
      return;
    }
    const steal = stealMeter();
    const perRound: Array<Map<string, RowRound>> = [];
    const loadAverages: number[] = [];
    const stealPerRound: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const roundSteal = stealMeter();
      const direct = await openLoop(upstream.port, RATE, SECONDS, WARM);
      const rows = new Map<string, RowRound>();
      const measure = async (c: Chain): Promise<void> => {
        const pids = c.pids();
        const meter = runQueueMeter(pids);
        const before = processCpu(pids);
        const preemptors = PREEMPTORS ? recordPreemptors(pids) : null;
        const r: OpenLoopResult = await openLoop(c.port, RATE, SECONDS, WARM).catch((err: unknown) => {
          throw new Error(`round ${round + 1}, row ${c.name}: ${err instanceof Error ? err.message : String(err)}`);
        });
        const after = processCpu(pids);
        const preempted = preemptors === null ? undefined : await preemptors(r.sent);
        let gc: RowGcFigures | undefined;
        if (GC_TRACE !== null && c.gcTraced === true && r.requests !== undefined) {
          // The recorders write every 500 ms.
          await new Promise((res) => setTimeout(res, 600));
          gc = rowGcFigures(
            r.requests,
            pids.map((p) => GC_TRACE.requestThreadGcs(p)),
          );
        }
        rows.set(c.name, {
          addedP99Ms: round3(r.service.p99Ms - direct.service.p99Ms),
          addedP50Ms: round3(r.service.p50Ms - direct.service.p50Ms),
          requestThreads: meter(r.sent),
          allThreadsCpuUs: Math.round((after.us - before.us) / r.sent),
          sleepsPerRequest: round3((after.voluntary - before.voluntary) / r.sent),
          clientConnections: r.connections,
          errors: r.errors,
          ...(gc === undefined ? {} : { gc }),
          ...(preempted === undefined ? {} : { preemptors: preempted }),
        });
      };
      if (CONCURRENT) await Promise.all(chains.map(measure));
      else for (const c of chains) await measure(c);
      perRound.push(rows);
      loadAverages.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
      stealPerRound.push(roundSteal());
    }
    const out: Record<string, unknown> = {};
    for (const c of chains) {
      const rs = perRound.map((r) => r.get(c.name)!);
      out[c.name] = {
        requestThreadsCpuUsPerRequest: median(rs.map((r) => r.requestThreads?.cpuUs ?? Number.NaN)),
        allThreadsCpuUsPerRequest: median(rs.map((r) => r.allThreadsCpuUs)),
        sleepsPerRequest: median(rs.map((r) => r.sleepsPerRequest)),
        addedP99Ms: median(rs.map((r) => r.addedP99Ms)),
        perRound: rs,
      };
    }
    const paired = chains.some((c) => c.name === 'baseline') && chains.some((c) => c.name === 'this');
    const ratios = (f: (r: RowRound) => number): number[] =>
      paired ? perRound.map((r) => round3(f(r.get('this')!) / f(r.get('baseline')!))) : [];
    const ratio = (f: (r: RowRound) => number): number | null => (paired ? round3(median(ratios(f))) : null);
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'proxy-low-rate',
          mode: MODE,
          hops: HOPS,
          ratePerSecond: RATE,
          secondsPerRow: SECONDS,
          rounds: ROUNDS,
          cpuStealPercent: steal(),
          cpuStealPercentPerRound: stealPerRound,
          loadAverage1mPerRound: loadAverages,
          rows: out,
          // This build over the baseline's, within each round (1.0 = no change).
          thisOverBaseline: {
            requestThreadsCpu: ratio((r) => r.requestThreads?.cpuUs ?? Number.NaN),
            allThreadsCpu: ratio((r) => r.allThreadsCpuUs),
            // Rounds whose client opened many more connections than its 16 were rounds the chains
            // fell behind in: their CPU is mostly connection set-up, read them with clientConnections.
            requestThreadsCpuPerRound: ratios((r) => r.requestThreads?.cpuUs ?? Number.NaN),
          },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await Promise.all(chains.map((c) => c.stop()));
    sink.process.kill('SIGTERM');
    await stopAll();
  }
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`bench:proxy-low-rate failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
