// Config validation of everything resilience adds, with the full field path, and route
// matching by runtime_fraction.
import { describe, expect, it } from 'vitest';
import { testFixtures, bootstrapFor, cluster, request, startResilienceProxy, withinBinomialBounds } from './harness.js';
import { startUpstreams } from './upstreams.js';
import { configProblems as problems } from '../helpers.js';

const { cleanups } = testFixtures();

const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const RL_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const HCM = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

describe('resilience config validation', () => {
  it('reports every bad resilience field at once with its full path', () => {
    const config = bootstrapFor(
      {
        clusters: [
          cluster('backend', [1], {
            outlier_detection: { consecutive_5xx: -1, base_ejection_time: '10s', max_ejection_time: '1s' },
            health_checks: [{ timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1 }],
            circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 120 } } }] },
          }),
        ],
        httpFilters: [
          {
            name: 'envoy.filters.http.fault',
            typed_config: {
              '@type': FAULT_TYPE,
              abort: { http_status: 700 },
              delay: { fixed_delay: '1s', header_delay: {} },
            },
          },
          {
            name: 'envoy.filters.http.local_ratelimit',
            typed_config: {
              '@type': RL_TYPE,
              stat_prefix: 'rl',
              token_bucket: { max_tokens: 1, fill_interval: '0.01s' },
            },
          },
        ],
        virtualHosts: [
          {
            name: 'vh',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/', runtime_fraction: { default_value: { numerator: 200 } } },
                route: {
                  cluster: 'backend',
                  retry_policy: { retry_on: '5xx,sometimes' },
                  request_mirror_policies: [{ cluster: '' }, { cluster: 'ghost' }],
                },
                typed_per_filter_config: {
                  'envoy.filters.http.fault': { '@type': FAULT_TYPE, bogus: true },
                  'envoy.filters.http.nope': {},
                },
              },
            ],
          },
        ],
        hcm: { stream_idle_timeout: 'soon' },
        layeredRuntime: {
          layers: [
            { name: 'a', admin_layer: {} },
            { name: 'b', admin_layer: {} },
          ],
        },
      },
      '/dev/null',
    );
    const found = problems(config);
    const route = `${HCM}.route_config.virtual_hosts[0].routes[0]`;
    const expectations = [
      'static_resources.clusters[0].outlier_detection.consecutive_5xx',
      'static_resources.clusters[0].outlier_detection.max_ejection_time: cannot be smaller than base_ejection_time',
      'static_resources.clusters[0].health_checks[0]: exactly one of http_health_check, tcp_health_check is required',
      'static_resources.clusters[0].circuit_breakers.thresholds[0].retry_budget.budget_percent.value',
      `${HCM}.http_filters[0].typed_config.abort.http_status`,
      `${HCM}.http_filters[0].typed_config.delay: exactly one of fixed_delay, header_delay is required`,
      `${HCM}.http_filters[1].typed_config.token_bucket.fill_interval: must be at least 50ms`,
      `${route}.match.runtime_fraction.default_value.numerator: must be at most 100 for denominator HUNDRED`,
      `${route}.route.retry_policy.retry_on: unknown retry condition(s): sometimes`,
      `${route}.route.request_mirror_policies[0].cluster`,
      `${route}.route.request_mirror_policies[1].cluster: unknown shadow cluster 'ghost'`,
      `${route}.typed_per_filter_config.envoy.filters.http.fault.bogus: unknown field`,
      `${route}.typed_per_filter_config.envoy.filters.http.nope: no HTTP filter 'envoy.filters.http.nope' accepts this per-route config`,
      `${HCM}.stream_idle_timeout`,
      'layered_runtime.layers[1].admin_layer: at most one admin layer may be specified',
    ];
    for (const e of expectations)
      expect(
        found.some((p) => p.startsWith(e)),
        `${e}\n in:\n${found.join('\n')}`,
      ).toBe(true);
  });
});

describe('route runtime_fraction', () => {
  it('matches the share of requests the runtime says, falling through to the next route', async () => {
    const [canary, stable] = await startUpstreams('canary', 'stable');
    cleanups.push(
      () => canary!.stop(),
      () => stable!.stop(),
    );
    const p = await startResilienceProxy({
      clusters: [cluster('canary', [canary!.port]), cluster('stable', [stable!.port])],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: {
                prefix: '/',
                runtime_fraction: { default_value: { numerator: 0 }, runtime_key: 'routing.canary' },
              },
              route: { cluster: 'canary' },
            },
            { match: { prefix: '/' }, route: { cluster: 'stable' } },
          ],
        },
      ],
    });
    cleanups.push(() => p.close());
    for (let i = 0; i < 20; i++) await request(p.port, '/');
    expect(canary!.count).toBe(0);
    await p.admin('/runtime_modify?routing.canary=25', 'POST');
    const n = 300;
    for (let i = 0; i < n; i += 30) await Promise.all(Array.from({ length: 30 }, () => request(p.port, '/')));
    expect(withinBinomialBounds(canary!.count, n, 0.25)).toBe(true);
  });
});
