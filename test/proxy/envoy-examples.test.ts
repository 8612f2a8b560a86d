// Configs adapted from envoyproxy/examples load unchanged in shape and route as Envoy would.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../../proxy/index.js';
import { request, startTestProxy, startUpstream, type RunningProxy, type Upstream } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function fixture(name: string, ports: Record<string, number>): unknown {
  let text = readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');
  for (const [k, v] of Object.entries(ports)) text = text.replaceAll(`\${${k}}`, String(v));
  return parseConfigText(text, name);
}

async function upstream(name: string): Promise<Upstream> {
  const u = await startUpstream(name);
  cleanups.push(() => u.close());
  return u;
}

async function proxyFor(config: unknown): Promise<RunningProxy> {
  const p = await startTestProxy(config);
  cleanups.push(() => p.close());
  return p;
}

describe('envoyproxy/examples configs', () => {
  it('front-proxy routes /service/1 and /service/2 to their clusters', async () => {
    const [s1, s2] = [await upstream('service1'), await upstream('service2')];
    const p = await proxyFor(fixture('front-proxy.yaml', { SERVICE1_PORT: s1.port, SERVICE2_PORT: s2.port }));
    expect((await request(p.port, '/service/1')).json<{ upstream: string }>().upstream).toBe('service1');
    expect((await request(p.port, '/service/2')).json<{ upstream: string }>().upstream).toBe('service2');
    expect((await request(p.port, '/service/3')).status).toBe(404);
    expect(p.server.adminAddress()?.port).toBeGreaterThan(0);
  });

  it('locality-load-balancing keeps all traffic on the healthy priority-0 locality', async () => {
    const ups = await Promise.all(['local-1', 'local-2', 'remote-1', 'remote-2'].map(upstream));
    const p = await proxyFor(
      fixture('locality-load-balancing.yaml', {
        LOCAL_1_PORT: ups[0]!.port,
        LOCAL_2_PORT: ups[1]!.port,
        REMOTE_1_PORT: ups[2]!.port,
        REMOTE_2_PORT: ups[3]!.port,
      }),
    );
    for (let i = 0; i < 20; i++)
      expect((await request(p.port, '/')).json<{ upstream: string }>().upstream).toBe('local-1');
    const clusters = await p.server.clusters();
    expect(clusters[0]!.hosts.map((h) => [h.priority, h.zone])).toEqual([
      [0, 'zone-1'],
      [1, 'zone-2'],
      [1, 'zone-1'],
      [2, 'zone-2'],
    ]);
  });

  it("the repository's examples/front-proxy config routes to its services", async () => {
    const [s1, s2] = [await upstream('service1'), await upstream('service2')];
    const text = readFileSync(fileURLToPath(new URL('../../examples/front-proxy/envoy.yaml', import.meta.url)), 'utf8')
      .replace('port_value: 8001', `port_value: ${s1.port}`)
      .replace('port_value: 8002', `port_value: ${s2.port}`)
      .replace('port_value: 8080', 'port_value: 0')
      .replace('port_value: 9901', 'port_value: 0');
    const p = await proxyFor(parseConfigText(text, 'front-proxy'));
    const r = await request(p.port, '/service/2/hello');
    expect(r.json<{ upstream: string; url: string }>()).toMatchObject({
      upstream: 'service2',
      url: '/service/2/hello',
    });
    expect(r.headers['x-served-by']).toBe('meshscope-front-proxy');
    expect((await request(p.port, '/')).body).toBe('try /service/1 or /service/2\n');
  });

  it('double-proxy (plain HTTP): two hops, x-forwarded-for from the edge', async () => {
    const app = await upstream('app');
    const backend = await proxyFor(fixture('double-proxy-backend.yaml', { APP_PORT: app.port }));
    const frontend = await proxyFor(fixture('double-proxy-frontend.yaml', { BACKEND_PROXY_PORT: backend.port }));
    const r = await request(frontend.port, '/hello');
    expect(r.json<{ upstream: string; url: string }>().url).toBe('/hello');
    expect(app.seen.at(-1)!.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(app.seen.at(-1)!.headers['x-request-id']).toBeDefined();
  });
});
