// The k6 script API against a real server: scripts in the style of k6's documentation examples,
// a TypeScript script with a relative import, open(), SharedArray, groups, custom metrics,
// request methods, bodies, redirects, chunked responses, batch and response helpers.
import { describe, expect, it } from 'vitest';
import { fixturePerFile, metricValue, run, startServer } from './helpers.js';

const { server, tmp } = fixturePerFile();

describe('k6 API', () => {
  it('runs a docs-style script: check, group, sleep, custom metrics, setup data', async () => {
    const script = tmp.write(
      'docs.js',
      `import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

const myTrend = new Trend('waiting_time');
const errors = new Rate('my_errors');
const calls = new Counter('my_calls');
const size = new Gauge('body_size');

export const options = { vus: 2, iterations: 6, thresholds: { my_errors: ['rate<0.1'], waiting_time: ['p(95)<5000'] } };

export function setup() {
  const res = http.get(__ENV.BASE + '/json');
  return { name: res.json().name };
}

export default function (data) {
  group('visit page', function () {
    const res = http.get(__ENV.BASE + '/hello');
    const ok = check(res, {
      'is status 200': (r) => r.status === 200,
      'body has hello': (r) => r.body.includes('hello'),
      'setup data passed': () => data.name === 'meshscope',
    });
    errors.add(!ok);
    myTrend.add(res.timings.waiting);
    size.add(res.body.length);
    calls.add(1, { page: 'hello' });
  });
  group('api', function () {
    group('nested', function () {
      const items = http.get(__ENV.BASE + '/json').json('items');
      check(items, { 'three items': (i) => i.length === 3 && i.map((x) => x * 2).join() === '2,4,6' });
    });
  });
  sleep(0.01);
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.stderr).not.toMatch(/level=error/);
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'checks', 'passes')).toBe(24);
    expect(metricValue(r, 'my_calls', 'count')).toBe(6);
    expect(metricValue(r, 'body_size', 'value')).toBe(11);
    expect(metricValue(r, 'http_reqs', 'count')).toBe(13);
    const groups = r.summary!.root_group.groups.map((g) => g.name);
    expect(groups).toEqual(['visit page', 'api']);
    expect(r.summary!.root_group.groups[1]!.groups[0]!.checks[0]).toMatchObject({
      name: 'three items',
      passes: 6,
      fails: 0,
    });
    expect(r.summary!.metrics['group_duration']).toBeDefined();
    expect(r.stdout).toContain('✓ is status 200');
    expect(r.stdout).toContain('waiting_time');
  });

  it('sends methods, bodies and headers, follows redirects, reads chunked bodies, batches', async () => {
    const script = tmp.write(
      'methods.js',
      `import http from 'k6/http';
import { check } from 'k6';
export default function () {
  const base = __ENV.BASE;
  check(http.post(base + '/echo', JSON.stringify({ a: 1 }), { headers: { 'Content-Type': 'application/json' } }), { 'post json': (r) => r.body === 'POST {"a":1}' && r.headers['Content-Type'] === 'application/json' });
  check(http.post(base + '/echo', { user: 'a b', n: 2 }), { 'post form': (r) => r.body === 'POST user=a+b&n=2' });
  check(http.put(base + '/echo', 'x'), { put: (r) => r.body === 'PUT x' });
  check(http.patch(base + '/echo', 'y'), { patch: (r) => r.body === 'PATCH y' });
  check(http.del(base + '/echo'), { del: (r) => r.body === 'DELETE ' });
  check(http.request('OPTIONS', base + '/echo'), { request: (r) => r.body === 'OPTIONS ' });
  check(http.get(base + '/redirect'), { redirect: (r) => r.status === 200 && r.url === base + '/hello' && r.body === 'hello world' });
  check(http.get(base + '/chunked'), { chunked: (r) => r.body === 'part1-part2' });
  check(http.get(base + '/status/404'), { 'status 404': (r) => r.status === 404 });
  check(http.get(base + '/hello', { responseType: 'none' }), { 'no body': (r) => r.body === null });
  const responses = http.batch([['GET', base + '/hello'], ['GET', base + '/json'], { method: 'POST', url: base + '/echo', body: 'b' }]);
  check(responses, { batch: (rs) => rs[0].status === 200 && rs[1].json('name') === 'meshscope' && rs[2].body === 'POST b' });
  const bad = http.get('http://127.0.0.1:1/');
  check(bad, { 'refused is status 0 with error code': (r) => r.status === 0 && r.error_code === 1212 });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    const failed = r.summary!.root_group.checks.filter((c) => c.fails > 0).map((c) => c.name);
    expect(failed).toEqual([]);
    expect(metricValue(r, 'checks', 'passes')).toBe(12);
    // 404 and the refused connection count as failed requests (k6's default expected statuses 200-399).
    expect(metricValue(r, 'http_req_failed', 'passes')).toBe(2);
  });

  it('one params object whose headers the script changes between requests sends what it holds each time', async () => {
    // k6/http keeps the header lines (and the head) of the last params.headers while the object
    // holds the same entries: a change, an added and a deleted header must reach the server.
    const script = tmp.write(
      'reheader.js',
      `import http from 'k6/http';
import { check } from 'k6';
const params = { headers: { 'X-Step': 'one' } };
export default function () {
  const url = __ENV.BASE + '/headers';
  const seen = [];
  for (let i = 0; i < 2; i++) seen.push(http.get(url, params).json());
  params.headers['X-Step'] = 'two';
  seen.push(http.get(url, params).json());
  params.headers['X-Extra'] = 'yes';
  seen.push(http.get(url, params).json());
  delete params.headers['X-Extra'];
  params.headers.Host = 'example.test';
  seen.push(http.get(url, params).json());
  check(seen, {
    'steps': (s) => s.map((h) => h['x-step']).join() === 'one,one,two,two,two',
    'extra': (s) => s.map((h) => h['x-extra'] ?? '-').join() === '-,-,-,yes,-',
    'host': (s) => s[3].host !== 'example.test' && s[4].host === 'example.test',
  });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    const failed = r.summary!.root_group.checks.filter((c) => c.fails > 0).map((c) => c.name);
    expect(failed).toEqual([]);
    expect(metricValue(r, 'checks', 'passes')).toBe(3);
  });

  it('runs a TypeScript script with a relative import, open(), and SharedArray', async () => {
    tmp.write('users.json', JSON.stringify([{ name: 'ann' }, { name: 'bob' }]));
    tmp.write(
      'lib.ts',
      `export interface User { name: string }
export function greet(base: string, user: User): number {
  return 0;
}
export const path = (u: User): string => '/echo';
`,
    );
    const script = tmp.write(
      'test.ts',
      `import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import { path, type User } from './lib.ts';

const users: User[] = new SharedArray('users', () => JSON.parse(open('./users.json')) as User[]) as unknown as User[];

export const options = { iterations: 4 };

export default function (): void {
  const user: User = users[__ITER % users.length]!;
  const res = http.post(\`\${__ENV.BASE}\${path(user)}\`, user.name);
  check(res, { 'echoed user': (r) => r.body === \`POST \${user.name}\` });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 4 });
    expect(r.stderr).not.toMatch(/ERROR|level=error/);
    expect(metricValue(r, 'checks', 'passes')).toBe(4);
  });

  it('module-level state is per VU and helper functions that make requests are awaited', async () => {
    const script = tmp.write(
      'helpers.js',
      `import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
let calls = 0;
const api = {
  fetchJson(p) { calls++; return http.get(__ENV.BASE + p).json(); },
};
function names() { return api.fetchJson('/json').items.map((i) => 'n' + i); }
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 3 } } };
export default function () {
  const n = names();
  check(n, { 'helper result': (x) => x.join() === 'n1,n2,n3', 'per-VU counter': () => calls === exec.vu.iterationInScenario + 1 });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(metricValue(r, 'checks', 'fails')).toBe(0);
    expect(metricValue(r, 'checks', 'passes')).toBe(12);
  });

  it('noConnectionReuse opens a connection per request; reuse keeps one per VU', async () => {
    const body = (reuse: boolean): string => `import http from 'k6/http';
export const options = { vus: 1, iterations: 5, noConnectionReuse: ${!reuse} };
export default function () { http.get(__ENV.BASE + '/hello'); }
`;
    const reuse = await run({ script: tmp.write('reuse.js', body(true)), env: { BASE: server.base } });
    const fresh = await run({ script: tmp.write('noreuse.js', body(false)), env: { BASE: server.base } });
    // http_req_connecting is 0 on reused connections: the median tells reuse from reconnects.
    expect(metricValue(reuse, 'http_req_connecting', 'med')).toBe(0);
    expect(metricValue(fresh, 'http_req_connecting', 'min')).toBeGreaterThan(0);
  });
});

describe('array callbacks', () => {
  it('requests made inside forEach/map callbacks run in order and return their responses', async () => {
    const script = tmp.write(
      'foreach.js',
      `import http from 'k6/http';
import { check } from 'k6';
const pages = ['/hello', '/json', '/status/201'];
export default function () {
  pages.forEach((p) => { http.get(__ENV.BASE + p); });
  const statuses = pages.map((p) => http.get(__ENV.BASE + p).status);
  const ok = pages.filter((p) => http.get(__ENV.BASE + p).status === 200);
  check(statuses, { 'map got statuses': (s) => s.join() === '200,200,201' });
  check(ok, { 'filter kept 200s': (o) => o.join() === '/hello,/json' });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 1 });
    expect(metricValue(r, 'checks', 'passes')).toBe(2);
    expect(metricValue(r, 'http_reqs', 'count')).toBe(9);
  });
});

describe('async API', () => {
  it('http.asyncRequest runs requests concurrently inside an async default function', async () => {
    const script = tmp.write(
      'async.js',
      `import http from 'k6/http';
import { check } from 'k6';
export default async function () {
  const [slow, json] = await Promise.all([http.asyncRequest('GET', __ENV.BASE + '/slow?ms=100'), http.asyncRequest('GET', __ENV.BASE + '/json')]);
  check(slow, { slow: (r) => r.body === 'slow' });
  check(json, { json: (r) => r.json('name') === 'meshscope' });
  const after = http.get(__ENV.BASE + '/hello');
  check(after, { 'sync call after': (r) => r.status === 200 });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 3 });
    expect(metricValue(r, 'checks', 'passes')).toBe(9);
  });
});

describe('timeouts', () => {
  it('a request past its timeout fails with k6 error code 1050 and the VU carries on', async () => {
    const script = tmp.write(
      'timeout.js',
      `import http from 'k6/http';
import { check } from 'k6';
export default function () {
  check(http.get(__ENV.BASE + '/slow?ms=2000', { timeout: '300ms' }), { 'timed out': (r) => r.status === 0 && r.error_code === 1050 });
  check(http.get(__ENV.BASE + '/hello'), { 'next request works': (r) => r.status === 200 });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 1 });
    expect(metricValue(r, 'checks', 'passes')).toBe(2);
    expect(metricValue(r, 'http_req_failed', 'passes')).toBe(1);
  });
});

describe('cookies, URLs and hosts', () => {
  it('keeps cookies per VU within an iteration, resets them between iterations, and exposes res.cookies', async () => {
    const script = tmp.write(
      'cookies.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 2 };
export default function () {
  const before = http.get(__ENV.BASE + '/whoami');
  check(before, { 'no cookies at iteration start': (r) => r.body === '' });
  const login = http.get(__ENV.BASE + '/login');
  check(login, { 'res.cookies': (r) => r.cookies.session[0].value === 'abc123' && r.cookies.session[0].http_only === true });
  check(http.get(__ENV.BASE + '/whoami'), { 'jar sends cookies': (r) => r.body === 'session=abc123; theme=dark' });
  check(http.get(__ENV.BASE + '/whoami', { cookies: { extra: '1', session: { value: 'over', replace: true } } }), { 'params.cookies': (r) => r.body === 'session=over; theme=dark; extra=1' });
  const jar = http.cookieJar();
  jar.set(__ENV.BASE, 'manual', 'yes');
  check(jar.cookiesForURL(__ENV.BASE + '/x'), { 'cookiesForURL': (c) => c.manual[0] === 'yes' && c.session[0] === 'abc123' });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 2 });
    const failed = r.summary!.root_group.checks.filter((c) => c.fails > 0).map((c) => c.name);
    expect(failed).toEqual([]);
    expect(metricValue(r, 'checks', 'passes')).toBe(10);
  });

  it('http.url groups requests under a name tag; a Host header overrides the authority', async () => {
    const script = tmp.write(
      'urltag.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 3, thresholds: { 'http_reqs{name:\${}/status/\${}}': ['count==3'] } };
export default function () {
  http.get(http.url\`\${__ENV.BASE}/status/\${200 + __ITER}\`);
}
export function teardown() {
  const r = http.get(__ENV.BASE + '/host', { headers: { Host: 'shop.example' } });
  check(r, { 'host override': (x) => x.body === 'shop.example' });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base }, vus: 1, iterations: 3 });
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'checks', 'passes')).toBe(1);
  });
});

describe('HTTPS', () => {
  it('connects over TLS, times the handshake, and verifies certificates unless insecureSkipTLSVerify', async () => {
    const { execFileSync } = await import('node:child_process');
    const cert = `${tmp.dir}/cert.pem`;
    const key = `${tmp.dir}/key.pem`;
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
    const tls = await startServer(['--tls', cert, key]);
    try {
      const base = tls.base.replace('http:', 'https:');
      const body = (skip: boolean): string => `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 2, insecureSkipTLSVerify: ${skip} };
export default function () {
  const r = http.get(__ENV.BASE + '/hello');
  check(r, { ok: (x) => x.status === 200 && x.body === 'hello world' });
}
`;
      const ok = await run({ script: tmp.write('tls-ok.js', body(true)), env: { BASE: base }, vus: 1, iterations: 2 });
      expect(metricValue(ok, 'checks', 'passes')).toBe(2);
      expect(metricValue(ok, 'http_req_tls_handshaking', 'max')).toBeGreaterThan(0);
      const refused = await run({
        script: tmp.write('tls-bad.js', body(false)),
        env: { BASE: base },
        vus: 1,
        iterations: 2,
      });
      expect(metricValue(refused, 'checks', 'fails')).toBe(2);
      expect(refused.stderr).toMatch(/self[- ]signed certificate/);
    } finally {
      await tls.stop();
    }
  });
});
