// With --concurrency 2 the main process owns the runtime: an admin-layer change made through
// /runtime_modify reaches the worker processes that serve the traffic, without a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { request } from '../helpers.js';
import { cluster, routeTo, startProxyProcess } from '../resilience/harness.js';
import { TestUpstream } from '../resilience/upstreams.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('runtime with worker processes', () => {
  it('pushes /runtime_modify snapshots to every worker', async () => {
    const up = await new TestUpstream('a').start();
    cleanups.push(() => up.stop());
    const { port, adminPort, stop } = await startProxyProcess(
      {
        clusters: [cluster('backend', [up.port])],
        virtualHosts: routeTo('backend'),
        httpFilters: [
          {
            name: 'envoy.filters.http.fault',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
              abort: { http_status: 503, percentage: { numerator: 0 } },
            },
          },
        ],
      },
      2,
    );
    cleanups.push(stop);
    const burst = async (): Promise<number[]> => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          ...(await Promise.all(Array.from({ length: 20 }, () => request(port, '/').then((r) => r.status)))),
        );
      return statuses;
    };
    expect(new Set(await burst())).toEqual(new Set([200]));
    // Snapshots travel over IPC asynchronously: wait until a whole burst sees the change,
    // bounded, then every later request must too.
    const settle = async (status: number): Promise<void> => {
      const until = Date.now() + 10_000;
      while (!(await burst()).every((s) => s === status))
        if (Date.now() > until) throw new Error(`workers never all answered ${status}`);
      expect(new Set(await burst())).toEqual(new Set([status]));
    };
    expect(
      (await request(adminPort, '/runtime_modify?fault.http.abort.abort_percent=100', { method: 'POST' })).status,
    ).toBe(200);
    await settle(503);
    expect((await request(adminPort, '/stats?filter=fault')).body).toMatch(
      /http\.ingress_http\.fault\.aborts_injected: [1-9]\d*/,
    );
    expect(
      (await request(adminPort, '/runtime_modify?fault.http.abort.abort_percent=', { method: 'POST' })).status,
    ).toBe(200);
    await settle(200);
  });
});
