// What outlives `meshscope up`: nothing. A supervisor runs in its own process (as `meshscope up`
// does) with small real servers as components, one of which forks a grandchild; then
//   - `kill -9` of that process: the reaper stops every component and grandchild, found by pid;
//   - `meshscope down` from another process: the supervisor stops them in order and exits;
//   - a component that crashes once: status shows its exit, its last log line and its recovery.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshState } from '../../up/index.js';
import { freePort } from '../helpers/ports.js';
import { processAlive } from '../../up/state.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['dist/cli/main.js', ...args], { timeout: 30_000 }, (err, stdout) =>
      done({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout }),
    );
  });
}

/**
 * Starts a process that supervises two HTTP servers (the second forks a grandchild that sleeps)
 * and, when `crashOnce` is set, a third that logs a line and exits the first time it runs.
 * Resolves once the state file says everything is ready.
 */
async function startSupervisor(
  crashOnce = false,
): Promise<{ proc: ChildProcess; stateDir: string; grandchild: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshscope-lifecycle-'));
  dirs.push(dir);
  const stateDir = join(dir, 'state');
  const grandchildFile = join(dir, 'grandchild.pid');
  const marker = join(dir, 'crashed-once');
  const component = (name: string, port: number, extra = '') => ({
    name,
    kind: 'app',
    command: process.execPath,
    args: ['-e', `${extra};require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`],
    env: {},
    ports: [{ name: 'http', port }],
    urls: [`http://127.0.0.1:${port}/`],
    probe: { kind: 'http', url: `http://127.0.0.1:${port}/` },
    after: [],
  });
  const specs = [
    component('alpha', await freePort()),
    component(
      'beta',
      await freePort(),
      `const g = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });` +
        `require('fs').writeFileSync(${JSON.stringify(grandchildFile)}, String(g.pid))`,
    ),
  ];
  if (crashOnce)
    specs.push(
      component(
        'gamma',
        await freePort(),
        `const fs = require('fs'); if (!fs.existsSync(${JSON.stringify(marker)})) {` +
          `fs.writeFileSync(${JSON.stringify(marker)}, ''); console.log('gamma: cannot read its config, giving up'); process.exit(3) }`,
      ),
    );
  const script = join(dir, 'supervise.mjs');
  writeFileSync(
    script,
    `import { superviseComponents } from ${JSON.stringify(resolve('dist/up/index.js'))};
const mesh = await superviseComponents(${JSON.stringify(specs)}, { stateDir: ${JSON.stringify(stateDir)}, label: 'lifecycle', readyTimeoutMs: 20000 });
const stop = () => mesh.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
// The test runner holds the other end: if it dies without its clean-up, the mesh goes with it.
process.stdin.on('end', stop).resume();
`,
  );
  const proc = spawn(process.execPath, [script], { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(proc);
  const ready = (): boolean => {
    try {
      const s = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as MeshState;
      return s.ready && existsSync(grandchildFile);
    } catch {
      return false;
    }
  };
  await until('the supervisor to be ready', ready);
  return { proc, stateDir, grandchild: () => Number(readFileSync(grandchildFile, 'utf8')) };
}

const state = (stateDir: string): MeshState =>
  JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as MeshState;

describe('nothing outlives meshscope up', () => {
  it('kill -9 of the supervising process: every component and what it forked is stopped, found by pid', async () => {
    const { proc, stateDir, grandchild } = await startSupervisor();
    const pids = [...state(stateDir).components.map((c) => c.pid!), grandchild()];
    for (const pid of pids) expect(processAlive(pid), `pid ${pid} before`).toBe(true);
    proc.kill('SIGKILL');
    await until('every component to be gone', () => pids.every((p) => !processAlive(p)));
    await until('the state file to be removed', () => !existsSync(join(stateDir, 'state.json')));
  });

  it('meshscope down stops a mesh started by another process, which then exits on its own', async () => {
    const { proc, stateDir, grandchild } = await startSupervisor();
    const pids = [...state(stateDir).components.map((c) => c.pid!), grandchild()];
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const down = await cli(['down', '--state-dir', stateDir]);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('stopped');
    expect(await exited).toBe(0);
    // The grandchild is reaped by init once orphaned, which can take a moment after its group's SIGTERM.
    await until('every component and the grandchild to be gone', () => pids.every((p) => !processAlive(p)));
    expect((await cli(['down', '--state-dir', stateDir])).stdout).toContain('nothing is running');
  });

  it("status shows a crashed component's exit, its last log line and its recovery", async () => {
    const { stateDir } = await startSupervisor(true);
    const { code, stdout } = await cli(['status', '--state-dir', stateDir]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/gamma: exited with code 3 at \S+; last log line: gamma: cannot read its config, giving up/);
    expect(stdout).toMatch(/gamma exited with code 3; restarting in \d+ ms; its last log line: gamma: cannot read/);
    expect(stdout).toMatch(/gamma is back after restart 1/);
    const json = JSON.parse((await cli(['status', '--json', '--state-dir', stateDir])).stdout) as {
      events: Array<{ kind: string; component?: string }>;
    };
    expect(json.events.filter((e) => e.component === 'gamma').map((e) => e.kind)).toEqual(['crash', 'recovered']);
    await cli(['down', '--state-dir', stateDir]);
  });
});
