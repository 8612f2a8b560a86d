// What telemetry costs the proxy, measured side by side (the telemetry rows of bench:proxy,
// also run alone by bench:proxy-telemetry).
// 1. Throughput (wrk, closed loop, same connection count): meshscope --concurrency 1 with
//    telemetry off, and with telemetry on (100% sampling OpenTelemetry tracer exporting OTLP to
//    a local receiver, istio.stats, file access log), plus the upstream alone as a yardstick of
//    how quiet the machine was. Goal: on ≥ 0.85 × off (issue 21; it was 0.75).
// 2. Two-sidecar latency (open loop, 1000 req/s; bench/open-loop-client.ts in its own process):
//    client → upstream directly, then through two sidecars (outbound → inbound) of nginx (the
//    peer: what two proxy hops cost on this machine), of meshscope with telemetry off, and of
//    meshscope with telemetry on. Goal: ≤ 1 ms added at p99 (Istio publishes 2.7 ms, fortio's
//    service time at 1000 req/s), judged on service time with telemetry on.
// Rows run interleaved for BENCH_ROUNDS rounds and every system under test stays up meanwhile,
// so a burst of other load on the shared machine hits every row alike; ratios and added
// latencies are taken within each round and their medians reported. The latency goal is judged
// in every round whose CPU steal was under 2%, the others printed beside them and rerun
// (bench/lib/tail-rounds.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openLoop, type OpenLoopResult } from './open-loop.js';
import { freePort, proxyBootstrap, startMeshscope, startNginxProxy, workDir, type Peer } from './peers.js';
import { median } from './median.js';
import { peakRssMb } from './rss.js';
import { stealMeter } from './steal.js';
import {
  type AddedP99Verdict,
  addedP99Verdict,
  QUALIFYING_STEAL_PERCENT,
  runTailRounds,
  tailRoundsOptions,
} from './tail-rounds.js';
import { runWrk, type WrkResult } from './wrk.js';
import { nginxWorkerPid, type RunQueueFigures, runQueueMeter } from './run-queue.js';
import { threadCpuMeter } from './cpu.js';

export interface TelemetryBenchOptions {
  /** Seconds per wrk run. */
  seconds: number;
  connections: number;
  rounds: number;
  /** Open-loop rate (requests/s) and seconds per latency row, after warmSeconds unrecorded. */
  rate: number;
  latencySeconds: number;
  warmSeconds: number;
}

export function telemetryBenchOptions(): TelemetryBenchOptions {
  return {
    seconds: Number(process.env.BENCH_SECONDS ?? 8),
    connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    rate: Number(process.env.LAT_RATE ?? 1000),
    latencySeconds: Number(process.env.LAT_SECONDS ?? 10),
    warmSeconds: Number(process.env.WARM_SECONDS ?? 3),
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

// A local OTLP receiver that accepts and discards. It stands in for a collector on another
// machine, so its cost is not the proxy's: it runs in its own process at nice 10 (as the
// proxies' export threads do), where reading span batches neither delays the benchmark's own
// work nor takes a core from the request path being timed (on 2 cores, a receiver at normal
// priority parsing a 100 KB batch held a core for about a millisecond several times a second),
// yet keeps up at full load, so no span is dropped because the stand-in was starved.
const SINK_SCRIPT = `
const { createServer } = require('node:http');
const s = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/x-protobuf');
    res.end();
  });
});
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

export function startSink(): Promise<{ port: number; process: ChildProcess }> {
  const p = spawn('nice', ['-n', '10', process.execPath, '-e', SINK_SCRIPT], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((res, rej) => {
    let out = '';
    p.stdout!.setEncoding('utf8');
    p.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) res({ port: Number(out.trim()), process: p });
    });
    p.once('exit', () => rej(new Error('OTLP sink exited')));
  });
}

function cluster(name: string, port: number): object {
  return {
    name,
    type: 'STATIC',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] },
      ],
    },
  };
}

export interface SidecarSpec {
  name: string;
  port: number;
  admin: number;
  direction: 'INBOUND' | 'OUTBOUND';
  upstream: number;
  telemetry: boolean;
  sink: number;
  /** With `telemetry`, only this part of it (bench:proxy-cpu's BENCH_TELEMETRY=parts). */
  only?: 'tracing' | 'access-log' | 'istio';
}

/**
 * The inbound sidecar the CPU benches compare: with telemetry off, bench:proxy's plain bootstrap
 * (so the off row is the proxy row bench:proxy measures); on, bootstrapFor's, with `only` one part.
 */
export function measuredSidecarBootstrap(s: Omit<SidecarSpec, 'direction'>): Record<string, unknown> {
  return s.telemetry ? bootstrapFor({ ...s, direction: 'INBOUND' }) : proxyBootstrap(s.port, s.upstream);
}

/** A sidecar's bootstrap; with `telemetry`, 100% sampled OTLP tracing to `sink`, istio.stats and a file access log. */
export function bootstrapFor(s: SidecarSpec): Record<string, unknown> {
  const part = (p: NonNullable<SidecarSpec['only']>): boolean => s.telemetry && (s.only === undefined || s.only === p);
  const hcm: Record<string, unknown> = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: s.name,
    route_config: {
      virtual_hosts: [
        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream' } }] },
      ],
    },
    http_filters: [
      ...(part('istio')
        ? [{ name: 'istio.stats', typed_config: { '@type': 'type.googleapis.com/stats.PluginConfig' } }]
        : []),
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
      },
    ],
  };
  if (part('tracing')) {
    hcm['tracing'] = {
      random_sampling: { value: 100 },
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
          service_name: s.name,
          http_service: { http_uri: { uri: 'http://sink/v1/traces', cluster: 'sink', timeout: '1s' } },
        },
      },
    };
  }
  if (part('access-log')) {
    hcm['access_log'] = [
      {
        name: 'envoy.access_loggers.file',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
          path: join(workDir, `${s.name}.log`),
        },
      },
    ];
  }
  return {
    node: { id: `${s.name}-1`, cluster: s.name, metadata: { NAMESPACE: 'bench', WORKLOAD_NAME: s.name } },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: s.admin } } },
    static_resources: {
      listeners: [
        {
          name: s.name,
          address: { socket_address: { address: '127.0.0.1', port_value: s.port } },
          traffic_direction: s.direction,
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
        },
      ],
      clusters: [cluster('upstream', s.upstream), cluster('sink', s.sink)],
    },
  };
}

async function startSidecar(
  name: string,
  direction: 'INBOUND' | 'OUTBOUND',
  upstream: number,
  telemetry: boolean,
  sink: number,
): Promise<Peer & { admin: number }> {
  const [port, admin] = await Promise.all([freePort(), freePort()]);
  const peer = await startMeshscope(
    name,
    bootstrapFor({ name, port, admin, direction, upstream, telemetry, sink }),
    port,
    ['--concurrency', '1', '--drain-time-s', '1'],
  );
  return Object.assign(peer, { admin });
}

/** A two-sidecar chain: the outbound sidecar's port, the processes whose request threads serve it, a stop for both. */
interface SidecarChain {
  port: number;
  requestThreadPids: () => number[];
  stop: () => Promise<void>;
}

/** Two sidecars in front of `upstream`. */
async function meshscopeSidecars(
  tag: string,
  upstream: number,
  telemetry: boolean,
  sink: number,
): Promise<SidecarChain> {
  const inbound = await startSidecar(`inbound_${tag}`, 'INBOUND', upstream, telemetry, sink);
  const outbound = await startSidecar(`outbound_${tag}`, 'OUTBOUND', inbound.port, telemetry, sink);
  return {
    port: outbound.port,
    requestThreadPids: () => [outbound.pid, inbound.pid],
    stop: async () => void (await Promise.all([outbound.stop(), inbound.stop()])),
  };
}

async function nginxSidecars(upstream: number): Promise<SidecarChain> {
  const inbound = await startNginxProxy(upstream);
  const outbound = await startNginxProxy(inbound.port);
  return {
    port: outbound.port,
    requestThreadPids: () => [nginxWorkerPid(outbound.pid), nginxWorkerPid(inbound.pid)],
    stop: async () => void (await Promise.all([outbound.stop(), inbound.stop()])),
  };
}

async function spansStats(admin: number): Promise<{ spansSent: number; spansDropped: number }> {
  const stats = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=tracing`)).text();
  return {
    spansSent: Number(/spans_sent: (\d+)/.exec(stats)?.[1] ?? 0),
    spansDropped: Number(/spans_dropped: (\d+)/.exec(stats)?.[1] ?? 0),
  };
}

function latencyRow(runs: OpenLoopResult[], direct: OpenLoopResult[]): Record<string, unknown> {
  const med = (f: (r: OpenLoopResult) => number): number => round3(median(runs.map(f)));
  return {
    servicePerRound: runs.map((r) => ({ p50Ms: r.service.p50Ms, p99Ms: r.service.p99Ms })),
    service: {
      p50Ms: med((r) => r.service.p50Ms),
      p90Ms: med((r) => r.service.p90Ms),
      p99Ms: med((r) => r.service.p99Ms),
      p999Ms: med((r) => r.service.p999Ms),
      maxMs: med((r) => r.service.maxMs),
    },
    fromSchedule: { p50Ms: med((r) => r.fromSchedule.p50Ms), p99Ms: med((r) => r.fromSchedule.p99Ms) },
    addedP99Ms: round3(median(runs.map((r, i) => r.service.p99Ms - direct[i]!.service.p99Ms))),
    addedP99MsPerRound: runs.map((r, i) => round3(r.service.p99Ms - direct[i]!.service.p99Ms)),
    addedP99MsFromSchedule: round3(median(runs.map((r, i) => r.fromSchedule.p99Ms - direct[i]!.fromSchedule.p99Ms))),
    sent: runs.reduce((a, r) => a + r.sent, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    maxConnections: Math.max(...runs.map((r) => r.connections)),
  };
}

/** Runs both parts against `upstream` (nginx `return 200`) and returns their figures. */
export async function measureTelemetry(upstream: Peer, o: TelemetryBenchOptions): Promise<Record<string, unknown>> {
  const sink = await startSink();
  try {
    // 1. Throughput.
    const off = await startSidecar('telemetry_off', 'INBOUND', upstream.port, false, sink.port);
    const on = await startSidecar('telemetry_on', 'INBOUND', upstream.port, true, sink.port);
    const wrkRows: Array<{ name: string; port: number; pid: number | null }> = [
      { name: 'upstream_direct', port: upstream.port, pid: null },
      { name: 'meshscope_telemetry_off', port: off.port, pid: off.pid },
      { name: 'meshscope_telemetry_on', port: on.port, pid: on.pid },
    ];
    for (const r of wrkRows.slice(1)) runWrk(`http://127.0.0.1:${r.port}/`, { connections: o.connections, seconds: 3 }); // warm-up, discarded
    const throughputSteal = stealMeter();
    const runs = new Map<string, WrkResult[]>(wrkRows.map((r) => [r.name, []]));
    // The proxies' CPU per request, request thread and the others (export threads, GC helpers):
    // steadier than requests/s on a busy host, and it says which thread telemetry costs.
    const cpu = new Map<string, Array<{ requestThreadUs: number; otherThreadsUs: number }>>();
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 0; round < o.rounds; round++) {
      for (const r of wrkRows) {
        const meter = r.pid === null ? null : threadCpuMeter(r.pid);
        const result = runWrk(`http://127.0.0.1:${r.port}/`, { connections: o.connections, seconds: o.seconds });
        runs.get(r.name)!.push(result);
        if (meter === null) continue;
        const used = meter();
        const perRequest = {
          requestThreadUs: used.mainUs / result.requests,
          otherThreadsUs: used.othersUs / result.requests,
        };
        cpu.set(r.name, [...(cpu.get(r.name) ?? []), perRequest]);
      }
      const cpuOf = (name: string): number => {
        const c = cpu.get(name)![round]!;
        return c.requestThreadUs + c.otherThreadsUs;
      };
      cpuRatios.push(cpuOf('meshscope_telemetry_on') / cpuOf('meshscope_telemetry_off'));
      ratios.push(
        runs.get('meshscope_telemetry_on')![round]!.requestsPerSecond /
          runs.get('meshscope_telemetry_off')![round]!.requestsPerSecond,
      );
    }
    const throughput: Record<string, unknown> = {};
    for (const [name, rs] of runs) {
      throughput[name] = {
        requestsPerSecond: Math.round(median(rs.map((r) => r.requestsPerSecond))),
        p50Ms: median(rs.map((r) => r.p50Ms)),
        p99Ms: median(rs.map((r) => r.p99Ms)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        requestsPerSecondPerRound: rs.map((r) => Math.round(r.requestsPerSecond)),
      };
      const c = cpu.get(name);
      if (c !== undefined)
        Object.assign(throughput[name] as object, {
          cpuUsPerRequest: {
            requestThread: round3(median(c.map((x) => x.requestThreadUs))),
            otherThreads: round3(median(c.map((x) => x.otherThreadsUs))),
          },
        });
    }
    Object.assign(throughput['meshscope_telemetry_off'] as object, { peakRssMb: peakRssMb(off.pid) });
    Object.assign(
      throughput['meshscope_telemetry_on'] as object,
      { peakRssMb: peakRssMb(on.pid) },
      await spansStats(on.admin),
    );
    const throughputStealPercent = throughputSteal();
    await Promise.all([off.stop(), on.stop()]);

    // 2. Two-sidecar latency.
    const chains = [
      { name: 'nginx_two_sidecars', ...(await nginxSidecars(upstream.port)) },
      {
        name: 'meshscope_two_sidecars_telemetry_off',
        ...(await meshscopeSidecars('off', upstream.port, false, sink.port)),
      },
      {
        name: 'meshscope_two_sidecars_telemetry_on',
        ...(await meshscopeSidecars('on', upstream.port, true, sink.port)),
      },
    ];
    const latencySteal = stealMeter();
    const { measured: rounds, failed } = await runTailRounds(tailRoundsOptions(o.rounds), async () => {
      const direct = await openLoop(upstream.port, o.rate, o.latencySeconds, o.warmSeconds);
      const via = new Map<string, OpenLoopResult>();
      const requestThreads = new Map<string, RunQueueFigures | null>();
      for (const c of chains) {
        const meter = runQueueMeter(c.requestThreadPids());
        const r = await openLoop(c.port, o.rate, o.latencySeconds, o.warmSeconds);
        requestThreads.set(c.name, meter(r.sent));
        via.set(c.name, r);
      }
      return { direct, via, requestThreads };
    });
    await Promise.all(chains.map((c) => c.stop()));
    const direct = rounds.map((r) => r.result.direct);
    const latency: Record<string, unknown> = { upstream_direct: latencyRow(direct, direct) };
    const verdicts = new Map<string, AddedP99Verdict>();
    for (const c of chains) {
      const runs = rounds.map((r) => r.result.via.get(c.name)!);
      const verdict = addedP99Verdict(
        rounds,
        runs.map((r, i) => r.service.p99Ms - direct[i]!.service.p99Ms),
        1,
      );
      verdicts.set(c.name, verdict);
      latency[c.name] = {
        ...latencyRow(runs, direct),
        // The two proxies' request threads, summed, per request (warm-up included): CPU used and
        // time spent runnable waiting for a CPU (bench/lib/run-queue.ts).
        requestThreadsPerRequestPerRound: rounds.map((r) => r.result.requestThreads.get(c.name) ?? null),
        tail: verdict,
      };
    }

    const ratio = round3(median(ratios));
    const tailOn = verdicts.get('meshscope_two_sidecars_telemetry_on')!;
    return {
      throughput: {
        wrk: { threads: 1, connections: o.connections, seconds: o.seconds, rounds: o.rounds },
        rows: throughput,
        telemetryOnOverOffRps: ratio,
        telemetryOnOverOffRpsPerRound: ratios.map(round3),
        // CPU per request (all threads), on over off: what telemetry costs, less the host's mood.
        telemetryOnOverOffCpuPerRequest: round3(median(cpuRatios)),
        goalOnOverOffRpsAtLeast: 0.85,
        cpuStealPercent: throughputStealPercent,
      },
      twoSidecarLatency: {
        ratePerSecond: o.rate,
        secondsPerRow: o.latencySeconds,
        warmUpSecondsUnrecorded: o.warmSeconds,
        rounds: o.rounds,
        roundsRun: rounds.length + failed.length,
        failedRounds: failed,
        qualifyingStealPercentBelow: QUALIFYING_STEAL_PERCENT,
        rows: latency,
        goalAddedP99MsAtMost: 1,
        istioPublishedAddedP99Ms: 2.7,
        cpuStealPercent: latencySteal(),
      },
      goals: {
        telemetryOnAtLeast85PercentOfOff: ratio >= 0.85,
        // In every round with steal under 2% (null: no round qualified, not judged).
        twoSidecarsAddAtMost1MsP99: tailOn.goalMetInEveryQualifyingRound,
      },
    };
  } finally {
    sink.process.kill('SIGTERM');
  }
}
