// A small process supervisor: starts components once what they wait for is ready, probes
// them until they are, restarts any that die (exponential backoff, reset after a stable run),
// reports every death, and stops everything in reverse dependency order.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpNotReadyError } from './errors.js';
import type { ComponentKind, ComponentSpec } from './plan.js';
import { describeProbe, probeOnce } from './probes.js';
import { signalGroup } from './reap.js';

export type ComponentState = 'pending' | 'starting' | 'ready' | 'restarting' | 'stopped';

export interface ComponentStatus {
  name: string;
  kind: ComponentKind;
  pid: number | null;
  ports: number[];
  portNames: string[];
  urls: string[];
  state: ComponentState;
  restarts: number;
  /** Milliseconds from the supervisor's start until this component was first ready. */
  readyAfterMs: number | null;
  log: string;
  /** How this component last ended on its own, with the last line it logged; null if it never did. */
  lastExit: ComponentExit | null;
}

export interface ComponentExit {
  how: string;
  at: string;
  lastLogLine: string;
}

export interface SupervisorEvents {
  /** Any state or pid change; the caller persists the status. */
  change(): void;
  /** A component exited on its own; it will be restarted after `restartInMs`. */
  exit(name: string, how: string, restartInMs: number, log: string): void;
  /** A component answered its probe: for the first time, or again after a restart. */
  ready(name: string, afterMs: number, restarts: number): void;
}

const PROBE_INTERVAL_MS = 100;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** A run this long counts as stable: the next death starts the backoff over. */
const STABLE_RUN_MS = 10_000;
const STOP_GRACE_MS = 5_000;

// Stop order: traffic enters at the front proxy, so it stops first; the collector stops last
// so it can store what the others sent while draining.
const STOP_RANK: Record<ComponentKind, number> = {
  'front-proxy': 0,
  sidecar: 1,
  app: 2,
  'control-plane': 3,
  prometheus: 3,
  collector: 4,
};

interface Managed {
  spec: ComponentSpec;
  state: ComponentState;
  child: ChildProcess | null;
  restarts: number;
  failures: number;
  startedAt: number;
  readyAfterMs: number | null;
  log: string;
  lastExit: ComponentExit | null;
}

/** The last non-empty line of a log file (read from its last 4 KiB), or '' when there is none. */
function lastLogLine(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 4096);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const lines = buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim());
    return lines.filter((l) => l !== '').at(-1) ?? '';
  } finally {
    closeSync(fd);
  }
}

export class Supervisor {
  readonly #components: Managed[];
  readonly #events: SupervisorEvents;
  #stopping = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  #began = 0;
  #stopped: Promise<void> | null = null;

  constructor(specs: readonly ComponentSpec[], logDir: string, events: SupervisorEvents) {
    this.#components = specs.map((spec) => ({
      spec,
      state: 'pending',
      child: null,
      restarts: 0,
      failures: 0,
      startedAt: 0,
      readyAfterMs: null,
      log: join(logDir, `${spec.name}.log`),
      lastExit: null,
    }));
    this.#events = events;
  }

  status(): ComponentStatus[] {
    return this.#components.map((c) => ({
      name: c.spec.name,
      kind: c.spec.kind,
      pid: c.child?.pid ?? null,
      ports: c.spec.ports.map((p) => p.port),
      portNames: c.spec.ports.map((p) => p.name),
      urls: c.spec.urls,
      state: c.state,
      restarts: c.restarts,
      readyAfterMs: c.readyAfterMs,
      log: c.log,
      lastExit: c.lastExit,
    }));
  }

  get ready(): boolean {
    return this.#components.every((c) => c.state === 'ready');
  }

  /** Starts everything in dependency order; resolves once all are ready, throws on the deadline. */
  async start(timeoutMs: number): Promise<void> {
    this.#began = Date.now();
    const deadline = this.#began + timeoutMs;
    const byName = new Map(this.#components.map((c) => [c.spec.name, c]));
    const waiting = new Set(this.#components);
    const readiness: Array<Promise<void>> = [];
    while (waiting.size > 0 || !this.ready) {
      if (this.#stopping) return;
      for (const c of [...waiting]) {
        if (c.spec.after.every((d) => byName.get(d)?.state === 'ready')) {
          waiting.delete(c);
          this.#launch(c);
          readiness.push(this.#awaitReady(c, deadline));
        }
      }
      if (Date.now() > deadline) {
        const late = this.#components.filter((c) => c.state !== 'ready');
        throw new UpNotReadyError(
          `not ready after ${timeoutMs} ms: ` +
            late
              .map(
                (c) =>
                  `${c.spec.name} (${c.state === 'pending' ? `waiting for ${c.spec.after.filter((d) => byName.get(d)?.state !== 'ready').join(', ')}` : `${describeProbe(c.spec.probe)} failing; log ${c.log}`})`,
              )
              .join('; '),
        );
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    await Promise.all(readiness);
  }

  #launch(c: Managed): void {
    const fd = openSync(c.log, 'a');
    let child: ChildProcess;
    try {
      // Each component leads its own process group: a terminal's Ctrl-C reaches only up, which
      // stops the mesh in order, and a stop (or the reaper) signals the group, forks included.
      child = spawn(c.spec.command, c.spec.args, {
        env: { ...process.env, ...c.spec.env },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    c.child = child;
    c.state = 'starting';
    c.startedAt = Date.now();
    // A process that could not be spawned (missing binary) emits 'error' and never 'exit'.
    child.once('error', (err) => {
      if (child.pid === undefined) this.#exited(c, child, `could not start (${err.message})`);
    });
    child.once('exit', (code, signal) =>
      this.#exited(c, child, signal !== null ? `killed by ${signal}` : `exited with code ${code}`),
    );
    this.#events.change();
  }

  async #awaitReady(c: Managed, deadline: number): Promise<void> {
    const child = c.child;
    while (!this.#stopping && c.child === child && Date.now() <= deadline) {
      if (await probeOnce(c.spec.probe)) {
        if (c.child === child && !this.#stopping) {
          c.state = 'ready';
          c.readyAfterMs ??= Date.now() - this.#began;
          this.#events.ready(c.spec.name, Date.now() - c.startedAt, c.restarts);
          this.#events.change();
        }
        return;
      }
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  #exited(c: Managed, child: ChildProcess, how: string): void {
    if (c.child !== child) return;
    c.child = null;
    if (this.#stopping) {
      c.state = 'stopped';
      this.#events.change();
      return;
    }
    c.failures = Date.now() - c.startedAt > STABLE_RUN_MS ? 1 : c.failures + 1;
    const delay = Math.min(BACKOFF_BASE_MS * 2 ** (c.failures - 1), BACKOFF_MAX_MS);
    c.state = 'restarting';
    c.lastExit = { how, at: new Date().toISOString(), lastLogLine: lastLogLine(c.log) };
    this.#events.exit(c.spec.name, how, delay, c.log);
    this.#events.change();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopping) return;
      c.restarts++;
      this.#launch(c);
      // A restart gets a fresh window as long as the first start had.
      void this.#awaitReady(c, Date.now() + 60_000);
    }, delay);
    this.#timers.add(timer);
  }

  /** SIGTERM in stop order (SIGKILL after the grace period); resolves when all have exited. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stopAll();
    return this.#stopped;
  }

  async #stopAll(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const ranks = [...new Set(Object.values(STOP_RANK))].sort();
    for (const rank of ranks) {
      const group = this.#components.filter((c) => STOP_RANK[c.spec.kind] === rank);
      await Promise.all(group.map((c) => this.#stopOne(c)));
    }
    for (const c of this.#components) c.state = 'stopped';
    this.#events.change();
  }

  async #stopOne(c: Managed): Promise<void> {
    const child = c.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const pid = child.pid!;
    signalGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}
