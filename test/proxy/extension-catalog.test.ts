// Extensions are declared by Envoy name and load when a configuration names them
// (proxy/extensions/catalog.ts). The catalog must say exactly what each module registers, and a
// proxy started with a plain HTTP/1.1 configuration must not load the others (nor node:tls),
// while one naming RBAC loads it and enforces it. Proxies run in fresh node processes so
// that what they load is their own; curl is the client.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../proxy/extensions/catalog.js';
import { registries } from '../../proxy/core/extension-points.js';

const DIST = resolve(import.meta.dirname, '../../dist/proxy');

const SCRIPT = `
import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
import { startProxy } from ${JSON.stringify(`${DIST}/index.js`)};
import { registries } from ${JSON.stringify(`${DIST}/core/extension-points.js`)};

const upstream = createServer((req, res) => res.end('ok'));
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const httpFilters = JSON.parse(process.argv[1]);
const config = {
  static_resources: {
    listeners: [{
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'l',
        route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
        http_filters: [...httpFilters, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      } }] }],
    }],
    clusters: [{ name: 'up', type: 'STATIC', load_assignment: { cluster_name: 'up', endpoints: [{ lb_endpoints: [
      { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstream.address().port } } } },
    ] }] } }],
  },
};
const server = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
const addr = server.listeners()[0].localAddress;
const url = 'http://127.0.0.1:' + addr.slice(addr.lastIndexOf(':') + 1) + '/';
const loaded = (category, name) => {
  try {
    return registries[category].lookup(name, undefined) !== undefined;
  } catch (err) {
    return err.code;
  }
};
const out = {
  status: await new Promise((res) => execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url], (err, o) => res(err ? String(err) : o))),
  rbac: loaded('httpFilters', 'envoy.filters.http.rbac'),
  extAuthz: loaded('httpFilters', 'envoy.filters.http.ext_authz'),
  networkRbac: loaded('networkFilters', 'envoy.filters.network.rbac'),
  tracer: loaded('tracers', 'envoy.tracers.opentelemetry'),
  tls: process.moduleLoadList.includes('NativeModule tls'),
};
await server.close(1000);
upstream.close();
process.stdout.write(JSON.stringify(out));
`;

function run(httpFilters: unknown[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, JSON.stringify(httpFilters)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('extension catalog', () => {
  it('declares exactly the names and type URLs each module registers', () => {
    // The test setup loaded every module: each declared key resolves to its own extension.
    for (const entry of CATALOG) {
      const registry = registries[entry.category];
      expect(registry.lookup(entry.name, undefined)?.name, entry.name).toBe(entry.name);
      for (const url of entry.typeUrls) expect(registry.lookup(undefined, url)?.name, url).toBe(entry.name);
      expect([...(registry.lookup(entry.name, undefined)?.typeUrls ?? [])].sort()).toEqual([...entry.typeUrls].sort());
    }
    for (const [category, registry] of Object.entries(registries)) {
      if (category === 'clusters') continue;
      const declared = CATALOG.filter((e) => e.category === category).map((e) => e.name);
      expect(registry.names().sort(), category).toEqual(declared.sort());
    }
  });

  it('a plain HTTP/1.1 proxy loads only the extensions its configuration names, and not node:tls', () => {
    const out = run([]);
    expect(out['status']).toBe('200');
    expect(out['rbac']).toBe('MS_ERR_EXTENSION_NOT_LOADED');
    expect(out['extAuthz']).toBe('MS_ERR_EXTENSION_NOT_LOADED');
    expect(out['networkRbac']).toBe('MS_ERR_EXTENSION_NOT_LOADED');
    expect(out['tracer']).toBe('MS_ERR_EXTENSION_NOT_LOADED');
    expect(out['tls']).toBe(false);
  });

  it('a configuration naming the RBAC filter loads it, and its deny-all policy answers 403', () => {
    const out = run([
      {
        name: 'envoy.filters.http.rbac',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
          rules: { action: 'ALLOW', policies: {} },
        },
      },
    ]);
    expect(out['status']).toBe('403');
    expect(out['rbac']).toBe(true);
    expect(out['extAuthz']).toBe('MS_ERR_EXTENSION_NOT_LOADED');
  });
});
