// The admin endpoints as Envoy prints them (docs: operations/admin and api-v3/admin/v3):
// /server_info (envoy.admin.v3.ServerInfo: proto field names, every CommandLineOptions field,
// durations like "600s"), /config_dump (one dump per type in Envoy's order with last_updated,
// inline route configs as static_route_configs, ?include_eds, ?resource=), /clusters
// hostname, /logging (POST), /memory, /init_dump, /hot_restart_version, /stats/recentlookups,
// and admin.access_log (api-v3/config/bootstrap/v3/bootstrap.proto: "Configuration for
// access logs emitted by the administration server"), as Envoy's dynamic-config-fs example sets.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { ROUTER, bootstrap, staticCluster, startUpstream, type Upstream } from '../helpers.js';

let up: Upstream;
let proxy: ProxyServer;
let base = '';

beforeAll(async () => {
  up = await startUpstream('up');
  const cfg = bootstrap({
    admin: true,
    virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }],
    clusters: [
      staticCluster({ name: 'up', ports: [up.port] }),
      {
        name: 'by-name',
        type: 'STRICT_DNS',
        connect_timeout: '1s',
        dns_lookup_family: 'V4_ONLY',
        load_assignment: {
          cluster_name: 'by-name',
          endpoints: [
            {
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: 'localhost', port_value: up.port } } } },
              ],
            },
          ],
        },
      },
    ],
    hcm: { http_filters: [ROUTER] },
  });
  proxy = await startProxy({
    config: { node: { id: 'n1', cluster: 'c1', locality: { region: 'r', zone: 'z', sub_zone: 's' } }, ...cfg },
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 600,
  });
  base = `http://127.0.0.1:${proxy.adminAddress()!.port}`;
});

afterAll(async () => {
  await proxy?.close(0);
  await up?.close();
});

async function get(path: string, method = 'GET') {
  const res = await fetch(base + path, { method });
  return { status: res.status, body: await res.text() };
}

/** The field names of a message in Envoy's own API definition (the protos @grpc/grpc-js-xds ships). */
function protoFields(file: string, message: string): string[] {
  const root = join(
    dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')),
    'deps/envoy-api',
  );
  const text = readFileSync(join(root, file), 'utf8');
  const start = text.indexOf(`message ${message} {`);
  const body = text.slice(start, text.indexOf('\n}', start));
  return [...body.matchAll(/^\s+(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+/gm)].map((m) => m[1]!);
}

describe('/server_info', () => {
  it('is envoy.admin.v3.ServerInfo: sub_zone, drain_time "600s", every command line option', async () => {
    const info = JSON.parse((await get('/server_info')).body) as {
      node: { locality: Record<string, string> };
      command_line_options: Record<string, unknown>;
      state: string;
      hot_restart_version: string;
    };
    expect(info.state).toBe('LIVE');
    expect(info.node.locality).toEqual({ region: 'r', zone: 'z', sub_zone: 's' });
    const opts = info.command_line_options;
    expect(opts.drain_time).toBe('600s');
    expect(opts.drain_time_s).toBeUndefined();
    expect(opts.concurrency).toBe(1);
    expect(opts.parent_shutdown_time).toBe('900s');
    const fields = protoFields('envoy/admin/v3/server_info.proto', 'CommandLineOptions');
    expect(fields.length).toBeGreaterThan(30);
    expect(Object.keys(opts).sort()).toEqual([...fields].sort());
  });
});

describe('/config_dump', () => {
  const T = 'type.googleapis.com/envoy.admin.v3.';

  it("has Envoy's dumps in Envoy's order, static route configs and last_updated", async () => {
    const dump = JSON.parse((await get('/config_dump')).body) as { configs: Array<Record<string, unknown>> };
    expect(dump.configs.map((c) => c['@type'])).toEqual([
      `${T}BootstrapConfigDump`,
      `${T}ClustersConfigDump`,
      `${T}ListenersConfigDump`,
      `${T}RoutesConfigDump`,
      `${T}SecretsConfigDump`,
    ]);
    const [boot, clusters, listeners, routes] = dump.configs as Array<Record<string, Array<Record<string, unknown>>>>;
    expect(Number.isNaN(Date.parse(String(boot!.last_updated)))).toBe(false);
    expect(clusters!.static_clusters!.map((c) => (c.cluster as { name: string }).name)).toEqual(['up', 'by-name']);
    expect(typeof clusters!.static_clusters![0]!.last_updated).toBe('string');
    expect(typeof listeners!.static_listeners![0]!.last_updated).toBe('string');
    const rc = routes!.static_route_configs![0]!;
    expect(rc.route_config).toMatchObject({
      '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
      name: 'local_route',
    });
    expect(typeof rc.last_updated).toBe('string');
  });

  it('?include_eds adds the endpoints; ?resource= answers one field, each element typed', async () => {
    const eds = JSON.parse((await get('/config_dump?include_eds')).body) as { configs: Array<Record<string, unknown>> };
    const endpoints = eds.configs.find((c) => c['@type'] === `${T}EndpointsConfigDump`) as {
      static_endpoint_configs: Array<{ endpoint_config: { cluster_name: string } }>;
    };
    expect(eds.configs.indexOf(endpoints)).toBe(2);
    expect(endpoints.static_endpoint_configs.map((e) => e.endpoint_config.cluster_name)).toEqual(['up', 'by-name']);
    const one = JSON.parse((await get('/config_dump?resource=static_clusters')).body) as {
      configs: Array<{ '@type': string; cluster: { name: string } }>;
    };
    expect(one.configs.map((c) => [c['@type'], c.cluster.name])).toEqual([
      [`${T}ClustersConfigDump.StaticCluster`, 'up'],
      [`${T}ClustersConfigDump.StaticCluster`, 'by-name'],
    ]);
    const bad = await get('/config_dump?resource=no_such_field');
    expect(bad.status).toBe(404);
    expect(bad.body).toContain('no_such_field');
  });
});

describe('/clusters', () => {
  it("prints a DNS host's hostname, in text and JSON", async () => {
    const text = (await get('/clusters')).body;
    expect(text).toContain(`by-name::127.0.0.1:${up.port}::hostname::localhost\n`);
    expect(text).toContain(`up::127.0.0.1:${up.port}::hostname::\n`);
    const json = JSON.parse((await get('/clusters?format=json')).body) as {
      cluster_statuses: Array<{ name: string; host_statuses: Array<{ hostname?: string }> }>;
    };
    expect(json.cluster_statuses.find((c) => c.name === 'by-name')!.host_statuses[0]!.hostname).toBe('localhost');
  });
});

describe('diagnostic endpoints', () => {
  it('/logging lists loggers on POST, changes them, refuses unknown names and levels, and a GET', async () => {
    expect((await get('/logging')).status).toBe(405);
    const list = await get('/logging', 'POST');
    expect(list.body).toMatch(/^active loggers:\n/);
    expect(list.body).toContain('  http: off\n');
    const changed = await get('/logging?http=debug', 'POST');
    expect(changed.body).toContain('  http: debug\n');
    expect(changed.body).toContain('  router: off\n');
    expect((await get('/logging?level=error', 'POST')).body).toContain('  router: error\n');
    expect((await get('/logging?nope=debug', 'POST')).status).toBe(404);
    expect((await get('/logging?level=loud', 'POST')).status).toBe(404);
    await get('/logging?level=off', 'POST');
  });

  it('/memory, /init_dump and /hot_restart_version', async () => {
    const memory = JSON.parse((await get('/memory')).body) as Record<string, string>;
    expect(Object.keys(memory).sort()).toEqual(protoFields('envoy/admin/v3/memory.proto', 'Memory').sort());
    expect(Number(memory.allocated)).toBeGreaterThan(0);
    expect(Number(memory.total_physical_bytes)).toBeGreaterThan(0);
    expect(JSON.parse((await get('/init_dump')).body)).toEqual({ unready_targets_dumps: [] });
    expect(await get('/hot_restart_version')).toEqual({ status: 200, body: 'disabled' });
  });

  it('/stats/recentlookups is off until enabled, and its switches are POST-only', async () => {
    expect((await get('/stats/recentlookups')).body).toContain('Lookup tracking is not enabled');
    expect((await get('/stats/recentlookups/enable')).status).toBe(405);
    expect((await get('/stats/recentlookups/enable', 'POST')).status).toBe(200);
    expect((await get('/stats/recentlookups')).body).toBe('   Count Lookup\n\ntotal: 0\n');
    expect((await get('/stats/recentlookups/disable', 'POST')).status).toBe(200);
    expect((await get('/stats/recentlookups')).body).toContain('Lookup tracking is not enabled');
  });
});

describe('admin.access_log', () => {
  it("logs admin requests in Envoy's default format through the file access logger", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-admin-log-'));
    const path = join(dir, 'admin.log');
    const p = await startProxy({
      config: {
        admin: {
          access_log: [
            {
              name: 'envoy.access_loggers.file',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                path,
              },
            },
          ],
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        },
      },
      concurrency: 1,
      logLevel: 'off',
    });
    try {
      const port = p.adminAddress()!.port;
      expect((await fetch(`http://127.0.0.1:${port}/ready`, { headers: { 'user-agent': 'probe/1' } })).status).toBe(
        200,
      );
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      await p.close(0);
    }
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    rmSync(dir, { recursive: true, force: true });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\[[^\]]+\] "GET \/ready HTTP\/1\.1" 200 - 0 5 \d+ - "-" "probe\/1" "-" "127\.0\.0\.1:\d+" "-"$/,
    );
    expect(lines[1]).toMatch(/"GET \/nope HTTP\/1\.1" 404 /);
  });

  it('refuses a logger that exports to a cluster, naming the path', async () => {
    const { validateBootstrap } = await import('../../../proxy/index.js');
    expect(() =>
      validateBootstrap({
        admin: {
          access_log: [
            {
              name: 'envoy.access_loggers.open_telemetry',
              typed_config: {
                '@type':
                  'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig',
              },
            },
          ],
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        },
      }),
    ).toThrow(/admin\.access_log\[0\]\.name: admin access logs support envoy\.access_loggers\.file/);
  });
});
