// A service's `egress.hosts` (Istio's Sidecar egress): its sidecars hold routes and clusters for
// the services it calls (and what those services' rules send to) only. Real proxies over gRPC
// ADS: the scoped sidecar reaches its declared service, gets 404 (NR) for another as Envoy
// would, and is pushed nothing when a service outside its scope is edited, while an unscoped
// sidecar (today's default: every service) is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  nodeResources,
  parseMesh,
  renderDynamicBootstrap,
  startControlPlane,
  TYPE_URL,
  type ControlPlane,
} from '../../control-plane/index.js';
import { startProxy, type ProxyServer } from '../../proxy/index.js';
import { freePorts, tempDir, waitFor, type TempDir } from './helpers.js';
import { request, startUpstream, type Upstream } from '../proxy/helpers.js';

interface Ports {
  frontIn: number;
  frontOut: number;
  frontAdmin: number;
  ordersIn: number;
  ordersOut: number;
  ordersAdmin: number;
}

function meshYaml(
  apps: Record<'catalog' | 'audit' | 'orders', number>,
  p: Ports,
  o: { ordersWeight?: number; catalogWeight?: number; egress?: string[] } = {},
): string {
  return stringify({
    name: 'egress-scope',
    services: [
      {
        name: 'front',
        ports: [{ name: 'http', port: 8080 }],
        egress: { hosts: o.egress ?? ['catalog'] },
        workloads: [
          {
            name: 'front-1',
            endpoints: { http: '127.0.0.1:1' },
            sidecar: { inbound: { http: p.frontIn }, outbound_port: p.frontOut, admin_port: p.frontAdmin },
          },
        ],
      },
      {
        name: 'catalog',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [
          {
            name: 'catalog-1',
            labels: { version: 'v1' },
            endpoints: { http: `127.0.0.1:${apps.catalog}` },
            weight: o.catalogWeight ?? 1,
          },
        ],
        // A caller applies these rules, so a caller of catalog needs audit's cluster too.
        routes: [{ route: [{ subset: 'v1' }], mirror: { service: 'audit' } }],
      },
      {
        name: 'audit',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [{ name: 'audit-1', endpoints: { http: `127.0.0.1:${apps.audit}` } }],
      },
      {
        name: 'orders',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [
          {
            name: 'orders-1',
            endpoints: { http: `127.0.0.1:${apps.orders}` },
            weight: o.ordersWeight ?? 1,
            sidecar: { inbound: { http: p.ordersIn }, outbound_port: p.ordersOut, admin_port: p.ordersAdmin },
          },
        ],
      },
    ],
  });
}

describe('egress scope (Istio Sidecar egress hosts)', () => {
  let apps: Record<'catalog' | 'audit' | 'orders', Upstream>;
  let ports: Record<'catalog' | 'audit' | 'orders', number>;
  let p: Ports;
  let dir: TempDir;
  let cp: ControlPlane | undefined;
  const proxies: ProxyServer[] = [];
  /** Every ACK the control plane saw, in order. */
  const acks: Array<{ node: string; typeUrl: string; version: string }> = [];

  beforeAll(async () => {
    apps = {
      catalog: await startUpstream('catalog'),
      audit: await startUpstream('audit'),
      orders: await startUpstream('orders'),
    };
    ports = { catalog: apps.catalog.port, audit: apps.audit.port, orders: apps.orders.port };
    const [frontIn, frontOut, frontAdmin, ordersIn, ordersOut, ordersAdmin] = await freePorts(6);
    p = {
      frontIn: frontIn!,
      frontOut: frontOut!,
      frontAdmin: frontAdmin!,
      ordersIn: ordersIn!,
      ordersOut: ordersOut!,
      ordersAdmin: ordersAdmin!,
    };
    dir = tempDir();
  });

  afterAll(async () => {
    for (const proxy of proxies) await proxy.close(1000);
    await cp?.close();
    for (const app of Object.values(apps ?? {})) await app.close();
    dir?.remove();
  });

  it('gives a scoped sidecar the clusters and routes of its egress hosts and their destinations only', () => {
    const mesh = parseMesh(meshYaml(ports, p));
    const front = nodeResources(mesh, 'front-1', { kind: 'ads' });
    expect([...front.clusters.keys()].filter((c) => c.startsWith('outbound|')).sort()).toEqual([
      'outbound|8080|v1|default/catalog',
      'outbound|8080||default/audit',
      'outbound|8080||default/catalog',
    ]);
    expect([...front.endpoints.keys()].sort()).toEqual([
      'outbound|8080|v1|default/catalog',
      'outbound|8080||default/audit',
      'outbound|8080||default/catalog',
    ]);
    const hosts = (front.routes.get('outbound') as { virtual_hosts: Array<{ name: string }> }).virtual_hosts;
    expect(hosts.map((h) => h.name)).toEqual(['catalog.default:8080', 'audit.default:8080']);
    // No egress: every service, as before.
    const orders = nodeResources(mesh, 'orders-1', { kind: 'ads' });
    expect(orders.clusters.has('outbound|8080||default/front')).toBe(true);
    expect(orders.clusters.has('outbound|8080||default/orders')).toBe(true);
  });

  it('routes a scoped sidecar to its hosts, answers 404 NR for others, and pushes it nothing for an edit outside its scope', async () => {
    const file = dir.write('mesh.yaml', meshYaml(ports, p));
    cp = await startControlPlane({
      meshPath: file,
      port: 0,
      debounceMs: 20,
      log: () => undefined,
      onAck: (node, typeUrl, version) => acks.push({ node, typeUrl, version }),
    });
    const mesh = parseMesh(meshYaml(ports, p));
    for (const node of ['front-1', 'orders-1']) {
      const config = renderDynamicBootstrap(mesh, node, { xds: `127.0.0.1:${cp.port}`, api: 'GRPC' });
      proxies.push(await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 }));
    }
    const call = (port: number, host: string) => request(port, '/x', { headers: { host } });
    await waitFor(async () => (await call(p.frontOut, 'catalog')).status === 200, 'front-1 routes to catalog');
    expect((await call(p.frontOut, 'catalog')).json().upstream).toBe('catalog');
    await waitFor(() => apps.audit.seen.length > 0, 'the mirror to audit');
    const denied = await call(p.frontOut, 'orders:8080');
    expect(denied.status).toBe(404);
    const stats = (await request(p.frontAdmin, '/stats')).body;
    expect(stats).toMatch(new RegExp(`http\\.outbound_${p.frontOut}\\.no_route: 1\\n`));
    // The unscoped sidecar still reaches every service.
    await waitFor(async () => (await call(p.ordersOut, 'front')).status !== 404, 'orders-1 routes to front');
    expect((await call(p.ordersOut, 'catalog')).json().upstream).toBe('catalog');

    // An edit of orders (outside front's scope): orders-1 routes to orders, so it gets the EDS push.
    const before = acks.length;
    const edsOf = (node: string): string[] =>
      acks
        .slice(before)
        .filter((a) => a.node === node && a.typeUrl === TYPE_URL.endpoints)
        .map((a) => a.version);
    dir.write('mesh.yaml', meshYaml(ports, p, { ordersWeight: 7 }));
    await waitFor(() => edsOf('orders-1').length > 0, 'orders-1 ACKs the orders edit');
    // Then an edit inside the scope. ACKs of one stream arrive in order, so had front-1 been
    // pushed the first edit, its ACK would come before this one's.
    dir.write('mesh.yaml', meshYaml(ports, p, { ordersWeight: 7, catalogWeight: 3 }));
    await waitFor(() => edsOf('front-1').length > 0, 'front-1 ACKs the catalog edit');
    await waitFor(() => edsOf('orders-1').length > 1, 'orders-1 ACKs the catalog edit');
    const frontAcks = acks.slice(before).filter((a) => a.node === 'front-1');
    expect(frontAcks.map((a) => a.typeUrl)).toEqual([TYPE_URL.endpoints]);
  });

  it('refuses an egress host that names no service, and an outbound_tcp target outside the scope, with their paths', () => {
    expect(() => parseMesh(meshYaml(ports, p, { egress: ['catalog', 'nosuch'] }))).toThrow(
      /services\[0\]\.egress\.hosts\[1\]: no service named 'nosuch'/,
    );
    const text = stringify({
      services: [
        {
          name: 'db',
          ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
          workloads: [{ name: 'db-1', endpoints: { pg: '127.0.0.1:1' } }],
        },
        {
          name: 'client',
          ports: [{ name: 'http', port: 8080 }],
          egress: { hosts: ['catalog'] },
          workloads: [
            {
              name: 'client-1',
              endpoints: { http: '127.0.0.1:1' },
              sidecar: { inbound: { http: 1 }, outbound_port: 2, outbound_tcp: { 'db:pg': 3 } },
            },
          ],
        },
        { name: 'catalog', ports: [{ name: 'http', port: 8080 }], workloads: [] },
      ],
    });
    expect(() => parseMesh(text)).toThrow(
      /services\[1\]\.workloads\[0\]\.sidecar\.outbound_tcp\.db:pg: service db\.default is not in services\[1\]\.egress\.hosts/,
    );
  });
});
