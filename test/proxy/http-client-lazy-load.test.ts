// node:http is loaded by the first HTTP health checker, not at start-up: a proxy without one
// serves HTTP/1.1 without ever loading it (the proxy's own codecs do the HTTP), and a proxy with
// one loads it and its checks reach the upstream. The proxy runs in a fresh node process so that
// its module list is its own; the upstream and the client are plain node:net sockets.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const PROXY = resolve(import.meta.dirname, '../../dist/proxy/index.js');

const SCRIPT = `
import { createServer, connect } from 'node:net';
import { startProxy } from ${JSON.stringify(PROXY)};

let healthChecks = 0;
const upstream = createServer((socket) => {
  let seen = '';
  socket.on('data', (chunk) => {
    seen += chunk.toString('latin1');
    let end;
    while ((end = seen.indexOf('\\r\\n\\r\\n')) !== -1) {
      const head = seen.slice(0, end);
      seen = seen.slice(end + 4);
      if (head.startsWith('GET /healthz ') && /\\r\\nuser-agent: Envoy\\/HC/i.test(head)) healthChecks++;
      socket.write('HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nok');
    }
  });
  socket.on('error', () => {});
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const healthCheck = process.argv[1] === 'hc';
const config = {
  static_resources: {
    listeners: [{
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'l',
        route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      } }] }],
    }],
    clusters: [{
      name: 'up',
      type: 'STATIC',
      load_assignment: { cluster_name: 'up', endpoints: [{ lb_endpoints: [
        { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstream.address().port } } } },
      ] }] },
      ...(healthCheck
        ? { health_checks: [{ timeout: '1s', interval: '0.05s', no_traffic_interval: '0.05s', unhealthy_threshold: 1,
            healthy_threshold: 1, http_health_check: { path: '/healthz' } }] }
        : {}),
    }],
  },
};
const loaded = () => process.moduleLoadList.includes('NativeModule http');
const out = { beforeStart: loaded() };
const server = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
out.atStart = loaded();
const addr = server.listeners()[0].localAddress;
const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
out.response = await new Promise((res, rej) => {
  const c = connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\\r\\nhost: x\\r\\nconnection: close\\r\\n\\r\\n'));
  let body = '';
  c.on('data', (d) => (body += d.toString('latin1')));
  c.on('end', () => res(body.split('\\r\\n')[0] + ' ' + body.slice(body.indexOf('\\r\\n\\r\\n') + 4)));
  c.on('error', rej);
});
for (let i = 0; i < 200 && healthCheck && healthChecks === 0; i++) await new Promise((r) => setTimeout(r, 50));
out.afterRequest = loaded();
out.healthChecks = healthChecks;
await server.close(1000);
upstream.close();
process.stdout.write(JSON.stringify(out));
`;

function run(mode: 'plain' | 'hc'): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, mode], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('node:http loads with the first HTTP health checker', () => {
  it('a proxy without HTTP health checks serves HTTP/1.1 without loading node:http', () => {
    const out = run('plain');
    expect(out['beforeStart']).toBe(false);
    expect(out['atStart']).toBe(false);
    expect(out['response']).toBe('HTTP/1.1 200 OK ok');
    expect(out['afterRequest']).toBe(false);
    expect(out['healthChecks']).toBe(0);
  });

  it('a cluster with an HTTP health check loads it and its checks reach the upstream', () => {
    const out = run('hc');
    expect(out['atStart']).toBe(true);
    expect(out['response']).toBe('HTTP/1.1 200 OK ok');
    expect(Number(out['healthChecks'])).toBeGreaterThan(0);
  });
});
