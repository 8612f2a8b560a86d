// k6's exit codes through the real CLI (node dist/cli/main.js load …): 0, 99 (thresholds),
// 104 (invalid options, every problem named), 107 (syntax error / exception in init, setup,
// teardown, with file:line), 108 (test.abort()), 110 (test.fail()); an exception inside an iteration is logged with
// file:line and the run goes on.
import { describe, expect, it } from 'vitest';
import { fixturePerFile, run, runCli } from './helpers.js';

const { server, tmp } = fixturePerFile();

describe('exit codes', () => {
  it('0 when thresholds pass, 99 when one fails, with ✓/✗ in the summary', async () => {
    const body = (threshold: string): string => `import http from 'k6/http';
export const options = { iterations: 5, thresholds: { http_req_duration: ['${threshold}'], http_req_failed: ['rate<0.01'] } };
export default function () { http.get(__ENV.BASE + '/hello'); }
`;
    const pass = await runCli([tmp.write('pass.js', body('p(95)<5000')), '-e', `BASE=${server.base}`, '--quiet']);
    expect(pass.code).toBe(0);
    expect(pass.stdout).toMatch(/✓ 'p\(95\)<5000' p\(95\)=/);
    const failing = await runCli([tmp.write('fail.js', body('max<0')), '-e', `BASE=${server.base}`, '--quiet']);
    expect(failing.code).toBe(99);
    expect(failing.stdout).toMatch(/✗ 'max<0' max=/);
    expect(failing.stderr).toMatch(/thresholds on metrics 'http_req_duration' have been crossed/);
  });

  it('104 for invalid options, naming each one', async () => {
    const script = tmp.write(
      'badopts.js',
      `export const options = {
  scenarios: { a: { executor: 'constant-vus', vus: 2 }, b: { executor: 'warp-speed' }, c: { executor: 'constant-arrival-rate', rate: 10, duration: '1s', preAllocatedVUs: 5, maxVUs: 2 } },
  thresholds: { http_req_durration: ['p(95)<200'], http_reqs: ['p(95)<1'] },
};
export default function () {}
`,
    );
    const r = await runCli([script, '--quiet']);
    expect(r.code).toBe(104);
    expect(r.stderr).toContain('scenarios.a.duration');
    expect(r.stderr).toContain("unknown executor 'warp-speed'");
    expect(r.stderr).toContain('scenarios.c.maxVUs');
    const cliBad = await runCli([script, '--vus', 'many', '--summary-mode', 'wide']);
    expect(cliBad.code).toBe(104);
    expect(cliBad.stderr).toContain('--vus many');
    expect(cliBad.stderr).toContain('--summary-mode wide');
  });

  it('104 for thresholds on unknown metrics or with the wrong aggregation', async () => {
    const script = tmp.write(
      'badthr.js',
      `export const options = { thresholds: { http_req_durration: ['p(95)<200'], http_reqs: ['p(95)<1'], checks: ['rate>>1'] } };
export default function () {}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(104);
    expect(r.error?.message).toContain("no metric named 'http_req_durration'");
    expect(r.error?.message).toContain("'p(95)' does not apply to counter metric http_reqs");
    expect(r.error?.message).toContain("cannot parse 'rate>>1'");
  });

  it('107 with file:line for a syntax error', async () => {
    const script = tmp.write(
      'syntax.js',
      `import http from 'k6/http';\n\nexport default function () {\n  http.get('x'\n}\n`,
    );
    const r = await runCli([script, '--quiet']);
    expect(r.code).toBe(107);
    expect(r.stderr).toMatch(/syntax\.js:5:\d+/);
  });

  it('107 with file:line for an exception in init code', async () => {
    const script = tmp.write(
      'initerr.js',
      `const cfg = null;\nconst port = cfg.port;\nexport default function () {}\n`,
    );
    const r = await runCli([script, '--quiet']);
    expect(r.code).toBe(107);
    expect(r.stderr).toMatch(/TypeError: Cannot read properties of null/);
    expect(r.stderr).toMatch(/initerr\.js:2:\d+/);
  });

  it('107 with file:line for an exception in setup() and in teardown()', async () => {
    const setup = tmp.write(
      'setuperr.js',
      `import http from 'k6/http';\nexport function setup() {\n  const r = http.get(__ENV.BASE + '/json');\n  throw new Error('no token in ' + r.status);\n}\nexport default function () {}\n`,
    );
    const s = await runCli([setup, '--quiet', '-e', `BASE=${server.base}`]);
    expect(s.code).toBe(107);
    expect(s.stderr).toContain('no token in 200');
    expect(s.stderr).toMatch(/setuperr\.js:4:\d+/);
    const teardown = tmp.write(
      'teardownerr.js',
      `export default function () {}\nexport function teardown(data) {\n  data.missing.field = 1;\n}\n`,
    );
    const t = await run({ script: teardown });
    expect(t.exitCode).toBe(107);
    expect(t.error?.message).toMatch(/teardownerr\.js:3:\d+/);
  });

  it('108 when the script calls exec.test.abort()', async () => {
    const script = tmp.write(
      'abort.js',
      `import http from 'k6/http';
import exec from 'k6/execution';
export const options = { vus: 1, duration: '20s' };
export default function () {
  const r = http.get(__ENV.BASE + '/status/503');
  if (r.status === 503) exec.test.abort('backend is down');
}
`,
    );
    const r = await runCli([script, '--quiet', '-e', `BASE=${server.base}`]);
    expect(r.code).toBe(108);
    expect(r.stderr).toContain('backend is down');
  });

  it('110 when the script calls exec.test.fail(): the run goes on to its end; 99 still wins', async () => {
    const script = tmp.write(
      'fail.js',
      `import http from 'k6/http';
import exec from 'k6/execution';
export const options = { iterations: 3, thresholds: { http_reqs: [__ENV.LIMIT || 'count>0'] } };
export default function () {
  const r = http.get(__ENV.BASE + '/status/503');
  if (r.status === 503) exec.test.fail('backend is down');
  http.get(__ENV.BASE + '/hello');
}
`,
    );
    const r = await runCli([script, '-e', `BASE=${server.base}`]);
    expect(r.code).toBe(110);
    expect(r.stderr).toContain('test marked as failed: backend is down');
    // Every iteration went on after fail(): 3 × 2 requests.
    expect(r.stdout).toMatch(/http_reqs\.+: 6\b/);
    const crossed = await runCli([script, '--quiet', '-e', `BASE=${server.base}`, '-e', 'LIMIT=count<1']);
    expect(crossed.code).toBe(99);
    const inInit = await runCli([
      tmp.write('fail-init.js', "import exec from 'k6/execution';\nexec.test.fail();\nexport default function () {}\n"),
      '--quiet',
    ]);
    expect(inInit.code).toBe(107);
    expect(inInit.stderr).toContain('outside of VU context');
  });

  it('an exception inside an iteration is logged with file:line, counted, and the run goes on', async () => {
    const script = tmp.write(
      'iterr.js',
      `import http from 'k6/http';
export const options = { iterations: 6 };
export default function () {
  const r = http.get(__ENV.BASE + '/json');
  if (__ITER % 2 === 0) {
    JSON.parse('{not json');
  }
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 6 });
    expect(r.exitCode).toBe(0);
    expect(r.iterationErrors).toBe(3);
    expect(r.summary?.metrics.iterations?.values.count).toBe(6);
    expect(r.stderr).toMatch(/SyntaxError: .*JSON[\s\S]*iterr\.js:6:\d+/);
  });
});

describe('abortOnFail', () => {
  it('stops the test early and exits 99 once an abortOnFail threshold is crossed', async () => {
    const script = tmp.write(
      'aof.js',
      `import http from 'k6/http';
export const options = {
  vus: 2, duration: '20s',
  thresholds: { http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '500ms' }] },
};
export default function () { http.get(__ENV.BASE + '/status/500'); }
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(99);
    expect(r.error?.code).toBe('MS_ERR_LOADGEN_THRESHOLD_ABORT');
    expect(r.summary!.state.testRunDurationMs).toBeLessThan(10_000);
    expect(r.stdout).toMatch(/✗ 'rate<0.01'/);
  });
});
