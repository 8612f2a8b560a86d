// `npm run bench:proxy-cpu`: what one proxied HTTP/1.1 request costs meshscope --concurrency 1 in
// CPU, this build against others, side by side. On a shared host wall-clock requests/s swings with
// the other tenants' load; the CPU the proxy process spends per request (utime + stime of all its
// threads, /proc/<pid>/stat) moves far less, so an A/B of a few percent is readable in it.
// Each build's proxy stays up for the whole run; every round runs wrk (closed loop, fixed
// connection count, bounded duration) against each in turn, and the medians over rounds are
// reported with each build's ratio to the first one's within each round.
// Builds: this checkout's dist/ ("this"), BENCH_BASELINE=<checkout with dist/> ("baseline"), and
// BENCH_BUILDS=name=dir[@node flags],… for more (bisecting; an empty dir is this checkout).
// Knobs: BENCH_SECONDS (default 4), BENCH_CONNECTIONS (default 50), BENCH_ROUNDS (default 5),
// BENCH_PARALLEL, BENCH_TELEMETRY (1 or parts; BENCH_SIBLING_DUTY), BENCH_TLS, BENCH_H2 and
// BENCH_RATE (below). Peak RSS is the process's VmHWM at the end (its whole life, warm-up
// included); mainThreadCpuUsPerRequest is the request thread's part of the CPU,
// wakeUpsPerRequest its voluntary context switches (sleeps in epoll_wait ended by a wake-up),
// preemptionsPerRequest its involuntary ones (preempted while runnable: see preemptions()).
// Where a request's CPU goes at saturation (issue 21; perf --perf-basic-prof of one sidecar's
// request thread under wrk -c50, telemetry off, load average 10-13): write(2) 33% (the kernel's
// send 22%, half of it the loopback delivering to the peer in our softirq; 11% the scheduler at the
// syscall's exit, when the peer it woke preempts us), read(2) 4%, epoll 3%; our JS from the reads
// on: downstream request 16%, upstream response 17% (the parser's head scan 4%, no other layer
// above 2-3% self); Node's Writable and WriteWrap around the writes ~5%, the latin1 copy 3%,
// scavenges 1.5-3%. Writing straight to the TCP handle (DeferredWriter, since e170e12) took the
// Writable's part from 7.7% to 5.4%.
// What telemetry's request-thread add is made of (issue 21; BENCH_BUILDS variants of this build's
// dist/ patched by hand, BENCH_TELEMETRY=1, 7 rounds, load average 12-15, us per request on the
// request thread with telemetry, variant | this): spans never sent (the export thread releases each
// batch at once: no export thread sends, no OTLP sink work) 20.1 | 19.2; the turn's telemetry run
// inline at each stream's completion instead of deferred to the turn's end 17.5 | 17.8; no span
// finished at all 18.7 | 18.2; no access-log record 18.5 | 18.2. None moves it beyond the rounds'
// +-1 us: the telemetry threads' and the sink's CPU on the other core is not what the request
// thread pays, and no single part is resolvable here; measure parts in-process (bench:filter-chain,
// bench:tracing-cpu, bench:access-log-cpu). Preemptions per request grow with the request thread's
// CPU per request (0.044 per us off, 0.047 on; 0.93 per request with spans unsent), i.e. they follow
// its longer run per request rather than coming from the telemetry threads' wake-ups.
// On proxy12's 8 MB young generation (6080b04), load average 4-10, steal 0%,
// the same kind of variants, 7 rounds each run, request thread us per request with telemetry,
// variant | this (off rows 11.0-12.9, their spread the noise floor): no span started (startSpan
// returns null; access log and istio.stats still on) 13.5 | 15.9 and 13.1 | 16.2; no span
// finished (finishSpan returns at once) 14.0 | 15.9, 14.2 | 15.7, 14.1 | 15.3; spans never sent
// 15.7 | 15.7; no traceparent injected 16.0 | 16.3, 15.9 | 16.2; 64 KB batch buffers instead of
// 320 KB 14.9 | 15.3. There finishing spans looked the largest part, 1.2-1.9 us, where
// bench:tracing-cpu puts finishSpan's own JS at ~0.4 us; neither the export thread's sends nor the sink are the
// difference (spans never sent: no change). On a quiet host (load average 0.8, 0.03 preemptions
// per request against 0.6-0.8 above) the same variant saves only 0.4 us (16.7 | 17.1, off 14.1),
// and finishing spans into a private 4 KB buffer never handed over costs what the batch does
// (17.4 | 17.1): so the 1.2-1.9 us is a loaded host's, where each request's longer run is
// preempted more, not the batch buffers' memory; the add itself (+3.0 us, rps 0.775 of off)
// stays.
// bench:telemetry-gc adds that the young generation is no part of the add (scavenges and
// their pauses per request are the same on and off, the semi-space held at 8 MB).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  baselineCli,
  freePort,
  startMeshscope,
  startNginxH2cProxy,
  startNginxProxy,
  startNginxUpstream,
  startNodeHttp2Plain,
  stopAll,
  type Peer,
  withDownstreamTls,
  workDir,
} from './lib/peers.js';
import { selfSignedP256 } from '../test/helpers/openssl.js';
import { median } from './lib/median.js';
import { peakRssMb } from './lib/rss.js';
import { stealMeter } from './lib/steal.js';
import { runWrk, runWrkAsync } from './lib/wrk.js';
import { runH2load, runH2loadAsync } from './lib/h2load.js';
import { openLoop } from './lib/open-loop.js';
import { measuredSidecarBootstrap, startSink } from './lib/telemetry.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// BENCH_PARALLEL=1 loads every build at once (one wrk each): the builds then share whatever the
// host's other tenants leave in the same seconds, which pairs them better than taking turns.
const PARALLEL = process.env.BENCH_PARALLEL === '1';
// BENCH_TELEMETRY=1 adds each build again with telemetry on (100% sampling, access log,
// istio.stats, spans to a local sink): the request thread's share of what telemetry costs.
// BENCH_TELEMETRY=parts also adds this build with one part of it at a time (+tracing,
// +access-log, +istio), and every row then reports the upstream nginx worker's CPU per request
// and the bytes the request thread writes per request (response plus upstream request head):
// the accounting of what telemetry costs, part by part and outside the proxy too (the upstream
// parses the propagation headers tracing adds).
const TELEMETRY = process.env.BENCH_TELEMETRY === '1' || process.env.BENCH_TELEMETRY === 'parts';
const TELEMETRY_PARTS = process.env.BENCH_TELEMETRY === 'parts';
// With parts, one more row: the "this" process (telemetry off) loaded again while another
// process keeps BENCH_SIBLING_DUTY percent (default 10) of a CPU busy in 1 ms slices, about
// what telemetry's own threads, the OTLP sink and the upstream's extra header parsing take at
// full load. On 2 vCPUs that may share a physical core (or its caches), the request thread's
// CPU per request can rise with whatever runs beside it; this row says by how much. It reads
// best on a quiet host, where telemetry's other work is otherwise the only thing beside the
// request thread (on a loaded one the other CPU is partly busy anyway). Sequential rounds
// only (not BENCH_PARALLEL).
const SIBLING_DUTY = Number(process.env.BENCH_SIBLING_DUTY ?? 10);
/** A process busy `duty` percent of each millisecond, asleep the rest (no garbage, no I/O). */
const SIBLING_SCRIPT = (duty: number): string => `
const cell = new Int32Array(new SharedArrayBuffer(4));
const busy = ${duty} / 100;
for (;;) {
  const t = performance.now();
  while (performance.now() - t < busy) {}
  Atomics.wait(cell, 0, 0, 1 - busy);
}`;
/** One part of the telemetry sidecar (BENCH_TELEMETRY=parts). */
type TelemetryPart = 'tracing' | 'access-log' | 'istio';
const TELEMETRY_PART_NAMES: readonly TelemetryPart[] = ['tracing', 'access-log', 'istio'];
// BENCH_TLS=1 terminates TLS on the listener (EC P-256 certificate, our DownstreamTlsContext
// defaults, ALPN http/1.1) and drives it with wrk over HTTPS: the TLS data path's cost per request.
const TLS = process.env.BENCH_TLS === '1';

/** A certificate made for this run's BENCH_TLS=1 listeners. */
function tlsCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(workDir, 'cpu-tls-'));
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  selfSignedP256({ key, cert, subject: '/CN=localhost', days: 1, extensions: ['subjectAltName=IP:127.0.0.1'] });
  return { cert, key };
}
// BENCH_H2=1 loads with h2load instead (h2c prior knowledge, H2_CLIENTS (10) connections ×
// H2_STREAMS (10) streams, issue 16's check) and adds two reference rows measured the same way:
// nginx `listen … http2` with one worker (its worker's CPU) and a plain node:http2 proxy with no
// meshscope (bench/h2-plain-proxy.ts), the ceiling node:http2 sets. Latency is h2load's mean.
// This build then runs twice, once per HTTP/2 server codec as Envoy's runtime key chooses it:
// "this" on node:http2 (nghttp2) and "this+oghttp2" on our own framing.
const H2 = process.env.BENCH_H2 === '1';
const H2_OPTS = { clients: Number(process.env.H2_CLIENTS ?? 10), streams: Number(process.env.H2_STREAMS ?? 10) };
// BENCH_RATE=<req/s> loads each build in open loop at that rate instead (bench/open-loop-client.ts
// in its own process, HTTP/1.1, after 1 s unrecorded): at 1000 req/s, the two-sidecar latency
// rows' rate, each request is its own event-loop wake-up, and what one costs is the CPU per
// request that sets those rows' tail. Latency is then the client's service-time p99. A reference row
// beside the builds: nginx proxying HTTP/1.1 with one worker (its worker's CPU and wake-ups).
const RATE = Number(process.env.BENCH_RATE ?? 0);

/** One closed-loop run: what the rounds need of wrk's or h2load's summary. */
interface LoadResult {
  requestsPerSecond: number;
  requests: number;
  latencyMs: number;
}

function runLoad(url: string, seconds: number): LoadResult {
  if (RATE > 0) throw new Error('BENCH_RATE runs through runLoadAsync');
  if (H2) {
    const r = runH2load(url, { ...H2_OPTS, seconds });
    return { requestsPerSecond: r.requestsPerSecond, requests: r.requests, latencyMs: r.meanMs };
  }
  const r = runWrk(url, { connections: CONNECTIONS, seconds });
  return { requestsPerSecond: r.requestsPerSecond, requests: r.requests, latencyMs: r.p99Ms };
}

async function runLoadAsync(url: string, seconds: number): Promise<LoadResult> {
  if (RATE > 0) {
    const r = await openLoop(Number(new URL(url).port), RATE, seconds, 1);
    if (r.errors > 0) throw new Error(`${url}: ${r.errors} of ${r.sent} requests failed`);
    return { requestsPerSecond: RATE, requests: r.sent, latencyMs: r.service.p99Ms };
  }
  if (H2) {
    const r = await runH2loadAsync(url, { ...H2_OPTS, seconds });
    return { requestsPerSecond: r.requestsPerSecond, requests: r.requests, latencyMs: r.meanMs };
  }
  const r = await runWrkAsync(url, { connections: CONNECTIONS, seconds });
  return { requestsPerSecond: r.requestsPerSecond, requests: r.requests, latencyMs: r.p99Ms };
}

/** The h2c reference rows (BENCH_H2=1): started beside the builds, measured in the same rounds. */
interface Reference {
  name: string;
  /** Starts it in front of the upstream; `cpuPid` is the process whose CPU is counted. */
  start(upstreamPort: number): Promise<{ peer: Peer; cpuPid: number }>;
}

/** An nginx master's one worker, the process that serves every connection. */
async function nginxWorker(peer: Peer): Promise<number> {
  // On a loaded host the master may not have forked it yet when the port answers.
  const children = `/proc/${peer.pid}/task/${peer.pid}/children`;
  for (let i = 0; i < 100 && readFileSync(children, 'utf8').trim() === ''; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const worker = Number(readFileSync(children, 'utf8').trim().split(' ')[0]);
  if (!(worker > 0)) throw new Error(`nginx (pid ${peer.pid}) started no worker`);
  return worker;
}

const h2References: Reference[] = [
  {
    name: 'nginx-h2c-1-worker',
    start: async (up) => {
      const peer = await startNginxH2cProxy(up);
      return { peer, cpuPid: await nginxWorker(peer) };
    },
  },
  {
    name: 'node-http2-plain',
    start: async (up) => {
      const peer = await startNodeHttp2Plain(up);
      return { peer, cpuPid: peer.pid };
    },
  },
];

/** BENCH_RATE's reference row: nginx proxying HTTP/1.1 with one worker, what a wake-up costs C. */
const rateReferences: Reference[] = [
  {
    name: 'nginx-1-worker',
    start: async (up) => {
      const peer = await startNginxProxy(up);
      return { peer, cpuPid: await nginxWorker(peer) };
    },
  },
];

const references: Reference[] = H2 ? h2References : RATE > 0 ? rateReferences : [];

interface Build {
  name: string;
  cli: string;
  nodeArgs: string[];
  /** 100% sampled tracing, istio.stats and a file access log (bench/lib/telemetry.ts's sidecar). */
  telemetry: boolean;
  /** Only this part of the telemetry sidecar (BENCH_TELEMETRY=parts). */
  part?: TelemetryPart;
  /** Measured beside a process busy BENCH_SIBLING_DUTY percent of a CPU (BENCH_TELEMETRY=parts). */
  siblingLoad?: boolean;
  /** A reference row (nginx; plain node:http2 with BENCH_H2), not a meshscope build. */
  reference?: boolean;
  /** A static runtime layer for the build's bootstrap (the HTTP/2 codec's key). */
  runtime?: Record<string, boolean>;
}

const HTTP2_USE_OGHTTP2 = 'envoy.reloadable_features.http2_use_oghttp2';

function builds(): Build[] {
  const out: Build[] = [
    { name: 'this', cli: resolve(process.cwd(), 'dist/cli/main.js'), nodeArgs: [], telemetry: false },
  ];
  const baseline = baselineCli();
  if (baseline !== null) out.push({ name: 'baseline', cli: baseline, nodeArgs: [], telemetry: false });
  for (const spec of (process.env.BENCH_BUILDS ?? '').split(',').filter((s) => s !== '')) {
    const m = /^([^=]+)=([^@]*)(?:@(.*))?$/.exec(spec);
    if (m === null) throw new Error(`BENCH_BUILDS: '${spec}' is not name=dir[@node flags]`);
    const dir = m[2] === '' ? process.cwd() : m[2]!;
    out.push({
      name: m[1]!,
      cli: join(dir, 'dist', 'cli', 'main.js'),
      telemetry: false,
      nodeArgs: (m[3] ?? '').split(' ').filter((a) => a !== ''),
    });
  }
  if (TELEMETRY) for (const b of [...out]) out.push({ ...b, name: `${b.name}+telemetry`, telemetry: true });
  if (TELEMETRY_PARTS)
    for (const part of TELEMETRY_PART_NAMES) out.push({ ...out[0]!, name: `this+${part}`, telemetry: true, part });
  if (TELEMETRY_PARTS && !PARALLEL) out.push({ ...out[0]!, name: 'this+sibling-load', siblingLoad: true });
  if (H2) {
    const self = out[0]!;
    out[0] = { ...self, runtime: { [HTTP2_USE_OGHTTP2]: false } };
    out.splice(1, 0, { ...self, name: 'this+oghttp2', runtime: { [HTTP2_USE_OGHTTP2]: true } });
  }
  return out;
}

function ticks(statFile: string): number {
  const stat = readFileSync(statFile, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime), counted from after the command name.
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * CPU seconds (user + system) the process has used so far: all its threads, and its main
 * thread alone (the request thread of --concurrency 1; the others are telemetry export
 * threads, V8's and libuv's).
 */
function cpuSeconds(pid: number): Sample {
  return {
    all: ticks(`/proc/${pid}/stat`) / 100,
    main: ticks(`/proc/${pid}/task/${pid}/stat`) / 100,
    wakeUps: wakeUps(pid),
    preemptions: preemptions(pid),
    written: TELEMETRY_PARTS ? bytesWritten(pid) : 0,
    upstream: upstreamWorker === 0 ? 0 : ticks(`/proc/${upstreamWorker}/stat`) / 100,
  };
}

interface Sample {
  all: number;
  main: number;
  wakeUps: number;
  preemptions: number;
  /** Bytes the main thread has written so far (BENCH_TELEMETRY=parts). */
  written: number;
  /** CPU seconds of the upstream nginx worker so far (BENCH_TELEMETRY=parts). */
  upstream: number;
}

/** The upstream nginx's worker, whose CPU BENCH_TELEMETRY=parts reports per request; 0 otherwise. */
let upstreamWorker = 0;

/** What the request thread has written (`wchar`: every socket and file write, counted by the kernel). */
function bytesWritten(pid: number): number {
  const io = readFileSync(`/proc/${pid}/task/${pid}/io`, 'utf8');
  return Number(/^wchar:\s+(\d+)/m.exec(io)?.[1] ?? 0);
}

/**
 * The main thread's voluntary context switches so far: each is a sleep in epoll_wait that a
 * wake-up ends, the count that CPU per request at a low rate follows (a wake-up costs a context
 * switch and a turn of the event loop, more in a VM), and one the host's other load hardly moves.
 */
function wakeUps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

/**
 * The main thread's involuntary context switches so far: each a preemption while it was runnable
 * (by the host's other load, or by the process's own export, libuv and V8 threads on the same
 * cores), whose switch back in the kernel charges to it (finish_task_switch in perf).
 */
function preemptions(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

interface RoundResult {
  /** BENCH_TELEMETRY=parts: the upstream nginx worker's CPU and the request thread's bytes written, per request. */
  upstreamCpuUsPerRequest: number;
  bytesWrittenPerRequest: number;
  cpuUsPerRequest: number;
  mainThreadCpuUsPerRequest: number;
  wakeUpsPerRequest: number;
  preemptionsPerRequest: number;
  requestsPerSecond: number;
  latencyMs: number;
}

function perRequest(before: Sample, after: Sample, r: LoadResult): RoundResult {
  return {
    upstreamCpuUsPerRequest: ((after.upstream - before.upstream) * 1e6) / r.requests,
    bytesWrittenPerRequest: (after.written - before.written) / r.requests,
    cpuUsPerRequest: ((after.all - before.all) * 1e6) / r.requests,
    mainThreadCpuUsPerRequest: ((after.main - before.main) * 1e6) / r.requests,
    wakeUpsPerRequest: (after.wakeUps - before.wakeUps) / r.requests,
    preemptionsPerRequest: (after.preemptions - before.preemptions) / r.requests,
    requestsPerSecond: r.requestsPerSecond,
    latencyMs: r.latencyMs,
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  if (TELEMETRY_PARTS) upstreamWorker = await nginxWorker(upstream);
  const list = builds();
  const sink = TELEMETRY ? await startSink() : null;
  const peers: Array<{ build: Build; peer: Peer; url: string; cpuPid: number }> = [];
  const certificate = TLS ? tlsCertificate() : null;
  const perRound: Array<Map<string, RoundResult>> = [];
  let steal = 0;
  try {
    for (const build of list) {
      if (build.siblingLoad === true) {
        // The same process as "this", measured again beside the co-runner: a pair within one
        // process, so no difference between two processes' code or heap enters it.
        peers.push({ ...peers[0]!, build });
        continue;
      }
      const [port, admin] = await Promise.all([freePort(), freePort()]);
      const name = `bench_${build.name.replace(/\W/g, '_')}`;
      const bootstrap = measuredSidecarBootstrap({
        name,
        port,
        admin,
        upstream: upstream.port,
        telemetry: build.telemetry,
        sink: build.telemetry ? sink!.port : 0,
        ...(build.part === undefined ? {} : { only: build.part }),
      });
      if (certificate !== null) withDownstreamTls(bootstrap, { ...certificate, alpn: ['http/1.1'] });
      if (build.runtime !== undefined) {
        bootstrap.layered_runtime = { layers: [{ name: 'bench', static_layer: build.runtime }] };
      }
      const peer = await startMeshscope(
        `meshscope-${build.name}`,
        bootstrap,
        port,
        ['--concurrency', '1'],
        build.nodeArgs,
        build.cli,
      );
      peers.push({ build, peer, url: `${TLS ? 'https' : 'http'}://127.0.0.1:${port}/`, cpuPid: peer.pid });
    }
    for (const ref of references) {
      const { peer, cpuPid } = await ref.start(upstream.port);
      const build: Build = { name: ref.name, cli: '', nodeArgs: [], telemetry: false, reference: true };
      list.push(build);
      peers.push({ build, peer, url: `http://127.0.0.1:${peer.port}/`, cpuPid });
    }
    for (const { url } of peers) {
      if (RATE > 0) await runLoadAsync(url, 2);
      else runLoad(url, 2);
    }
    const meter = stealMeter();
    for (let round = 0; round < ROUNDS; round++) {
      const results = new Map<string, RoundResult>();
      if (PARALLEL) {
        const before = peers.map(({ cpuPid }) => cpuSeconds(cpuPid));
        const runs = await Promise.all(peers.map(({ url }) => runLoadAsync(url, SECONDS)));
        peers.forEach(({ build, cpuPid }, i) =>
          results.set(build.name, perRequest(before[i]!, cpuSeconds(cpuPid), runs[i]!)),
        );
      } else {
        for (const { build, cpuPid, url } of peers) {
          const sibling =
            build.siblingLoad === true
              ? spawn(process.execPath, ['-e', SIBLING_SCRIPT(SIBLING_DUTY)], { stdio: 'ignore' })
              : null;
          try {
            const before = cpuSeconds(cpuPid);
            const r = RATE > 0 ? await runLoadAsync(url, SECONDS) : runLoad(url, SECONDS);
            results.set(build.name, perRequest(before, cpuSeconds(cpuPid), r));
          } finally {
            sibling?.kill('SIGKILL');
          }
        }
      }
      perRound.push(results);
    }
    steal = meter();
  } finally {
    const rss = new Map(peers.map(({ build, cpuPid }) => [build.name, peakRssMb(cpuPid)]));
    await stopAll();
    sink?.process.kill('SIGTERM');
    if (perRound.length === ROUNDS) {
      const first = list[0]!.name;
      const rows = list.map(({ name }) => {
        const runs = perRound.map((r) => r.get(name)!);
        return {
          name,
          cpuUsPerRequest: round1(median(runs.map((r) => r.cpuUsPerRequest))),
          mainThreadCpuUsPerRequest: round1(median(runs.map((r) => r.mainThreadCpuUsPerRequest))),
          wakeUpsPerRequest: round3(median(runs.map((r) => r.wakeUpsPerRequest))),
          preemptionsPerRequest: round3(median(runs.map((r) => r.preemptionsPerRequest))),
          requestsPerSecond: Math.round(median(runs.map((r) => r.requestsPerSecond))),
          [H2 ? 'meanMs' : 'p99Ms']: median(runs.map((r) => r.latencyMs)),
          peakRssMb: rss.get(name) ?? null,
          ...(TELEMETRY_PARTS
            ? {
                upstreamCpuUsPerRequest: round1(median(runs.map((r) => r.upstreamCpuUsPerRequest))),
                bytesWrittenPerRequest: Math.round(median(runs.map((r) => r.bytesWrittenPerRequest))),
              }
            : {}),
          cpuRatioToThis: round3(
            median(perRound.map((r) => r.get(name)!.cpuUsPerRequest / r.get(first)!.cpuUsPerRequest)),
          ),
          rpsRatioToThis: round3(
            median(perRound.map((r) => r.get(name)!.requestsPerSecond / r.get(first)!.requestsPerSecond)),
          ),
          rounds: runs.map((r) => ({
            cpuUsPerRequest: round1(r.cpuUsPerRequest),
            mainThreadCpuUsPerRequest: round1(r.mainThreadCpuUsPerRequest),
            wakeUpsPerRequest: round3(r.wakeUpsPerRequest),
            preemptionsPerRequest: round3(r.preemptionsPerRequest),
            requestsPerSecond: Math.round(r.requestsPerSecond),
            [H2 ? 'meanMs' : 'p99Ms']: r.latencyMs,
          })),
        };
      });
      // Telemetry on against off for each build, within each round (CPU: off / on, 1 = free).
      const telemetry = TELEMETRY
        ? Object.fromEntries(
            list
              .filter((b) => !b.telemetry && b.reference !== true && b.part === undefined && b.siblingLoad !== true)
              .map(({ name }) => [
                name,
                {
                  cpuOffOverOn: round3(
                    median(
                      perRound.map((r) => r.get(name)!.cpuUsPerRequest / r.get(`${name}+telemetry`)!.cpuUsPerRequest),
                    ),
                  ),
                  mainThreadCpuOffOverOn: round3(
                    median(
                      perRound.map(
                        (r) =>
                          r.get(name)!.mainThreadCpuUsPerRequest /
                          r.get(`${name}+telemetry`)!.mainThreadCpuUsPerRequest,
                      ),
                    ),
                  ),
                  rpsOnOverOff: round3(
                    median(
                      perRound.map(
                        (r) => r.get(`${name}+telemetry`)!.requestsPerSecond / r.get(name)!.requestsPerSecond,
                      ),
                    ),
                  ),
                },
              ]),
          )
        : null;
      // Each part (and the whole) against this build with telemetry off, paired within each
      // round: what it adds per request to the request thread, to every thread, to the upstream.
      const addedBy = (name: string, of: (r: RoundResult) => number): number =>
        round1(median(perRound.map((r) => of(r.get(name)!) - of(r.get(first)!))));
      const telemetryParts = TELEMETRY_PARTS
        ? Object.fromEntries(
            [
              'this+telemetry',
              ...TELEMETRY_PART_NAMES.map((p) => `this+${p}`),
              ...(PARALLEL ? [] : ['this+sibling-load']),
            ].map((name) => [
              name,
              {
                mainThreadCpuUsAdded: addedBy(name, (r) => r.mainThreadCpuUsPerRequest),
                cpuUsAdded: addedBy(name, (r) => r.cpuUsPerRequest),
                upstreamCpuUsAdded: addedBy(name, (r) => r.upstreamCpuUsPerRequest),
                bytesWrittenAdded: addedBy(name, (r) => r.bytesWrittenPerRequest),
              },
            ]),
          )
        : null;
      const out = {
        benchmark: 'proxy-cpu',
        tls: TLS,
        load:
          RATE > 0
            ? `open loop ${RATE} req/s`
            : H2
              ? `h2load -c ${H2_OPTS.clients} -m ${H2_OPTS.streams}`
              : `wrk -c ${CONNECTIONS}`,
        secondsPerRun: SECONDS,
        rounds: ROUNDS,
        cpuStealPercent: steal,
        rows,
        telemetry,
        ...(telemetryParts === null ? {} : { telemetryParts }),
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:proxy-cpu failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
