// k6's `run` command line through the real CLI: `load run x.js`, the flags k6 users reach for,
// K6_* environment options with k6's precedence (CLI > environment > script > -c config file),
// k6's answers to unknown flags (255), unknown options (a warning) and unknown scenario fields (104),
// and the summary as k6 prints it (group sections, trend counts, threshold values).
import * as fs from 'node:fs';
import * as http from 'node:http';
import { describe, expect, it } from 'vitest';
import { fixturePerFile, runCli } from './helpers.js';

const { server, tmp } = fixturePerFile();

interface Export {
  metrics: Record<string, Record<string, number>>;
}

const exported = (file: string): Export => JSON.parse(fs.readFileSync(file, 'utf8')) as Export;

describe('k6 command line', () => {
  it('runs `load run x.js`, exits 255 on an unknown flag and 104 on a bad K6_* value', async () => {
    const script = tmp.write('plain.js', 'export default function () {}\n');
    const ok = await runCli(['run', script, '--iterations', '2', '--quiet']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/iterations\.+: 2 /);
    const bad = await runCli([script, '--no-such-flag']);
    expect(bad.code).toBe(255);
    expect(bad.stderr).toContain("'--no-such-flag'");
    const env = await runCli([script, '--quiet'], { K6_VUS: 'lots' });
    expect(env.code).toBe(104);
    expect(env.stderr).toContain('K6_VUS=lots');
  });

  it('takes options from K6_* variables over the script, and flags over both; -c sits below the script', async () => {
    const script = tmp.write(
      'layers.js',
      `export const options = { vus: 1, iterations: 9, userAgent: 'from-script' };
export default function () {}
`,
    );
    const config = tmp.write('config.json', JSON.stringify({ vus: 5, iterations: 11, summaryTrendStats: ['max'] }));
    const out = `${tmp.dir}/layers.json`;
    const envOnly = await runCli([script, '-c', config, '--quiet', '--summary-export', out], {
      K6_ITERATIONS: '6',
      K6_VUS: '2',
    });
    expect(envOnly.code).toBe(0);
    expect(exported(out).metrics.iterations!.count).toBe(6);
    expect(exported(out).metrics.vus_max!.value).toBe(2);
    // The config file's summaryTrendStats applies (the script does not set it).
    expect(envOnly.stdout).toMatch(/iteration_duration\.+: max=/);
    const cliWins = await runCli([script, '--quiet', '-i', '3', '--summary-export', out], { K6_ITERATIONS: '6' });
    expect(cliWins.code).toBe(0);
    expect(exported(out).metrics.iterations!.count).toBe(3);
  });

  it('warns about unknown options as k6 does and refuses unknown scenario fields (104)', async () => {
    const unknownTop = tmp.write(
      'unknown-top.js',
      "export const options = { iterations: 1, httpReqTimeout: '5s' };\nexport default function () {}\n",
    );
    const warned = await runCli([unknownTop, '--quiet']);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('There were unknown fields in the options exported in the script');
    expect(warned.stderr).toContain('json: unknown field \\"httpReqTimeout\\"');
    const unknownField = tmp.write(
      'unknown-field.js',
      "export const options = { scenarios: { s: { executor: 'shared-iterations', iterations: 1, vu: 2 } } };\nexport default function () {}\n",
    );
    const refused = await runCli([unknownField, '--quiet']);
    expect(refused.code).toBe(104);
    expect(refused.stderr).toContain('scenarios.s');
    expect(refused.stderr).toContain('vu');
    // --duration replaces the script's scenarios, but k6 has parsed them strictly by then.
    const overridden = await runCli([unknownField, '--quiet', '--duration', '1s', '--vus', '1']);
    expect(overridden.code).toBe(104);
    expect(overridden.stderr).toContain('scenarios.s');
  });

  it('--no-setup/--no-teardown skip them, --no-thresholds keeps a crossed threshold from failing the run, --no-summary prints none', async () => {
    const script = tmp.write(
      'lifecycle.js',
      `export const options = { iterations: 1, thresholds: { iterations: ['count>100'] } };
export function setup() { console.log('setup ran'); }
export default function () {}
export function teardown() { console.log('teardown ran'); }
`,
    );
    const normal = await runCli([script, '--quiet']);
    expect(normal.code).toBe(99);
    expect(normal.stderr).toContain('setup ran');
    const skipped = await runCli([script, '--quiet', '--no-setup', '--no-teardown', '--no-thresholds', '--no-summary']);
    expect(skipped.code).toBe(0);
    expect(skipped.stderr).not.toContain('setup ran');
    expect(skipped.stderr).not.toContain('teardown ran');
    expect(skipped.stdout).not.toContain('TOTAL RESULTS');
    const envSkipped = await runCli([script, '--quiet'], { K6_NO_THRESHOLDS: 'true', K6_NO_SUMMARY: '1' });
    expect(envSkipped.code).toBe(0);
    expect(envSkipped.stdout).not.toContain('TOTAL RESULTS');
  });

  it('--throw turns a failed request into an exception; --http-debug logs requests; --log-format json; --console-output', async () => {
    const script = tmp.write(
      'throw.js',
      `import http from 'k6/http';
export default function () { console.log('hello console'); const r = http.get(__ENV.URL); console.log('after ' + r.status); }
`,
    );
    const closed = 'http://127.0.0.1:9/';
    const lenient = await runCli([script, '--quiet', '-i', '1', '-e', `URL=${closed}`, '--log-format', 'json']);
    expect(lenient.code).toBe(0);
    const lines = lenient.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string; msg: string; source?: string });
    expect(lines.some((l) => l.msg === 'after 0' && l.source === 'console')).toBe(true);
    const thrown = await runCli([script, '--quiet', '-i', '1', '-e', `URL=${closed}`, '-w']);
    expect(thrown.stderr).toContain('ECONNREFUSED');
    expect(thrown.stderr).not.toContain('after 0');
    const consoleFile = `${tmp.dir}/console.log`;
    const debug = await runCli([
      script,
      '--quiet',
      '-i',
      '1',
      '-e',
      `URL=${server.base}/hello`,
      '--http-debug',
      '--console-output',
      consoleFile,
    ]);
    expect(debug.code).toBe(0);
    expect(debug.stderr).toContain('Request:\\nGET /hello HTTP/1.1');
    expect(debug.stderr).toContain('source=http-debug');
    expect(debug.stderr).not.toContain('hello console');
    expect(fs.readFileSync(consoleFile, 'utf8')).toContain('hello console');
  });

  it('--batch and --batch-per-host bound how many requests of one http.batch() are in flight', async () => {
    // The server holds each response 200 ms and records how many requests were in flight at once.
    let inFlight = 0;
    let most = 0;
    const holder = http.createServer((_req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      const release = (): void => {
        inFlight--;
        res.end('ok');
      };
      setTimeout(release, 200);
    });
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(holder.address() as { port: number }).port}/`;
    try {
      const script = tmp.write(
        'batch.js',
        `import http from 'k6/http';
export default function () { http.batch([__ENV.URL, __ENV.URL, __ENV.URL, __ENV.URL, __ENV.URL]); }
`,
      );
      const bounded = await runCli([script, '--quiet', '-i', '1', '-e', `URL=${url}`, '--batch', '2']);
      expect(bounded.code).toBe(0);
      expect(most).toBe(2);
      most = 0;
      const perHost = await runCli([script, '--quiet', '-i', '1', '-e', `URL=${url}`, '--batch-per-host', '3']);
      expect(perHost.code).toBe(0);
      expect(most).toBe(3);
      most = 0;
      const open = await runCli([script, '--quiet', '-i', '1', '-e', `URL=${url}`]);
      expect(open.code).toBe(0);
      expect(most).toBe(5);
    } finally {
      holder.closeAllConnections();
      await new Promise((r) => holder.close(r));
    }
  });

  it('prints the summary as k6 does: group sections with their metrics, trend count without unit, threshold stats outside summaryTrendStats', async () => {
    const script = tmp.write(
      'groups.js',
      `import http from 'k6/http';
import { group, check } from 'k6';
export const options = { iterations: 2, thresholds: { http_req_duration: ['p(99)<60000'] } };
export default function () {
  group('g1', () => {
    check(http.get(__ENV.BASE + '/hello'), { ok: (r) => r.status === 200 });
    group('inner', () => { http.get(__ENV.BASE + '/json'); });
  });
}
`,
    );
    const r = await runCli([
      script,
      '--quiet',
      '-e',
      `BASE=${server.base}`,
      '--summary-mode',
      'full',
      '--summary-trend-stats',
      'avg,count',
      '--summary-time-unit',
      's',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ 'p\(99\)<60000' p\(99\)=\d+\.\d\ds/);
    expect(r.stdout).toMatch(/http_req_duration\.+: avg=\d+\.\d\ds +count=4\n/);
    const g1 = r.stdout.slice(r.stdout.indexOf('█ GROUP: g1'));
    expect(g1).toContain('✓ ok');
    expect(g1).toMatch(/http_reqs\.+: 2 /);
    expect(g1).toContain('↳ GROUP: inner');
    expect(g1.slice(g1.indexOf('↳ GROUP: inner'))).toMatch(/http_reqs\.+: 2 /);
  });
});
