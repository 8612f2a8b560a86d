// bench:loadgen — meshscope load beside autocannon and wrk against nginx `return 200` (one worker),
// 50 connections each, run one after the other in the same invocation. Prints requests/s, CPU
// seconds, p50/p99 and ratios as JSON, then a memory check: peak RSS of a short and a long
// meshscope run (constant-vus), which should be flat (HDR histograms, no per-sample storage).
//
// The three tools run in turn, `--rounds` times (default 2): the machine is shared, so each
// tool's best round is compared and every round's figure is printed too.
//
//   npm run bench:loadgen                  10 s per tool and round, memory 10 s vs 60 s
//   npm run bench:loadgen -- --quick       4 s per tool, one round, memory 4 s vs 16 s
//   npm run bench:loadgen -- --duration 6 --rounds 3 --memory 5,30
//
// Comparing two builds of meshscope (a change's cost): --baseline DIR (or BENCH_BASELINE=DIR) runs
// DIR/dist/cli/main.js before this build in every round (interleaved, so both see the same
// machine), and prints meshscope_vs_baseline_rps from their medians. With the build before VU
// isolation as the baseline (2ea2115, /work/baseline), `isolation` states issue 20's check: this
// build's requests/s (and requests per CPU second) over that build's, goal >= 0.95.
// --peers none skips autocannon and wrk, --memory 0 the memory runs. --vus-start N (default
// 1000, 0 skips) starts N VUs (one empty iteration each) and reports the start time and the RSS
// each VU adds over a 1-VU run, for both builds.
//
//   BENCH_BASELINE=/work/baseline npm run bench:loadgen -- --peers none --memory 0 --duration 4 --rounds 3
//   npm run bench:loadgen -- --baseline /tmp/base --side-by-side --peers none --memory 0 --open-rate 0
//
// Same work (--work N, default 3000 with a baseline; 0 skips): the baseline and this build each
// run 50 VUs x N iterations of http.get at the same time, in every round, and the whole-process CPU
// each spent on those identical requests is compared round by round (fixed_work). The same again
// with a script in the style of k6's documentation (fixed_work_docs_style: group(), http.get with
// one params object of headers and a name tag, check()), as scripts are written; --work-docs 0
// skips it. Unlike the
// timed rounds, neither build's figure depends on how many requests the host let it make that
// minute (a starved closed-loop client does more work per request), so the ratio holds steady on
// a loaded host; it counts start-up (contexts, compiles) as part of the cost.
//
// Node floor (bench/loadgen-floor.ts): with the peers, each round also runs a bare Node client (50
// keep-alive sockets writing a fixed head and finding each response's blank line, nothing else), so
// the JSON says what one Node thread reaches beside wrk on this host (node_floor_vs_wrk_rps) and
// how much CPU meshscope spends per request over that floor (meshscope_vs_node_floor_per_cpu).
//
// Open model (bench/loadgen-open.ts): --open-rate R (default 1000 req/s; 0 skips) runs meshscope's
// constant-arrival-rate and bench/open-loop-client.ts at R for --open-seconds (default --duration),
// both at the same time in each round (--open-apart: one after the other), and prints each one's
// p50/p90/p99 and their ratios, paired by round. --open-only runs only these rounds; with
// --baseline DIR, DIR's build runs them too (beside its own client, in turn with this build), and
// the JSON has both builds' ratios by round and CPU per iteration. --open-noise adds, per round,
// two open-loop clients run at once (client_vs_client_by_round): what the same client's ratio to
// itself comes to that minute, below which no round's meshscope-to-client ratio means anything:
//
//   node dist/bench/loadgen.js --open-only --open-noise --baseline /tmp/main6b1 --duration 10 --rounds 4
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLOOR_SOURCE } from './loadgen-floor.js';
import { openModelComparison } from './loadgen-open.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const DURATION_S = Number(argValue('--duration') ?? (quick ? 4 : 10));
const [MEM_SHORT_S, MEM_LONG_S] = (argValue('--memory') ?? (quick ? '4,16' : '10,60')).split(',').map(Number) as [
  number,
  number,
];
const ROUNDS = Number(argValue('--rounds') ?? (quick ? 1 : 2));
const BASELINE = argValue('--baseline') ?? (process.env.BENCH_BASELINE || undefined);
// --side-by-side runs the baseline and this build at the same time in each round: both see the same
// host, so their CPU per request compares even when the machine's load swings between rounds
// (their requests/s do not: they share nginx and the cores).
const SIDE_BY_SIDE = args.includes('--side-by-side');
const PEERS = argValue('--peers') !== 'none';
const VUS_START = Number(argValue('--vus-start') ?? 1000);
const WORK = Number(argValue('--work') ?? (BASELINE === undefined ? 0 : 3000));
const WORK_DOCS = argValue('--work-docs') !== '0';
// Open model: meshscope's constant-arrival-rate beside bench/open-loop-client.ts (0 skips it).
const OPEN_RATE = Number(argValue('--open-rate') ?? 1000);
const OPEN_SECONDS = Number(argValue('--open-seconds') ?? DURATION_S);
// --open-only runs the open-model rounds alone (with --baseline, that build's too, in turn).
const OPEN_ONLY = args.includes('--open-only');
const CLI = path.join(root, 'dist/cli/main.js');
const CONNECTIONS = 50;
const CLK_TCK = 100;

interface ProcStats {
  cpuSeconds: number;
  /** User-mode share of cpuSeconds: the client's own code. The kernel share (sys) is mostly the
   * loopback TCP path and wakeups, which both builds pay alike per request. */
  userSeconds: number;
  peakRssMB: number;
  lastRssMB: number;
}

function readProc(pid: number): { ticks: number; userTicks: number; rssKB: number; hwmKB: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const userTicks = Number(fields[11]);
    const ticks = userTicks + Number(fields[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const hwmKB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { ticks, userTicks, rssKB, hwmKB };
  } catch {
    return undefined;
  }
}

/** Runs a command, sampling its CPU time and RSS from /proc until it exits. */
function measure(
  cmd: string,
  argv: string[],
  timeoutS: number,
): Promise<{ stdout: string; stderr: string; code: number; stats: ProcStats }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let last = { ticks: 0, userTicks: 0, rssKB: 0, hwmKB: 0 };
    const poll = setInterval(() => {
      const p = readProc(child.pid!);
      // An exited (zombie) process still has CPU times but no memory lines: keep the last RSS.
      if (p !== undefined) last = p.hwmKB === 0 ? { ...last, ticks: p.ticks, userTicks: p.userTicks } : p;
    }, 100);
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(kill);
      resolve({
        stdout,
        stderr,
        code: code ?? -1,
        stats: {
          cpuSeconds: last.ticks / CLK_TCK,
          userSeconds: last.userTicks / CLK_TCK,
          peakRssMB: last.hwmKB / 1024,
          lastRssMB: last.rssKB / 1024,
        },
      });
    });
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startNginx(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${port}; location / { return 200; } }
}
`,
  );
  const child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGQUIT');
      }),
  };
}

function wrkLatencyMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(text);
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function runMeshscope(
  dir: string,
  url: string,
  seconds: number,
  cli = CLI,
  tag = 'current',
): Promise<{ rps: number; p50: number; p99: number; stats: ProcStats; requests: number }> {
  const script = path.join(dir, 'get.js');
  fs.writeFileSync(
    script,
    `import http from 'k6/http';
export const options = { scenarios: { get: { executor: 'constant-vus', vus: ${CONNECTIONS}, duration: '${seconds}s', gracefulStop: '2s' } }, summaryTrendStats: ['avg', 'med', 'p(99)', 'max'] };
export default function () { http.get(__ENV.URL); }
`,
  );
  const exportFile = path.join(dir, `summary-${tag}-${seconds}.json`);
  const r = await measure(
    process.execPath,
    [cli, 'load', script, '--quiet', '-e', `URL=${url}`, '--summary-export', exportFile],
    seconds + 60,
  );
  if (r.code !== 0) throw new Error(`meshscope load exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  const s = JSON.parse(fs.readFileSync(exportFile, 'utf8')) as { metrics: Record<string, Record<string, number>> };
  const reqs = s.metrics.http_reqs!;
  const d = s.metrics.http_req_duration!;
  return { rps: reqs.rate!, requests: reqs.count!, p50: d.med!, p99: d['p(99)']!, stats: r.stats };
}

async function runAutocannon(
  url: string,
  seconds: number,
): Promise<{ rps: number; p50: number; p99: number; stats: ProcStats; requests: number }> {
  const bin = path.join(root, 'node_modules/autocannon/autocannon.js');
  const r = await measure(
    process.execPath,
    [bin, '-c', String(CONNECTIONS), '-d', String(seconds), '-j', url],
    seconds + 60,
  );
  const j = JSON.parse(r.stdout) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
  };
  return {
    rps: j.requests.total / seconds,
    requests: j.requests.total,
    p50: j.latency.p50,
    p99: j.latency.p99,
    stats: r.stats,
  };
}

async function runWrk(
  url: string,
  seconds: number,
): Promise<{ rps: number; p50: number; p99: number; stats: ProcStats; requests: number }> {
  const r = await measure('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url], seconds + 60);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const total = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? NaN);
  return { rps, requests: total, p50: wrkLatencyMs(r.stdout, '50'), p99: wrkLatencyMs(r.stdout, '99'), stats: r.stats };
}

async function runNodeFloor(
  url: string,
  seconds: number,
): Promise<{ rps: number; p50: number; p99: number; stats: ProcStats; requests: number }> {
  const r = await measure(
    process.execPath,
    ['--input-type=module', '-e', NODE_FLOOR_SOURCE, url, String(seconds), String(CONNECTIONS)],
    seconds + 60,
  );
  if (r.code !== 0) throw new Error(`node floor exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  const j = JSON.parse(r.stdout) as { requests: number; seconds: number };
  return { rps: j.requests / j.seconds, requests: j.requests, p50: NaN, p99: NaN, stats: r.stats };
}

const round = (n: number, d = 2): number => Number(n.toFixed(d));

interface FixedWork {
  requests: number;
  cpuSeconds: number;
  userSeconds: number;
}

type WorkStyle = 'plain' | 'docs';

/** The default function of each same-work script. */
const WORK_BODY: Record<WorkStyle, string> = {
  plain: `export default function () { http.get(__ENV.URL); }`,
  docs: `const params = { headers: { Accept: 'application/json' }, tags: { name: 'home' } };
export default function () {
  group('home', () => {
    const res = http.get(__ENV.URL, params);
    check(res, { 'status is 200': (r) => r.status === 200 });
  });
}`,
};

/** `vus` x `iterations` of the style's script (per-vu-iterations): whole-process CPU and requests made. */
async function runFixedWork(
  dir: string,
  url: string,
  iterations: number,
  cli: string,
  tag: string,
  style: WorkStyle,
): Promise<FixedWork> {
  const script = path.join(dir, `fixed-work-${style}.js`);
  fs.writeFileSync(
    script,
    `import http from 'k6/http';
import { check, group } from 'k6';
export const options = { scenarios: { get: { executor: 'per-vu-iterations', vus: ${CONNECTIONS}, iterations: ${iterations}, maxDuration: '10m' } } };
${WORK_BODY[style]}
`,
  );
  const exportFile = path.join(dir, `fixed-${style}-${tag}.json`);
  const r = await measure(
    process.execPath,
    [cli, 'load', script, '--quiet', '-e', `URL=${url}`, '--summary-export', exportFile],
    600,
  );
  if (r.code !== 0) throw new Error(`meshscope load exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  const s = JSON.parse(fs.readFileSync(exportFile, 'utf8')) as { metrics: Record<string, Record<string, number>> };
  return { requests: s.metrics.http_reqs!.count!, cpuSeconds: r.stats.cpuSeconds, userSeconds: r.stats.userSeconds };
}

/** Wall time and peak RSS of a run with `vus` VUs, one empty iteration each. */
async function runVuStart(
  dir: string,
  vus: number,
  cli: string,
): Promise<{ wallS: number; cpuS: number; peakRssMB: number }> {
  const script = path.join(dir, 'empty.js');
  fs.writeFileSync(
    script,
    `export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: ${vus}, iterations: 1 } } };
export default function () {}
`,
  );
  const t0 = performance.now();
  const r = await measure(process.execPath, [cli, 'load', script, '--quiet'], 300);
  if (r.code !== 0) throw new Error(`meshscope load exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  return { wallS: (performance.now() - t0) / 1000, cpuS: r.stats.cpuSeconds, peakRssMB: r.stats.peakRssMB };
}

/** Start time and RSS per VU of `n` VUs against a 1-VU run of the same build. */
async function vuStart(dir: string, n: number, cli: string): Promise<Record<string, number>> {
  const one = await runVuStart(dir, 1, cli);
  const many = await runVuStart(dir, n, cli);
  return {
    vus: n,
    // Wall time moves with the host's load (it can even come out negative on a shared host); the
    // CPU seconds the extra VUs cost are the steadier figure.
    start_s: round(many.wallS - one.wallS),
    start_cpu_s: round(many.cpuS - one.cpuS),
    cpu_ms_per_vu: round(((many.cpuS - one.cpuS) * 1000) / (n - 1), 3),
    wall_s: round(many.wallS),
    peak_rss_mb: round(many.peakRssMB, 1),
    rss_per_vu_kb: round(((many.peakRssMB - one.peakRssMB) * 1024) / (n - 1), 0),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface WorkPair {
  baseline: FixedWork;
  current: FixedWork;
}

/** Same work, both builds at once, every round (the order they start in alternates). */
async function pairedWork(dir: string, url: string, baselineCli: string, style: WorkStyle): Promise<WorkPair[]> {
  const pairs: WorkPair[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const runB = () => runFixedWork(dir, url, WORK, baselineCli, 'baseline', style);
    const runC = () => runFixedWork(dir, url, WORK, CLI, 'current', style);
    let b: ReturnType<typeof runB>;
    let c: ReturnType<typeof runC>;
    if (i % 2 === 0) {
      b = runB();
      c = runC();
    } else {
      c = runC();
      b = runB();
    }
    const [baseline, current] = await Promise.all([b, c]);
    pairs.push({ baseline, current });
  }
  return pairs;
}

function workSummary(fixed: WorkPair[]): {
  meshscope_vs_baseline_per_cpu_paired: number;
  meshscope_vs_baseline_per_user_cpu_paired: number;
  [k: string]: unknown;
} {
  const perCpu = (w: FixedWork, seconds: number): number => w.requests / Math.max(seconds, 0.01);
  return {
    vus: CONNECTIONS,
    iterations_per_vu: WORK,
    requests: fixed[0]!.current.requests,
    baseline_cpu_s_by_round: fixed.map((f) => round(f.baseline.cpuSeconds)),
    current_cpu_s_by_round: fixed.map((f) => round(f.current.cpuSeconds)),
    baseline_user_cpu_s_by_round: fixed.map((f) => round(f.baseline.userSeconds)),
    current_user_cpu_s_by_round: fixed.map((f) => round(f.current.userSeconds)),
    // Requests per CPU second, this build over the baseline, round by round (both ran at once).
    meshscope_vs_baseline_per_cpu_paired: round(
      median(fixed.map((f) => perCpu(f.current, f.current.cpuSeconds) / perCpu(f.baseline, f.baseline.cpuSeconds))),
      3,
    ),
    // The same in user-mode CPU only: what the builds' own code costs, without the kernel's
    // loopback and wakeup time that moves with how busy the host is.
    meshscope_vs_baseline_per_user_cpu_paired: round(
      median(fixed.map((f) => perCpu(f.current, f.current.userSeconds) / perCpu(f.baseline, f.baseline.userSeconds))),
      3,
    ),
  };
}

/** The open-model rounds (bench/loadgen-open.ts) against nginx at `url`. */
function openModel(dir: string, url: string, baselineCli: string | undefined): Promise<Record<string, unknown>> {
  return openModelComparison({
    root,
    dir,
    url,
    rate: OPEN_RATE,
    seconds: OPEN_SECONDS,
    warmSeconds: 2,
    rounds: ROUNDS,
    apart: args.includes('--open-apart'),
    noise: args.includes('--open-noise'),
    cli: CLI,
    ...(baselineCli === undefined ? {} : { baselineCli }),
    run: async (argv, timeoutS) => {
      const r = await measure(process.execPath, argv, timeoutS);
      return { exitCode: r.code, stderr: r.stderr, cpuSeconds: r.stats.cpuSeconds };
    },
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-loadgen-'));
  const nginx = await startNginx(dir);
  try {
    type Run = Awaited<ReturnType<typeof runWrk>>;
    const rounds: Array<{ ms: Run; ac: Run; wrk: Run; floor: Run }> = [];
    const baselineRuns: Run[] = [];
    const baselineCli = BASELINE === undefined ? undefined : path.join(path.resolve(BASELINE), 'dist/cli/main.js');
    if (OPEN_ONLY) {
      const open = await openModel(dir, nginx.url, baselineCli);
      process.stdout.write(
        `${JSON.stringify({ bench: 'loadgen', target: 'nginx return 200, 1 worker', cores: os.cpus().length, open_model: open }, null, 2)}\n`,
      );
      return;
    }
    const skipped: Run = {
      rps: NaN,
      p50: NaN,
      p99: NaN,
      requests: 0,
      stats: { cpuSeconds: NaN, userSeconds: NaN, peakRssMB: NaN, lastRssMB: NaN },
    };
    for (let i = 0; i < ROUNDS; i++) {
      let ms: Run;
      if (baselineCli !== undefined && SIDE_BY_SIDE) {
        const [b, c] = await Promise.all([
          runMeshscope(dir, nginx.url, DURATION_S, baselineCli, 'baseline'),
          runMeshscope(dir, nginx.url, DURATION_S),
        ]);
        baselineRuns.push(b);
        ms = c;
      } else {
        if (baselineCli !== undefined)
          baselineRuns.push(await runMeshscope(dir, nginx.url, DURATION_S, baselineCli, 'baseline'));
        ms = await runMeshscope(dir, nginx.url, DURATION_S);
      }
      const ac = PEERS ? await runAutocannon(nginx.url, DURATION_S) : skipped;
      const wrk = PEERS ? await runWrk(nginx.url, DURATION_S) : skipped;
      const floor = PEERS ? await runNodeFloor(nginx.url, DURATION_S) : skipped;
      rounds.push({ ms, ac, wrk, floor });
    }
    // Same work, both builds at once.
    const runWork = baselineCli !== undefined && WORK > 0;
    const fixed = runWork ? await pairedWork(dir, nginx.url, baselineCli, 'plain') : [];
    const fixedDocs = runWork && WORK_DOCS ? await pairedWork(dir, nginx.url, baselineCli, 'docs') : [];
    const best = (pick: (r: { ms: Run; ac: Run; wrk: Run; floor: Run }) => Run): Run =>
      rounds.map(pick).reduce((a, b) => (b.rps > a.rps ? b : a));
    const ms = best((r) => r.ms);
    const ac = best((r) => r.ac);
    const wrk = best((r) => r.wrk);
    const floor = best((r) => r.floor);
    const row = (r: Run) => ({
      requests_per_s: round(r.rps, 0),
      requests: r.requests,
      cpu_s: round(r.stats.cpuSeconds),
      requests_per_cpu_s: round(r.requests / Math.max(r.stats.cpuSeconds, 0.01), 0),
      p50_ms: round(r.p50, 3),
      p99_ms: round(r.p99, 3),
      peak_rss_mb: round(r.stats.peakRssMB, 1),
    });
    const memory = MEM_SHORT_S > 0;
    const memShort = memory ? await runMeshscope(dir, nginx.url, MEM_SHORT_S) : skipped;
    const memLong = memory ? await runMeshscope(dir, nginx.url, MEM_LONG_S) : skipped;
    const currentRps = rounds.map((r) => r.ms.rps);
    const baselineRps = baselineRuns.map((r) => r.rps);
    const perCpu = (
      r: { requests: number; stats: { cpuSeconds: number } } | { requests: number; cpuSeconds: number },
    ): number => r.requests / Math.max('stats' in r ? r.stats.cpuSeconds : r.cpuSeconds, 0.01);
    const comparison =
      baselineCli === undefined
        ? undefined
        : {
            baseline: BASELINE,
            baseline_requests_per_s_by_round: baselineRps.map((r) => round(r, 0)),
            current_requests_per_s_by_round: currentRps.map((r) => round(r, 0)),
            meshscope_vs_baseline_rps: round(median(currentRps) / median(baselineRps), 3),
            // Requests per CPU second is steadier than requests/s on a shared machine.
            baseline_requests_per_cpu_s_by_round: baselineRuns.map((r) => round(perCpu(r), 0)),
            current_requests_per_cpu_s_by_round: rounds.map((r) => round(perCpu(r.ms), 0)),
            meshscope_vs_baseline_per_cpu: round(
              median(rounds.map((r) => perCpu(r.ms))) / median(baselineRuns.map(perCpu)),
              3,
            ),
            // Round by round (paired): with --side-by-side the pair ran at the same time.
            meshscope_vs_baseline_per_cpu_paired: round(
              median(rounds.map((r, i) => perCpu(r.ms) / perCpu(baselineRuns[i]!))),
              3,
            ),
            side_by_side: SIDE_BY_SIDE,
          };
    const fixedWork = fixed.length === 0 ? undefined : workSummary(fixed);
    const fixedWorkDocs = fixedDocs.length === 0 ? undefined : workSummary(fixedDocs);
    // Issue 20's check when the baseline is the build before VU isolation: what isolation costs.
    const isolation =
      comparison === undefined
        ? undefined
        : {
            vs_pre_isolation_rps: comparison.meshscope_vs_baseline_rps,
            vs_pre_isolation_per_cpu: comparison.meshscope_vs_baseline_per_cpu,
            vs_pre_isolation_per_cpu_paired: comparison.meshscope_vs_baseline_per_cpu_paired,
            ...(fixedWork === undefined
              ? {}
              : {
                  vs_pre_isolation_per_cpu_same_work: fixedWork.meshscope_vs_baseline_per_cpu_paired,
                  vs_pre_isolation_per_user_cpu_same_work: fixedWork.meshscope_vs_baseline_per_user_cpu_paired,
                }),
            ...(fixedWorkDocs === undefined
              ? {}
              : {
                  vs_pre_isolation_per_cpu_same_work_docs_style: fixedWorkDocs.meshscope_vs_baseline_per_cpu_paired,
                  vs_pre_isolation_per_user_cpu_same_work_docs_style:
                    fixedWorkDocs.meshscope_vs_baseline_per_user_cpu_paired,
                }),
            goal: '>= 0.95 (isolation costs at most 5% requests/s)',
          };
    const start =
      VUS_START > 1
        ? {
            current: await vuStart(dir, VUS_START, CLI),
            ...(baselineCli === undefined ? {} : { baseline: await vuStart(dir, VUS_START, baselineCli) }),
          }
        : undefined;
    const open = OPEN_RATE > 0 ? await openModel(dir, nginx.url, undefined) : undefined;
    const result = {
      bench: 'loadgen',
      target: 'nginx return 200, 1 worker',
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      rounds: ROUNDS,
      requests_per_s_by_round: rounds.map((r) => ({
        meshscope: round(r.ms.rps, 0),
        autocannon: round(r.ac.rps, 0),
        wrk: round(r.wrk.rps, 0),
        node_floor: round(r.floor.rps, 0),
      })),
      cores: os.cpus().length,
      loadavg_1m: round(os.loadavg()[0]!),
      meshscope: row(ms),
      autocannon: row(ac),
      wrk: row(wrk),
      node_floor: row(floor),
      ratios: {
        meshscope_vs_autocannon_rps: round(ms.rps / ac.rps),
        meshscope_vs_wrk_rps: round(ms.rps / wrk.rps),
        meshscope_vs_autocannon_per_cpu: round(ms.requests / ms.stats.cpuSeconds / (ac.requests / ac.stats.cpuSeconds)),
        meshscope_vs_wrk_per_cpu: round(ms.requests / ms.stats.cpuSeconds / (wrk.requests / wrk.stats.cpuSeconds)),
        node_floor_vs_wrk_rps: round(floor.rps / wrk.rps),
        node_floor_vs_wrk_per_cpu: round(
          floor.requests / floor.stats.cpuSeconds / (wrk.requests / wrk.stats.cpuSeconds),
        ),
        meshscope_vs_node_floor_per_cpu: round(
          ms.requests / ms.stats.cpuSeconds / (floor.requests / floor.stats.cpuSeconds),
        ),
        p50_vs_wrk: round(ms.p50 / wrk.p50),
        p99_vs_wrk: round(ms.p99 / wrk.p99),
      },
      goals: { vs_autocannon: '>= 1.3', vs_wrk: '>= 0.7', open_model_latency_vs_open_loop_client: 'within 10%' },
      ...(comparison === undefined ? {} : { comparison, isolation }),
      ...(fixedWork === undefined ? {} : { fixed_work: fixedWork }),
      ...(fixedWorkDocs === undefined ? {} : { fixed_work_docs_style: fixedWorkDocs }),
      ...(start === undefined ? {} : { vu_start: start }),
      ...(open === undefined ? {} : { open_model: open }),
      memory: {
        short_run_s: MEM_SHORT_S,
        long_run_s: MEM_LONG_S,
        short_requests: memShort.requests,
        long_requests: memLong.requests,
        short_peak_rss_mb: round(memShort.stats.peakRssMB, 1),
        long_peak_rss_mb: round(memLong.stats.peakRssMB, 1),
        long_vs_short_peak_rss: round(memLong.stats.peakRssMB / memShort.stats.peakRssMB),
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await nginx.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:loadgen failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
