// The HTTP/2 codecs load when a connection first needs them, not at start-up: a proxy that
// serves HTTP/1.1 (under codec_type AUTO, Envoy's default, too) never loads node:http2 (with
// what it brings, about 5 MB of RSS), and the first h2c client, whose connection waits for the
// codec with its socket paused, is served all the same. Nor does such a proxy load protobufjs
// (Envoy's protos for xDS and a gRPC ext_authz). The proxy runs in a fresh node process so
// that its module list is its own; curl is the client.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const PROXY = resolve(import.meta.dirname, '../../dist/proxy/index.js');

const SCRIPT = `
import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { startProxy } from ${JSON.stringify(PROXY)};

const upstream = createServer((req, res) => res.end('ok'));
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const hcm = JSON.parse(process.argv[1]);
const runtime = JSON.parse(process.argv[2]);
const config = {
  ...(Object.keys(runtime).length > 0 ? { layered_runtime: { layers: [{ name: 'static', static_layer: runtime }] } } : {}),
  static_resources: {
    listeners: [{
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'l',
        route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        ...hcm,
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
const loaded = () => process.moduleLoadList.includes('NativeModule http2');
const curl = (...args) =>
  new Promise((res) => execFile('curl', ['-s', '-w', ' %{http_code} %{http_version}', ...args, url], (err, out) => res(err ? String(err) : out)));
// CommonJS packages imported by the proxy's ES modules land in the CommonJS loader's cache.
const protobufLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/protobufjs/'));
const out = { atStart: loaded(), protobufAtStart: protobufLoaded() };
if (hcm.codec_type !== 'HTTP2') {
  out.http1 = await curl();
  out.afterHttp1 = loaded();
}
out.h2c = await curl('--http2-prior-knowledge');
out.afterH2c = loaded();
out.protobufAfter = protobufLoaded();
await server.close(1000);
upstream.close();
process.stdout.write(JSON.stringify(out));
`;

function run(hcm: Record<string, unknown>, runtime: Record<string, unknown> = {}): Record<string, unknown> {
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, JSON.stringify(hcm), JSON.stringify(runtime)],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('HTTP/2 codecs load on first use', () => {
  it('codec_type AUTO: HTTP/1.1 requests never load node:http2, nor does h2c on our codec (the default)', () => {
    const out = run({});
    expect(out['atStart']).toBe(false);
    expect(out['http1']).toBe('ok 200 1.1');
    expect(out['afterHttp1']).toBe(false);
    expect(out['h2c']).toBe('ok 200 2');
    expect(out['afterH2c']).toBe(false);
    // Nor does it load Envoy's protos (protobufjs), which only xDS and a gRPC ext_authz use.
    expect(out['protobufAtStart']).toBe(false);
    expect(out['protobufAfter']).toBe(false);
  });

  it('with the runtime key choosing node:http2, the first h2c client loads it and is served', () => {
    const out = run({}, { 'envoy.reloadable_features.http2_use_oghttp2': false });
    expect(out['afterHttp1']).toBe(false);
    expect(out['h2c']).toBe('ok 200 2');
    expect(out['afterH2c']).toBe(true);
  });

  it('codec_type HTTP2: the codec loads with the configuration and the first client is served', () => {
    for (const own of [true, false]) {
      const out = run({ codec_type: 'HTTP2' }, { 'envoy.reloadable_features.http2_use_oghttp2': own });
      expect(out['h2c']).toBe('ok 200 2');
      expect(out['afterH2c']).toBe(!own);
    }
  });
});
