// File-based dynamic configuration, as Envoy's dynamic-config-fs example: lds_config and
// cds_config point at files holding DiscoveryResponses; replacing a file reconfigures the
// proxy (a replaced listener takes over its port with no refused connection), and a broken
// file is rejected while the last good configuration keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { parse as parseYaml, stringify } from 'yaml';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { freePorts, tempDir, waitFor, type TempDir } from '../../control-plane/helpers.js';
import { request, startUpstream, type Upstream } from '../helpers.js';
import { call, httpListenerResource, staticClusterResource, stat } from './helpers.js';

let dir: TempDir;
let a: Upstream;
let b: Upstream;
let proxy: ProxyServer;
let port: number;
let admin: number;

function lds(cluster: string, prefix = '/'): string {
  return stringify({
    resources: [
      httpListenerResource('listener_0', port, {
        route_config: {
          name: 'local_route',
          virtual_hosts: [
            { name: 'local_service', domains: ['*'], routes: [{ match: { prefix }, route: { cluster } }] },
          ],
        },
      }),
    ],
  });
}

function cds(): string {
  return stringify({
    resources: [staticClusterResource('example_proxy_cluster', a.port), staticClusterResource('other_cluster', b.port)],
  });
}

beforeAll(async () => {
  dir = tempDir();
  [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  [port, admin] = await freePorts(2);
  dir.write('lds.yaml', lds('example_proxy_cluster'));
  dir.write('cds.yaml', cds());
  proxy = await startProxy({
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 1,
    config: {
      node: { id: 'id_1', cluster: 'test' },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: admin } } },
      dynamic_resources: {
        cds_config: { resource_api_version: 'V3', path_config_source: { path: dir.file('cds.yaml') } },
        lds_config: { resource_api_version: 'V3', path_config_source: { path: dir.file('lds.yaml') } },
      },
    },
  });
});

afterAll(async () => {
  await proxy?.close(500);
  await Promise.all([a?.close(), b?.close()]);
  dir?.remove();
});

describe('path_config_source', () => {
  it('loads listeners and clusters from the watched files', async () => {
    expect((await call(port, 'x')).upstream).toBe('a');
  });

  it('picks up a replaced file without a restart', async () => {
    dir.write('lds.yaml', lds('other_cluster'));
    await waitFor(async () => (await call(port, 'x')).upstream === 'b', 'route to the other cluster');
  });

  it('replaces a listener on the same port without refusing or failing a request', async () => {
    let running = true;
    const failures: string[] = [];
    let ok = 0;
    // Keep-alive requests and fresh connections, while the listener is replaced repeatedly.
    const loops = Array.from({ length: 6 }, async (_, i) => {
      while (running) {
        try {
          const r = i % 2 === 0 ? await call(port, 'x') : await request(port, '/', { headers: { host: 'x' } });
          if (r.status === 200) ok += 1;
          else failures.push(String(r.status));
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    for (let n = 0; n < 6; n++) {
      dir.write('lds.yaml', lds(n % 2 === 0 ? 'example_proxy_cluster' : 'other_cluster'));
      const want = n % 2 === 0 ? 'a' : 'b';
      await waitFor(async () => (await call(port, 'x')).upstream === want, `listener version ${n}`);
    }
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
  });

  it('retries a listener whose port is taken until it can bind', async () => {
    const [busyPort] = await freePorts(1);
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(busyPort, '127.0.0.1', r));
    const before = (await stat(admin, 'listener_manager.lds.update_rejected')) ?? 0;
    const doc = parseYaml(lds('other_cluster')) as { resources: Array<Record<string, unknown>> };
    const second = structuredClone(doc.resources[0]!) as {
      name: string;
      address: { socket_address: { port_value: number } };
    };
    second.name = 'listener_1';
    second.address.socket_address.port_value = busyPort!;
    dir.write('lds.yaml', stringify({ resources: [doc.resources[0], second] }));
    await waitFor(
      async () => ((await stat(admin, 'listener_manager.lds.update_rejected')) ?? 0) > before,
      'bind failure reported',
    );
    await new Promise<void>((r) => blocker.close(() => r()));
    await waitFor(
      async () => (await call(busyPort!, 'x')).upstream === 'b',
      'listener bound after the port was freed',
      15_000,
    );
  });

  it('rejects a broken file, counts it, and keeps the last good configuration', async () => {
    const rejected = async (): Promise<number> => (await stat(admin, 'listener_manager.lds.update_rejected')) ?? 0;
    const before = await rejected();
    dir.write('lds.yaml', lds('other_cluster', 'no-leading-slash').replace('stat_prefix', 'stat_prefx'));
    await waitFor(async () => (await rejected()) === before + 1, 'rejection counted');
    expect((await call(port, 'x')).upstream).toBe('b');
    dir.write('lds.yaml', 'resources: [ {');
    await waitFor(async () => (await rejected()) === before + 2, 'unparsable file counted');
    expect((await call(port, 'x')).upstream).toBe('b');
  });
});
