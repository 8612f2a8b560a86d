// `npm run bench:xds`: how fast a mesh edit reaches every sidecar, and what it costs the
// control plane, at each scale of BENCH_XDS_SCALES (default 53 and 1,000 sidecars, in one run).
// One control plane (in this process) serves light ADS clients (bench/lib/ads-client.ts: one
// HTTP/2 connection and stream per sidecar, subscribing as Envoy does and ACKing each response
// after reading its envelope) spread over child processes of BENCH_XDS_CLIENTS_PER_PROCESS
// each — full clients decoding every push took more CPU than the control plane and made the
// ACK latency measure them — plus three real `meshscope proxy`
// processes (over gRPC ADS, delta gRPC ADS and REST-JSON long polling). The mesh file is edited
// BENCH_XDS_WARMUP (10) times, not recorded, then BENCH_XDS_CHANGES times at the largest scale and
// BENCH_XDS_SMALL_CHANGES (at least 40) at the others (one service's route
// weights, then one workload's endpoint weight, alternating); for each edit and each node the
// time from the file's rename to the node's ACK of the changed type is recorded (the real
// proxies ACK only after applying it). Per edit, the control plane's CPU (this process, the mesh
// text made and written beside the file beforehand; each edit's in
// control_plane_cpu_ms_per_change.each) is counted apart from the sidecars' (the child
// processes, from /proc). Prints JSON with p50/p99/max against
// the 1 s goal and the largest scale's control-plane CPU per edit against the smallest's (≤ 2×).
//
// Two meshes, both at every scale (BENCH_XDS_MESHES, default `full,scoped`):
// - `full`: 10 services (~N/10 sidecars each), every sidecar routing to every service (Istio
//   without a Sidecar resource), so every edit reaches every node;
// - `scoped`: the mesh grows by services as real meshes do, ~5 sidecars each and at least 10
//   (10 services at 53 sidecars, 200 at 1,000), each declaring `egress.hosts` for the next 3
//   (svc-s calls svc-(s+1..s+3)), as real services call a few others. An edit of one service
//   reaches its 3 callers' sidecars only (~15 at both scales), and the bench waits for those;
//   any other node's ACK of a new version is counted in `stray_pushes` (0 when scoping holds).
// Each edit changes one service: edits apply on top of the ones before.
// BENCH_XDS_CPU_PROFILE=<dir> writes a CPU profile of the control plane over each scale's edits.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseMesh, renderDynamicBootstrap, startControlPlane, TYPE_URL } from '../control-plane/index.js';
import type { JsonMap } from '../proxy/xds/index.js';
import { LightAdsClient } from './lib/ads-client.js';
import { stealMeter } from './lib/steal.js';

const SERVICES = 10;
/** In the scoped mesh, how many services each service calls (the next ones, wrapping). */
const CALLEES = 3;
/**
 * The scoped mesh grows as meshes do, by services: about this many sidecars each (and never
 * fewer than SERVICES services, so at 53 it has the full mesh's 10).
 */
const SIDECARS_PER_SCOPED_SERVICE = 5;

/** A mesh's shape: its number of services, and whether each calls only the next CALLEES. */
interface Shape {
  services: number;
  scoped: boolean;
}

function shapeOf(total: number, mesh: 'full' | 'scoped'): Shape {
  if (mesh === 'full') return { services: SERVICES, scoped: false };
  return { services: Math.max(SERVICES, Math.floor(total / SIDECARS_PER_SCOPED_SERVICE)), scoped: true };
}
const MESHES = (process.env.BENCH_XDS_MESHES ?? 'full,scoped').split(',').map((m) => {
  if (m !== 'full' && m !== 'scoped') throw new Error(`BENCH_XDS_MESHES: '${m}' is not full or scoped`);
  return m;
});
/** Sidecars per scale, each including the three real proxies. */
const SCALES = (process.env.BENCH_XDS_SCALES ?? '53,1000').split(',').map((s) => {
  const n = Number(s);
  // Each of the 10 services needs a v1 and a v2 workload for its split route.
  if (!Number.isInteger(n) || n < 2 * SERVICES)
    throw new Error(`BENCH_XDS_SCALES: '${s}' is not a sidecar count of at least ${2 * SERVICES}`);
  return n;
});
const CLIENTS_PER_PROCESS = Number(process.env.BENCH_XDS_CLIENTS_PER_PROCESS ?? 125);
const CHANGES = Number(process.env.BENCH_XDS_CHANGES ?? 30);
if (!Number.isInteger(CHANGES) || CHANGES < 1)
  throw new Error(`BENCH_XDS_CHANGES: '${process.env.BENCH_XDS_CHANGES}' is not a number of edits (1 or more)`);
/**
 * Measured edits at every scale but the largest. A small mesh's edit costs a few ms of CPU and
 * ~0.2 s of the run, but single edits swing several-fold with what V8 and the GC do in them (at
 * 53 sidecars 7 to 60 ms in one run): the ratio's denominator is the median of many.
 */
const SMALL_CHANGES = Number(process.env.BENCH_XDS_SMALL_CHANGES ?? Math.max(CHANGES, 40));
if (!Number.isInteger(SMALL_CHANGES) || SMALL_CHANGES < 1)
  throw new Error(
    `BENCH_XDS_SMALL_CHANGES: '${process.env.BENCH_XDS_SMALL_CHANGES}' is not a number of edits (1 or more)`,
  );
/**
 * Edits made at each scale before the measured ones, not recorded: the first edits of a process
 * run while V8 still compiles the edit path (~100 ms more CPU per edit here), which is start-up,
 * not what an edit costs. Optimisation goes on for ~10 edits at 1,000 sidecars and longer at 53,
 * where each edit runs the per-node paths fewer times.
 */
const WARMUP = Number(process.env.BENCH_XDS_WARMUP ?? 10);
if (!Number.isInteger(WARMUP) || WARMUP < 0)
  throw new Error(`BENCH_XDS_WARMUP: '${process.env.BENCH_XDS_WARMUP}' is not a number of edits (0 or more)`);
const GOAL_P99_MS = 1000;
/** The largest scale's control-plane CPU per edit against the smallest's. */
const GOAL_CPU_RATIO = 2;
const CLI = new URL('../cli/main.js', import.meta.url).pathname;

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve) => {
          const s = net.createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

interface NodeSpec {
  name: string;
  service: number;
  version: 'v1' | 'v2';
  ports: [number, number, number];
}

/** The service an edit changes: even edits one service's routes, odd ones a workload of it. */
function editedService(change: number, services: number): number {
  return (change % 2 === 0 ? change / 2 : (change - 1) / 2) % services;
}

/** Whether a sidecar of service `s` routes to service `t` (always in the full mesh). */
function calls(shape: Shape, s: number, t: number): boolean {
  if (!shape.scoped) return true;
  const d = (t - s + shape.services) % shape.services;
  return d >= 1 && d <= CALLEES;
}

/**
 * Each service's v1 split and first workload's weight after edits 0..change, each edit applied
 * on top of the ones before: an edit changes one service and nothing else. (Until this was
 * cumulative, each edit also put back the previous edits' services, so it changed two or three.)
 */
function meshState(change: number, services: number): { split: number[]; weight: number[] } {
  const split = new Array<number>(services).fill(50);
  const weight = new Array<number>(services).fill(1);
  for (let c = 0; c <= change; c++) {
    const s = editedService(c, services);
    if (c % 2 === 0) {
      // Never the value it has, or the edit would change no route and the bench would wait 10 s.
      const moved = 10 + ((c * 7) % 80);
      split[s] = moved === split[s] ? moved + 1 : moved;
    } else {
      const w = 1 + (c % 100);
      weight[s] = w === weight[s] ? w + 1 : w;
    }
  }
  return { split, weight };
}

function meshYaml(nodes: NodeSpec[], change: number, shape: Shape): string {
  // Even edits move one service's v1/v2 split (RDS at every node routing to it); odd edits
  // change one workload's endpoint weight (EDS at the same nodes).
  const state = meshState(change, shape.services);
  const byService = new Map<number, NodeSpec[]>();
  for (const n of nodes) byService.get(n.service)?.push(n) ?? byService.set(n.service, [n]);
  const services = Array.from({ length: shape.services }, (_, s) => {
    const split = state.split[s] as number;
    return {
      name: `svc-${s}`,
      namespace: 'bench',
      ports: [{ name: 'http', port: 8080 }],
      ...(shape.scoped
        ? { egress: { hosts: Array.from({ length: CALLEES }, (_, i) => `svc-${(s + 1 + i) % shape.services}`) } }
        : {}),
      workloads: (byService.get(s) ?? []).map((n, i) => ({
        name: n.name,
        labels: { version: n.version },
        endpoints: { http: `127.0.0.1:${n.ports[0]}` },
        weight: i === 0 ? (state.weight[s] as number) : 1,
        sidecar: { inbound: { http: n.ports[0] }, outbound_port: n.ports[1], admin_port: n.ports[2] },
      })),
      routes: [
        {
          name: 'split',
          route: [
            { subset: 'v1', weight: split },
            { subset: 'v2', weight: 100 - split },
          ],
        },
      ],
    };
  });
  return stringify({ name: 'bench', services });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** CPU time (ms) of child processes from /proc/<pid>/stat (utime + stime, in clock ticks of 10 ms). */
function childCpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // An exited child counts nothing more.
    }
  }
  return ticks * 10;
}

/** This process's CPU (ms) since `since`: all of it, and the kernel's part (socket writes and reads). */
function ownCpuMs(since: NodeJS.CpuUsage): { total: number; system: number } {
  const cpu = process.cpuUsage(since);
  return { total: (cpu.user + cpu.system) / 1000, system: cpu.system / 1000 };
}

const round = (x: number): number => Math.round(x * 10) / 10;

function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    samples: s.length,
    p25_ms: round(percentile(s, 25)),
    p50_ms: round(percentile(s, 50)),
    p75_ms: round(percentile(s, 75)),
    p99_ms: round(percentile(s, 99)),
    max_ms: round(s[s.length - 1] ?? Number.NaN),
  };
}

/** What the bench keeps of one node's ACKs. */
interface NodeAcks {
  /** Type URL → the last version ACKed (a node is initialised once it ACKed four types). */
  readonly versions: Map<string, string>;
  /** The type URL the current edit changed, until the node ACKs a new version of it. */
  awaiting: string | undefined;
  /** The version of `awaiting` the node held when the edit began. */
  awaitingFrom: string | undefined;
  /** A real proxy's ACK times over the measured edits. */
  readonly real: number[] | undefined;
  /** The node's service (index). */
  readonly service: number;
}

interface ScaleResult {
  mesh: 'full' | 'scoped';
  sidecars: number;
  services: number;
  /** Nodes a measured edit reached (their ACK was waited for), the median over the edits. */
  nodes_reached_per_change: number;
  /** ACKs of a new version from nodes an edit should not reach (scoped mesh; 0 when scoping holds). */
  stray_pushes: number;
  in_process_grpc_clients: number;
  client_processes: number;
  real_proxies: string[];
  changes: number;
  warmup_changes: number;
  init_ms: number;
  control_plane_reload_and_push: ReturnType<typeof summary>;
  control_plane_cpu_ms_per_change: ReturnType<typeof summary> & { each: number[]; system_each: number[] };
  sidecars_cpu_ms_per_change: ReturnType<typeof summary>;
  all_nodes: ReturnType<typeof summary> & { timeouts: number };
  real_proxy_grpc: ReturnType<typeof summary>;
  real_proxy_delta_grpc: ReturnType<typeof summary>;
  real_proxy_rest: ReturnType<typeof summary>;
  slowest_node_per_change: ReturnType<typeof summary>;
  goal_p99_ms: number;
  goal_met: boolean;
  p99_to_goal_ratio: number;
}

/**
 * With BENCH_XDS_CPU_PROFILE=<dir>, the control plane's process is CPU-profiled over the edits
 * of each scale only (start-up, connecting and protobuf schema loading left out): the returned
 * function writes <dir>/xds-<label>.cpuprofile.
 */
async function startProfile(): Promise<((label: string) => Promise<void>) | undefined> {
  const dir = process.env.BENCH_XDS_CPU_PROFILE;
  if (dir === undefined || dir === '') return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (label) => {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `xds-${label}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

async function runScale(total: number, changes: number, meshKind: 'full' | 'scoped'): Promise<ScaleResult> {
  const shape = shapeOf(total, meshKind);
  const dir = mkdtempSync(join(tmpdir(), 'meshscope-bench-xds-'));
  const meshPath = join(dir, 'mesh.yaml');
  const realNames = ['real-grpc', 'real-delta', 'real-rest'];
  const clientCount = total - realNames.length;
  const ports = await freePorts(total * 3);
  // Apps never receive traffic here, so the endpoint addresses can be the sidecar ports themselves.
  const nodes: NodeSpec[] = Array.from({ length: total }, (_, i) => ({
    name: i < clientCount ? `sidecar-${i}` : realNames[i - clientCount]!,
    service: i % shape.services,
    version: Math.floor(i / shape.services) % 2 === 0 ? 'v1' : 'v2',
    ports: [ports[3 * i]!, ports[3 * i + 1]!, ports[3 * i + 2]!],
  }));
  // An edit is the file's rename: the text is written beside it first (by the operator's editor,
  // not the control plane, so outside the edit's measured CPU — at 1,000 sidecars ~250 KB).
  const stage = (text: string): void => writeFileSync(`${meshPath}.tmp`, text);
  const publish = (): number => {
    const t = performance.now();
    renameSync(`${meshPath}.tmp`, meshPath);
    return t;
  };
  stage(meshYaml(nodes, -1, shape));
  publish();

  // ACKs as the control plane sees them. This runs in the control plane's process, once per
  // node per edit, so it is counted in the edit's CPU: one lookup of the node's record, no sets.
  const acks = new Map<string, NodeAcks>(
    nodes.map((n) => [
      n.name,
      {
        versions: new Map(),
        awaiting: undefined,
        awaitingFrom: undefined,
        real: realNames.includes(n.name) ? [] : undefined,
        service: n.service,
      },
    ]),
  );
  let onAck: ((record: NodeAcks) => void) | undefined;
  /** Set during measured edits: a node not awaiting anything ACKed a new version. */
  let strays = 0;
  let countStrays = false;
  let onApplied: (() => void) | undefined;
  const cp = await startControlPlane({
    meshPath,
    port: 0,
    debounceMs: 20,
    log: () => undefined,
    onMeshApplied: () => onApplied?.(),
    onAck: (node, typeUrl, version) => {
      const r = acks.get(node);
      if (r === undefined) return;
      if (r.awaiting === typeUrl && version !== r.awaitingFrom) {
        r.awaiting = undefined;
        onAck?.(r);
      } else if (countStrays && r.awaiting === undefined && version !== r.versions.get(typeUrl)) strays++;
      r.versions.set(typeUrl, version);
    },
  });

  const mesh = parseMesh(meshYaml(nodes, -1, shape));
  const procs: ChildProcess[] = [];
  const initStart = performance.now();
  for (let first = 0; first < clientCount; first += CLIENTS_PER_PROCESS) {
    const target = `127.0.0.1:${cp.port}`;
    const clientNodes = nodes
      .slice(first, Math.min(clientCount, first + CLIENTS_PER_PROCESS))
      .map((n) => renderDynamicBootstrap(mesh, n.name, { xds: target, api: 'GRPC' }).node);
    const file = join(dir, `clients-${first}.json`);
    writeFileSync(file, JSON.stringify({ target, nodes: clientNodes }));
    procs.push(
      spawn(process.execPath, [fileURLToPath(import.meta.url), '--clients', file], {
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    );
  }
  const clientProcesses = procs.length;
  for (const [i, api] of (['GRPC', 'DELTA_GRPC', 'REST'] as const).entries()) {
    const b = renderDynamicBootstrap(mesh, realNames[i]!, { xds: `127.0.0.1:${cp.port}`, api, refreshDelayMs: 100 });
    const file = join(dir, `${realNames[i]}.json`);
    writeFileSync(file, JSON.stringify(b));
    procs.push(
      spawn(process.execPath, [CLI, 'proxy', '-c', file, '--concurrency', '1', '-l', 'warning'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    );
  }
  const pids = procs.map((p) => p.pid as number);
  const allReady = (): boolean => nodes.every((n) => (acks.get(n.name)?.versions.size ?? 0) >= 4);
  // Connecting a thousand clients takes a while on a loaded host: allow 30 s plus 150 ms a node.
  const startDeadline = Date.now() + 30_000 + 150 * total;
  while (!allReady() && Date.now() < startDeadline) await new Promise((r) => setTimeout(r, 20));
  const initMs = performance.now() - initStart;
  const stop = async (): Promise<void> => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.on('exit', r)))));
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  };
  if (!allReady()) {
    const ready = [...acks.values()].filter((r) => r.versions.size >= 4).length;
    const exited = procs.filter((p) => p.exitCode !== null).map((p) => `pid ${p.pid} exit ${p.exitCode}`);
    await stop();
    throw new Error(
      `${total} sidecars: only ${ready}/${total} nodes initialised in ${Math.round(initMs)} ms` +
        (exited.length > 0 ? ` (exited early: ${exited.join(', ')})` : ''),
    );
  }
  // Let the last initial pushes and ACKs drain before the first edit.
  await new Promise((r) => setTimeout(r, 500));

  const perNode: number[] = [];
  const perChangeMax: number[] = [];
  /** File rename → mesh parsed, compiled for every node and the pushes written. */
  const reload: number[] = [];
  /** CPU the control plane's process spent per edit (load, compile, encode, serve ACKs): unaffected by other load on the machine. */
  const cpuPerChange: number[] = [];
  /** Its kernel part: at 1,000 sidecars mostly a write per pushed stream and a read per ACK. */
  const systemCpuPerChange: number[] = [];
  /** CPU all sidecar processes spent on the same edit (decode, validate, ACK). */
  const sidecarCpuPerChange: number[] = [];
  const reachedPerChange: number[] = [];
  let timeouts = 0;
  let profile: Awaited<ReturnType<typeof startProfile>>;
  // Every edit's text is made before the first: at 1,000 sidecars stringifying the mesh makes
  // tens of MB of garbage, whose collection would otherwise land in the edits' measured CPU (a
  // cost of the bench that grows with the sidecars, not of the control plane).
  const texts = Array.from({ length: WARMUP + changes }, (_, change) => meshYaml(nodes, change, shape));
  for (let change = 0; change < WARMUP + changes; change++) {
    const measured = change >= WARMUP;
    if (change === WARMUP) profile = await startProfile();
    const typeUrl = change % 2 === 0 ? TYPE_URL.routes : TYPE_URL.endpoints;
    // Every node that routes to the edited service now waits for an ACK of a version of
    // `typeUrl` other than the one it holds (in the full mesh, every node).
    const edited = editedService(change, shape.services);
    let pending = 0;
    for (const r of acks.values()) {
      if (!calls(shape, r.service, edited)) continue;
      r.awaiting = typeUrl;
      r.awaitingFrom = r.versions.get(typeUrl);
      pending++;
    }
    if (measured) reachedPerChange.push(pending);
    countStrays = measured;
    const text = texts[change] as string;
    let t0 = 0;
    const done = new Promise<void>((resolve) => {
      onAck = (r) => {
        const ms = performance.now() - t0;
        if (measured) {
          perNode.push(ms);
          r.real?.push(ms);
        }
        if (--pending === 0) resolve();
      };
    });
    onApplied = () => {
      if (measured) reload.push(performance.now() - t0);
    };
    stage(text);
    const children0 = childCpuMs(pids);
    const cpu0 = process.cpuUsage();
    t0 = publish();
    const timer = new Promise<void>((r) => setTimeout(r, 10_000));
    await Promise.race([done, timer]);
    if (measured) {
      timeouts += pending;
      perChangeMax.push(performance.now() - t0);
      const cpu = ownCpuMs(cpu0);
      cpuPerChange.push(cpu.total);
      systemCpuPerChange.push(cpu.system);
      sidecarCpuPerChange.push(childCpuMs(pids) - children0);
    }
    onAck = undefined;
    await new Promise((r) => setTimeout(r, 150));
    countStrays = false;
    // A node that timed out waits no more: the next edit may not concern it.
    for (const r of acks.values()) r.awaiting = undefined;
  }
  await profile?.(`${meshKind}-${total}`);

  await stop();

  const p99 = percentile(
    [...perNode].sort((a, b) => a - b),
    99,
  );
  return {
    mesh: meshKind,
    sidecars: total,
    services: shape.services,
    nodes_reached_per_change: percentile(
      [...reachedPerChange].sort((a, b) => a - b),
      50,
    ),
    stray_pushes: strays,
    in_process_grpc_clients: clientCount,
    client_processes: clientProcesses,
    real_proxies: realNames,
    changes,
    warmup_changes: WARMUP,
    init_ms: Math.round(initMs),
    control_plane_reload_and_push: summary(reload),
    control_plane_cpu_ms_per_change: {
      ...summary(cpuPerChange),
      each: cpuPerChange.map(round),
      system_each: systemCpuPerChange.map(round),
    },
    sidecars_cpu_ms_per_change: summary(sidecarCpuPerChange),
    all_nodes: { ...summary(perNode), timeouts },
    real_proxy_grpc: summary(acks.get('real-grpc')?.real ?? []),
    real_proxy_delta_grpc: summary(acks.get('real-delta')?.real ?? []),
    real_proxy_rest: summary(acks.get('real-rest')?.real ?? []),
    slowest_node_per_change: summary(perChangeMax),
    goal_p99_ms: GOAL_P99_MS,
    goal_met: timeouts === 0 && p99 <= GOAL_P99_MS,
    p99_to_goal_ratio: round(p99 / GOAL_P99_MS),
  };
}

/** The largest scale's control-plane CPU per edit against the smallest's, and per added node. */
function cpuScaling(scales: ScaleResult[]) {
  const smallest = scales[0]!;
  const largest = scales[scales.length - 1]!;
  const cpuRatio = largest.control_plane_cpu_ms_per_change.p50_ms / smallest.control_plane_cpu_ms_per_change.p50_ms;
  // The edit's cost as fixed + per node (the p50s of both scales), its kernel part alike, and the
  // per-node cost the goal allows: the largest scale's edit may add at most the smallest's whole
  // cost, spread over the nodes it adds.
  const addedNodes = largest.sidecars - smallest.sidecars;
  const perNodeUs = (a: number, b: number): number =>
    addedNodes > 0 ? Math.round(((b - a) / addedNodes) * 10_000) / 10 : Number.NaN;
  const median = (xs: number[]): number =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  return {
    from_sidecars: smallest.sidecars,
    to_sidecars: largest.sidecars,
    p50_ms_per_change: [
      smallest.control_plane_cpu_ms_per_change.p50_ms,
      largest.control_plane_cpu_ms_per_change.p50_ms,
    ],
    ratio: Math.round(cpuRatio * 100) / 100,
    // The spread: the same ratio of the lower and of the upper quartiles.
    ratio_p25:
      Math.round(
        (largest.control_plane_cpu_ms_per_change.p25_ms / smallest.control_plane_cpu_ms_per_change.p25_ms) * 100,
      ) / 100,
    ratio_p75:
      Math.round(
        (largest.control_plane_cpu_ms_per_change.p75_ms / smallest.control_plane_cpu_ms_per_change.p75_ms) * 100,
      ) / 100,
    per_node_us: perNodeUs(
      smallest.control_plane_cpu_ms_per_change.p50_ms,
      largest.control_plane_cpu_ms_per_change.p50_ms,
    ),
    per_node_system_us: perNodeUs(
      median(smallest.control_plane_cpu_ms_per_change.system_each),
      median(largest.control_plane_cpu_ms_per_change.system_each),
    ),
    per_node_us_goal: perNodeUs(0, (GOAL_CPU_RATIO - 1) * smallest.control_plane_cpu_ms_per_change.p50_ms),
    goal_ratio: GOAL_CPU_RATIO,
    goal_met: cpuRatio <= GOAL_CPU_RATIO,
  };
}

async function main(): Promise<void> {
  const steal = stealMeter();
  const largestScale = Math.max(...SCALES);
  const byMesh = new Map<'full' | 'scoped', ScaleResult[]>();
  for (const m of MESHES) {
    const scales: ScaleResult[] = [];
    for (const n of SCALES) scales.push(await runScale(n, n === largestScale ? CHANGES : SMALL_CHANGES, m));
    byMesh.set(m, scales);
  }
  const result = (scales: ScaleResult[]) => {
    const scaling = cpuScaling(scales);
    return {
      scales,
      control_plane_cpu_scaling: scaling,
      goal_met: scales.every((s) => s.goal_met) && scaling.goal_met,
    };
  };
  const full = byMesh.get('full');
  const scoped = byMesh.get('scoped');
  process.stdout.write(
    `${JSON.stringify(
      {
        scenario: 'mesh file edit → every sidecar it concerns ACKed the changed type (applied), at each scale',
        kinds:
          'alternating RDS (route weights) and EDS (endpoint weights) edits of one service, each reaching every node that routes to it',
        file_watch_debounce_ms: 20,
        clients_per_process: CLIENTS_PER_PROCESS,
        cpu_steal_pct: steal(),
        // The full mesh (every sidecar routes to every service) at the top level, as before.
        ...(full === undefined ? {} : result(full)),
        ...(scoped === undefined
          ? {}
          : {
              scoped: {
                shape: `~${SIDECARS_PER_SCOPED_SERVICE} sidecars per service (at least ${SERVICES} services), each with egress.hosts naming the next ${CALLEES} (svc-s calls svc-(s+1..s+${CALLEES})): an edit of one service reaches its ${CALLEES} callers' sidecars`,
                ...result(scoped),
              },
            }),
      },
      null,
      2,
    )}\n`,
  );
}

/** Child mode: runs one light ADS client (bench/lib/ads-client.ts) per node until SIGTERM. */
function runClients(file: string): void {
  const { target, nodes } = JSON.parse(readFileSync(file, 'utf8')) as { target: string; nodes: JsonMap[] };
  const clients = nodes.map(
    (node) =>
      new LightAdsClient(target, node, (err) => {
        if (process.env.BENCH_XDS_DEBUG) process.stderr.write(`[clients] ${String(node.id)}: ${err.message}\n`);
      }),
  );
  process.on('SIGTERM', () => {
    for (const c of clients) c.close();
    process.exit(0);
  });
}

const clientsFlag = process.argv.indexOf('--clients');
if (clientsFlag !== -1) runClients(process.argv[clientsFlag + 1] as string);
else
  main().catch((err: unknown) => {
    process.stderr.write(`bench:xds failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
