// The VU runtime as k6 users rely on it: each VU its own instance of the script (its own globals,
// none of Node's), VUs that never wait still stop at the duration and on SIGINT, and an endless loop inside
// an iteration is interrupted after gracefulStop. The stopping tests run the real CLI in a child
// process: a hang fails them by the test timeout.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturePerFile, metricValue, repoRoot, run, runCli } from './helpers.js';

const { tmp } = fixturePerFile();

describe('VU runtime', () => {
  it("gives each VU its own globals and only k6's", async () => {
    const script = tmp.write(
      'isolated.js',
      `import { check } from 'k6';
import exec from 'k6/execution';
let calls = 0;
globalThis.initRuns = (globalThis.initRuns ?? 0) + 1;
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } } };
export default function () {
  calls++;
  check(null, {
    'init ran once in this VU': () => globalThis.initRuns === 1,
    'module state is per VU': () => calls === exec.vu.iterationInScenario + 1,
    'no process': () => typeof process === 'undefined',
    'no Buffer': () => typeof Buffer === 'undefined',
    "no Node require": () => { try { require('node:fs'); return false; } catch (e) { return true; } },
    'k6 globals': () => typeof open === 'function' && typeof console.log === 'function' && __VU === exec.vu.idInTest,
  });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'checks', 'rate')).toBe(1);
    expect(metricValue(r, 'checks', 'passes')).toBe(3 * 2 * 6);
  });

  it("keeps what a VU puts on its global object, its Math and k6's globals its own", async () => {
    const script = tmp.write(
      'own-globals.js',
      `import { check } from 'k6';
globalThis.mine = __VU;
const seeded = Math;
Math.random = () => __VU;
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 1 } } };
export default function () {
  check(null, {
    "globalThis holds this VU's value": () => globalThis.mine === __VU && mine === __VU,
    "Math is this VU's": () => Math === seeded && globalThis.Math === Math && Math.random() === __VU && Math.floor(1.5) === 1,
    'module globals are on globalThis': () => globalThis.setTimeout === setTimeout && globalThis.crypto === crypto,
    'builtins through globalThis': () => globalThis.JSON === JSON && globalThis.globalThis === globalThis,
  });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'checks', 'rate')).toBe(1);
    expect(metricValue(r, 'checks', 'passes')).toBe(3 * 4);
  });

  it('stops a VU loop that never waits at the duration, also when every iteration throws', async () => {
    const busy = tmp.write(
      'busy.js',
      'export default function () { let x = 0; for (let i = 0; i < 1e4; i++) x += i; return x; }\n',
    );
    const r = await runCli([busy, '--vus', '2', '--duration', '1s', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/iterations\.+: \d+/);
    const throwing = tmp.write('throws.js', "export default function () { throw new Error('at once'); }\n");
    const t = await runCli([throwing, '--vus', '2', '--duration', '1s', '--quiet']);
    expect(t.code).toBe(0);
    expect(t.stderr).toContain('Error: at once');
  });

  it('stops a VU loop that never waits on SIGINT (exit 105)', async () => {
    const script = tmp.write(
      'busy-long.js',
      `export const options = { vus: 2, duration: '10m' };
export default function () { if (__ITER === 0 && __VU === 1) console.log('iterating'); let x = 0; for (let i = 0; i < 1e4; i++) x += i; }
`,
    );
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), 'load', script, '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // One SIGINT: a second one ends the process at once, as in k6.
        if (stderr.includes('iterating') && !sent) sent = child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(105);
  });

  it('interrupts an endless loop inside an iteration after gracefulStop', async () => {
    const script = tmp.write(
      'endless.js',
      `import exec from 'k6/execution';
import { sleep } from 'k6';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '1s', gracefulStop: '1s' } } };
export default function () {
  if (exec.vu.idInTest === 1 && exec.vu.iterationInScenario === 1) for (;;) {}
  sleep(0.05);
}
export function teardown() { console.log('teardown ran'); }
`,
    );
    const r = await runCli([script, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/was interrupted/);
    expect(r.stderr).toContain('teardown ran');
    expect(r.stdout).toMatch(/iterations\.+: \d+/);
  });

  it('interrupts an endless loop in an arrival-rate iteration (started from a timer) and in setup() (exit 100)', async () => {
    const arrival = tmp.write(
      'endless-arrival.js',
      `export const options = { scenarios: { a: { executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '1s', preAllocatedVUs: 2, maxVUs: 2, gracefulStop: '500ms' } } };
let n = 0;
export default function () { n++; if (n === 2) for (;;) {} }
export function teardown() { console.log('teardown ran'); }
`,
    );
    const r = await runCli([arrival, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/was interrupted/);
    expect(r.stderr).toContain('teardown ran');
    const setup = tmp.write(
      'endless-setup.js',
      "export const options = { iterations: 1, setupTimeout: '1s' };\nexport function setup() { for (;;) {} }\nexport default function () {}\n",
    );
    const s = await runCli([setup, '--quiet']);
    expect(s.code).toBe(100);
    expect(s.stderr).toContain('setup() execution timed out after 1 seconds');
  });
});
