// Outlier detection, active health checking and the panic threshold against real upstreams,
// including the chaos check: one of three endpoints starts failing under steady load.
import { describe, expect, it } from 'vitest';
import type http from 'node:http';
import {
  testFixtures,
  cluster,
  startResilienceProxy,
  keepAliveAgent,
  request,
  routeTo,
  until,
  type ResilienceProxy,
} from './harness.js';
import { startUpstreams } from './upstreams.js';

const { cleanups, proxy, upstreams } = testFixtures();

async function hostFlags(p: ResilienceProxy, port: number): Promise<string> {
  const body = (await p.admin('/clusters')).body;
  const line = body.split('\n').find((l) => l.includes(`::127.0.0.1:${port}::health_flags::`));
  return line?.slice(line.lastIndexOf('::') + 2) ?? '';
}

describe('outlier detection', () => {
  it('ejects a host after consecutive 5xx, shows it in /clusters and stats, and lets it back after the ejection time', async () => {
    const [a, b, c] = await upstreams('a', 'b', 'c');
    const p = await proxy({
      clusters: [
        cluster('backend', [a!.port, b!.port, c!.port], {
          outlier_detection: {
            consecutive_5xx: 3,
            interval: '0.1s',
            // Long enough that the ten requests below finish inside it on a loaded host.
            base_ejection_time: '2s',
            max_ejection_percent: 50,
          },
        }),
      ],
      virtualHosts: routeTo('backend'),
    });
    c!.mode = { kind: 'status', status: 500 };
    for (let i = 0; i < 12; i++) await request(p.port, '/');
    expect(await hostFlags(p, c!.port)).toBe('/failed_outlier_check');
    expect(await hostFlags(p, a!.port)).toBe('healthy');
    expect(await p.stat('cluster.backend.outlier_detection.ejections_active')).toBe(1);
    expect(await p.stat('cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx')).toBe(1);
    const before = c!.count;
    for (let i = 0; i < 10; i++) expect((await request(p.port, '/')).status).toBe(200);
    expect(c!.count).toBe(before);

    c!.mode = { kind: 'ok' };
    await until(async () => (await hostFlags(p, c!.port)) === 'healthy', 'unejection');
    expect(await p.stat('cluster.backend.outlier_detection.ejections_active')).toBe(0);
    for (let i = 0; i < 6; i++) await request(p.port, '/');
    expect(c!.count).toBeGreaterThan(before);
  });

  it('chaos: one of three endpoints fails under steady load; retries and ejection keep client errors under 0.1%, and it returns', async () => {
    const [a, b, c] = await upstreams('a', 'b', 'c');
    const p = await proxy({
      clusters: [
        cluster('backend', [a!.port, b!.port, c!.port], {
          outlier_detection: {
            consecutive_5xx: 5,
            interval: '0.2s',
            base_ejection_time: '1s',
            max_ejection_percent: 50,
          },
        }),
      ],
      virtualHosts: routeTo('backend', {
        retry_policy: {
          retry_on: '5xx,reset,connect-failure',
          num_retries: 2,
          retry_back_off: { base_interval: '0.002s' },
          retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
          host_selection_retry_max_attempts: 3,
        },
      }),
    });
    const agent = keepAliveAgent(8);
    cleanups.push(() => agent.destroy());
    const results: Array<{ t: number; status: number }> = [];
    let stop = false;
    const start = Date.now();
    const loop = async (): Promise<void> => {
      while (!stop && results.length < 20_000) {
        const res = await request(p.port, '/', { agent: agent as http.Agent }).catch(() => ({ status: 0 }));
        results.push({ t: Date.now() - start, status: res.status });
      }
    };
    const loops = Array.from({ length: 8 }, () => loop());
    // Phases end on what happened, not on the clock, so a slow host only makes them longer.
    await until(() => results.length >= 100, 'steady load', 20_000);
    const failAt = Date.now() - start;
    c!.mode = { kind: 'status', status: 503 };
    await until(
      async () =>
        results.filter((r) => r.t > failAt + 200).length >= 250 &&
        (await p.stat('cluster.backend.outlier_detection.ejections_enforced_total')) >= 1,
      'ejection under load',
      30_000,
    );
    const recoverAt = Date.now() - start;
    c!.mode = { kind: 'ok' };
    const recovered = results.length;
    await until(() => results.length >= recovered + 250, 'load after recovery', 30_000);
    stop = true;
    await Promise.all(loops);

    const afterInterval = results.filter((r) => r.t > failAt + 200);
    const errors = afterInterval.filter((r) => r.status !== 200).length;
    expect(afterInterval.length).toBeGreaterThan(200);
    expect(errors / afterInterval.length).toBeLessThan(0.001);
    expect(await p.stat('cluster.backend.outlier_detection.ejections_enforced_total')).toBeGreaterThanOrEqual(1);
    // Back in rotation once its (backed-off) ejection time has passed, and serving again.
    expect(recoverAt).toBeGreaterThan(failAt);
    await until(async () => (await hostFlags(p, c!.port)) === 'healthy', 'c unejected', 8000);
    const cAfter = c!.seen.length;
    for (let i = 0; i < 6; i++) await request(p.port, '/');
    expect(c!.seen.length).toBeGreaterThan(cAfter);
  });
});

describe('active health checks and panic threshold', () => {
  it('marks a failing host /failed_active_hc, routes around it, and restores it', async () => {
    const [a, b] = await upstreams('a', 'b');
    const hc = {
      timeout: '0.5s',
      interval: '0.05s',
      no_traffic_interval: '0.05s',
      unhealthy_threshold: 2,
      healthy_threshold: 2,
      http_health_check: { path: '/healthz' },
    };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port, b!.port], { health_checks: [hc] })],
      virtualHosts: routeTo('backend'),
    });
    await until(
      async () => (await hostFlags(p, a!.port)) === 'healthy' && (await hostFlags(p, b!.port)) === 'healthy',
      'first checks',
    );
    expect(a!.seen.some((s) => s.url === '/healthz' && s.headers['user-agent'] === 'Envoy/HC')).toBe(true);
    b!.mode = { kind: 'status', status: 503 };
    await until(async () => (await hostFlags(p, b!.port)) === '/failed_active_hc', 'b unhealthy');
    const bRequests = b!.seen.filter((s) => s.url !== '/healthz').length;
    for (let i = 0; i < 6; i++) expect((await request(p.port, '/work')).headers['x-upstream']).toBe('a');
    expect(b!.seen.filter((s) => s.url !== '/healthz').length).toBe(bRequests);
    const stats = await p.stats();
    expect(stats.get('cluster.backend.health_check.failure')).toBeGreaterThanOrEqual(1);
    expect(stats.get('cluster.backend.health_check.attempt')).toBeGreaterThan(
      stats.get('cluster.backend.health_check.success')!,
    );
    b!.mode = { kind: 'ok' };
    await until(async () => (await hostFlags(p, b!.port)) === 'healthy', 'b back');
  });

  it('a host that dies fails its TCP check and comes back when it restarts', async () => {
    const [a, b] = await upstreams('a', 'b');
    const hc = {
      timeout: '0.3s',
      interval: '0.05s',
      no_traffic_interval: '0.05s',
      unhealthy_threshold: 2,
      healthy_threshold: 1,
      tcp_health_check: {},
    };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port, b!.port], { health_checks: [hc] })],
      virtualHosts: routeTo('backend'),
    });
    await until(async () => (await hostFlags(p, b!.port)) === 'healthy', 'b healthy');
    await b!.stop();
    await until(async () => (await hostFlags(p, b!.port)) === '/failed_active_hc', 'b down');
    for (let i = 0; i < 4; i++) expect((await request(p.port, '/')).status).toBe(200);
    await b!.restart();
    await until(async () => (await hostFlags(p, b!.port)) === 'healthy', 'b restarted');
  });

  it('below the panic threshold traffic goes to every host; with a 0% threshold it is 503 UH', async () => {
    const [a, b] = await upstreams('a', 'b');
    const hc = {
      timeout: '0.5s',
      interval: '0.05s',
      no_traffic_interval: '0.05s',
      unhealthy_threshold: 1,
      healthy_threshold: 1,
      http_health_check: { path: '/healthz', expected_statuses: [{ start: 299, end: 300 }] },
    };
    const p = await proxy({
      clusters: [
        cluster('panic', [a!.port, b!.port], { health_checks: [hc] }),
        cluster('strict', [a!.port, b!.port], {
          health_checks: [hc],
          common_lb_config: { healthy_panic_threshold: { value: 0 } },
        }),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            { match: { prefix: '/panic' }, route: { cluster: 'panic' } },
            { match: { prefix: '/strict' }, route: { cluster: 'strict' } },
          ],
        },
      ],
    });
    await until(
      async () =>
        (await p.stat('cluster.strict.health_check.failure')) >= 2 &&
        (await p.stat('cluster.panic.health_check.failure')) >= 2,
      'checks failing',
    );
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await request(p.port, '/panic');
      expect(res.status).toBe(200);
      served.add(String(res.headers['x-upstream']));
    }
    expect([...served].sort()).toEqual(['a', 'b']);
    const strict = await request(p.port, '/strict', { headers: { 'x-test-id': 'uh' } });
    expect(strict.status).toBe(503);
    expect(strict.body).toBe('no healthy upstream');
    expect((await p.logLines(7)).find((l) => l.endsWith(' uh'))).toMatch(/^503 UH /);
  });
});

describe('outlier detection with split local-origin errors', () => {
  it('ejects on consecutive connect failures only; a working connection resets the streak; 5xx count separately', async () => {
    const [a, b] = await startUpstreams('a', 'b');
    cleanups.push(
      () => a!.stop(),
      () => b!.stop(),
    );
    const p = await startResilienceProxy({
      clusters: [
        cluster('backend', [a!.port, b!.port], {
          outlier_detection: {
            split_external_local_origin_errors: true,
            consecutive_local_origin_failure: 2,
            consecutive_5xx: 100,
            interval: '10s',
            base_ejection_time: '30s',
            max_ejection_percent: 50,
          },
        }),
      ],
      virtualHosts: routeTo('backend'),
    });
    cleanups.push(() => p.close());
    // 5xx from a: counted as external errors, not local-origin ones: no ejection.
    a!.mode = { kind: 'status', status: 503 };
    for (let i = 0; i < 8; i++) await request(p.port, '/');
    expect(await hostFlags(p, a!.port)).toBe('healthy');
    // a accepts and resets: each try connects (a local-origin success) then fails, so the
    // streak never builds, as in Envoy.
    a!.mode = { kind: 'reset' };
    for (let i = 0; i < 8; i++) await request(p.port, '/');
    expect(await hostFlags(p, a!.port)).toBe('healthy');
    // a dies: connection refused twice in a row is a local-origin streak of 2.
    await a!.stop();
    for (let i = 0; i < 6 && (await hostFlags(p, a!.port)) === 'healthy'; i++) await request(p.port, '/');
    expect(await hostFlags(p, a!.port)).toBe('/failed_outlier_check');
    expect(await p.stat('cluster.backend.outlier_detection.ejections_enforced_consecutive_local_origin_failure')).toBe(
      1,
    );
  });
});
