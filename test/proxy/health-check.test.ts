// envoy.filters.http.health_check in pass-through mode: healthy checks reach the service,
// /healthcheck/fail (here through the admin contract) answers them 503 from the proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROUTER,
  bootstrap,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';

let up: Upstream;
let proxy: RunningProxy;

beforeAll(async () => {
  up = await startUpstream('svc');
  proxy = await startTestProxy(
    bootstrap({
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'svc' } }] }],
      clusters: [staticCluster({ name: 'svc', ports: [up.port] })],
      hcm: {
        http_filters: [
          {
            name: 'envoy.filters.http.health_check',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
              pass_through_mode: true,
              headers: [
                { name: ':path', string_match: { exact: '/healthz' } },
                { name: 'user-agent', string_match: { prefix: 'lb-' } },
              ],
            },
          },
          ROUTER,
        ],
      },
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await up?.close();
});

describe('health_check filter', () => {
  it('passes healthy checks through, answers 503 itself after /healthcheck/fail, recovers after /healthcheck/ok', async () => {
    const check = () => request(proxy.port, '/healthz', { headers: { 'user-agent': 'lb-probe' } });
    expect((await check()).status).toBe(200);
    expect(up.seen.filter((s) => s.url === '/healthz')).toHaveLength(1);
    await proxy.server.setHealthCheckFailed(true);
    const failed = await check();
    expect(failed.status).toBe(503);
    expect(failed.headers['x-envoy-immediate-health-check-fail']).toBe('true');
    expect(up.seen.filter((s) => s.url === '/healthz')).toHaveLength(1);
    // Requests that are not health checks (other agent) are untouched.
    expect((await request(proxy.port, '/healthz', { headers: { 'user-agent': 'curl' } })).status).toBe(200);
    await proxy.server.setHealthCheckFailed(false);
    expect((await check()).status).toBe(200);
    const snap = await proxy.server.stats();
    expect(snap.counters.find((c) => c.name === 'http.ingress_http.health_check.failed')?.value).toBe(1);
  });
});
