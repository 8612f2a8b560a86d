// Executors against a real local HTTP server: exact iteration counts, arrival-rate accuracy,
// ramping stages followed, several scenarios with startTime/exec/env/tags.
import { describe, expect, it } from 'vitest';
import { fixturePerFile, metricValue, run } from './helpers.js';

const { server, tmp } = fixturePerFile();

describe('iteration-based executors', () => {
  it('shared-iterations runs exactly `iterations` across its VUs', async () => {
    const script = tmp.write(
      'shared.js',
      `import http from 'k6/http';
export const options = { scenarios: { contacts: { executor: 'shared-iterations', vus: 3, iterations: 17, maxDuration: '30s' } } };
export default function () { http.get(\`\${__ENV.BASE}/hello\`); }
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'iterations', 'count')).toBe(17);
    expect(metricValue(r, 'http_reqs', 'count')).toBe(17);
    expect(r.summary?.metrics.dropped_iterations).toBeUndefined();
  });

  it('per-vu-iterations runs `iterations` on each VU and __VU/__ITER say which', async () => {
    const script = tmp.write(
      'pervu.js',
      `import http from 'k6/http';
import { Counter } from 'k6/metrics';
const seen = new Counter('seen');
export const options = { scenarios: { contacts: { executor: 'per-vu-iterations', vus: 4, iterations: 5, maxDuration: '30s' } } };
export default function () {
  http.get(\`\${__ENV.BASE}/hello?vu=\${__VU}&iter=\${__ITER}\`);
  seen.add(1, { vu: String(__VU), iter: String(__ITER) });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'iterations', 'count')).toBe(20);
    expect(metricValue(r, 'seen', 'count')).toBe(20);
  });

  it('the iterations shortcut and CLI-style overrides make one shared-iterations scenario', async () => {
    const script = tmp.write(
      'shortcut.js',
      `import http from 'k6/http';\nexport default function () { http.get(__ENV.BASE + '/hello'); }\n`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 2, iterations: 9 });
    expect(metricValue(r, 'iterations', 'count')).toBe(9);
  });
});

describe('open model', () => {
  it('constant-arrival-rate starts rate × duration iterations (within 1%)', async () => {
    const script = tmp.write(
      'car.js',
      `import http from 'k6/http';
export const options = { scenarios: { open: { executor: 'constant-arrival-rate', rate: 200, timeUnit: '1s', duration: '2s', preAllocatedVUs: 20, maxVUs: 50 } } };
export default function () { http.get(\`\${__ENV.BASE}/hello\`); }
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(0);
    const n = metricValue(r, 'iterations', 'count');
    expect(n).toBeGreaterThanOrEqual(396);
    expect(n).toBeLessThanOrEqual(404);
    expect(r.summary?.metrics.http_req_duration_uncorrected).toBeDefined();
  });

  it('ramping-arrival-rate follows its stages (integral of the rate)', async () => {
    const script = tmp.write(
      'rar.js',
      `import http from 'k6/http';
export const options = { scenarios: { ramp: { executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s', preAllocatedVUs: 10, maxVUs: 20,
  stages: [ { target: 200, duration: '1s' }, { target: 200, duration: '1s' } ] } } };
export default function () { http.get(\`\${__ENV.BASE}/hello\`); }
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    // 0→200/s over 1 s is 100 iterations, then 200 more.
    const n = metricValue(r, 'iterations', 'count');
    expect(n).toBeGreaterThanOrEqual(297);
    expect(n).toBeLessThanOrEqual(303);
  });

  it('counts dropped_iterations when maxVUs cannot keep up', async () => {
    const script = tmp.write(
      'drop.js',
      `import http from 'k6/http';
export const options = { scenarios: { open: { executor: 'constant-arrival-rate', rate: 50, duration: '1s', preAllocatedVUs: 1, maxVUs: 1, gracefulStop: '0s' } } };
export default function () { http.get(\`\${__ENV.BASE}/slow?ms=200\`); }
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    const done = metricValue(r, 'iterations', 'count');
    const dropped = metricValue(r, 'dropped_iterations', 'count');
    expect(dropped).toBeGreaterThan(30);
    expect(done + dropped).toBeLessThanOrEqual(50);
  });
});

describe('ramping-vus', () => {
  it('follows its stages: VU count rises to the target, holds, and ramps down', async () => {
    const script = tmp.write(
      'rvu.js',
      `import { sleep } from 'k6';
import exec from 'k6/execution';
export const options = { stages: [ { duration: '1s', target: 4 }, { duration: '1s', target: 4 }, { duration: '1s', target: 0 } ] };
export default function () {
  console.log('active=' + exec.instance.vusActive + ' t=' + Math.round(exec.instance.currentTestRunDuration));
  sleep(0.1);
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    const points = [...r.stderr.matchAll(/active=(\d+) t=(\d+)/g)].map((m) => ({
      active: Number(m[1]),
      t: Number(m[2]),
    }));
    const during = (from: number, to: number): number[] =>
      points.filter((p) => p.t >= from && p.t < to).map((p) => p.active);
    expect(Math.max(...during(0, 200))).toBeLessThanOrEqual(1);
    expect(Math.max(...during(1100, 1900))).toBe(4);
    expect(Math.min(...during(1100, 1900))).toBe(4);
    expect(Math.max(...points.map((p) => p.active))).toBe(4);
    expect(Math.max(...during(2700, 4000))).toBeLessThanOrEqual(2);
  });
});

describe('scenarios', () => {
  it('runs several scenarios with startTime, exec, env and tags', async () => {
    const script = tmp.write(
      'multi.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = {
  scenarios: {
    browse: { executor: 'per-vu-iterations', vus: 2, iterations: 3, exec: 'browse', env: { PAGE: 'hello' }, tags: { flow: 'browse' } },
    later: { executor: 'shared-iterations', vus: 1, iterations: 2, startTime: '300ms', exec: 'api', tags: { flow: 'api' } },
  },
  thresholds: { 'http_reqs{flow:browse}': ['count==6'], 'http_reqs{flow:api}': ['count==2'], 'http_reqs{scenario:later}': ['count==2'] },
};
export function browse() { const r = http.get(\`\${__ENV.BASE}/\${__ENV.PAGE}\`); check(r, { 'page ok': (x) => x.status === 200 }); }
export function api() { const r = http.get(\`\${__ENV.BASE}/json\`); check(r, { 'json name': (x) => x.json('name') === 'meshscope' }); }
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.stderr).not.toMatch(/level=error/);
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'checks', 'passes')).toBe(8);
    expect(metricValue(r, 'http_reqs{flow:api}', 'count')).toBe(2);
  });
});
