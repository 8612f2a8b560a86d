// `npm run bench:telemetry-threads-cpu`: where telemetry's CPU goes, thread by thread and process
// by process, for one or more builds side by side (issue 21). Each build runs one sidecar per
// telemetry part (BENCH_PARTS: off, tracing, access-log, istio, all; bench/lib/telemetry.ts's
// bootstrap, 100% sampling, spans to a local OTLP sink at nice 10), all up for the whole run;
// every round runs wrk -c50 against each in turn (order reversed every other round) and reads,
// per request: the request thread's CPU, every other thread's (span export thread, access-log
// thread, libuv's pool writing the log file, V8's GC helpers) and the three busiest of them, the
// OTLP sink's and the upstream nginx worker's (both outside the proxy, but on the same 2 cores).
// CPU is each thread's schedstat (nanoseconds), not /proc stat's 10 ms ticks: a thread that costs
// a microsecond per request is only a few ticks a run. Medians over rounds, and each round's.
// Knobs: BENCH_BUILDS (name=checkout-with-dist,… default this=.), BENCH_PARTS, BENCH_ROUNDS (7),
// BENCH_SECONDS (3), BENCH_CONNECTIONS (50).
// Figures (load average 11-12, BENCH_BUILDS=this=.,main=<37d1b94> BENCH_PARTS=off,tracing,
// access-log,all, 7 rounds), us per request, this branch | main: other threads with everything
// on 2.33 | 2.94 (span export thread ~1.0-1.2 per span, access-log thread 0.6 | 1.0 per line);
// OTLP sink 0.85-1.1 per span; upstream nginx 4.9-5.0 either way. The request thread moves by
// +-1 us between identical sidecars at that load: read it from bench:proxy-cpu or in-process.
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { threadCpuNs } from './lib/cpu.js';
import { median } from './lib/median.js';
import { freePort, startMeshscope, startNginxUpstream, stopAll, workDir } from './lib/peers.js';
import { nginxWorkerPid } from './lib/run-queue.js';
import { measuredSidecarBootstrap, startSink } from './lib/telemetry.js';
import { runWrk } from './lib/wrk.js';

type Part = 'off' | 'tracing' | 'access-log' | 'istio' | 'all';
const PARTS = (process.env.BENCH_PARTS ?? 'off,tracing,access-log,istio,all').split(',') as Part[];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

/** CPU nanoseconds so far of a whole process (every thread, live ones). */
function processNs(pid: number): number {
  let ns = 0;
  for (const v of threadCpuNs(pid).values()) ns += v;
  return ns;
}

interface Row {
  requestThreadUs: number;
  otherThreadsUs: number;
  busiestOtherThreadsUs: number[];
  sinkUs: number;
  upstreamUs: number;
  requestsPerSecond: number;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const upstreamPid = nginxWorkerPid(upstream.pid);
  const sink = await startSink();
  const builds = (process.env.BENCH_BUILDS ?? 'this=.').split(',').map((spec) => {
    const [name, dir] = spec.split('=') as [string, string];
    return { name, cli: join(resolve(dir), 'dist', 'cli', 'main.js') };
  });
  const sidecars: Array<{ name: string; pid: number; url: string; log: string }> = [];
  for (const build of builds) {
    for (const part of PARTS) {
      const [port, admin] = await Promise.all([freePort(), freePort()]);
      const name = `threads_${build.name}_${part}`.replace(/\W/g, '_');
      const bootstrap = measuredSidecarBootstrap({
        name,
        port,
        admin,
        upstream: upstream.port,
        telemetry: part !== 'off',
        sink: sink.port,
        ...(part === 'off' || part === 'all' ? {} : { only: part }),
      });
      const peer = await startMeshscope(name, bootstrap, port, ['--concurrency', '1'], [], build.cli);
      sidecars.push({
        name: `${build.name}:${part}`,
        pid: peer.pid,
        url: `http://127.0.0.1:${port}/`,
        log: join(workDir, `${name}.log`),
      });
    }
  }
  for (const s of sidecars) runWrk(s.url, { connections: CONNECTIONS, seconds: 2 });
  const rounds = new Map<string, Row[]>(sidecars.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 === 0 ? sidecars : [...sidecars].reverse()) {
      const before = threadCpuNs(s.pid);
      const sinkBefore = processNs(sink.process.pid!);
      const upstreamBefore = processNs(upstreamPid);
      const r = runWrk(s.url, { connections: CONNECTIONS, seconds: SECONDS });
      const after = threadCpuNs(s.pid);
      const perRequestUs = (ns: number): number => ns / 1000 / r.requests;
      const others: number[] = [];
      for (const [tid, ns] of after) {
        if (tid !== String(s.pid)) others.push(perRequestUs(ns - (before.get(tid) ?? 0)));
      }
      others.sort((a, b) => b - a);
      rounds.get(s.name)!.push({
        requestThreadUs: perRequestUs(after.get(String(s.pid))! - before.get(String(s.pid))!),
        otherThreadsUs: others.reduce((a, b) => a + b, 0),
        busiestOtherThreadsUs: others.slice(0, 3),
        sinkUs: perRequestUs(processNs(sink.process.pid!) - sinkBefore),
        upstreamUs: perRequestUs(processNs(upstreamPid) - upstreamBefore),
        requestsPerSecond: r.requestsPerSecond,
      });
    }
  }
  const rows = sidecars.map(({ name }) => {
    const rs = rounds.get(name)!;
    const med = (f: (r: Row) => number): number => round2(median(rs.map(f)));
    return {
      name,
      requestThreadUs: med((r) => r.requestThreadUs),
      otherThreadsUs: med((r) => r.otherThreadsUs),
      busiestOtherThreadsUs: [0, 1, 2].map((i) => med((r) => r.busiestOtherThreadsUs[i] ?? 0)),
      sinkUs: med((r) => r.sinkUs),
      upstreamUs: med((r) => r.upstreamUs),
      requestsPerSecond: Math.round(median(rs.map((r) => r.requestsPerSecond))),
      otherThreadsUsPerRound: rs.map((r) => round2(r.otherThreadsUs)),
      requestThreadUsPerRound: rs.map((r) => round2(r.requestThreadUs)),
    };
  });
  const out = {
    benchmark: 'telemetry-threads-cpu',
    rounds: ROUNDS,
    secondsPerRun: SECONDS,
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
    rows,
  };
  await stopAll();
  sink.process.kill('SIGTERM');
  // The access logs take ~140 bytes a request: gigabytes over a long run.
  for (const { log } of sidecars) rmSync(log, { force: true });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(
    `bench:telemetry-threads-cpu failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
