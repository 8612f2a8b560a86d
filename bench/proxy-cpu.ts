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
// BENCH_PARALLEL, BENCH_TELEMETRY and BENCH_TLS (below). Peak RSS is the process's VmHWM at the end (its
// whole life, warm-up included); mainThreadCpuUsPerRequest is the request thread's part of the CPU.
import { mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  baselineCli,
  freePort,
  proxyBootstrap,
  startMeshscope,
  startNginxUpstream,
  stopAll,
  type Peer,
  workDir,
} from './lib/peers.js';
import { selfSignedP256 } from '../test/helpers/openssl.js';
import { median } from './lib/median.js';
import { peakRssMb } from './lib/rss.js';
import { stealMeter } from './lib/steal.js';
import { runWrk, runWrkAsync, type WrkResult } from './lib/wrk.js';
import { bootstrapFor, startSink } from './lib/telemetry.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// BENCH_PARALLEL=1 loads every build at once (one wrk each): the builds then share whatever the
// host's other tenants leave in the same seconds, which pairs them better than taking turns.
const PARALLEL = process.env.BENCH_PARALLEL === '1';
// BENCH_TELEMETRY=1 adds each build again with telemetry on (100% sampling, access log,
// istio.stats, spans to a local sink): the request thread's share of what telemetry costs.
const TELEMETRY = process.env.BENCH_TELEMETRY === '1';
// BENCH_TLS=1 terminates TLS on the listener (EC P-256 certificate, our DownstreamTlsContext
// defaults, ALPN http/1.1) and drives it with wrk over HTTPS: the TLS data path's cost per request.
const TLS = process.env.BENCH_TLS === '1';

/** The listener's DownstreamTlsContext for BENCH_TLS=1, with a certificate made for this run. */
function tlsTransportSocket(): Record<string, unknown> {
  const dir = mkdtempSync(join(workDir, 'cpu-tls-'));
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  selfSignedP256({ key, cert, subject: '/CN=localhost', days: 1, extensions: ['subjectAltName=IP:127.0.0.1'] });
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: cert }, private_key: { filename: key } }],
        alpn_protocols: ['http/1.1'],
      },
    },
  };
}

interface Build {
  name: string;
  cli: string;
  nodeArgs: string[];
  /** 100% sampled tracing, istio.stats and a file access log (bench/lib/telemetry.ts's sidecar). */
  telemetry: boolean;
}

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
function cpuSeconds(pid: number): { all: number; main: number } {
  return { all: ticks(`/proc/${pid}/stat`) / 100, main: ticks(`/proc/${pid}/task/${pid}/stat`) / 100 };
}

interface RoundResult {
  cpuUsPerRequest: number;
  mainThreadCpuUsPerRequest: number;
  requestsPerSecond: number;
  p99Ms: number;
}

function perRequest(
  before: { all: number; main: number },
  after: { all: number; main: number },
  r: WrkResult,
): RoundResult {
  return {
    cpuUsPerRequest: ((after.all - before.all) * 1e6) / r.requests,
    mainThreadCpuUsPerRequest: ((after.main - before.main) * 1e6) / r.requests,
    requestsPerSecond: r.requestsPerSecond,
    p99Ms: r.p99Ms,
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const list = builds();
  const sink = TELEMETRY ? await startSink() : null;
  const peers: Array<{ build: Build; peer: Peer; url: string }> = [];
  const transportSocket = TLS ? tlsTransportSocket() : null;
  const perRound: Array<Map<string, RoundResult>> = [];
  let steal = 0;
  try {
    for (const build of list) {
      const [port, admin] = await Promise.all([freePort(), freePort()]);
      const name = `bench_${build.name.replace(/\W/g, '_')}`;
      const bootstrap = build.telemetry
        ? bootstrapFor({
            name,
            port,
            admin,
            direction: 'INBOUND',
            upstream: upstream.port,
            telemetry: true,
            sink: sink!.port,
          })
        : proxyBootstrap(port, upstream.port);
      if (transportSocket !== null)
        (bootstrap as { static_resources: { listeners: Array<{ filter_chains: Array<Record<string, unknown>> }> } })
          .static_resources.listeners[0]!.filter_chains[0]!.transport_socket = transportSocket;
      const peer = await startMeshscope(
        `meshscope-${build.name}`,
        bootstrap,
        port,
        ['--concurrency', '1'],
        build.nodeArgs,
        build.cli,
      );
      peers.push({ build, peer, url: `${TLS ? 'https' : 'http'}://127.0.0.1:${port}/` });
    }
    for (const { url } of peers) runWrk(url, { connections: CONNECTIONS, seconds: 2 });
    const meter = stealMeter();
    for (let round = 0; round < ROUNDS; round++) {
      const results = new Map<string, RoundResult>();
      if (PARALLEL) {
        const before = peers.map(({ peer }) => cpuSeconds(peer.pid));
        const runs = await Promise.all(
          peers.map(({ url }) => runWrkAsync(url, { connections: CONNECTIONS, seconds: SECONDS })),
        );
        peers.forEach(({ build, peer }, i) =>
          results.set(build.name, perRequest(before[i]!, cpuSeconds(peer.pid), runs[i]!)),
        );
      } else {
        for (const { build, peer, url } of peers) {
          const before = cpuSeconds(peer.pid);
          const r = runWrk(url, { connections: CONNECTIONS, seconds: SECONDS });
          results.set(build.name, perRequest(before, cpuSeconds(peer.pid), r));
        }
      }
      perRound.push(results);
    }
    steal = meter();
  } finally {
    const rss = new Map(peers.map(({ build, peer }) => [build.name, peakRssMb(peer.pid)]));
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
          requestsPerSecond: Math.round(median(runs.map((r) => r.requestsPerSecond))),
          p99Ms: median(runs.map((r) => r.p99Ms)),
          peakRssMb: rss.get(name) ?? null,
          cpuRatioToThis: round3(
            median(perRound.map((r) => r.get(name)!.cpuUsPerRequest / r.get(first)!.cpuUsPerRequest)),
          ),
          rpsRatioToThis: round3(
            median(perRound.map((r) => r.get(name)!.requestsPerSecond / r.get(first)!.requestsPerSecond)),
          ),
          rounds: runs.map((r) => ({
            cpuUsPerRequest: round1(r.cpuUsPerRequest),
            mainThreadCpuUsPerRequest: round1(r.mainThreadCpuUsPerRequest),
            requestsPerSecond: Math.round(r.requestsPerSecond),
          })),
        };
      });
      // Telemetry on against off for each build, within each round (CPU: off / on, 1 = free).
      const telemetry = TELEMETRY
        ? Object.fromEntries(
            list
              .filter((b) => !b.telemetry)
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
      const out = {
        benchmark: 'proxy-cpu',
        tls: TLS,
        connections: CONNECTIONS,
        secondsPerRun: SECONDS,
        rounds: ROUNDS,
        cpuStealPercent: steal,
        rows,
        telemetry,
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:proxy-cpu failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
