// Envoy fields whose feature meshscope has, each doing what Envoy's API reference says:
// - router `start_child_span` (api-v3/extensions/filters/http/router/v3/router.proto: "Whether
//   the router generates a child span for egress calls; tracing must be enabled");
// - endpoint `health_check_config` (api-v3/config/endpoint/v3/endpoint_components.proto:
//   `port_value` "Optional alternative health check port value", `hostname` overrides the
//   cluster-level host header for this endpoint's checks, `disable_active_health_check`);
// - route `request_mirror_policies[].cluster_header` (api-v3/config/route/v3/route_components.proto:
//   the shadow cluster named by a request header; "If the header is not found or the referenced
//   cluster does not exist, Envoy will not shadow the request");
// - HCM `add_user_agent` (http_connection_manager.proto: "the connection manager will manipulate
//   the user agent and the x-envoy-downstream-service-cluster / -node headers", see
//   configuration/http/http_conn_man/headers: x-envoy-downstream-service-cluster).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ROUTER,
  bootstrap,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
} from './helpers.js';
import {
  bootstrap as sidecarBootstrap,
  freePort,
  listener,
  otelTracing,
  request as rawRequest,
  startSidecar,
  staticCluster as sidecarCluster,
  TelemetryReceiver,
  waitFor,
} from './telemetry/helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function proxyFor(config: unknown): Promise<RunningProxy> {
  const p = await startTestProxy(config);
  cleanups.push(() => p.close());
  return p;
}

const ROUTE_ALL = (cluster: string, extra: Record<string, unknown> = {}) => [
  { name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, ...extra } }] },
];

describe('HCM add_user_agent', () => {
  it('tells the upstream the local service cluster and node, and fills a missing user-agent', async () => {
    const up = await startUpstream('up');
    cleanups.push(() => up.close());
    const cfg = bootstrap({
      virtualHosts: ROUTE_ALL('up'),
      clusters: [staticCluster({ name: 'up', ports: [up.port] })],
      hcm: { add_user_agent: true },
    });
    const p = await proxyFor({ node: { id: 'front-7', cluster: 'front' }, ...cfg });
    await request(p.port, '/a');
    await request(p.port, '/b', { headers: { 'user-agent': 'curl/8' } });
    const [a, b] = up.seen;
    expect(a!.headers['x-envoy-downstream-service-cluster']).toBe('front');
    expect(a!.headers['x-envoy-downstream-service-node']).toBe('front-7');
    expect(a!.headers['user-agent']).toBe('front');
    expect(b!.headers['user-agent']).toBe('curl/8');
  });

  it('leaves the headers alone when off (the default)', async () => {
    const up = await startUpstream('up');
    cleanups.push(() => up.close());
    const p = await proxyFor({
      node: { id: 'front-7', cluster: 'front' },
      ...bootstrap({ virtualHosts: ROUTE_ALL('up'), clusters: [staticCluster({ name: 'up', ports: [up.port] })] }),
    });
    await request(p.port, '/a');
    expect(up.seen[0]!.headers['x-envoy-downstream-service-cluster']).toBeUndefined();
    expect(up.seen[0]!.headers['user-agent']).toBeUndefined();
  });
});

describe('request_mirror_policies cluster_header', () => {
  it('mirrors to the cluster the header names, and not at all without the header', async () => {
    const [main, shadow] = [await startUpstream('main'), await startUpstream('shadow')];
    cleanups.push(
      () => main.close(),
      () => shadow.close(),
    );
    const p = await proxyFor(
      bootstrap({
        virtualHosts: ROUTE_ALL('main', { request_mirror_policies: [{ cluster_header: 'x-mirror-to' }] }),
        clusters: [
          staticCluster({ name: 'main', ports: [main.port] }),
          staticCluster({ name: 'shadow', ports: [shadow.port] }),
        ],
      }),
    );
    expect((await request(p.port, '/one', { headers: { 'x-mirror-to': 'shadow' } })).status).toBe(200);
    expect((await request(p.port, '/two')).status).toBe(200);
    expect((await request(p.port, '/three', { headers: { 'x-mirror-to': 'no-such-cluster' } })).status).toBe(200);
    await waitFor('the mirrored request', () => (shadow.seen.length > 0 ? true : undefined), 5_000);
    expect(main.seen.map((s) => s.url)).toEqual(['/one', '/two', '/three']);
    expect(shadow.seen.map((s) => s.url)).toEqual(['/one']);
    expect(shadow.seen[0]!.headers.host).toMatch(/-shadow(:\d+)?$/);
  });

  it('refuses a policy with both or neither of cluster and cluster_header', async () => {
    const { validateBootstrap } = await import('../../proxy/index.js');
    const cfg = (policy: object) =>
      bootstrap({
        virtualHosts: ROUTE_ALL('c', { request_mirror_policies: [policy] }),
        clusters: [staticCluster({ name: 'c', ports: [1] })],
      });
    expect(() => validateBootstrap(cfg({ cluster: 'c', cluster_header: 'x' }))).toThrow(
      /request_mirror_policies\[0\]\.cluster: exactly one of cluster or cluster_header/,
    );
    expect(() => validateBootstrap(cfg({}))).toThrow(/exactly one of cluster or cluster_header/);
  });
});

describe('endpoint health_check_config', () => {
  it('checks the endpoint on its health port with its hostname; disable_active_health_check skips it', async () => {
    // The serving port fails /healthz; only the separate health port answers it.
    const app = await startUpstream('app', (req, res) => {
      res.statusCode = req.url === '/healthz' ? 503 : 200;
      res.end('app');
    });
    cleanups.push(() => app.close());
    const hosts: string[] = [];
    const health = http.createServer((req, res) => {
      hosts.push(req.headers.host ?? '');
      res.end('ok');
    });
    await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => health.close(() => r())));
    health.unref();
    const healthPort = (health.address() as AddressInfo).port;
    const unchecked = await startUpstream('unchecked', (req, res) => {
      res.statusCode = req.url === '/healthz' ? 503 : 200;
      res.end('unchecked');
    });
    cleanups.push(() => unchecked.close());
    const endpoint = (port: number, hc: object) => ({
      endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } }, health_check_config: hc },
    });
    const p = await proxyFor(
      bootstrap({
        virtualHosts: ROUTE_ALL('app'),
        clusters: [
          staticCluster({
            name: 'app',
            endpoints: [
              {
                lb_endpoints: [
                  endpoint(app.port, { port_value: healthPort, hostname: 'app.health.local' }),
                  endpoint(unchecked.port, { disable_active_health_check: true }),
                ],
              },
            ],
            extra: {
              health_checks: [
                {
                  timeout: '1s',
                  interval: '0.1s',
                  unhealthy_threshold: 1,
                  healthy_threshold: 1,
                  http_health_check: { path: '/healthz', host: 'cluster-level.local' },
                },
              ],
            },
          }),
        ],
      }),
    );
    let last: unknown;
    const flags = await waitFor(
      'the checked host to pass',
      async () => {
        const c = (await p.server.clusters())[0]!;
        last = c.hosts;
        return c.hosts.every((h) => h.healthFlags.join() === 'healthy') ? c.hosts : undefined;
      },
      5_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}; checks seen ${JSON.stringify(hosts)}`);
    });
    expect(flags).toHaveLength(2);
    expect(hosts[0]).toBe('app.health.local');
    expect(app.seen.filter((s) => s.url === '/healthz')).toHaveLength(0);
    expect(unchecked.seen.filter((s) => s.url === '/healthz')).toHaveLength(0);
    const answered = new Set<string>();
    for (let i = 0; i < 4; i++) answered.add((await request(p.port, '/x')).body);
    expect([...answered].sort()).toEqual(['app', 'unchecked']);
  });
});

describe('router start_child_span', () => {
  it('makes a CLIENT span per upstream request on an inbound sidecar, which makes none by default', async () => {
    const receiver = new TelemetryReceiver();
    await receiver.start();
    cleanups.push(() => receiver.stop());
    const app = await startUpstream('app');
    cleanups.push(() => app.close());
    const [withChild, without, admin] = await Promise.all([freePort(), freePort(), freePort()]);
    const routerWithChild = {
      name: 'envoy.filters.http.router',
      typed_config: { ...ROUTER.typed_config, start_child_span: true },
    };
    const inbound = (name: string, port: number, router?: object) => {
      const l = listener({ name, port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing('svc') }) as {
        filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: object[] } }> }>;
      };
      if (router !== undefined) l.filter_chains[0]!.filters[0]!.typed_config.http_filters = [router];
      return l;
    };
    const sidecar = await startSidecar(
      'start-child-span',
      sidecarBootstrap(
        'svc-1',
        'svc',
        admin!,
        [inbound('with_child', withChild!, routerWithChild), inbound('without', without!)],
        [sidecarCluster('app', app.port), sidecarCluster('collector', receiver.port)],
      ),
    );
    cleanups.push(() => sidecar.stop());
    const traceA = 'aaaa0000000000000000000000000001';
    const traceB = 'bbbb0000000000000000000000000002';
    await rawRequest(withChild!, '/', [['traceparent', `00-${traceA}-1111222233334444-01`]]);
    await rawRequest(without!, '/', [['traceparent', `00-${traceB}-1111222233334444-01`]]);
    const spansA = await waitFor('two spans of the traced request', () => {
      const s = receiver.spans.filter((x) => x.traceId === traceA);
      return s.length >= 2 ? s : undefined;
    });
    const server = spansA.find((s) => s.kind === 2)!;
    const client = spansA.find((s) => s.kind === 3)!;
    expect(client.name).toBe('router app egress');
    expect(client.parentSpanId).toBe(server.spanId);
    await waitFor('the span of the other listener', () =>
      receiver.spans.some((x) => x.traceId === traceB) ? true : undefined,
    );
    expect(receiver.spans.filter((x) => x.traceId === traceB).map((s) => s.kind)).toEqual([2]);
  });
});
