// Every lb_policy with real upstreams: spread for ROUND_ROBIN/RANDOM/LEAST_REQUEST, endpoint
// weights, stickiness of RING_HASH/MAGLEV under header/cookie/source-IP hash policies,
// priority failover and locality weighting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrap,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';

let ups: Upstream[] = [];
let proxy: RunningProxy;

const ep = (port: number, weight?: number) => ({
  endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
  ...(weight !== undefined ? { load_balancing_weight: weight } : {}),
});

beforeAll(async () => {
  ups = await Promise.all(['u0', 'u1', 'u2', 'u3'].map((n) => startUpstream(n)));
  const ports = ups.map((u) => u.port);
  const clusters = [
    staticCluster({ name: 'rr', ports: ports.slice(0, 3), lb_policy: 'ROUND_ROBIN' }),
    staticCluster({ name: 'random', ports: ports.slice(0, 3), lb_policy: 'RANDOM' }),
    staticCluster({ name: 'least', ports: ports.slice(0, 3), lb_policy: 'LEAST_REQUEST' }),
    staticCluster({ name: 'ring', ports, lb_policy: 'RING_HASH' }),
    staticCluster({ name: 'maglev', ports, lb_policy: 'MAGLEV' }),
    staticCluster({
      name: 'weighted',
      lb_policy: 'ROUND_ROBIN',
      endpoints: [{ lb_endpoints: [ep(ports[0]!, 3), ep(ports[1]!, 1)] }],
    }),
    staticCluster({
      name: 'priorities',
      endpoints: [
        {
          priority: 0,
          lb_endpoints: [
            { ...ep(ports[0]!), health_status: 'UNHEALTHY' },
            { ...ep(ports[1]!), health_status: 'UNHEALTHY' },
          ],
        },
        { priority: 1, lb_endpoints: [ep(ports[2]!)] },
      ],
    }),
    staticCluster({
      name: 'localities',
      extra: { common_lb_config: { locality_weighted_lb_config: {} } },
      endpoints: [
        { locality: { region: 'r', zone: 'z1' }, load_balancing_weight: 1, lb_endpoints: [ep(ports[0]!)] },
        { locality: { region: 'r', zone: 'z2' }, load_balancing_weight: 3, lb_endpoints: [ep(ports[1]!)] },
      ],
    }),
  ];
  const route = (prefix: string, cluster: string, hash_policy?: unknown[]) => ({
    match: { prefix },
    route: { cluster, ...(hash_policy !== undefined ? { hash_policy } : {}) },
  });
  proxy = await startTestProxy(
    bootstrap({
      clusters,
      virtualHosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            route('/rr', 'rr'),
            route('/random', 'random'),
            route('/least', 'least'),
            route('/ring-header', 'ring', [{ header: { header_name: 'x-user' } }]),
            route('/maglev-header', 'maglev', [{ header: { header_name: 'x-user' } }]),
            route('/ring-cookie', 'ring', [{ cookie: { name: 'session', ttl: '60s', path: '/' } }]),
            route('/maglev-ip', 'maglev', [{ connection_properties: { source_ip: true } }]),
            route('/weighted', 'weighted'),
            route('/priorities', 'priorities'),
            route('/localities', 'localities'),
          ],
        },
      ],
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all(ups.map((u) => u.close()));
});

async function tally(path: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(proxy.port, path, { headers });
    expect(r.status).toBe(200);
    const u = r.json<{ upstream: string }>().upstream;
    counts[u] = (counts[u] ?? 0) + 1;
  }
  return counts;
}

describe('load balancing policies', () => {
  it('ROUND_ROBIN cycles through every host evenly', async () => {
    expect(Object.values(await tally('/rr', 90)).sort()).toEqual([30, 30, 30]);
  });

  it('ROUND_ROBIN honours endpoint weights (3:1)', async () => {
    const c = await tally('/weighted', 80);
    expect(c).toEqual({ u0: 60, u1: 20 });
  });

  it('RANDOM and LEAST_REQUEST reach every host', async () => {
    for (const path of ['/random', '/least']) {
      const c = await tally(path, 150);
      expect(Object.keys(c).sort()).toEqual(['u0', 'u1', 'u2']);
      for (const v of Object.values(c)) expect(v).toBeGreaterThan(15);
    }
  });

  it('RING_HASH and MAGLEV stick a header value to one host, and spread different values', async () => {
    for (const path of ['/ring-header', '/maglev-header']) {
      const owners = new Set<string>();
      for (let user = 0; user < 24; user++) {
        const c = await tally(path, 4, { 'x-user': `user-${user}` });
        expect(Object.keys(c)).toHaveLength(1);
        owners.add(Object.keys(c)[0]!);
      }
      expect(owners.size).toBeGreaterThan(1);
    }
  });

  it('cookie hash policy generates the cookie, then sticks to it', async () => {
    const first = await request(proxy.port, '/ring-cookie');
    const setCookie = first.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toMatch(/^session="[0-9a-f]+"; Max-Age=60; Path=\/; HttpOnly$/);
    const cookie = setCookie.split(';')[0]!;
    const c = await tally('/ring-cookie', 10, { cookie });
    expect(Object.keys(c)).toHaveLength(1);
    expect(Object.keys(c)[0]).toBe(first.json<{ upstream: string }>().upstream);
  });

  it('source IP hash policy is sticky', async () => {
    expect(Object.keys(await tally('/maglev-ip', 10))).toHaveLength(1);
  });

  it('priority levels: unhealthy priority 0 fails over to priority 1', async () => {
    expect(await tally('/priorities', 10)).toEqual({ u2: 10 });
  });

  it('locality weights split traffic between localities (1:3)', async () => {
    const c = await tally('/localities', 200);
    expect(c.u1!).toBeGreaterThan(120);
    expect(c.u0!).toBeGreaterThan(20);
  });
});
