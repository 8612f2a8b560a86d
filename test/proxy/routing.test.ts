// Route configuration as Envoy applies it: virtual-host domain matching (ports included),
// route match kinds in order, rewrites, redirects, direct responses, header mutations,
// weighted clusters and cluster_header, with real upstreams behind an in-process proxy.
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

let a: Upstream;
let b: Upstream;
let c: Upstream;
let proxy: RunningProxy;

const hdr = (key: string, value: string, extra: Record<string, unknown> = {}) => ({ header: { key, value }, ...extra });

beforeAll(async () => {
  [a, b, c] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('c')]);
  proxy = await startTestProxy(
    bootstrap({
      hcm: { strip_matching_host_port: false, normalize_path: true, merge_slashes: true },
      clusters: [
        staticCluster({ name: 'a', ports: [a.port] }),
        staticCluster({ name: 'b', ports: [b.port] }),
        staticCluster({ name: 'c', ports: [c.port] }),
        {
          name: 'named',
          type: 'STRICT_DNS',
          dns_lookup_family: 'V4_ONLY',
          load_assignment: {
            cluster_name: 'named',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: 'localhost', port_value: a.port } } } },
                ],
              },
            ],
          },
        },
      ],
      virtualHosts: [
        {
          name: 'exact',
          domains: ['www.example.com', 'www.example.com:8080'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }],
        },
        { name: 'suffix', domains: ['*.example.com'], routes: [{ match: { prefix: '/' }, route: { cluster: 'b' } }] },
        {
          name: 'longer-suffix',
          domains: ['*.api.example.com'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }],
        },
        { name: 'prefix', domains: ['api.*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] },
        {
          name: 'main',
          domains: ['*'],
          request_headers_to_add: [hdr('x-vhost', 'main')],
          response_headers_to_add: [hdr('x-vhost-resp', 'yes')],
          routes: [
            { match: { path: '/exact' }, route: { cluster: 'a' } },
            { match: { path: '/CaSe', case_sensitive: false }, route: { cluster: 'b' } },
            { match: { safe_regex: { google_re2: {}, regex: '/items/[0-9]+' } }, route: { cluster: 'c' } },
            {
              match: { prefix: '/hdr', headers: [{ name: 'x-tenant', string_match: { exact: 'blue' } }] },
              route: { cluster: 'b' },
            },
            {
              match: { prefix: '/hdr', headers: [{ name: 'x-tenant', present_match: true, invert_match: true }] },
              route: { cluster: 'c' },
            },
            { match: { prefix: '/hdr' }, route: { cluster: 'a' } },
            {
              match: { prefix: '/q', query_parameters: [{ name: 'v', string_match: { exact: '2' } }] },
              route: { cluster: 'b' },
            },
            { match: { prefix: '/q' }, route: { cluster: 'a' } },
            {
              match: { prefix: '/rewrite/' },
              route: { cluster: 'a', prefix_rewrite: '/new/', host_rewrite_literal: 'rewritten.internal' },
            },
            {
              match: { prefix: '/rx/' },
              route: {
                cluster: 'a',
                regex_rewrite: { pattern: { google_re2: {}, regex: '^/rx/(\\w+)/(\\w+)$' }, substitution: '/\\2/\\1' },
              },
            },
            {
              match: { prefix: '/redirect' },
              redirect: {
                host_redirect: 'new.example.com',
                path_redirect: '/moved',
                response_code: 'PERMANENT_REDIRECT',
              },
            },
            { match: { prefix: '/https' }, redirect: { https_redirect: true } },
            { match: { prefix: '/direct' }, direct_response: { status: 418, body: { inline_string: 'teapot' } } },
            {
              match: { prefix: '/headers' },
              route: { cluster: 'a' },
              request_headers_to_add: [
                hdr('x-route', 'r1'),
                hdr('x-client', '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'),
                hdr('x-over', 'new', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }),
              ],
              request_headers_to_remove: ['x-secret'],
              response_headers_to_add: [hdr('x-route-resp', 'r1')],
              response_headers_to_remove: ['x-upstream'],
            },
            { match: { prefix: '/by-header' }, route: { cluster_header: 'x-cluster' } },
            { match: { prefix: '/auto-host' }, route: { cluster: 'named', auto_host_rewrite: true } },
            {
              match: { prefix: '/weighted' },
              route: {
                weighted_clusters: {
                  clusters: [
                    { name: 'a', weight: 75 },
                    { name: 'b', weight: 25 },
                  ],
                },
              },
            },
          ],
        },
      ],
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all([a?.close(), b?.close(), c?.close()]);
});

async function upstreamFor(path: string, host = 'other.test', headers: Record<string, string> = {}): Promise<string> {
  const r = await request(proxy.port, path, { headers: { host, ...headers } });
  expect(r.status).toBe(200);
  return r.json<{ upstream: string }>().upstream;
}

describe('virtual host selection', () => {
  it('exact, suffix (longest first), prefix wildcard and default', async () => {
    expect(await upstreamFor('/', 'www.example.com')).toBe('a');
    expect(await upstreamFor('/', 'WWW.Example.COM')).toBe('a');
    expect(await upstreamFor('/', 'shop.example.com')).toBe('b');
    expect(await upstreamFor('/', 'v1.api.example.com')).toBe('c');
    expect(await upstreamFor('/', 'api.internal')).toBe('c');
    expect(await upstreamFor('/exact', 'unknown.test')).toBe('a');
  });

  it('treats a port in Host as part of the domain, as Envoy does without stripping', async () => {
    expect(await upstreamFor('/', 'www.example.com:8080')).toBe('a');
    // `www.example.com:9090` matches no domain exactly and `*.example.com` does not end it,
    // so the default virtual host answers, which has no route for `/`.
    const r = await request(proxy.port, '/', { headers: { host: 'www.example.com:9090' } });
    expect(r.status).toBe(404);
  });
});

describe('route matching', () => {
  it('path, case-insensitive path, safe_regex', async () => {
    expect(await upstreamFor('/exact')).toBe('a');
    expect((await request(proxy.port, '/exact/more', { headers: { host: 'x' } })).status).toBe(404);
    expect(await upstreamFor('/case')).toBe('b');
    expect(await upstreamFor('/items/42')).toBe('c');
    expect((await request(proxy.port, '/items/4x', { headers: { host: 'x' } })).status).toBe(404);
  });

  it('headers (exact, inverted presence) and query parameters, first match wins', async () => {
    expect(await upstreamFor('/hdr', 'x', { 'x-tenant': 'blue' })).toBe('b');
    expect(await upstreamFor('/hdr', 'x')).toBe('c');
    expect(await upstreamFor('/hdr', 'x', { 'x-tenant': 'red' })).toBe('a');
    expect(await upstreamFor('/q?v=2')).toBe('b');
    expect(await upstreamFor('/q?v=3')).toBe('a');
  });

  it('normalize_path and merge_slashes apply before matching and are what the upstream sees', async () => {
    const r = await request(proxy.port, '/items/../%65xact', { headers: { host: 'x' } });
    expect(r.json<{ upstream: string; url: string }>()).toMatchObject({ upstream: 'a', url: '/exact' });
    const m = await request(proxy.port, '//rewrite///deep?x=//y', { headers: { host: 'x' } });
    expect(m.json<{ url: string }>().url).toBe('/new/deep?x=//y');
  });

  it('no route → 404 (NR); unknown cluster → 503', async () => {
    const nr = await request(proxy.port, '/none', { headers: { host: 'www.example.com:9090' } });
    expect(nr.status).toBe(404);
    const nc = await request(proxy.port, '/by-header', { headers: { host: 'x', 'x-cluster': 'nope' } });
    expect(nc.status).toBe(503);
  });
});

describe('route actions', () => {
  it('prefix_rewrite and host_rewrite_literal, keeping x-envoy-original-path', async () => {
    const r = await request(proxy.port, '/rewrite/thing?x=1', { headers: { host: 'x' } });
    const seen = r.json<{ url: string; headers: Record<string, string> }>();
    expect(seen.url).toBe('/new/thing?x=1');
    expect(seen.headers.host).toBe('rewritten.internal');
    expect(seen.headers['x-envoy-original-path']).toBe('/rewrite/thing?x=1');
  });

  it('regex_rewrite with capture groups', async () => {
    const r = await request(proxy.port, '/rx/one/two', { headers: { host: 'x' } });
    expect(r.json<{ url: string }>().url).toBe('/two/one');
  });

  it('redirects', async () => {
    const r = await request(proxy.port, '/redirect?q=1', { headers: { host: 'old.example.org' } });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('http://new.example.com/moved?q=1');
    const h = await request(proxy.port, '/https/x', { headers: { host: 'site.test:80' } });
    expect(h.status).toBe(301);
    expect(h.headers.location).toBe('https://site.test/https/x');
  });

  it('direct_response', async () => {
    const r = await request(proxy.port, '/direct', { headers: { host: 'x' } });
    expect(r.status).toBe(418);
    expect(r.body).toBe('teapot');
    expect(r.headers['x-vhost-resp']).toBe('yes');
  });

  it('adds and removes request/response headers at route and virtual host level', async () => {
    const r = await request(proxy.port, '/headers', { headers: { host: 'x', 'x-secret': 's', 'x-over': 'old' } });
    const seen = r.json<{ headers: Record<string, string> }>().headers;
    expect(seen['x-route']).toBe('r1');
    expect(seen['x-vhost']).toBe('main');
    expect(seen['x-client']).toBe('127.0.0.1');
    expect(seen['x-over']).toBe('new');
    expect(seen['x-secret']).toBeUndefined();
    expect(r.headers['x-route-resp']).toBe('r1');
    expect(r.headers['x-vhost-resp']).toBe('yes');
    expect(r.headers['x-upstream']).toBeUndefined();
  });

  it('auto_host_rewrite sets Host to the DNS name of the picked host (STRICT_DNS)', async () => {
    const r = await request(proxy.port, '/auto-host', { headers: { host: 'public.example' } });
    expect(r.json<{ headers: Record<string, string> }>().headers.host).toBe('localhost');
  });

  it('cluster_header picks the cluster named by a request header', async () => {
    expect(await upstreamFor('/by-header', 'x', { 'x-cluster': 'c' })).toBe('c');
    expect((await request(proxy.port, '/by-header', { headers: { host: 'x' } })).status).toBe(503);
  });

  it('weighted_clusters split traffic by weight', async () => {
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++) counts[await upstreamFor('/weighted')]!++;
    // 75/25 split: a gets 300 ± generous noise.
    expect(counts.a!).toBeGreaterThan(250);
    expect(counts.a!).toBeLessThan(350);
    expect(counts.a! + counts.b!).toBe(400);
  });
});
