// --out csv (k6's columns, data_sent/data_received once per iteration) and --out
// experimental-prometheus-rw against a real Prometheus started with its remote-write receiver,
// queried back over its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { fixturePerFile, runCli } from './helpers.js';

const { server, tmp } = fixturePerFile();

const script = `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 3, thresholds: { http_req_duration: ['p(95)<60000'] } };
export default function () {
  check(http.get(__ENV.BASE + '/hello'), { 'is 200': (r) => r.status === 200 });
  http.get(__ENV.BASE + '/json', { tags: { kind: 'api' } });
}
`;

describe('csv output', () => {
  it("writes k6's columns, one row per sample, and data_sent once per iteration", async () => {
    const out = `${tmp.dir}/out.csv`;
    const r = await runCli([
      tmp.write('csv.js', script),
      '--quiet',
      '-e',
      `BASE=${server.base}`,
      '--out',
      `csv=${out}`,
    ]);
    expect(r.code).toBe(0);
    const rows = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe(
      'metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata',
    );
    const header = rows[0]!.split(',');
    const records = rows.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    const reqs = records.filter((x) => x.metric_name === 'http_reqs');
    expect(reqs).toHaveLength(6);
    const api = reqs.find((x) => x.url === `${server.base}/json`)!;
    expect(api).toMatchObject({ metric_value: '1.000000', method: 'GET', status: '200', scenario: 'default' });
    expect(api.extra_tags).toBe('kind=api');
    expect(api.metadata).toMatch(/^trace_id=[0-9a-f]{32}$/);
    expect(Number(api.timestamp)).toBe(Math.floor(Number(api.timestamp)));
    expect(records.filter((x) => x.metric_name === 'data_sent')).toHaveLength(3);
    expect(records.filter((x) => x.metric_name === 'data_received')).toHaveLength(3);
    expect(records.find((x) => x.metric_name === 'checks')?.check).toBe('is 200');
  });
});

describe('experimental-prometheus-rw output', () => {
  let prometheus: ChildProcess | undefined;
  let base = '';

  beforeAll(async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(`${tmp.dir}/prom-`);
    fs.writeFileSync(`${dir}/prometheus.yml`, 'global:\n  scrape_interval: 1m\n');
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-remote-write-receiver',
      ],
      { stdio: 'ignore' },
    );
    base = `http://127.0.0.1:${port}`;
    for (;;) {
      const ready = await fetch(`${base}/-/ready`).then(
        (res) => res.ok,
        () => false,
      );
      if (ready) break;
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited with ${prometheus.exitCode}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    const p = prometheus;
    if (p === undefined || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  });

  const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as {
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    return body.data.result;
  };

  it("sends k6's series to a Prometheus remote-write receiver", async () => {
    const r = await runCli(
      [
        tmp.write('rw.js', script),
        '--quiet',
        '-e',
        `BASE=${server.base}`,
        '--out',
        `experimental-prometheus-rw=${base}/api/v1/write`,
      ],
      { K6_PROMETHEUS_RW_TREND_STATS: 'p(99),count' },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('dropped');
    const reqs = await query('sum(k6_http_reqs_total)');
    expect(Number(reqs[0]!.value[1])).toBe(6);
    const api = await query('k6_http_reqs_total{kind="api"}');
    expect(api[0]!.metric).toMatchObject({ method: 'GET', status: '200', scenario: 'default', kind: 'api' });
    const count = await query('sum(k6_http_req_duration_count)');
    expect(Number(count[0]!.value[1])).toBe(6);
    const p99 = await query('max(k6_http_req_duration_p99_seconds)');
    expect(Number(p99[0]!.value[1])).toBeGreaterThan(0);
    const checks = await query('k6_checks_rate');
    expect(Number(checks[0]!.value[1])).toBe(1);
    const sent = await query('sum(k6_data_sent_total)');
    expect(Number(sent[0]!.value[1])).toBeGreaterThan(0);
  });
});
