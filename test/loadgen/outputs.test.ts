// Results leaving the run: k6 JSON lines, --summary-export, handleSummary, OTLP/HTTP metrics,
// and the tracing headers every request carries.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { describe, expect, it } from 'vitest';
import { fixturePerFile, metricValue, run, runCli } from './helpers.js';

const { server, tmp } = fixturePerFile();

const basic = `import http from 'k6/http';
import { check, group } from 'k6';
export const options = { iterations: 4, thresholds: { 'http_req_duration{name:hello}': ['p(95)<5000'], checks: ['rate==1'] } };
export default function () {
  group('front', () => {
    const r = http.get(__ENV.BASE + '/hello', { tags: { name: 'hello' } });
    check(r, { 'is 200': (x) => x.status === 200 });
  });
}
`;

describe('outputs', () => {
  it('--out json writes k6 JSON lines: Metric declarations and tagged Points', async () => {
    const out = `${tmp.dir}/out.json`;
    const r = await runCli([
      tmp.write('json.js', basic),
      '--quiet',
      '-e',
      `BASE=${server.base}`,
      '--out',
      `json=${out}`,
      '--tag',
      'env=test',
    ]);
    expect(r.code).toBe(0);
    const lines = fs
      .readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            metric: string;
            data: {
              name?: string;
              type?: string;
              time?: string;
              value?: number;
              tags?: Record<string, string>;
              metadata?: { trace_id?: string };
            };
          },
      );
    const decl = lines.find((l) => l.type === 'Metric' && l.metric === 'http_req_duration');
    expect(decl?.data).toMatchObject({ name: 'http_req_duration', type: 'trend', contains: 'time' });
    const reqs = lines.filter((l) => l.type === 'Point' && l.metric === 'http_reqs');
    expect(reqs).toHaveLength(4);
    expect(reqs[0]!.data.tags).toMatchObject({
      method: 'GET',
      status: '200',
      name: 'hello',
      group: '::front',
      scenario: 'default',
      expected_response: 'true',
      env: 'test',
    });
    expect(reqs[0]!.data.tags!.url).toBe(`${server.base}/hello`);
    // The request's trace id rides in the sample's metadata, as k6's tracing puts it.
    expect(reqs[0]!.data.metadata?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(reqs[0]!.data.time!)).toBeGreaterThan(0);
    const checks = lines.filter((l) => l.type === 'Point' && l.metric === 'checks');
    expect(checks[0]!.data.tags).toMatchObject({ check: 'is 200', group: '::front' });
  });

  it('tags follow a params object the script changes between requests, and groups and checks nested in each other', async () => {
    // k6/http and check() reuse a tag set while nothing that feeds it changes: changing the same
    // params.tags object, or entering another group, must show in the next samples.
    const out = `${tmp.dir}/retag.json`;
    const script = `import http from 'k6/http';
import { check, group } from 'k6';
export const options = { iterations: 1 };
const params = { tags: { name: 'first' } };
export default function () {
  http.get(__ENV.BASE + '/hello', params);
  params.tags.name = 'second';
  http.get(__ENV.BASE + '/hello', params);
  params.tags.kind = 'extra';
  http.get(__ENV.BASE + '/hello', params);
  delete params.tags.kind;
  http.get(__ENV.BASE + '/hello', params);
  group('outer', () => {
    check(null, { 'c': () => true });
    group('inner', () => {
      check(null, { 'c': () => true });
    });
    check(null, { 'c': () => true });
  });
  check(null, { 'c': () => true });
}
`;
    const r = await runCli([
      tmp.write('retag.js', script),
      '--quiet',
      '-e',
      `BASE=${server.base}`,
      '--out',
      `json=${out}`,
    ]);
    expect(r.code).toBe(0);
    const points = fs
      .readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; metric: string; data: { tags?: Record<string, string> } })
      .filter((l) => l.type === 'Point');
    const reqs = points.filter((l) => l.metric === 'http_reqs').map((l) => l.data.tags!);
    expect(reqs.map((t) => [t.name, t.kind])).toEqual([
      ['first', undefined],
      ['second', undefined],
      ['second', 'extra'],
      ['second', undefined],
    ]);
    const checks = points.filter((l) => l.metric === 'checks').map((l) => l.data.tags!.group);
    expect(checks).toEqual(['::outer', '::outer::inner', '::outer', '']);
  });

  it('--summary-export writes k6 summary JSON', async () => {
    const file = `${tmp.dir}/summary.json`;
    const r = await run({ script: tmp.write('export.js', basic), env: { BASE: server.base }, summaryExport: file });
    expect(r.exitCode).toBe(0);
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      metrics: Record<string, Record<string, unknown>>;
      root_group: { groups: Record<string, { checks: Record<string, { passes: number; fails: number }> }> };
    };
    expect(s.metrics.http_reqs).toMatchObject({ count: 4 });
    expect(Object.keys(s.metrics.http_req_duration!)).toEqual(
      expect.arrayContaining(['avg', 'min', 'med', 'max', 'p(90)', 'p(95)']),
    );
    expect(s.metrics.checks).toMatchObject({ passes: 4, fails: 0, value: 1, thresholds: { 'rate==1': false } });
    expect(s.metrics['http_req_duration{name:hello}']).toMatchObject({ thresholds: { 'p(95)<5000': false } });
    expect(s.root_group.groups.front!.checks['is 200']).toMatchObject({ passes: 4, fails: 0 });
  });

  it('handleSummary replaces the text summary and writes the files it returns', async () => {
    const file = `${tmp.dir}/hs.json`;
    const script = tmp.write(
      'hs.js',
      `${basic}
export function handleSummary(data) {
  return { stdout: 'custom summary: ' + data.metrics.http_reqs.values.count + '\\n', ${JSON.stringify(file)}: JSON.stringify(data) };
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.stdout).toBe('custom summary: 4\n');
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      metrics: Record<
        string,
        { type: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }
      >;
    };
    expect(data.metrics.checks).toMatchObject({
      type: 'rate',
      values: { rate: 1, passes: 4, fails: 0 },
      thresholds: { 'rate==1': { ok: true } },
    });
  });

  it('a throwing handleSummary is reported with file:line and the default summary printed instead', async () => {
    const script = tmp.write(
      'hsbad.js',
      `${basic}\nexport function handleSummary(data) {\n  return data.metrics.nope.values;\n}\n`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/TypeError[\s\S]*in handleSummary[\s\S]*hsbad\.js:12:\d+/);
    expect(r.stdout).toContain('TOTAL RESULTS');
  });

  it('--out otlp exports the run metrics over OTLP/HTTP', async () => {
    const bodies: string[] = [];
    const collector = http.createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        if (req.url === '/v1/metrics') bodies.push(b);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    try {
      const port = (collector.address() as { port: number }).port;
      const r = await run({
        script: tmp.write('otlp.js', basic),
        env: { BASE: server.base },
        outputs: [{ name: 'otlp', arg: `http://127.0.0.1:${port}` }],
      });
      expect(r.exitCode).toBe(0);
      const all = bodies.join('\n');
      expect(all).toContain('k6_http_reqs');
      expect(all).toContain('k6_http_req_duration');
      expect(all).toContain('k6_checks_total');
    } finally {
      await new Promise((r) => collector.close(r));
    }
  });

  it('a dead OTLP collector does not fail or stall the run', async () => {
    const r = await run({
      script: tmp.write('otlpdead.js', basic),
      env: { BASE: server.base },
      outputs: [{ name: 'otlp', arg: 'http://127.0.0.1:9/v1/metrics' }],
    });
    expect(r.exitCode).toBe(0);
    expect(metricValue(r, 'http_reqs', 'count')).toBe(4);
  });
});

describe('tracing', () => {
  const script = (tracing: string): string => `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 3, ${tracing} };
export default function () {
  const h = http.get(__ENV.BASE + '/headers').json();
  console.log('HDR ' + JSON.stringify({ tp: h.traceparent || null, b3: h.b3 || null, ua: h['user-agent'] }));
}
`;
  const headers = (stderr: string): Array<{ tp: string | null; b3: string | null; ua: string }> =>
    [...stderr.matchAll(/HDR (\{.*?\})"/g)].map(
      (m) => JSON.parse(JSON.parse(`"${m[1]}"`) as string) as { tp: string | null; b3: string | null; ua: string },
    );

  it('sends a fresh W3C traceparent per request and lists the slowest with their trace ids', async () => {
    const r = await run({ script: tmp.write('w3c.js', script("userAgent: 'probe/1'")), env: { BASE: server.base } });
    const h = headers(r.stderr);
    expect(h).toHaveLength(3);
    for (const x of h) expect(x.tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(new Set(h.map((x) => x.tp!.slice(3, 35))).size).toBe(3);
    expect(h[0]!.ua).toBe('probe/1');
    const ids = r.summary!.slowest_requests.map((s) => s.traceId);
    expect(ids.length).toBe(3);
    for (const id of ids) expect(h.map((x) => x.tp!.slice(3, 35))).toContain(id);
    expect(r.stdout).toContain('SLOWEST REQUESTS');
    // Each sampled slow request links to its trace in the collector's UI (/trace/<id>).
    for (const id of ids) expect(r.stdout).toContain(`↳ http://127.0.0.1:16686/trace/${id}`);
  });

  it("uses B3 when options.tracing.propagator is 'b3', and honours sampling", async () => {
    const r = await run({
      script: tmp.write('b3.js', script("tracing: { propagator: 'b3', sampling: 0 }")),
      env: { BASE: server.base },
    });
    const h = headers(r.stderr);
    expect(h).toHaveLength(3);
    for (const x of h) {
      expect(x.tp).toBeNull();
      expect(x.b3).toMatch(/^[0-9a-f]{32}-[0-9a-f]{16}-0$/);
    }
  });
});
