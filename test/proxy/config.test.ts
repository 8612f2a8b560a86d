// Bootstrap validation: every problem reported at once with its full path; the CLI exits
// non-zero and names the field.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { validateBootstrap } from '../../proxy/index.js';
import { bootstrap, configProblems as problems, staticCluster } from './helpers.js';

const routes = [
  { match: { prefix: '/a' }, route: { cluster: 'c' } },
  { match: { prefix: '/b' }, route: { cluster: 'c' } },
  { match: { prefix: '/c' }, route: { cluster: 'c' } },
  { match: { prefix: '/d' }, route: { cluster: 'c', foo: 1 } },
];

describe('bootstrap validation', () => {
  it('names an unknown field by its full path', () => {
    const cfg = bootstrap({
      virtualHosts: [
        { name: 'a', domains: ['a.example'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] },
        { name: 'b', domains: ['*'], routes },
      ],
      clusters: [staticCluster({ name: 'c', ports: [1] })],
    });
    expect(problems(cfg)).toEqual([
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[1].routes[3].route.foo: unknown field',
    ]);
  });

  it('reports every error at once', () => {
    const cfg = bootstrap({
      virtualHosts: [
        { name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', bogus: true }, route: { cluster: 'c' } }] },
      ],
      clusters: [{ ...staticCluster({ name: 'c', ports: [1] }), lb_policy: 'FASTEST', colour: 'red' }],
    });
    (cfg as { extra_top?: number }).extra_top = 1;
    const p = problems(cfg);
    expect(p).toContain('extra_top: unknown field');
    expect(p).toContain('static_resources.clusters[0].colour: unknown field');
    expect(p.some((l) => l.startsWith('static_resources.clusters[0].lb_policy:'))).toBe(true);
    expect(p).toContain(
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].match.bogus: unknown field',
    );
  });

  it('refuses unsupported extensions by name and by @type', () => {
    const cfg = bootstrap({
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
      clusters: [staticCluster({ name: 'c', ports: [1] })],
      hcm: {
        http_filters: [
          {
            name: 'envoy.filters.http.lua',
            typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua' },
          },
          { name: 'envoy.filters.http.nothing' },
          {
            name: 'envoy.filters.http.router',
            typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
          },
        ],
        access_log: [{ name: 'envoy.access_loggers.carrier_pigeon' }],
      },
    });
    const p = problems(cfg);
    const base = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
    expect(
      p.find((l) => l.startsWith(`${base}.http_filters[0].typed_config.@type: unsupported HTTP filter extension`)),
    ).toBeDefined();
    expect(
      p.find((l) =>
        l.startsWith(`${base}.http_filters[1].name: unsupported HTTP filter extension 'envoy.filters.http.nothing'`),
      ),
    ).toBeDefined();
    expect(
      p.find((l) => l.startsWith(`${base}.access_log[0].name: unsupported access logger extension`)),
    ).toBeDefined();
  });

  it('validates router typed_config strictly and requires the router last', () => {
    const cfg = bootstrap({
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
      clusters: [staticCluster({ name: 'c', ports: [1] })],
      hcm: {
        http_filters: [
          {
            name: 'envoy.filters.http.router',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
              turbo: true,
            },
          },
        ],
      },
    });
    expect(problems(cfg)).toEqual([
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.turbo: unknown field',
    ]);
  });

  it('checks semantic rules: one action per route, durations, duplicate clusters, regexes', () => {
    const cfg = bootstrap({
      virtualHosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/' }, route: { cluster: 'c' }, direct_response: { status: 200 } },
            { match: { safe_regex: { regex: '(' } }, route: { cluster: 'c', timeout: 'soon' } },
          ],
        },
      ],
      clusters: [staticCluster({ name: 'c', ports: [1] }), staticCluster({ name: 'c', ports: [2] })],
    });
    const p = problems(cfg);
    const vh = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0]';
    expect(p).toContain(`${vh}.routes[0]: only one of route, direct_response may be set`);
    expect(p.some((l) => l.startsWith(`${vh}.routes[1].match.safe_regex.regex: invalid regex`))).toBe(true);
    expect(p.some((l) => l.startsWith(`${vh}.routes[1].route.timeout:`))).toBe(true);
    expect(p).toContain("static_resources.clusters[1].name: duplicate cluster name 'c'");
  });

  it('refuses routes to clusters that do not exist (validate_clusters), unless disabled', () => {
    const cfg = bootstrap({
      virtualHosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/' },
              route: {
                weighted_clusters: {
                  clusters: [
                    { name: 'c', weight: 1 },
                    { name: 'ghost', weight: 1 },
                  ],
                },
              },
            },
          ],
        },
      ],
      clusters: [staticCluster({ name: 'c', ports: [1] })],
    });
    expect(problems(cfg)).toEqual([
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name: unknown cluster 'ghost'",
    ]);
    const rc = (
      cfg as {
        static_resources: {
          listeners: Array<{
            filter_chains: Array<{ filters: Array<{ typed_config: { route_config: Record<string, unknown> } }> }>;
          }>;
        };
      }
    ).static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.route_config;
    rc.validate_clusters = false;
    expect(problems(cfg)).toEqual([]);
  });

  it('accepts what Envoy accepts: enum names in any case, integers as strings, admin.access_log_path /dev/null', () => {
    const cfg = bootstrap({
      admin: true,
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
      clusters: [
        {
          ...staticCluster({ name: 'c', ports: [8080] }),
          type: 'strict_dns',
          lb_policy: 'round_robin',
          dns_lookup_family: 'v4_only',
        },
      ],
      hcm: { codec_type: 'auto' },
    }) as { admin: { access_log_path?: string; address: { socket_address: { port_value: unknown } } } };
    cfg.admin.access_log_path = '/dev/null';
    cfg.admin.address.socket_address.port_value = '9901';
    const parsed = validateBootstrap(cfg);
    expect(parsed.static_resources?.clusters?.[0]?.type).toBe('STRICT_DNS');
    expect(parsed.static_resources?.clusters?.[0]?.lb_policy).toBe('ROUND_ROBIN');
    expect(parsed.admin?.address.socket_address.port_value).toBe(9901);
    cfg.admin.access_log_path = '/var/log/admin.log';
    expect(problems(cfg)).toEqual([
      "admin.access_log_path: admin access logs are not supported: use '/dev/null' or remove the field",
    ]);
  });

  it('identifies the router by its @type whatever its name', () => {
    const cfg = bootstrap({
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
      clusters: [staticCluster({ name: 'c', ports: [1] })],
      hcm: {
        http_filters: [
          {
            name: 'router',
            typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
          },
        ],
      },
    });
    expect(problems(cfg)).toEqual([]);
  });

  it('the CLI exits non-zero and prints the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-config-'));
    const file = join(dir, 'bad.yaml');
    const cfg = bootstrap({
      virtualHosts: [
        { name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', foo: 1 } }] },
      ],
      clusters: [staticCluster({ name: 'c', ports: [1] })],
    });
    writeFileSync(file, stringify(cfg));
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'proxy', '-c', file], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.foo: unknown field',
    );
    const missing = spawnSync(process.execPath, ['dist/cli/main.js', 'proxy', '-c', join(dir, 'nope.yaml')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('cannot read configuration');
  });
});
