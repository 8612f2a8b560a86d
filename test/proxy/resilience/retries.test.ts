// Retries and timeouts through the real proxy against misbehaving upstreams on 127.0.0.1.
import { describe, expect, it } from 'vitest';
import { testFixtures, cluster, request, routeTo } from './harness.js';
import { freePort as deadPort } from '../../helpers/ports.js';

const { cleanups, proxy, upstreams } = testFixtures();

describe('retries', () => {
  it('rides out a 503 burst: retried tries are counted and the attempt count is reported', async () => {
    const [a] = await upstreams('a');
    let calls = 0;
    a!.mode = { kind: 'status', status: 503 };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      virtualHosts: routeTo(
        'backend',
        { retry_policy: { retry_on: '5xx', num_retries: 3, retry_back_off: { base_interval: '0.005s' } } },
        { include_attempt_count_in_response: true, include_request_attempt_count: true },
      ),
    });
    const seen = a!.seen;
    // Healthy again after the second try.
    const flip = setInterval(() => {
      if (seen.length >= 2 && calls === 0) {
        calls = 1;
        a!.mode = { kind: 'ok' };
      }
    }, 1);
    cleanups.push(() => clearInterval(flip));
    a!.mode = { kind: 'status', status: 503 };
    const res = await request(p.port, '/burst', { headers: { 'x-test-id': 'burst' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-envoy-attempt-count']).toBe(String(seen.length));
    expect(seen.map((s) => s.headers['x-envoy-attempt-count'])).toEqual(seen.map((_, i) => String(i + 1)));
    const stats = await p.stats();
    expect(stats.get('cluster.backend.upstream_rq_retry')).toBe(seen.length - 1);
    expect(stats.get('cluster.backend.upstream_rq_retry_success')).toBe(1);
    expect(stats.get('cluster.backend.upstream_rq_503')).toBe(seen.length - 1);
    const [line] = await p.logLines(1);
    expect(line).toMatch(/^200 - 127\.0\.0\.1:\d+ burst$/);
  });

  it('gives up after num_retries with URX and forwards the last response', async () => {
    const [a] = await upstreams('a');
    a!.mode = { kind: 'status', status: 503 };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      virtualHosts: routeTo('backend', {
        retry_policy: { retry_on: 'gateway-error', num_retries: 2, retry_back_off: { base_interval: '0.001s' } },
      }),
    });
    const res = await request(p.port, '/', { headers: { 'x-test-id': 'urx' } });
    expect(res.status).toBe(503);
    expect(res.body).toBe('a says 503');
    expect(a!.count).toBe(3);
    expect(await p.stat('cluster.backend.upstream_rq_retry_limit_exceeded')).toBe(1);
    expect((await p.logLines(1))[0]).toMatch(/^503 URX /);
  });

  it('retries a connect failure and a reset on another host; without a policy they are UF and UC', async () => {
    const [good, resetting] = await upstreams('good', 'resetting');
    resetting!.mode = { kind: 'reset' };
    const dead = await deadPort();
    const predicate = [{ name: 'envoy.retry_host_predicates.previous_hosts' }];
    const p = await proxy({
      clusters: [
        cluster('dead_first', [dead, good!.port], { lb_policy: 'ROUND_ROBIN' }),
        cluster('reset_first', [resetting!.port, good!.port]),
        cluster('dead_only', [dead]),
        cluster('reset_only', [resetting!.port]),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/cf' },
              route: {
                cluster: 'dead_first',
                retry_policy: {
                  retry_on: 'connect-failure',
                  num_retries: 2,
                  retry_host_predicate: predicate,
                  host_selection_retry_max_attempts: 5,
                },
              },
            },
            {
              match: { prefix: '/reset' },
              route: {
                cluster: 'reset_first',
                retry_policy: {
                  retry_on: 'reset',
                  num_retries: 2,
                  retry_host_predicate: predicate,
                  host_selection_retry_max_attempts: 5,
                },
              },
            },
            { match: { prefix: '/uf' }, route: { cluster: 'dead_only' } },
            { match: { prefix: '/uc' }, route: { cluster: 'reset_only' } },
          ],
        },
      ],
    });
    for (let i = 0; i < 4; i++) {
      expect((await request(p.port, '/cf')).status).toBe(200);
      expect((await request(p.port, '/reset')).status).toBe(200);
    }
    expect(resetting!.count).toBeGreaterThan(0);
    const uf = await request(p.port, '/uf', { headers: { 'x-test-id': 'uf' } });
    const uc = await request(p.port, '/uc', { headers: { 'x-test-id': 'uc' } });
    expect([uf.status, uc.status]).toEqual([503, 503]);
    const lines = await p.logLines(10);
    expect(lines.find((l) => l.endsWith(' uf'))).toMatch(/^503 UF /);
    expect(lines.find((l) => l.endsWith(' uc'))).toMatch(/^503 UC /);
    expect(lines.filter((l) => l.startsWith('200 ')).length).toBe(8);
    const stats = await p.stats();
    expect(stats.get('cluster.dead_first.upstream_rq_retry')).toBeGreaterThan(0);
    expect(stats.get('cluster.reset_first.upstream_rq_retry')).toBeGreaterThan(0);
  });

  it('per-try timeout moves a stalled try to another host; alone it is a 504 UT', async () => {
    const [stalled, good] = await upstreams('stalled', 'good');
    stalled!.mode = { kind: 'stall' };
    const policy = {
      retry_on: '5xx',
      num_retries: 1,
      per_try_timeout: '0.2s',
      retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
      host_selection_retry_max_attempts: 5,
    };
    const p = await proxy({
      clusters: [cluster('pair', [stalled!.port, good!.port]), cluster('alone', [stalled!.port])],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            { match: { prefix: '/pair' }, route: { cluster: 'pair', retry_policy: policy } },
            { match: { prefix: '/alone' }, route: { cluster: 'alone', retry_policy: { ...policy, num_retries: 0 } } },
          ],
        },
      ],
    });
    for (let i = 0; i < 2; i++) {
      const res = await request(p.port, '/pair');
      expect(res.status).toBe(200);
      expect(res.headers['x-upstream']).toBe('good');
    }
    const alone = await request(p.port, '/alone', { headers: { 'x-test-id': 'alone' } });
    expect(alone.status).toBe(504);
    // As Envoy: the try timed out (UT) and the policy had no retry left (URX).
    expect((await p.logLines(3)).find((l) => l.endsWith(' alone'))).toMatch(/^504 UT,URX /);
    expect(await p.stat('cluster.pair.upstream_rq_per_try_timeout')).toBeGreaterThanOrEqual(1);
    expect(await p.stat('cluster.alone.upstream_rq_per_try_timeout')).toBe(1);
  });

  it('honours x-envoy-retry-on, x-envoy-max-retries and x-envoy-upstream-rq-timeout-ms on a route without a policy', async () => {
    const [a] = await upstreams('a');
    a!.mode = { kind: 'status', status: 500 };
    const p = await proxy({ clusters: [cluster('backend', [a!.port])], virtualHosts: routeTo('backend') });
    expect((await request(p.port, '/')).status).toBe(500);
    expect(a!.count).toBe(1);
    const res = await request(p.port, '/', { headers: { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '2' } });
    expect(res.status).toBe(500);
    expect(a!.count).toBe(4);
    // The x-envoy timeout headers are consumed, never forwarded.
    expect(a!.seen.at(-1)!.headers['x-envoy-upstream-rq-timeout-ms']).toBeUndefined();
    a!.mode = { kind: 'stall' };
    const timedOut = await request(p.port, '/', {
      headers: { 'x-envoy-upstream-rq-timeout-ms': '150', 'x-test-id': 'ut' },
    });
    expect(timedOut.status).toBe(504);
    expect(timedOut.body).toBe('upstream request timeout');
    expect((await p.logLines(3)).find((l) => l.endsWith(' ut'))).toMatch(/^504 UT /);
  });

  it('does not retry a request whose body outgrew the retry buffer', async () => {
    const [a] = await upstreams('a');
    a!.mode = { kind: 'status', status: 503 };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/' },
              per_request_buffer_limit_bytes: 1024,
              route: {
                cluster: 'backend',
                retry_policy: { retry_on: '5xx', num_retries: 2, retry_back_off: { base_interval: '0.001s' } },
              },
            },
          ],
        },
      ],
    });
    const small = 'x'.repeat(500);
    expect((await request(p.port, '/', { method: 'POST', body: small })).status).toBe(503);
    expect(a!.seen.map((s) => s.body.length)).toEqual([500, 500, 500]);
    const big = 'y'.repeat(4096);
    expect((await request(p.port, '/', { method: 'POST', body: big })).status).toBe(503);
    expect(a!.count).toBe(4);
    expect(a!.seen[3]!.body.length).toBe(4096);
  });

  it('a full retry circuit breaker stops retries with UO and upstream_rq_retry_overflow', async () => {
    const [a] = await upstreams('a');
    a!.mode = { kind: 'status', status: 503 };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port], { circuit_breakers: { thresholds: [{ max_retries: 0 }] } })],
      virtualHosts: routeTo('backend', { retry_policy: { retry_on: '5xx', num_retries: 3 } }),
    });
    const res = await request(p.port, '/', { headers: { 'x-test-id': 'uo' } });
    expect(res.status).toBe(503);
    expect(a!.count).toBe(1);
    expect(await p.stat('cluster.backend.upstream_rq_retry_overflow')).toBe(1);
    expect((await p.logLines(1))[0]).toMatch(/^503 UO /);
  });
});
