// Zone-aware routing from the node's locality and the local cluster, and priorities with the
// overprovisioning factor, against real upstreams.
import { describe, expect, it } from 'vitest';
import { testFixtures, request, startResilienceProxy, withinBinomialBounds, type ResilienceProxy } from './harness.js';
import { startUpstreams, type TestUpstream } from './upstreams.js';
import { validateBootstrap } from '../../../proxy/index.js';

const { cleanups } = testFixtures();

async function upstreams(n: number): Promise<TestUpstream[]> {
  const list = await startUpstreams(...Array.from({ length: n }, (_, i) => `u${i}`));
  for (const u of list) cleanups.push(() => u.stop());
  return list;
}

function zoned(
  name: string,
  groups: Array<{ zone: string; ports: number[]; priority?: number }>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '0.5s',
    load_assignment: {
      cluster_name: name,
      endpoints: groups.map((g) => ({
        locality: { region: 'r', zone: g.zone },
        ...(g.priority !== undefined ? { priority: g.priority } : {}),
        lb_endpoints: g.ports.map((p) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } },
        })),
      })),
    },
    ...extra,
  };
}

describe('zone-aware routing', () => {
  it('keeps traffic in the local zone when the upstream has the capacity there, and spills the rest by residual capacity', async () => {
    const ups = await upstreams(6);
    const ports = ups.map((u) => u.port);
    // Local cluster: this service's proxies, half of them in z1 (ours), half in z2.
    const local = zoned('self', [
      { zone: 'z1', ports: [1, 2] },
      { zone: 'z2', ports: [3, 4] },
    ]);
    const direct = await startResilienceProxyWithNode(
      zoned('backend', [
        { zone: 'z1', ports: ports.slice(0, 3) },
        { zone: 'z2', ports: ports.slice(3) },
      ]),
      local,
    );
    for (let i = 0; i < 30; i++) expect((await request(direct.port, '/')).status).toBe(200);
    expect(ups.slice(3).every((u) => u.count === 0)).toBe(true);
    expect(await direct.stat('cluster.backend.lb_zone_routing_all_directly')).toBe(30);

    // Only 1 of 6 upstream hosts in z1 while half our proxies are there: 1/6 ÷ 1/2 = 1/3 stays local.
    for (const u of ups) u.seen.length = 0;
    const residual = await startResilienceProxyWithNode(
      zoned('backend', [
        { zone: 'z1', ports: ports.slice(0, 1) },
        { zone: 'z2', ports: ports.slice(1) },
      ]),
      local,
    );
    const n = 300;
    for (let i = 0; i < n; i += 30) await Promise.all(Array.from({ length: 30 }, () => request(residual.port, '/')));
    const localHits = ups[0]!.count;
    expect(withinBinomialBounds(localHits, n, 1 / 3)).toBe(true);
    const stats = await residual.stats();
    expect(stats.get('cluster.backend.lb_zone_routing_sampled')).toBe(localHits);
    expect(stats.get('cluster.backend.lb_zone_routing_cross_zone')).toBe(n - localHits);
  });

  it('does not zone-route a cluster smaller than min_cluster_size', async () => {
    const ups = await upstreams(2);
    const local = zoned('self', [
      { zone: 'z1', ports: [1] },
      { zone: 'z2', ports: [2] },
    ]);
    const p = await startResilienceProxyWithNode(
      zoned('backend', [
        { zone: 'z1', ports: [ups[0]!.port] },
        { zone: 'z2', ports: [ups[1]!.port] },
      ]),
      local,
    );
    for (let i = 0; i < 10; i++) await request(p.port, '/');
    expect(ups[1]!.count).toBeGreaterThan(0);
    expect(await p.stat('cluster.backend.lb_zone_cluster_too_small')).toBeGreaterThan(0);
  });

  it('rejects a local_cluster_name that names no cluster', () => {
    expect(() =>
      validateBootstrap({ cluster_manager: { local_cluster_name: 'nope' }, static_resources: { clusters: [] } }),
    ).toThrow(/cluster_manager\.local_cluster_name: local cluster 'nope' must be defined/);
  });
});

describe('priorities', () => {
  it('spills from priority 0 to 1 as P0 health drops below 100/1.4 (overprovisioning factor)', async () => {
    const ups = await upstreams(4);
    const [p0a, p0b, p1a, p1b] = ups;
    const hc = {
      timeout: '0.5s',
      interval: '0.05s',
      no_traffic_interval: '0.05s',
      unhealthy_threshold: 1,
      healthy_threshold: 1,
      http_health_check: { path: '/healthz' },
    };
    const backend = zoned(
      'backend',
      [
        { zone: 'z1', ports: [p0a!.port, p0b!.port], priority: 0 },
        { zone: 'z1', ports: [p1a!.port, p1b!.port], priority: 1 },
      ],
      { health_checks: [hc], common_lb_config: { healthy_panic_threshold: { value: 0 } } },
    );
    const p = await startResilienceProxy({
      clusters: [backend],
      virtualHosts: [
        { name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] },
      ],
    });
    cleanups.push(() => p.close());
    const healthy = async (): Promise<number> =>
      (await p.admin('/clusters')).body.split('\n').filter((l) => l.includes('::health_flags::healthy')).length;
    for (let i = 0; (await healthy()) < 4 && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
    const hits = (): number[] => ups.map((u) => u.seen.filter((s) => s.url === '/').length);
    for (let i = 0; i < 40; i++) await request(p.port, '/');
    expect(hits().slice(2)).toEqual([0, 0]);
    // One of two P0 hosts unhealthy: P0 health = min(100, 1.4 × 50) = 70%, P1 takes 30%.
    p0b!.mode = { kind: 'status', status: 503 };
    for (let i = 0; (await healthy()) > 3 && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
    const before = hits();
    const n = 300;
    for (let i = 0; i < n; i += 30) await Promise.all(Array.from({ length: 30 }, () => request(p.port, '/')));
    const after = hits();
    const p1 = after[2]! + after[3]! - before[2]! - before[3]!;
    expect(withinBinomialBounds(p1, n, 0.3)).toBe(true);
  });
});

describe('locality-weighted load balancing', () => {
  it("scales a locality's weight by its availability (overprovisioning factor 1.4)", async () => {
    const ups = await upstreams(6);
    const [a0, a1, a2, a3, b0, b1] = ups;
    for (const u of [a1!, a2!, a3!]) u.mode = { kind: 'status', status: 503 };
    const hc = {
      timeout: '0.5s',
      interval: '0.05s',
      no_traffic_interval: '0.05s',
      unhealthy_threshold: 1,
      healthy_threshold: 1,
      http_health_check: { path: '/healthz' },
    };
    const backend = zoned(
      'backend',
      [
        { zone: 'za', ports: [a0!.port, a1!.port, a2!.port, a3!.port] },
        { zone: 'zb', ports: [b0!.port, b1!.port] },
      ],
      { health_checks: [hc], common_lb_config: { locality_weighted_lb_config: {} } },
    );
    const endpoints = (backend['load_assignment'] as { endpoints: Array<Record<string, unknown>> }).endpoints;
    for (const e of endpoints) e['load_balancing_weight'] = 1;
    const p = await startResilienceProxy({
      clusters: [backend],
      virtualHosts: [
        { name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] },
      ],
    });
    cleanups.push(() => p.close());
    const failed = async (): Promise<number> =>
      (await p.admin('/clusters')).body.split('\n').filter((l) => l.endsWith('::health_flags::/failed_active_hc'))
        .length;
    const healthy = async (): Promise<number> =>
      (await p.admin('/clusters')).body.split('\n').filter((l) => l.endsWith('::health_flags::healthy')).length;
    for (let i = 0; ((await failed()) !== 3 || (await healthy()) !== 3) && i < 400; i++)
      await new Promise((r) => setTimeout(r, 25));
    const n = 300;
    for (let i = 0; i < n; i += 30) await Promise.all(Array.from({ length: 30 }, () => request(p.port, '/')));
    const inA = a0!.seen.filter((s) => s.url === '/').length;
    // za: 1 of 4 healthy → availability min(1, 1.4 × 0.25) = 0.35 against zb's 1: za gets 0.35 / 1.35.
    expect(withinBinomialBounds(inA, n, 0.35 / 1.35)).toBe(true);
  });
});

/** A proxy whose node sits in region r / zone z1 and whose local cluster is `self`. */
async function startResilienceProxyWithNode(
  backend: Record<string, unknown>,
  local: Record<string, unknown>,
): Promise<ResilienceProxy> {
  const p = await startResilienceProxy({
    clusters: [backend, local],
    virtualHosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }],
    bootstrapExtra: {
      node: { id: 'n1', cluster: 'self', locality: { region: 'r', zone: 'z1' } },
      cluster_manager: { local_cluster_name: 'self' },
    },
  });
  cleanups.push(() => p.close());
  return p;
}
