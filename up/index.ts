// The local observable mesh behind `meshscope up`: reads a mesh description, writes each
// proxy's xDS bootstrap and Prometheus' scrape config, and supervises the collector, the
// control plane, every app with its sidecar, the front proxy and Prometheus on 127.0.0.1.
// `meshscope status` reads the state file this keeps current.
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { loadMeshFile } from '../control-plane/mesh/validate.js';
import { renderDynamicBootstrap } from '../control-plane/translate/index.js';
import { UpAbortedError, UpAlreadyRunningError } from './errors.js';
import { planMesh, prometheusConfig, type ComponentSpec } from './plan.js';
import { assertPortsFree } from './ports.js';
import { probeOnce } from './probes.js';
import { processAlive, readState, removeState, writeState, type MeshState } from './state.js';
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
export { readState, type MeshState, type StateComponent } from './state.js';
export { renderTable } from './table.js';
export type { ComponentKind, ComponentSpec } from './plan.js';
export type { ComponentStatus } from './supervisor.js';

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
  /** Aborting before ready stops whatever started and rejects with UpAbortedError. */
  signal?: AbortSignal;
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

export async function startMesh(o: UpOptions): Promise<RunningMesh> {
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
  for (const s of specs) {
    if (s.bootstrap === undefined) continue;
    mkdirSync(dirname(s.bootstrap.path), { recursive: true });
    writeFileSync(
      s.bootstrap.path,
      `${JSON.stringify(renderDynamicBootstrap(mesh, s.bootstrap.nodeId, { xds: o.xds, api: o.xdsApi }), null, 2)}\n`,
    );
  }
  writeFileSync(join(stateDir, 'prometheus.yml'), prometheusConfig(specs, o.collectorHttp));

  return superviseComponents(specs, {
    stateDir,
    label: meshPath,
    readyTimeoutMs: o.readyTimeoutMs,
    ...(o.onExit !== undefined ? { onExit: o.onExit } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
  });
}

export interface SuperviseOptions {
  stateDir: string;
  /** What the state file says is running (the mesh file). */
  label: string;
  readyTimeoutMs: number;
  onExit?: (name: string, how: string, restartInMs: number, log: string) => void;
  signal?: AbortSignal;
}

/** Runs components under the supervisor, keeping the state file current; the mesh-agnostic half of startMesh. */
export async function superviseComponents(specs: readonly ComponentSpec[], o: SuperviseOptions): Promise<RunningMesh> {
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
  const supervisor: Supervisor = new Supervisor(specs, join(stateDir, 'logs'), {
    change: () => persist(),
    exit: (name, how, delay, log) => o.onExit?.(name, how, delay, log),
  });
  function persist(): void {
    const state: MeshState = {
      version: 1,
      pid: process.pid,
      startedAt,
      mesh: o.label,
      ready: supervisor.ready,
      components: supervisor.status().map((c) => ({ ...c, probe: probes.get(c.name)! })),
    };
    writeState(stateDir, state);
  }
  persist();
  const abort = (): void => void supervisor.stop();
  o.signal?.addEventListener('abort', abort, { once: true });
  try {
    if (o.signal?.aborted === true) abort();
    await supervisor.start(o.readyTimeoutMs);
    if (o.signal?.aborted === true) throw new UpAbortedError('stopped before the mesh was ready');
  } catch (err) {
    await supervisor.stop();
    removeState(stateDir);
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
    stop: async () => {
      await supervisor.stop();
      removeState(stateDir);
    },
  };
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
