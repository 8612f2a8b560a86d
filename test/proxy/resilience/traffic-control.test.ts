// Fault injection, local rate limiting, mirroring, circuit breakers and stream timeouts
// through the real proxy; fault percentages changed at runtime (admin layer and a disk layer
// symlink swap) are checked against binomial bounds.
import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type http from 'node:http';
import net from 'node:net';
import {
  testFixtures,
  cluster,
  keepAliveAgent,
  request,
  routeTo,
  sleep,
  until,
  withinBinomialBounds,
  type ResilienceProxy,
} from './harness.js';

const { cleanups, proxy, upstreams } = testFixtures();

const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const RL_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

function fault(config: Record<string, unknown>): unknown {
  return { name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT_TYPE, ...config } };
}

async function countAborts(p: ResilienceProxy, n: number, agent: http.Agent): Promise<number> {
  let aborted = 0;
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, n - i) }, () => request(p.port, '/', { agent })));
    aborted += batch.filter((r) => r.status === 503).length;
  }
  return aborted;
}

describe('fault injection', () => {
  it('aborts with FI, delays with DI, honours header-controlled faults and max_active_faults', async () => {
    const [a] = await upstreams('a');
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      httpFilters: [
        fault({
          delay: { header_delay: {}, percentage: { numerator: 100 } },
          abort: { header_abort: {}, percentage: { numerator: 100 } },
          max_active_faults: 1,
        }),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/always-abort' },
              route: { cluster: 'backend' },
              typed_per_filter_config: {
                'envoy.filters.http.fault': {
                  '@type': FAULT_TYPE,
                  abort: { http_status: 418, percentage: { numerator: 100 } },
                },
              },
            },
            { match: { prefix: '/' }, route: { cluster: 'backend' } },
          ],
        },
      ],
    });
    const aborted = await request(p.port, '/always-abort', { headers: { 'x-test-id': 'fi' } });
    expect(aborted.status).toBe(418);
    expect(aborted.body).toBe('fault filter abort');
    expect(a!.count).toBe(0);

    expect((await request(p.port, '/plain')).status).toBe(200);
    const headerAbort = await request(p.port, '/h', {
      headers: { 'x-envoy-fault-abort-request': '429', 'x-test-id': 'hfi' },
    });
    expect(headerAbort.status).toBe(429);
    const delayed = await request(p.port, '/d', {
      headers: { 'x-envoy-fault-delay-request': '200', 'x-test-id': 'di' },
    });
    expect(delayed.status).toBe(200);
    // A percentage header can lower the configured 100% to 0.
    expect(
      (
        await request(p.port, '/h', {
          headers: { 'x-envoy-fault-abort-request': '429', 'x-envoy-fault-abort-request-percentage': '0' },
        })
      ).status,
    ).toBe(200);

    // Only one fault at a time: the second concurrent delay request passes undelayed (no DI).
    const slow = request(p.port, '/d', { headers: { 'x-envoy-fault-delay-request': '1000', 'x-test-id': 'slow' } });
    await until(async () => (await p.stat('http.ingress_http.fault.active_faults')) === 1, 'first fault active');
    expect(
      (await request(p.port, '/d', { headers: { 'x-envoy-fault-delay-request': '1000', 'x-test-id': 'overflow' } }))
        .status,
    ).toBe(200);
    await slow;

    const lines = await p.logLines(7);
    expect(lines.find((l) => l.endsWith(' overflow'))).toMatch(/^200 - /);
    expect(lines.find((l) => l.endsWith(' slow'))).toMatch(/^200 DI /);
    expect(lines.find((l) => l.endsWith(' fi'))).toMatch(/^418 FI /);
    expect(lines.find((l) => l.endsWith(' hfi'))).toMatch(/^429 FI /);
    expect(lines.find((l) => l.endsWith(' di'))).toMatch(/^200 DI 127\.0\.0\.1/);
    const stats = await p.stats();
    expect(stats.get('http.ingress_http.fault.aborts_injected')).toBe(2);
    expect(stats.get('http.ingress_http.fault.delays_injected')).toBe(2);
    expect(stats.get('http.ingress_http.fault.faults_overflow')).toBe(1);
    expect(stats.get('http.ingress_http.fault.active_faults')).toBe(0);
  });

  it('a fault percentage changed through /runtime_modify and a disk-layer symlink swap takes effect without restart', async () => {
    const [a] = await upstreams('a');
    const root = await mkdtemp(join(tmpdir(), 'ms-fault-rt-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const publish = async (version: string, percent: number): Promise<void> => {
      await mkdir(join(root, version, 'envoy', 'fault', 'http', 'abort'), { recursive: true });
      await writeFile(join(root, version, 'envoy', 'fault', 'http', 'abort', 'abort_percent'), `${percent}\n`);
      await symlink(join(root, version), join(root, `tmp-${version}`));
      await rename(join(root, `tmp-${version}`), join(root, 'current'));
    };
    await publish('v1', 0);
    const p = await proxy({
      layeredRuntime: {
        layers: [
          { name: 'static', static_layer: { fault: { http: { abort: { abort_percent: 0 } } } } },
          { name: 'disk', disk_layer: { symlink_root: join(root, 'current'), subdirectory: 'envoy' } },
          { name: 'admin', admin_layer: {} },
        ],
      },
      clusters: [cluster('backend', [a!.port])],
      httpFilters: [fault({ abort: { http_status: 503, percentage: { numerator: 0 } } })],
      virtualHosts: routeTo('backend'),
    });
    const agent = keepAliveAgent(25);
    cleanups.push(() => agent.destroy());
    const n = 400;
    expect(await countAborts(p, 50, agent)).toBe(0);

    expect((await p.admin('/runtime_modify?fault.http.abort.abort_percent=30', 'POST')).status).toBe(200);
    const viaAdmin = await countAborts(p, n, agent);
    expect(withinBinomialBounds(viaAdmin, n, 0.3)).toBe(true);

    // Remove the admin override; the disk layer (0 now) wins again, then swap it to 70.
    await p.admin('/runtime_modify?fault.http.abort.abort_percent=', 'POST');
    expect(await countAborts(p, 50, agent)).toBe(0);
    await publish('v2', 70);
    await until(async () => {
      const dump = JSON.parse((await p.admin('/runtime')).body) as { entries: Record<string, { final_value: string }> };
      return dump.entries['fault.http.abort.abort_percent']?.final_value === '70';
    }, 'disk layer swap');
    const viaDisk = await countAborts(p, n, agent);
    expect(withinBinomialBounds(viaDisk, n, 0.7)).toBe(true);
    const dump = JSON.parse((await p.admin('/runtime')).body) as {
      layers: string[];
      entries: Record<string, { layer_values: string[] }>;
    };
    expect(dump.layers).toEqual(['static', 'disk', 'admin']);
    expect(dump.entries['fault.http.abort.abort_percent']!.layer_values).toEqual(['0', '70', '']);
    expect((await p.admin('/runtime_modify?x=1', 'GET')).status).toBe(405);
  });
});

describe('local rate limit', () => {
  it('answers 429 with RL once the bucket is empty, with x-ratelimit headers, per route and unenforced', async () => {
    const [a] = await upstreams('a');
    const bucket = { max_tokens: 3, tokens_per_fill: 3, fill_interval: '60s' };
    const on = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      httpFilters: [
        {
          name: 'envoy.filters.http.local_ratelimit',
          typed_config: {
            '@type': RL_TYPE,
            stat_prefix: 'http_local',
            token_bucket: bucket,
            filter_enabled: on,
            filter_enforced: on,
            enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
            response_headers_to_add: [{ header: { key: 'x-limited', value: 'yes' } }],
          },
        },
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/shadowed' },
              route: { cluster: 'backend' },
              typed_per_filter_config: {
                'envoy.filters.http.local_ratelimit': {
                  '@type': RL_TYPE,
                  stat_prefix: 'route_local',
                  token_bucket: { max_tokens: 1, fill_interval: '60s' },
                  filter_enabled: on,
                  filter_enforced: { default_value: { numerator: 0 }, runtime_key: 'rl.enforced' },
                  request_headers_to_add_when_not_enforced: [{ header: { key: 'x-would-limit', value: 'true' } }],
                },
              },
            },
            { match: { prefix: '/' }, route: { cluster: 'backend' } },
          ],
        },
      ],
    });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof request>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await request(p.port, '/', { headers: { 'x-test-id': `rl${i}` } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(last!.body).toBe('local_rate_limited');
    expect(last!.headers['x-limited']).toBe('yes');
    expect(last!.headers['x-ratelimit-limit']).toBe('3');
    expect(last!.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(last!.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
    expect((await p.logLines(5)).find((l) => l.endsWith(' rl4'))).toMatch(/^429 RL -/);

    // The route's own bucket: over its limit but not enforced, so forwarded with a marker.
    expect((await request(p.port, '/shadowed')).status).toBe(200);
    expect((await request(p.port, '/shadowed')).status).toBe(200);
    expect(a!.seen.at(-1)!.headers['x-would-limit']).toBe('true');
    await p.admin('/runtime_modify?rl.enforced=100', 'POST');
    expect((await request(p.port, '/shadowed')).status).toBe(429);

    const stats = await p.stats();
    expect(stats.get('http_local.http_local_rate_limit.enabled')).toBe(5);
    expect(stats.get('http_local.http_local_rate_limit.ok')).toBe(3);
    expect(stats.get('http_local.http_local_rate_limit.rate_limited')).toBe(2);
    expect(stats.get('http_local.http_local_rate_limit.enforced')).toBe(2);
    expect(stats.get('route_local.http_local_rate_limit.rate_limited')).toBe(2);
    expect(stats.get('route_local.http_local_rate_limit.enforced')).toBe(1);
  });
});

describe('request mirroring', () => {
  it('copies requests to the shadow cluster with a -shadow host, fire and forget', async () => {
    const [main, shadow] = await upstreams('main', 'shadow');
    shadow!.mode = { kind: 'stall' };
    const p = await proxy({
      clusters: [cluster('main', [main!.port]), cluster('shadow', [shadow!.port])],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/never' },
              route: {
                cluster: 'main',
                request_mirror_policies: [{ cluster: 'shadow', runtime_fraction: { default_value: { numerator: 0 } } }],
              },
            },
            { match: { prefix: '/' }, route: { cluster: 'main', request_mirror_policies: [{ cluster: 'shadow' }] } },
          ],
        },
      ],
    });
    const res = await request(p.port, '/mirrored', {
      method: 'POST',
      body: 'payload',
      headers: { host: 'shop.local:8080' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-upstream']).toBe('main');
    await until(() => shadow!.count === 1, 'shadow copy');
    expect(shadow!.seen[0]!.headers.host).toBe('shop.local-shadow:8080');
    expect(shadow!.seen[0]!.body).toBe('payload');
    expect(main!.seen[0]!.headers.host).toBe('shop.local:8080');
    await request(p.port, '/never');
    await sleep(100);
    expect(shadow!.count).toBe(1);
    // A dead shadow never fails the real request.
    await shadow!.stop();
    expect((await request(p.port, '/again')).status).toBe(200);
  });
});

describe('circuit breakers', () => {
  it('max_requests overflow answers 503 UO with x-envoy-overloaded and counts upstream_rq_pending_overflow', async () => {
    const [a] = await upstreams('a');
    a!.mode = { kind: 'delay', ms: 300 };
    const p = await proxy({
      clusters: [
        cluster('backend', [a!.port], {
          circuit_breakers: { thresholds: [{ max_requests: 1 }, { priority: 'HIGH', max_requests: 2 }] },
        }),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            { match: { prefix: '/high' }, route: { cluster: 'backend', priority: 'HIGH' } },
            { match: { prefix: '/' }, route: { cluster: 'backend' } },
          ],
        },
      ],
    });
    const first = request(p.port, '/', { headers: { 'x-test-id': 'first' } });
    await until(() => a!.count === 1, 'first request in flight');
    const second = await request(p.port, '/', { headers: { 'x-test-id': 'second' } });
    expect(second.status).toBe(503);
    expect(second.headers['x-envoy-overloaded']).toBe('true');
    expect((await first).status).toBe(200);
    expect((await p.logLines(2)).find((l) => l.endsWith(' second'))).toMatch(/^503 UO /);
    expect(await p.stat('cluster.backend.upstream_rq_pending_overflow')).toBe(1);

    // HIGH-priority routes have their own limits; slots are given back after each request.
    const high = await Promise.all([request(p.port, '/high'), request(p.port, '/high'), request(p.port, '/high')]);
    expect(high.map((r) => r.status).sort()).toEqual([200, 200, 503]);
    expect((await request(p.port, '/')).status).toBe(200);
    const clusters = (await p.admin('/clusters')).body;
    expect(clusters).toContain('backend::high_priority::max_requests::2');
    expect(clusters).toContain('backend::default_priority::max_requests::1');
  });
});

describe('connection pool limits', () => {
  it('max_connections 1 and max_pending_requests 1: one request queues, the next overflows (never retried)', async () => {
    const [a] = await upstreams('a');
    a!.mode = { kind: 'delay', ms: 300 };
    const p = await proxy({
      clusters: [
        cluster('backend', [a!.port], {
          circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] },
        }),
      ],
      virtualHosts: routeTo('backend', { retry_policy: { retry_on: '5xx,reset,connect-failure', num_retries: 2 } }),
    });
    const first = request(p.port, '/', { headers: { 'x-test-id': 'first' } });
    await until(() => a!.count === 1, 'first request in flight');
    const queued = request(p.port, '/', { headers: { 'x-test-id': 'queued' } });
    await until(
      async () => (await p.stat('cluster.backend.upstream_rq_pending_active')) === 1,
      'second request pending',
    );
    const third = await request(p.port, '/', { headers: { 'x-test-id': 'third' } });
    expect(third.status).toBe(503);
    expect(third.headers['x-envoy-overloaded']).toBe('true');
    expect([(await first).status, (await queued).status]).toEqual([200, 200]);
    expect(a!.count).toBe(2);
    expect((await p.logLines(3)).find((l) => l.endsWith(' third'))).toMatch(/^503 UO /);
    const stats = await p.stats();
    expect(stats.get('cluster.backend.upstream_rq_pending_overflow')).toBe(1);
    expect(stats.get('cluster.backend.upstream_cx_overflow')).toBeGreaterThanOrEqual(1);
    expect(stats.get('cluster.backend.upstream_cx_total')).toBe(1);
    expect(stats.get('cluster.backend.upstream_rq_pending_active')).toBe(0);
  });
});

describe('stream timeouts', () => {
  it('stream idle timeout: 504 SI while waiting on upstream, a reset once the response started, 408 while the request is arriving', async () => {
    const [stall, slow] = await upstreams('stall', 'slow');
    stall!.mode = { kind: 'stall' };
    slow!.mode = { kind: 'slow_body', chunks: 3, intervalMs: 600 };
    const p = await proxy({
      clusters: [cluster('stall', [stall!.port]), cluster('slow', [slow!.port])],
      hcm: { stream_idle_timeout: '0.3s', request_timeout: '5s' },
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            { match: { prefix: '/stall' }, route: { cluster: 'stall' } },
            { match: { prefix: '/slow' }, route: { cluster: 'slow', idle_timeout: '0.2s' } },
          ],
        },
      ],
    });
    const stalled = await request(p.port, '/stall', { headers: { 'x-test-id': 'si' } });
    expect(stalled.status).toBe(504);
    expect(stalled.body).toBe('stream timeout');
    await expect(request(p.port, '/slow', { headers: { 'x-test-id': 'si-mid' } })).rejects.toThrow();

    // A request body that stops arriving: 408.
    const raw = await new Promise<string>((resolve) => {
      const socket = net.connect(p.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('connect', () => socket.write('POST /stall HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc'));
      socket.on('data', (d) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 3000);
    });
    expect(raw.startsWith('HTTP/1.1 408')).toBe(true);
    const lines = await p.logLines(3);
    expect(lines.find((l) => l.endsWith(' si'))).toMatch(/^504 SI /);
    // The response had started: the stream is reset (LR) for the idle timeout (SI).
    expect(lines.find((l) => l.endsWith(' si-mid'))).toMatch(/^200 LR,SI /);
    expect(await p.stat('http.ingress_http.downstream_rq_idle_timeout')).toBe(3);
  });

  it('request_timeout: a request whose body is not complete in time gets 408', async () => {
    const [a] = await upstreams('a');
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      hcm: { request_timeout: '0.3s' },
      virtualHosts: routeTo('backend'),
    });
    const raw = await new Promise<string>((resolve) => {
      const socket = net.connect(p.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let n = 0;
      // Keeps the stream busy (never idle) but never completes the body in time.
      const drip = setInterval(() => socket.write(n++ < 20 ? 'a' : ''), 50);
      socket.on('connect', () => socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n'));
      socket.on('data', (d) => chunks.push(d));
      socket.on('close', () => {
        clearInterval(drip);
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 3000);
    });
    expect(raw.startsWith('HTTP/1.1 408')).toBe(true);
    expect(raw).toContain('request timeout');
    expect(await p.stat('http.ingress_http.downstream_rq_timeout')).toBe(1);
    expect(a!.count).toBe(0);
  });
});
