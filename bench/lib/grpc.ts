// The gRPC rows of bench:proxy: unary calls through two sidecars at a fixed rate (open loop, one
// HTTP/2 connection, in its own process: bench/grpc-frames-client.ts, or an @grpc/grpc-js channel
// with GRPC_CLIENT=grpc-js) to a grpc-js echo server, against the same calls made directly and through two nginx hops (`listen …
// http2` + `grpc_pass`, one worker each): the latency the two sidecars add at p99. meshscope's
// sidecars are what the control plane makes of a GRPC port: an AUTO (h2c-detecting) listener,
// a `match.grpc` route, an HTTP/2 cluster. Goal: ≤ 1.5 ms added at p99. Rows interleave for
// the given rounds and the medians of per-round differences are reported; the goal is judged in
// every round whose CPU steal was under 2%, the others printed and rerun (bench/lib/tail-rounds.ts).
// The sidecars run twice, once per HTTP/2 codec as Envoy's runtime key
// envoy.reloadable_features.http2_use_oghttp2 chooses them both ways: `meshscope_two_sidecars` on
// our own framing, `meshscope_two_sidecars_nghttp2` on node:http2's, each row with the CPU the two
// sidecar processes spent per call (utime + stime, /proc/<pid>/stat), a paired A/B on a shared host,
// and the octets they wrote per call (wchar, /proc/<pid>/io: both hops' frames, headers and DATA).
// GRPC_BASELINE=<checkout with dist/ built> adds `meshscope_two_sidecars_baseline`, that build's
// sidecars on our own codec, in the same rounds: a change's A/B in CPU and octets per call. Its
// own variable, not bench:proxy's BENCH_BASELINE: that one is the pre-seams build the HTTP/1.1
// rows are judged against, older than gRPC routing.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { median } from './median.js';
import { openLoop, type OpenLoopResult } from './open-loop.js';
import { nginxWorkerPid, type RunQueueFigures, runQueueMeter } from './run-queue.js';
import { baselineCli, freePort, launch, nginxConf, startMeshscope, workDir, type Peer } from './peers.js';
import { stealMeter } from './steal.js';
import {
  type AddedP99Verdict,
  addedP99Verdict,
  QUALIFYING_STEAL_PERCENT,
  runTailRounds,
  tailRoundsOptions,
} from './tail-rounds.js';

const GOAL_MS = 1.5;

export interface GrpcBenchOptions {
  rate: number;
  seconds: number;
  warmSeconds: number;
  rounds: number;
}

export function grpcBenchOptions(): GrpcBenchOptions {
  return {
    rate: Number(process.env.GRPC_RATE ?? process.env.LAT_RATE ?? 1000),
    seconds: Number(process.env.GRPC_SECONDS ?? process.env.LAT_SECONDS ?? 10),
    warmSeconds: Number(process.env.WARM_SECONDS ?? 3),
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  };
}

// npm scripts bundle each bench entry into dist/bench/.
/**
 * The client making the calls (GRPC_CLIENT): `frames` (default), raw HTTP/2 frames from a
 * template, ~100 us of CPU per call; `grpc-js`, an application's @grpc/grpc-js channel, ~400 us
 * per call, whose own scheduling delays on a shared host were most of the direct row's p99.
 */
const CLIENTS = {
  frames: 'dist/bench/grpc-frames-client.js',
  'grpc-js': 'dist/bench/grpc-open-loop-client.js',
} as const;
type GrpcClient = keyof typeof CLIENTS;

function grpcClient(): GrpcClient {
  const name = process.env.GRPC_CLIENT ?? 'frames';
  if (!(name in CLIENTS)) throw new Error(`GRPC_CLIENT=${name}: expected one of ${Object.keys(CLIENTS).join(', ')}`);
  return name as GrpcClient;
}
const SERVER = resolve(process.cwd(), 'dist/bench/grpc-echo-server.js');
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function startEchoServer(): Promise<Peer> {
  const port = await freePort();
  return launch('grpc-echo', process.execPath, [SERVER, String(port)], port);
}

function sidecarBootstrap(
  name: string,
  port: number,
  adminPort: number,
  upstream: number,
  direction: string,
  ownCodec: boolean,
): Record<string, unknown> {
  return {
    layered_runtime: {
      layers: [{ name: 'static', static_layer: { 'envoy.reloadable_features.http2_use_oghttp2': ownCodec } }],
    },
    node: { id: `${name}-1`, cluster: name },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name,
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          traffic_direction: direction,
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: name,
                    codec_type: 'AUTO',
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/', grpc: {} }, route: { cluster: 'upstream' } }],
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'upstream',
          type: 'STATIC',
          load_assignment: {
            cluster_name: 'upstream',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstream } } } },
                ],
              },
            ],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}

interface Sidecars {
  port: number;
  peers: Peer[];
  /** Each sidecar's admin port, by name (for the counters that explain failed calls). */
  admins: Array<[string, number]>;
}

async function meshscopeSidecars(upstream: number, ownCodec: boolean, cli?: string): Promise<Sidecars> {
  const [inPort, outPort, inAdmin, outAdmin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const args = ['--concurrency', '1', '--drain-time-s', '1'];
  const inbound = await startMeshscope(
    'grpc_inbound',
    sidecarBootstrap('grpc_inbound', inPort, inAdmin, upstream, 'INBOUND', ownCodec),
    inPort,
    args,
    [],
    cli,
  );
  const outbound = await startMeshscope(
    'grpc_outbound',
    sidecarBootstrap('grpc_outbound', outPort, outAdmin, inPort, 'OUTBOUND', ownCodec),
    outPort,
    args,
    [],
    cli,
  );
  return {
    port: outbound.port,
    peers: [outbound, inbound],
    admins: [
      ['grpc_outbound', outAdmin],
      ['grpc_inbound', inAdmin],
    ],
  };
}

/**
 * A sidecar's counters that say why calls failed or waited: Envoy's names for overflowing the
 * circuit breakers (max_requests: upstream_rq_pending_overflow), connections opened and lost,
 * stream resets both ways, GOAWAYs, 5xx answered. Only those that moved are kept.
 */
const EXPLAINING =
  /upstream_rq_pending_overflow|upstream_cx_total|upstream_cx_destroy|upstream_cx_connect_fail|upstream_rq_pending_total|_reset|goaway|downstream_rq_5xx|upstream_rq_timeout|downstream_cx_total|premature/;

async function explainingCounters(adminPort: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats?format=json`);
  const body = (await res.json()) as { stats: Array<{ name?: string; value?: number }> };
  const out: Record<string, number> = {};
  for (const s of body.stats)
    if (s.name !== undefined && typeof s.value === 'number' && s.value !== 0 && EXPLAINING.test(s.name))
      out[s.name] = s.value;
  return out;
}

/** nginx as a gRPC hop: h2c in, grpc_pass (HTTP/2, kept alive) out, one worker. */
async function nginxGrpcHop(upstream: number): Promise<Peer> {
  const port = await freePort();
  const dir = mkdtempSync(join(workDir, 'nginx-grpc-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    nginxConf(
      dir,
      `  upstream up { server 127.0.0.1:${upstream}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_requests 1000000;
    location / { grpc_pass grpc://up; }
  }`,
    ),
  );
  return launch('nginx-grpc', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], port);
}

/** CPU seconds (utime + stime, all threads) the processes have spent so far. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}

/** A chain's I/O per call: octets written (wchar: both hops' frames), read and write syscalls. */
interface IoPerCall {
  bytesWritten: number;
  readSyscalls: number;
  writeSyscalls: number;
}

function ioRow(perRound: IoPerCall[]): Record<string, unknown> {
  const med = (f: (r: IoPerCall) => number): number => round3(median(perRound.map(f)));
  return {
    bytesWrittenPerCall: Math.round(med((r) => r.bytesWritten)),
    bytesWrittenPerCallPerRound: perRound.map((r) => Math.round(r.bytesWritten)),
    // Both sidecars, both hops: a call is at best one read and one write per socket it crosses.
    readSyscallsPerCall: med((r) => r.readSyscalls),
    writeSyscallsPerCall: med((r) => r.writeSyscalls),
  };
}

/** The processes' I/O counters so far (/proc/<pid>/io, all threads: sockets and any log). */
function ioCounters(pids: readonly number[]): IoPerCall {
  const out = { bytesWritten: 0, readSyscalls: 0, writeSyscalls: 0 };
  for (const pid of pids) {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    out.bytesWritten += field('wchar');
    out.readSyscalls += field('syscr');
    out.writeSyscalls += field('syscw');
  }
  return out;
}

function ioPerCall(after: IoPerCall, before: IoPerCall, calls: number): IoPerCall {
  return {
    bytesWritten: (after.bytesWritten - before.bytesWritten) / calls,
    readSyscalls: (after.readSyscalls - before.readSyscalls) / calls,
    writeSyscalls: (after.writeSyscalls - before.writeSyscalls) / calls,
  };
}

/** A chain's peer processes, whose CPU per call is reported (none for the direct row). */
interface Chain {
  name: string;
  port: number;
  pids: number[];
  /** The processes whose main threads serve the calls (meshscope's sidecars, nginx's workers). */
  requestThreadPids: () => number[];
}

function row(runs: OpenLoopResult[], direct: OpenLoopResult[], cpuUs: number[] = []): Record<string, unknown> {
  const med = (f: (r: OpenLoopResult) => number): number => round3(median(runs.map(f)));
  return {
    ...(cpuUs.length > 0 ? { cpuUsPerCall: Math.round(median(cpuUs)), cpuUsPerCallPerRound: cpuUs } : {}),
    p99MsPerRound: runs.map((r) => r.service.p99Ms),
    // The client's own CPU per call: when it is large, the client's waits for a CPU are in every row's tail.
    clientCpuUsPerCallPerRound: runs.map((r) => r.clientCpuUsPerCall ?? null),
    service: {
      p50Ms: med((r) => r.service.p50Ms),
      p90Ms: med((r) => r.service.p90Ms),
      p99Ms: med((r) => r.service.p99Ms),
      p999Ms: med((r) => r.service.p999Ms),
      maxMs: med((r) => r.service.maxMs),
    },
    addedP99Ms: round3(median(runs.map((r, i) => r.service.p99Ms - direct[i]!.service.p99Ms))),
    addedP99MsPerRound: runs.map((r, i) => round3(r.service.p99Ms - direct[i]!.service.p99Ms)),
    addedP50Ms: round3(median(runs.map((r, i) => r.service.p50Ms - direct[i]!.service.p50Ms))),
    sent: runs.reduce((a, r) => a + r.sent, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    errorsByStatus: mergeCounts(runs.map((r) => r.errorsByStatus)),
  };
}

function mergeCounts(all: Array<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counts of all) for (const [k, v] of Object.entries(counts)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Runs the gRPC rows and returns their figures and goal. */
export async function measureGrpc(o: GrpcBenchOptions): Promise<Record<string, unknown>> {
  const client = grpcClient();
  const CLIENT = resolve(process.cwd(), CLIENTS[client]);
  const started: Peer[] = [];
  try {
    const server = await startEchoServer();
    started.push(server);
    const mesh = await meshscopeSidecars(server.port, true);
    started.push(...mesh.peers);
    const meshNghttp2 = await meshscopeSidecars(server.port, false);
    started.push(...meshNghttp2.peers);
    const baseline = baselineCli('GRPC_BASELINE');
    const meshBaseline = baseline === null ? null : await meshscopeSidecars(server.port, true, baseline);
    if (meshBaseline !== null) started.push(...meshBaseline.peers);
    const nginxIn = await nginxGrpcHop(server.port);
    const nginxOut = await nginxGrpcHop(nginxIn.port);
    started.push(nginxIn, nginxOut);
    const chains: Chain[] = [
      // nginx's CPU is its workers' (children of the pids launched): not counted here.
      {
        name: 'nginx_two_grpc_hops',
        port: nginxOut.port,
        pids: [],
        requestThreadPids: () => [nginxWorkerPid(nginxOut.pid), nginxWorkerPid(nginxIn.pid)],
      },
      ...[
        { name: 'meshscope_two_sidecars', sidecars: mesh },
        { name: 'meshscope_two_sidecars_nghttp2', sidecars: meshNghttp2 },
        ...(meshBaseline === null ? [] : [{ name: 'meshscope_two_sidecars_baseline', sidecars: meshBaseline }]),
      ].map(({ name, sidecars }) => {
        const pids = sidecars.peers.map((p) => p.pid);
        return { name, port: sidecars.port, pids, requestThreadPids: () => pids };
      }),
    ];
    const steal = stealMeter();
    const { measured: rounds, failed } = await runTailRounds(tailRoundsOptions(o.rounds), async () => {
      const direct = await openLoop(server.port, o.rate, o.seconds, o.warmSeconds, CLIENT);
      const via = new Map<string, OpenLoopResult>();
      const cpuUs = new Map<string, number>();
      const io = new Map<string, IoPerCall>();
      const requestThreads = new Map<string, RunQueueFigures | null>();
      for (const c of chains) {
        const before = cpuSeconds(c.pids);
        const ioBefore = ioCounters(c.pids);
        const meter = runQueueMeter(c.requestThreadPids());
        const r = await openLoop(c.port, o.rate, o.seconds, o.warmSeconds, CLIENT);
        requestThreads.set(c.name, meter(r.sent));
        // `sent` counts the warm-up's (unrecorded) calls too: the CPU is divided over every call made.
        if (c.pids.length > 0) {
          cpuUs.set(c.name, Math.round(((cpuSeconds(c.pids) - before) * 1e6) / r.sent));
          io.set(c.name, ioPerCall(ioCounters(c.pids), ioBefore, r.sent));
        }
        via.set(c.name, r);
      }
      return { direct, via, cpuUs, io, requestThreads };
    });
    const direct = rounds.map((r) => r.result.direct);
    const via = new Map(chains.map((c) => [c.name, rounds.map((r) => r.result.via.get(c.name)!)]));
    const cpu = new Map(
      chains.filter((c) => c.pids.length > 0).map((c) => [c.name, rounds.map((r) => r.result.cpuUs.get(c.name)!)]),
    );
    const rows: Record<string, unknown> = { upstream_direct: row(direct, direct) };
    const verdicts = new Map<string, AddedP99Verdict>();
    for (const [name, rs] of via) {
      const verdict = addedP99Verdict(
        rounds,
        rs.map((r, i) => r.service.p99Ms - direct[i]!.service.p99Ms),
        GOAL_MS,
      );
      verdicts.set(name, verdict);
      rows[name] = {
        ...row(rs, direct, cpu.get(name)),
        ...(cpu.has(name) ? ioRow(rounds.map((r) => r.result.io.get(name)!)) : {}),
        // The two proxies' request threads, summed, per call (warm-up included): CPU used and
        // time spent runnable waiting for a CPU (bench/lib/run-queue.ts).
        requestThreadsPerCallPerRound: rounds.map((r) => r.result.requestThreads.get(name) ?? null),
        tail: verdict,
      };
    }
    const sidecarCounters: Record<string, Record<string, number>> = {};
    for (const [name, admin] of mesh.admins) sidecarCounters[name] = await explainingCounters(admin);
    for (const [name, admin] of meshNghttp2.admins)
      sidecarCounters[`${name}_nghttp2`] = await explainingCounters(admin);
    for (const [name, admin] of meshBaseline?.admins ?? [])
      sidecarCounters[`${name}_baseline`] = await explainingCounters(admin);
    // A client (or echo server) starved of CPU queues calls for seconds and makes every row's
    // p99 its own backlog: then the difference says nothing and the goal is not judged. Failed
    // calls in the direct row or the judged one void it too; the other rows' failures are their
    // own (shown in each row's `errors`): the informational node:http2 row overflowing its
    // circuit breaker says nothing of the rows beside it.
    const directP50 = median(direct.map((r) => r.service.p50Ms));
    const noErrors = (rs: readonly OpenLoopResult[] | undefined): boolean => (rs ?? []).every((r) => r.errors === 0);
    const measurementValid = directP50 < 20 && noErrors(direct) && noErrors(via.get('meshscope_two_sidecars'));
    return {
      call: 'unary /bench.Echo/Echo, 64-byte messages, one HTTP/2 connection',
      client:
        client === 'frames'
          ? 'bench/grpc-frames-client.ts (raw frames)'
          : 'bench/grpc-open-loop-client.ts (@grpc/grpc-js)',
      ratePerSecond: o.rate,
      secondsPerRow: o.seconds,
      warmUpSecondsUnrecorded: o.warmSeconds,
      rounds: o.rounds,
      roundsRun: rounds.length + failed.length,
      failedRounds: failed,
      qualifyingStealPercentBelow: QUALIFYING_STEAL_PERCENT,
      rows,
      sidecarCounters,
      goalAddedP99MsAtMost: GOAL_MS,
      cpuStealPercent: steal(),
      measurementValid,
      // In every round with steal under 2% (null: no round qualified, or the run was invalid).
      goals: {
        grpcTwoSidecarsAddAtMost1_5MsP99: measurementValid
          ? verdicts.get('meshscope_two_sidecars')!.goalMetInEveryQualifyingRound
          : null,
      },
    };
  } finally {
    await Promise.all(started.map((p) => p.stop()));
  }
}
