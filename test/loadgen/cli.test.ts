// `meshscope load` flags through the real CLI: --vus/--duration, --stage, --iterations,
// --summary-mode full, and SIGINT stopping a run gracefully (k6's exit code 105).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturePerFile, repoRoot, run, runCli } from './helpers.js';

const { server, tmp } = fixturePerFile();
const loop = `import http from 'k6/http';
import { group, check } from 'k6';
export default function () {
  group('home', () => { check(http.get(__ENV.BASE + '/hello'), { ok: (r) => r.status === 200 }); });
}
`;

interface Export {
  metrics: Record<string, Record<string, number>>;
}

describe('meshscope load flags', () => {
  it('--vus with --duration runs constant VUs; --summary-mode full adds sub-phase timings and groups', async () => {
    const out = path.join(tmp.dir, 'cv.json');
    const r = await runCli([
      tmp.write('cv.js', loop),
      '--vus',
      '3',
      '--duration',
      '600ms',
      '-e',
      `BASE=${server.base}`,
      '--summary-export',
      out,
      '--summary-mode',
      'full',
      '--quiet',
    ]);
    expect(r.code).toBe(0);
    const s = JSON.parse(fs.readFileSync(out, 'utf8')) as Export;
    expect(s.metrics.vus_max!.value).toBe(3);
    expect(s.metrics.iterations!.count).toBeGreaterThan(3);
    expect(r.stdout).toContain('http_req_waiting');
    expect(r.stdout).toContain('http_req_blocked');
    expect(r.stdout).toContain('█ GROUP: home');
    expect(r.stdout).toContain('{ expected_response:true }');
  });

  it('--summary-mode full breaks key metrics down per scenario', async () => {
    const script = tmp.write(
      'two.js',
      `import http from 'k6/http';
export const options = { scenarios: { front: { executor: 'shared-iterations', iterations: 3 }, api: { executor: 'per-vu-iterations', vus: 2, iterations: 2, exec: 'api' } } };
export default function () { http.get(__ENV.BASE + '/hello'); }
export function api() { http.get(__ENV.BASE + '/json'); }
`,
    );
    const r = await run({ script, env: { BASE: server.base }, summaryMode: 'full' });
    expect(r.exitCode).toBe(0);
    const front = r.stdout.slice(r.stdout.indexOf('█ SCENARIO: front'));
    const api = r.stdout.slice(r.stdout.indexOf('█ SCENARIO: api'));
    expect(front).toMatch(/http_reqs\.+: 3 /);
    expect(api).toMatch(/http_reqs\.+: 4 /);
  });

  it('--stage ramps VUs and --iterations overrides the script', async () => {
    const staged = path.join(tmp.dir, 'st.json');
    const s = await runCli([
      tmp.write('st.js', loop),
      '--stage',
      '300ms:2,300ms:0',
      '-e',
      `BASE=${server.base}`,
      '--summary-export',
      staged,
      '--quiet',
    ]);
    expect(s.code).toBe(0);
    expect((JSON.parse(fs.readFileSync(staged, 'utf8')) as Export).metrics.vus_max!.value).toBe(2);
    const it7 = path.join(tmp.dir, 'it.json');
    const i = await runCli([
      tmp.write('it.js', `export const options = { vus: 1, duration: '1h' };\n${loop}`),
      '--iterations',
      '7',
      '-e',
      `BASE=${server.base}`,
      '--summary-export',
      it7,
      '--quiet',
    ]);
    expect(i.code).toBe(0);
    expect((JSON.parse(fs.readFileSync(it7, 'utf8')) as Export).metrics.iterations!.count).toBe(7);
  });

  it('SIGINT stops the run, prints the summary and exits 105', async () => {
    const script = tmp.write(
      'long.js',
      `export const options = { vus: 2, duration: '30s' };\nexport function setup() { console.log('setup done'); }\n${loop}`,
    );
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'dist/cli/main.js'), 'load', script, '-e', `BASE=${server.base}`, '--quiet'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // setup() has run once its log line shows: the signal handler is in place and VUs are looping.
    const ready = new Promise<void>((resolve) => {
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('setup done')) resolve();
      });
    });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    try {
      await ready;
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGINT');
      expect(await exited).toBe(105);
      expect(stdout).toContain('http_reqs');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('a live progress line goes to non-TTY stderr without flooding it', async () => {
    const r = await runCli([tmp.write('prog.js', loop), '--vus', '2', '--duration', '1s', '-e', `BASE=${server.base}`]);
    expect(r.code).toBe(0);
    // Non-TTY output gets one line per 10 s, so a 1 s run prints none (and never \r updates).
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('running')).length).toBeLessThanOrEqual(1);
  });
});
