// envoy.filters.http.rbac through the real proxy, checked as Envoy documents it
// (configuration/http/http_filters/rbac_filter): ALLOW admits what a policy matches, DENY refuses
// it, a refusal is 403 `RBAC: access denied` with response code details
// rbac_access_denied_matched_policy[<policy>|none], shadow rules are counted and never enforced,
// RBACPerRoute replaces the filter's rules on a route or disables them, and counters live under
// http.<stat_prefix>.rbac.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateBootstrap } from '../../../proxy/index.js';
import { bootstrapFor, cluster, request, routeTo, testFixtures } from '../resilience/harness.js';

const { proxy, upstreams } = testFixtures();
const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

const rbac = (config: Record<string, unknown>) => ({
  name: 'envoy.filters.http.rbac',
  typed_config: { '@type': RBAC_TYPE, ...config },
});

const accessLog = (path: string) => ({
  access_log: [
    {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path,
        log_format: { text_format: '%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n' },
      },
    },
  ],
});

describe('envoy.filters.http.rbac', () => {
  it('ALLOW: admits what a policy matches, refuses the rest with 403 and the matched-policy details', async () => {
    const [a] = await upstreams('a');
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      httpFilters: [
        rbac({
          rules: {
            action: 'ALLOW',
            policies: {
              'public-reads': {
                permissions: [
                  {
                    and_rules: {
                      rules: [
                        { header: { name: ':method', exact_match: 'GET' } },
                        { url_path: { path: { prefix: '/public/' } } },
                      ],
                    },
                  },
                ],
                principals: [{ any: true }],
              },
              admins: {
                permissions: [{ any: true }],
                principals: [{ header: { name: 'x-role', string_match: { exact: 'admin' } } }],
              },
              'loopback-health': {
                permissions: [{ url_path: { path: { exact: '/healthz' } } }],
                principals: [{ direct_remote_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }],
              },
            },
          },
          track_per_rule_stats: true,
        }),
      ],
      virtualHosts: routeTo('backend'),
    });
    expect((await request(p.port, '/public/catalog?page=2')).status).toBe(200);
    const refused = await request(p.port, '/private/orders');
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('RBAC: access denied');
    expect((await request(p.port, '/public/x', { method: 'POST' })).status).toBe(403);
    expect((await request(p.port, '/private/orders', { headers: { 'x-role': 'admin' } })).status).toBe(200);
    expect((await request(p.port, '/healthz')).status).toBe(200);
    // A real client sees the same (curl runs beside the in-process proxy, so not synchronously).
    const curl = await new Promise<string>((resolve, reject) =>
      execFile(
        'curl',
        ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${p.port}/private`],
        (err, out) => (err === null ? resolve(out) : reject(err)),
      ),
    );
    expect(curl).toBe('403');
    const stats = await p.stats();
    expect(stats.get('http.ingress_http.rbac.allowed')).toBe(3);
    expect(stats.get('http.ingress_http.rbac.denied')).toBe(3);
    expect(stats.get('http.ingress_http.rbac.policy.admins.allowed')).toBe(1);
    expect(stats.get('http.ingress_http.rbac.policy.public-reads.allowed')).toBe(1);
  });

  it('DENY: refuses what a policy matches and names the policy in the access log', async () => {
    const [a] = await upstreams('a');
    const logPath = join(await mkdtemp(join(tmpdir(), 'rbac-log-')), 'access.log');
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      httpFilters: [
        rbac({
          rules: {
            action: 'DENY',
            policies: {
              'no-debug-from-loopback': {
                permissions: [{ url_path: { path: { prefix: '/debug' } } }],
                principals: [{ remote_ip: { address_prefix: '127.0.0.1' } }],
              },
            },
          },
        }),
      ],
      virtualHosts: routeTo('backend'),
      hcm: accessLog(logPath),
    });
    expect((await request(p.port, '/debug/pprof')).status).toBe(403);
    expect((await request(p.port, '/shop')).status).toBe(200);
    let lines: string[] = [];
    for (let i = 0; i < 100 && lines.length < 2; i++) {
      lines = (await readFile(logPath, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lines).toEqual([
      '403 rbac_access_denied_matched_policy[no-debug-from-loopback] /debug/pprof',
      '200 via_upstream /shop',
    ]);
  });

  it('counts shadow rules without enforcing them, and RBACPerRoute overrides or disables the rules per route', async () => {
    const [a] = await upstreams('a');
    const denyAll = { action: 'ALLOW', policies: {} };
    const p = await proxy({
      clusters: [cluster('backend', [a!.port])],
      httpFilters: [
        rbac({
          rules: denyAll,
          shadow_rules: {
            action: 'DENY',
            policies: {
              'would-block-posts': {
                permissions: [{ header: { name: ':method', exact_match: 'POST' } }],
                principals: [{ any: true }],
              },
            },
          },
          shadow_rules_stat_prefix: 'dryrun_',
        }),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/open' },
              route: { cluster: 'backend' },
              typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': PER_ROUTE_TYPE } },
            },
            {
              match: { prefix: '/gets' },
              route: { cluster: 'backend' },
              typed_per_filter_config: {
                'envoy.filters.http.rbac': {
                  '@type': PER_ROUTE_TYPE,
                  rbac: {
                    rules: {
                      action: 'ALLOW',
                      policies: {
                        gets: {
                          permissions: [{ header: { name: ':method', exact_match: 'GET' } }],
                          principals: [{ any: true }],
                        },
                      },
                    },
                  },
                },
              },
            },
            { match: { prefix: '/' }, route: { cluster: 'backend' } },
          ],
        },
      ],
    });
    expect((await request(p.port, '/closed')).status).toBe(403);
    expect((await request(p.port, '/open', { method: 'POST' })).status).toBe(200);
    expect((await request(p.port, '/gets')).status).toBe(200);
    expect((await request(p.port, '/gets', { method: 'DELETE' })).status).toBe(403);
    const stats = await p.stats();
    // Shadow rules run wherever the HCM-level rules do (not on /open, where the filter is off, nor on /gets, replaced).
    expect(stats.get('http.ingress_http.rbac.dryrun_shadow_allowed')).toBe(1);
    expect(stats.get('http.ingress_http.rbac.denied')).toBe(2);
  });

  it('refuses bad policies at load, naming the field', () => {
    const bad = (permission: unknown, principal: unknown = { any: true }) =>
      bootstrapFor(
        {
          clusters: [cluster('backend', [1])],
          httpFilters: [rbac({ rules: { policies: { p: { permissions: [permission], principals: [principal] } } } })],
          virtualHosts: routeTo('backend'),
        },
        '/dev/null',
      );
    const errorOf = (config: unknown): string => {
      try {
        validateBootstrap(config);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(errorOf(bad({ destination_port: 80, any: true }))).toMatch(
      /http_filters\[0\]\.typed_config\.rules\.policies\.p\.permissions\[0\]: only one of any, destination_port may be set/,
    );
    expect(
      errorOf(bad({ url_path: { path: { prefix: '/' } } }, { remote_ip: { address_prefix: 'ten.0.0.0' } })),
    ).toMatch(/principals\[0\]\.remote_ip\.address_prefix: must be an IPv4 or IPv6 address/);
    expect(errorOf(bad({ method: 'GET' }))).toMatch(/permissions\[0\]/);
  });
});
