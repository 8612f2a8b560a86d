// The local observable mesh behind `meshscope up`: reads a mesh description, writes each
// proxy's xDS bootstrap and Prometheus' scrape config, and supervises the collector, the
// control plane, every app with its sidecar, the front proxy and Prometheus on 127.0.0.1.
// `meshscope status` reads the state file this keeps current.
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { delimiter, dirname, join, resolve } from 'node:path';
import { loadMeshFile } from '../control-plane/mesh/validate.js';
import { MeshWatcher } from '../control-plane/watch.js';
import { renderDynamicBootstrap } from '../control-plane/translate/index.js';
import { UpAbortedError, UpAlreadyRunningError } from './errors.js';
import { planMesh, prometheusConfig, type ComponentSpec } from './plan.js';
import { assertPortsFree } from './ports.js';
import { probeOnce } from './probes.js';
import { terminateGroups } from './reap.js';
import { type IngressCertificate, ingressCertificate } from './tls.js';
import { processAlive, readState, removeState, writeState, type MeshState, type UpEvent } from './state.js';
import { Supervisor, type ComponentStatus } from './supervisor.js';
import { renderTable } from './table.js';

export {
  UpError,
  UpPlanError,
  UpNotReadyError,
  UpAlreadyRunningError,
  UpPortInUseError,
  UpAbortedError,
} from './errors.js';
export { readState, type MeshState, type StateComponent, type UpEvent } from './state.js';
export { renderTable } from './table.js';
export type { ComponentKind, ComponentSpec } from './plan.js';
export type { IngressCertificate } from './tls.js';
export type { ComponentExit, ComponentStatus } from './supervisor.js';

export interface UpOptions {
  meshPath: string;
  stateDir: string;
  dataDir?: string;
  xds: string;
  collectorHttp: string;
  /** Listen address for Prometheus, or null to not run it even when installed. */
  prometheus: string | null;
  /** xDS transport the proxies use. */
  xdsApi: 'GRPC' | 'REST';
  readyTimeoutMs: number;
  /** Called when a component dies on its own (it is restarted). */
  onExit?: (name: string, how: string, restartInMs: number, log: string) => void;
  /** Everything worth telling the user as it happens: readiness, crashes, recoveries, mesh edits. */
  onEvent?: (event: UpEvent) => void;
  /** Aborting before ready stops whatever started and rejects with UpAbortedError. */
  signal?: AbortSignal;
  /** The operator's certificate and key (PEM files) for the front proxy's HTTPS port; one is generated otherwise. */
  ingressTls?: { cert: string; key: string };
}

export interface RunningMesh {
  components(): ComponentStatus[];
  readonly ready: boolean;
  table(): string;
  stop(): Promise<void>;
}

/** `prometheus` on PATH, or null. */
export function findPrometheus(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'prometheus');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

/** A mesh `meshscope up` started from a mesh file. */
export interface StartedMesh extends RunningMesh {
  /** What the front proxy's HTTPS port serves, null when the mesh has no ingress https_port. */
  readonly ingressTls: IngressCertificate | null;
}

export async function startMesh(o: UpOptions): Promise<StartedMesh> {
  const stateDir = resolve(o.stateDir);
  const previous = readState(stateDir);
  // Checked before writing bootstraps so a second `up` changes nothing of the running one.
  if (previous !== null && previous.pid !== process.pid && processAlive(previous.pid)) {
    throw new UpAlreadyRunningError(
      `meshscope up (pid ${previous.pid}) is already running with state in ${stateDir}; stop it first`,
    );
  }
  const meshPath = resolve(o.meshPath);
  const mesh = await loadMeshFile(meshPath);
  const prometheusBinary = o.prometheus === null ? null : findPrometheus();
  const specs: ComponentSpec[] = planMesh({
    mesh,
    meshPath,
    stateDir,
    dataDir: resolve(o.dataDir ?? join(stateDir, 'data')),
    xds: o.xds,
    collectorHttp: o.collectorHttp,
    prometheus:
      prometheusBinary !== null && o.prometheus !== null ? { binary: prometheusBinary, listen: o.prometheus } : null,
  });

  await assertPortsFree(specs);
  mkdirSync(stateDir, { recursive: true });
  const ingressTls = mesh.ingress?.https_port === undefined ? null : await ingressCertificate(stateDir, o.ingressTls);
  const certificate =
    ingressTls === null
      ? {}
      : { ingressCertificate: { certificateChain: ingressTls.certificateChain, privateKey: ingressTls.privateKey } };
  for (const s of specs) {
    if (s.bootstrap === undefined) continue;
    mkdirSync(dirname(s.bootstrap.path), { recursive: true });
    const bootstrap = renderDynamicBootstrap(mesh, s.bootstrap.nodeId, { xds: o.xds, api: o.xdsApi, ...certificate });
    writeFileSync(s.bootstrap.path, `${JSON.stringify(bootstrap, null, 2)}\n`);
  }
  writeFileSync(join(stateDir, 'prometheus.yml'), prometheusConfig(specs, o.collectorHttp));

  const running = await superviseComponents(specs, {
    stateDir,
    label: meshPath,
    readyTimeoutMs: o.readyTimeoutMs,
    ...(o.onExit !== undefined ? { onExit: o.onExit } : {}),
    ...(o.onEvent !== undefined ? { onEvent: o.onEvent } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
  });
  // The control plane applies a valid edit of the mesh file and keeps the last good mesh on a
  // bad one, saying so only in its own log; the same check here puts the verdict in front of
  // the user (and in `meshscope status`).
  const watcher = new MeshWatcher({
    path: meshPath,
    debounceMs: 200,
    onMesh: () =>
      running.record({ kind: 'mesh-edit-applied', message: `${meshPath} changed; the control plane pushes it` }),
    onError: (err) =>
      running.record({
        kind: 'mesh-edit-refused',
        message: `${meshPath}: edit refused, the last good mesh stays: ${err.message}`,
      }),
  });
  return {
    ...running,
    get ready() {
      return running.ready;
    },
    ingressTls,
    stop: async () => {
      watcher.close();
      await running.stop();
    },
  };
}

export interface SuperviseOptions {
  stateDir: string;
  /** What the state file says is running (the mesh file). */
  label: string;
  readyTimeoutMs: number;
  onExit?: (name: string, how: string, restartInMs: number, log: string) => void;
  onEvent?: (event: UpEvent) => void;
  signal?: AbortSignal;
}

export interface SupervisedMesh extends RunningMesh {
  /** Adds an event to what the terminal and `meshscope status` show. */
  record(event: Omit<UpEvent, 'at'>): void;
}

/** How many recent events the state file keeps for `meshscope status`. */
const RECENT_EVENTS = 20;

// Compiled, the reaper sits beside this module; under vitest this module is the TypeScript
// source, and the reaper runs from the build (`npm test` builds first).
function reaperScript(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? join(dirname(here), '..', 'dist', 'up', 'reaper.js') : join(dirname(here), 'reaper.js');
}

/** Starts the reaper (see reaper.ts); closing the returned function's pipe lets it exit. */
function startReaper(stateDir: string): () => void {
  const log = openSync(join(stateDir, 'logs', 'reaper.log'), 'a');
  try {
    const reaper = spawn(process.execPath, [reaperScript(), stateDir, String(process.pid)], {
      stdio: ['pipe', log, log],
      detached: true,
    });
    reaper.on('error', () => {}); // a missing build only loses the kill -9 guarantee
    reaper.unref();
    reaper.stdin?.on('error', () => {});
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return () => reaper.stdin?.end();
  } finally {
    closeSync(log);
  }
}

/** Runs components under the supervisor, keeping the state file current; the mesh-agnostic half of startMesh. */
export async function superviseComponents(
  specs: readonly ComponentSpec[],
  o: SuperviseOptions,
): Promise<SupervisedMesh> {
  const stateDir = resolve(o.stateDir);
  const previous = readState(stateDir);
  if (previous !== null && previous.pid !== process.pid && processAlive(previous.pid)) {
    throw new UpAlreadyRunningError(
      `meshscope up (pid ${previous.pid}) is already running with state in ${stateDir}; stop it first`,
    );
  }
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const startedAt = new Date().toISOString();
  const probes = new Map(specs.map((s) => [s.name, s.probe]));
  const recent: UpEvent[] = [];
  const record = (e: Omit<UpEvent, 'at'>): void => {
    const event = { at: new Date().toISOString(), ...e };
    recent.push(event);
    if (recent.length > RECENT_EVENTS) recent.shift();
    o.onEvent?.(event);
    persist();
  };
  const supervisor: Supervisor = new Supervisor(specs, join(stateDir, 'logs'), {
    change: () => persist(),
    exit: (name, how, delay, log) => {
      o.onExit?.(name, how, delay, log);
      const last = supervisor.status().find((c) => c.name === name)?.lastExit?.lastLogLine;
      record({
        kind: 'crash',
        component: name,
        message: `${name} ${how}; restarting in ${delay} ms${last ? `; its last log line: ${last}` : ''} (log: ${log})`,
      });
    },
    ready: (name, afterMs, restarts) =>
      record({
        kind: restarts > 0 ? 'recovered' : 'ready',
        component: name,
        message:
          restarts > 0
            ? `${name} is back after restart ${restarts} (${(afterMs / 1000).toFixed(1)} s)`
            : `${name} is ready (${(afterMs / 1000).toFixed(1)} s)`,
      }),
  });
  function persist(): void {
    const state: MeshState = {
      version: 1,
      pid: process.pid,
      startedAt,
      mesh: o.label,
      ready: supervisor.ready,
      components: supervisor.status().map((c) => ({ ...c, probe: probes.get(c.name)! })),
      events: recent,
    };
    writeState(stateDir, state);
  }
  persist();
  const releaseReaper = startReaper(stateDir);
  const abort = (): void => void supervisor.stop();
  o.signal?.addEventListener('abort', abort, { once: true });
  try {
    if (o.signal?.aborted === true) abort();
    await supervisor.start(o.readyTimeoutMs);
    if (o.signal?.aborted === true) throw new UpAbortedError('stopped before the mesh was ready');
  } catch (err) {
    await supervisor.stop();
    removeState(stateDir);
    releaseReaper();
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', abort);
  }
  persist();
  return {
    components: () => supervisor.status(),
    get ready() {
      return supervisor.ready;
    },
    table: () => renderTable(supervisor.status()),
    record,
    stop: async () => {
      await supervisor.stop();
      removeState(stateDir);
      releaseReaper();
    },
  };
}

export type DownResult = 'not-running' | 'stopped' | 'reaped';

/**
 * `meshscope down`: stops the mesh whose state is in `stateDir`. A live `meshscope up` gets
 * SIGTERM and stops its components in order; when up is gone but its state names components
 * still alive, their process groups are stopped here.
 */
export async function stopMesh(stateDir: string, timeoutMs: number): Promise<DownResult> {
  const dir = resolve(stateDir);
  const state = readState(dir);
  if (state === null) return 'not-running';
  const componentPids = (): number[] =>
    (readState(dir)?.components ?? state.components).flatMap((c) =>
      c.pid !== null && processAlive(c.pid) ? [c.pid] : [],
    );
  if (processAlive(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (processAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!processAlive(state.pid)) return 'stopped';
    // up did not finish in time: what it still runs is stopped directly.
    await terminateGroups(componentPids(), 5_000);
    process.kill(state.pid, 'SIGKILL');
    removeState(dir);
    return 'stopped';
  }
  const pids = componentPids();
  await terminateGroups(pids, 5_000);
  removeState(dir);
  return pids.length > 0 ? 'reaped' : 'not-running';
}

export interface LiveStatus {
  running: boolean;
  ready: boolean;
  state: MeshState | null;
  /** Probe result per component, taken now. */
  live: Map<string, boolean>;
}

/** What `meshscope status` reports: the state file, checked against the processes and probes now. */
export async function meshStatus(stateDir: string): Promise<LiveStatus> {
  const state = readState(resolve(stateDir));
  if (state === null || !processAlive(state.pid)) return { running: false, ready: false, state, live: new Map() };
  const results = await Promise.all(
    state.components.map(
      async (c) => [c.name, c.pid !== null && processAlive(c.pid) && (await probeOnce(c.probe))] as const,
    ),
  );
  const live = new Map(results);
  return { running: true, ready: results.every(([, ok]) => ok), state, live };
}
