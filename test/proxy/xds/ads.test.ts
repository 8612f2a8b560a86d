// The proxy configured by meshscope's control plane over gRPC ADS (state of the world and
// delta) and over REST-JSON:
// it routes with what it received, follows weight and endpoint changes, reports versions in
// /config_dump and counts updates in Envoy's stats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../../control-plane/index.js';
import type { ProxyServer } from '../../../proxy/index.js';
import { tempDir, waitFor, type TempDir } from '../../control-plane/helpers.js';
import { call, configDump, meshFixture, startSidecar, stat, type MeshFixture } from './helpers.js';

describe.each(['GRPC', 'DELTA_GRPC', 'REST'] as const)('xDS over %s', (api) => {
  let fx: MeshFixture;
  let dir: TempDir;
  let cp: ControlPlane;
  let web: ProxyServer;
  const proxies: ProxyServer[] = [];

  beforeAll(async () => {
    fx = await meshFixture(['v1', 'v2']);
    dir = tempDir();
    dir.write('mesh.yaml', fx.yaml({ weights: { v1: 100, v2: 0 }, apiSidecars: false }));
    cp = await startControlPlane({
      meshPath: dir.file('mesh.yaml'),
      port: 0,
      debounceMs: 20,
      restHoldMs: 500,
      log: () => undefined,
    });
    web = await startSidecar(fx.yaml({ weights: { v1: 100, v2: 0 }, apiSidecars: false }), 'web-1', cp.port, api);
    proxies.push(web);
  });

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close(500)));
    await cp?.close();
    await fx?.close();
    dir?.remove();
  });

  it('serves inbound and outbound traffic with the routes and endpoints it received', async () => {
    const s = fx.sidecars.get('web-1')!;
    expect(
      web
        .listeners()
        .map((l) => l.name)
        .sort(),
    ).toEqual([`inbound|${s.inbound}`, `outbound|${s.outbound}`]);
    expect((await call(s.inbound, 'anything')).upstream).toBe('web');
    for (let i = 0; i < 5; i++) expect((await call(s.outbound, 'api')).upstream).toBe('api-v1');
    expect((await call(s.outbound, 'nowhere')).status).toBe(404);
  });

  it('follows a weight change and an added endpoint without a restart', async () => {
    const s = fx.sidecars.get('web-1')!;
    dir.write('mesh.yaml', fx.yaml({ weights: { v1: 0, v2: 100 }, apiSidecars: false }));
    await waitFor(async () => (await call(s.outbound, 'api')).upstream === 'api-v2', 'traffic on v2');
    for (let i = 0; i < 5; i++) expect((await call(s.outbound, 'api')).upstream).toBe('api-v2');

    // Without rules the whole service takes traffic; dropping v2 leaves only v1's endpoint.
    dir.write('mesh.yaml', fx.yaml({ apiSidecars: false, apiWorkloads: ['v1'] }));
    await waitFor(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await call(s.outbound, 'api')).upstream);
      return seen.size === 1 && seen.has('api-v1');
    }, 'only v1 left');
    dir.write('mesh.yaml', fx.yaml({ apiSidecars: false }));
    await waitFor(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add((await call(s.outbound, 'api')).upstream);
      return seen.size === 2;
    }, 'both endpoints again');
  });

  it('reports dynamic resources with versions in /config_dump and counts updates', async () => {
    const admin = fx.sidecars.get('web-1')!.admin;
    const clusters = await configDump(admin, 'ClustersConfigDump');
    expect(clusters.version_info).toMatch(/\S/);
    expect(clusters.static_clusters!.map((c) => c.cluster.name)).toEqual(['xds_cluster']);
    const eds = clusters.dynamic_active_clusters!.find((c) => c.cluster.name === 'outbound|8080|v2|default/api')!;
    expect(eds.cluster.type).toBe('EDS');
    expect(eds.version_info).toMatch(/\S/);
    const listeners = await configDump(admin, 'ListenersConfigDump');
    expect(listeners.dynamic_listeners!.map((l) => l.name)).toContain(`outbound|${fx.sidecars.get('web-1')!.outbound}`);
    const routes = await configDump(admin, 'RoutesConfigDump');
    expect(routes.dynamic_route_configs![0]!.version_info).toMatch(/\S/);
    expect(await stat(admin, 'control_plane.connected_state')).toBe(1);
    expect(await stat(admin, 'listener_manager.lds.update_success')).toBeGreaterThanOrEqual(1);
    expect(await stat(admin, 'cluster_manager.cds.update_success')).toBeGreaterThanOrEqual(1);
    expect(await stat(admin, 'listener_manager.rds.update_success')).toBeGreaterThanOrEqual(3);
    expect(await stat(admin, 'listener_manager.lds.update_rejected')).toBe(0);
  });
});
