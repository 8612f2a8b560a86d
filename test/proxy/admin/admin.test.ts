import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AdminDuplicateHandlerError,
  createAdminServer,
  type AdminServer,
  type AdminTarget,
  type ClusterStatus,
  type ServerInfo,
} from '../../../proxy/admin/index.js';
import { createStatsStore, mergeSnapshots, type StatsStore } from '../../../proxy/stats/index.js';

// A small but real target: two "workers" (stores) merged on demand, state flags the
// endpoints flip, and a log of what the admin server asked for.
class TestTarget implements AdminTarget {
  readonly main = createStatsStore();
  readonly workers: StatsStore[] = [createStatsStore(), createStatsStore()];
  state: ServerInfo['state'] = 'LIVE';
  healthCheckFailed = false;
  drains: Array<{ inboundOnly: boolean; graceful: boolean }> = [];
  quits = 0;
  #onQuit: (() => void) | undefined;
  readonly quitCalled = new Promise<void>((resolve) => {
    this.#onQuit = resolve;
  });

  serverInfo(): ServerInfo {
    return {
      version: 'meshscope/0.1.0',
      state: this.state,
      uptimeSeconds: 12.7,
      node: { id: 'sidecar~10.0.0.1~front~default', cluster: 'front' },
      commandLineOptions: { concurrency: 2, service_cluster: 'front' },
    };
  }
  async stats() {
    return mergeSnapshots([this.main.snapshot(), ...this.workers.map((w) => w.snapshot())]);
  }
  async resetCounters() {
    this.main.resetCounters();
    for (const w of this.workers) w.resetCounters();
  }
  async clusters(): Promise<ClusterStatus[]> {
    return [
      {
        name: 'backend',
        addedViaApi: false,
        circuitBreakers: [
          { priority: 'default', maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
          { priority: 'high', maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
        ],
        hosts: [
          {
            address: '127.0.0.1:8080',
            weight: 1,
            priority: 0,
            region: 'eu',
            zone: 'eu-a',
            subZone: '',
            healthFlags: ['healthy'],
            stats: { cx_active: 2, rq_total: 9 },
          },
          {
            address: '127.0.0.1:8081',
            weight: 3,
            priority: 1,
            region: '',
            zone: '',
            subZone: '',
            healthFlags: ['/failed_active_hc', '/failed_outlier_check'],
            stats: {},
          },
        ],
      },
    ];
  }
  listeners() {
    return [{ name: 'ingress', localAddress: '127.0.0.1:10000' }];
  }
  configDump() {
    return {
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { id: 'x' } } },
      ],
    };
  }
  async setHealthCheckFailed(failed: boolean) {
    this.healthCheckFailed = failed;
  }
  async drainListeners(options: { inboundOnly: boolean; graceful: boolean }) {
    this.drains.push(options);
  }
  quit() {
    this.quits++;
    this.#onQuit?.();
  }
}

let target: TestTarget;
let admin: AdminServer;
let base: string;

beforeEach(async () => {
  target = new TestTarget();
  admin = await createAdminServer({ address: { host: '127.0.0.1', port: 0 }, target });
  base = `http://127.0.0.1:${admin.address().port}`;
});

afterEach(async () => {
  await admin.close();
});

async function get(path: string, method = 'GET') {
  const res = await fetch(base + path, { method });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

describe('admin server', () => {
  it('lists its commands on / and answers 404 with the list for unknown paths', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    for (const p of [
      '/ready',
      '/stats',
      '/stats/prometheus',
      '/clusters',
      '/config_dump',
      '/listeners',
      '/quitquitquit',
      '/reset_counters',
    ]) {
      expect(home.body).toContain(`  ${p}: `);
    }
    const missing = await get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('admin commands are:');
  });

  it('/ready is 200 LIVE, 503 otherwise, and DRAINING after /healthcheck/fail', async () => {
    expect(await get('/ready')).toMatchObject({ status: 200, body: 'LIVE\n' });
    target.state = 'INITIALIZING';
    expect(await get('/ready')).toMatchObject({ status: 503, body: 'INITIALIZING\n' });
    target.state = 'LIVE';
    expect((await get('/healthcheck/fail', 'POST')).status).toBe(200);
    expect(target.healthCheckFailed).toBe(true);
    expect(await get('/ready')).toMatchObject({ status: 503, body: 'DRAINING\n' });
    expect((await get('/healthcheck/ok', 'POST')).status).toBe(200);
    expect(await get('/ready')).toMatchObject({ status: 200, body: 'LIVE\n' });
  });

  it('refuses GET on mutating endpoints with 405 and changes nothing', async () => {
    target.workers[0]!.counter('cluster.backend.upstream_rq_total').add(4);
    for (const p of ['/healthcheck/fail', '/healthcheck/ok', '/drain_listeners', '/quitquitquit', '/reset_counters']) {
      const r = await get(p);
      expect(r.status, p).toBe(405);
      expect(r.body).toContain('POST required');
    }
    expect(target.healthCheckFailed).toBe(false);
    expect(target.drains).toEqual([]);
    expect(target.quits).toBe(0);
    expect((await get('/stats?filter=upstream_rq_total')).body).toBe('cluster.backend.upstream_rq_total: 4\n');
  });

  it('POST drains, resets counters and quits after answering', async () => {
    target.workers[1]!.counter('cluster.backend.upstream_rq_total').add(2);
    target.workers[1]!.gauge('cluster.backend.upstream_cx_active').set(1);
    expect((await get('/drain_listeners?inboundonly&graceful', 'POST')).body).toBe('OK\n');
    expect(target.drains).toEqual([{ inboundOnly: true, graceful: true }]);
    expect((await get('/reset_counters', 'POST')).body).toBe('OK\n');
    expect((await get('/stats?filter=backend')).body).toBe(
      'cluster.backend.upstream_cx_active: 1\ncluster.backend.upstream_rq_total: 0\n',
    );
    const q = await get('/quitquitquit', 'POST');
    expect(q).toMatchObject({ status: 200, body: 'OK\n' });
    await target.quitCalled;
    expect(target.quits).toBe(1);
  });

  it('/server_info is Envoy-shaped JSON', async () => {
    const r = await get('/server_info');
    expect(r.type).toContain('application/json');
    const info = JSON.parse(r.body) as Record<string, unknown>;
    expect(info).toMatchObject({
      version: 'meshscope/0.1.0',
      state: 'LIVE',
      uptime_current_epoch: '12s',
      node: { id: 'sidecar~10.0.0.1~front~default', cluster: 'front' },
      command_line_options: { concurrency: 2 },
    });
  });

  it('/stats merges workers and supports filter, usedonly, format=json and bad regex', async () => {
    for (const w of target.workers) {
      w.counter('http.ingress.downstream_rq_total').add(3);
      w.histogram('http.ingress.downstream_rq_time', 'milliseconds').record(2);
    }
    target.main.counter('server.never_used');
    const text = await get('/stats');
    expect(text.status).toBe(200);
    expect(text.body).toContain('http.ingress.downstream_rq_total: 6\n');
    expect(text.body).toContain('server.never_used: 0\n');
    expect(text.body).toMatch(/http\.ingress\.downstream_rq_time: P0\(nan,2\) .* P100\(nan,2\)\n/);
    expect((await get('/stats?usedonly')).body).not.toContain('never_used');
    const j = JSON.parse((await get('/stats?format=json&filter=downstream_rq_total')).body) as { stats: unknown[] };
    expect(j.stats).toEqual([{ name: 'http.ingress.downstream_rq_total', value: 6 }]);
    const bad = await get('/stats?filter=(');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain("invalid filter regex '('");
    expect((await get('/stats?type=Nope')).status).toBe(400);
    expect((await get('/stats?type=Counters')).body).not.toContain('P0(');
  });

  it('/stats/prometheus is Envoy-tagged and passes promtool', async () => {
    const w = target.workers[0]!;
    w.scope('cluster.backend').counter('upstream_rq_200').add(5);
    w.scope('cluster.backend').histogram('upstream_rq_time', 'milliseconds').record(7);
    w.counter('istio_requests_total', [
      ['reporter', 'destination'],
      ['response_code', '200'],
    ]).inc();
    const r = await get('/stats/prometheus');
    expect(r.type).toContain('version=0.0.4');
    expect(r.body).toContain('envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 5\n');
    expect(r.body).toContain('istio_requests_total{reporter="destination",response_code="200"} 1\n');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8' });
    const problems = `${check.stdout}${check.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/should have "_total" suffix/.test(l));
    expect(problems).toEqual([]);
    expect((await get('/stats?format=prometheus')).body).toBe(r.body);
  });

  it('/clusters prints Envoy text and JSON forms', async () => {
    const r = await get('/clusters');
    const lines = r.body.split('\n');
    for (const l of [
      'backend::default_priority::max_connections::1024',
      'backend::high_priority::max_retries::3',
      'backend::added_via_api::false',
      'backend::127.0.0.1:8080::cx_active::2',
      'backend::127.0.0.1:8080::cx_connect_fail::0',
      'backend::127.0.0.1:8080::rq_total::9',
      'backend::127.0.0.1:8080::health_flags::healthy',
      'backend::127.0.0.1:8080::weight::1',
      'backend::127.0.0.1:8080::region::eu',
      'backend::127.0.0.1:8080::zone::eu-a',
      'backend::127.0.0.1:8080::sub_zone::',
      'backend::127.0.0.1:8080::canary::false',
      'backend::127.0.0.1:8080::priority::0',
      'backend::127.0.0.1:8080::success_rate::-1',
      'backend::127.0.0.1:8080::local_origin_success_rate::-1',
      'backend::127.0.0.1:8081::health_flags::/failed_active_hc/failed_outlier_check',
      'backend::127.0.0.1:8081::priority::1',
    ]) {
      expect(lines, l).toContain(l);
    }
    const j = JSON.parse((await get('/clusters?format=json')).body) as {
      cluster_statuses: Array<Record<string, unknown>>;
    };
    expect(j.cluster_statuses[0]).toMatchObject({
      name: 'backend',
      added_via_api: false,
      host_statuses: [
        {
          address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
          weight: 1,
          health_status: { eds_health_status: 'HEALTHY' },
        },
        { health_status: { failed_active_health_check: true, failed_outlier_check: true } },
      ],
    });
  });

  it('/listeners and /config_dump', async () => {
    expect((await get('/listeners')).body).toBe('ingress::127.0.0.1:10000\n');
    expect(JSON.parse((await get('/listeners?format=json')).body)).toEqual({
      listener_statuses: [
        { name: 'ingress', local_address: { socket_address: { address: '127.0.0.1', port_value: 10000 } } },
      ],
    });
    const dump = JSON.parse((await get('/config_dump')).body) as { configs: Array<Record<string, unknown>> };
    expect(dump.configs[0]!['@type']).toBe('type.googleapis.com/envoy.admin.v3.BootstrapConfigDump');
  });

  it('lets extensions add endpoints, POST-only when mutating, and refuses duplicates', async () => {
    const layer: Record<string, string> = {};
    admin.addHandler('/runtime', 'print runtime values', false, () => ({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify(layer),
    }));
    admin.addHandler('/runtime_modify', 'modify runtime values', true, (r) => {
      for (const [k, v] of r.query) layer[k] = v;
      return { status: 200, contentType: 'text/plain', body: 'OK\n' };
    });
    expect((await get('/runtime_modify?a=1')).status).toBe(405);
    expect(layer).toEqual({});
    expect((await get('/runtime_modify?a=1', 'POST')).status).toBe(200);
    expect(JSON.parse((await get('/runtime')).body)).toEqual({ a: '1' });
    expect(() =>
      admin.addHandler('/stats', 'again', false, () => ({ status: 200, contentType: 'text/plain', body: '' })),
    ).toThrow(AdminDuplicateHandlerError);
    admin.addHandler('/boom', 'fails', false, () => {
      throw new Error('target unavailable');
    });
    expect(await get('/boom')).toMatchObject({ status: 500, body: 'target unavailable\n' });
  });
});
