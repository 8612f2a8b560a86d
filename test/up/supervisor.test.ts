// The supervisor behind `meshscope up`, with small real servers as components: dependency
// order, readiness, the state file and `meshscope status` from another process, restart of a
// component that dies, a clean stop, and the errors a user sees.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  readState,
  superviseComponents,
  UpAlreadyRunningError,
  UpNotReadyError,
  type ComponentSpec,
  type RunningMesh,
} from '../../up/index.js';
import { freePort } from '../helpers/ports.js';
import { processAlive } from '../../up/state.js';

const running: RunningMesh[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const m of running.splice(0)) await m.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'meshscope-up-'));
  dirs.push(d);
  return d;
}

/** A component: an HTTP server answering 200 on /ready after `delayMs`, logging when it starts. */
async function server(name: string, after: string[] = [], delayMs = 0): Promise<ComponentSpec> {
  const port = await freePort();
  const code = `setTimeout(() => require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1', () => console.log('${name} up at', Date.now())), ${delayMs})`;
  return {
    name,
    kind: 'app',
    command: process.execPath,
    args: ['-e', code],
    env: {},
    ports: [{ name: 'http', port }],
    urls: [`http://127.0.0.1:${port}/`],
    probe: { kind: 'http', url: `http://127.0.0.1:${port}/ready` },
    after,
  };
}

function status(dir: string): Promise<{
  code: number;
  json: {
    ready: boolean;
    running: boolean;
    components: Array<{ name: string; kind: string; pid: number; ports: number[] }>;
  };
}> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['dist/cli/main.js', 'status', '--json', '--state-dir', dir],
      { timeout: 30_000 },
      (err, stdout) => {
        resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), json: JSON.parse(stdout) });
      },
    );
  });
}

describe('meshscope up supervisor', () => {
  it('starts dependents after what they wait for is ready, and status reports it from another process', async () => {
    const dir = stateDir();
    const base = await server('base', [], 300);
    const dependent = await server('dependent', ['base']);
    const mesh = await superviseComponents([dependent, base], { stateDir: dir, label: 'test', readyTimeoutMs: 20_000 });
    running.push(mesh);
    expect(mesh.ready).toBe(true);
    expect(mesh.table()).toMatch(/^COMPONENT\s+KIND\s+PID\s+STATE\s+READY AT\s+PORTS\s+URL/);

    const { code, json } = await status(dir);
    expect(code).toBe(0);
    expect(json.ready).toBe(true);
    expect(json.components.map((c) => [c.name, c.kind, c.ports])).toEqual([
      ['dependent', 'app', dependent.ports.map((p) => p.port)],
      ['base', 'app', base.ports.map((p) => p.port)],
    ]);
    for (const c of json.components) expect(processAlive(c.pid)).toBe(true);
    // base takes 300 ms to listen and dependent none: dependent still came up after base,
    // because it was started only once base answered its probe.
    const upAt = (name: string): number =>
      Number(/up at (\d+)/.exec(readFileSync(mesh.components().find((c) => c.name === name)!.log, 'utf8'))?.[1]);
    expect(upAt('dependent')).toBeGreaterThan(upAt('base'));
  });

  it('reports a component that dies and restarts it', async () => {
    const dir = stateDir();
    const exits: string[] = [];
    const mesh = await superviseComponents([await server('victim')], {
      stateDir: dir,
      label: 'test',
      readyTimeoutMs: 20_000,
      onExit: (name, how) => exits.push(`${name} ${how}`),
    });
    running.push(mesh);
    const before = mesh.components()[0]!.pid!;
    process.kill(before, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !(mesh.components()[0]!.state === 'ready' && mesh.components()[0]!.pid !== before))
      await new Promise((r) => setTimeout(r, 100));
    const after = mesh.components()[0]!;
    expect(exits).toEqual(['victim killed by SIGKILL']);
    expect(after.state).toBe('ready');
    expect(after.restarts).toBe(1);
    expect(after.pid).not.toBe(before);
    expect(readState(dir)?.components[0]?.pid).toBe(after.pid);
  });

  it('stops every component and removes the state, after which status says it is not running', async () => {
    const dir = stateDir();
    const mesh = await superviseComponents([await server('a'), await server('b', ['a'])], {
      stateDir: dir,
      label: 'test',
      readyTimeoutMs: 20_000,
    });
    const pids = mesh.components().map((c) => c.pid!);
    await mesh.stop();
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    expect(readState(dir)).toBeNull();
    const { code, json } = await status(dir);
    expect(code).toBe(3);
    expect(json).toEqual({ ready: false, running: false, components: [] });
  });

  it('names what is not ready at the deadline and leaves nothing running', async () => {
    const dir = stateDir();
    const never = await server('never');
    never.probe = {
      kind: 'http',
      url: `http://127.0.0.1:${never.ports[0]!.port}/ready-but-wrong-port`.replace(
        String(never.ports[0]!.port),
        String(await freePort()),
      ),
    };
    const waiting = await server('waiting', ['never']);
    const err = await superviseComponents([never, waiting], {
      stateDir: dir,
      label: 'test',
      readyTimeoutMs: 1500,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpNotReadyError);
    expect((err as Error).message).toMatch(/never \(GET http:\/\/127\.0\.0\.1:\d+\/ready-but-wrong-port failing/);
    expect((err as Error).message).toMatch(/waiting \(waiting for never\)/);
    expect(readState(dir)).toBeNull();
  });

  it('refuses a second supervisor on the same state directory', async () => {
    const dir = stateDir();
    const first = await superviseComponents([await server('one')], {
      stateDir: dir,
      label: 'test',
      readyTimeoutMs: 20_000,
    });
    running.push(first);
    // Another live process owns it: pretend with the parent of this test process.
    const state = readState(dir)!;
    const { writeState } = await import('../../up/state.js');
    writeState(dir, { ...state, pid: process.ppid });
    await expect(
      superviseComponents([await server('two')], { stateDir: dir, label: 'test', readyTimeoutMs: 20_000 }),
    ).rejects.toBeInstanceOf(UpAlreadyRunningError);
    writeState(dir, state);
  });

  it('reports a component whose command cannot be spawned and keeps retrying it', async () => {
    const dir = stateDir();
    const exits: string[] = [];
    const missing: ComponentSpec = { ...(await server('missing')), command: join(dir, 'no-such-binary') };
    const err = await superviseComponents([missing], {
      stateDir: dir,
      label: 'test',
      readyTimeoutMs: 1200,
      onExit: (name, how) => exits.push(`${name} ${how}`),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpNotReadyError);
    expect(exits[0]).toMatch(/^missing could not start \(spawn .*no-such-binary ENOENT\)$/);
    expect(exits.length).toBeGreaterThanOrEqual(2);
  });
});
