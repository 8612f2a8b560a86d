// With --concurrency 2 the main process owns the runtime: an admin-layer change made through
// /runtime_modify reaches the worker processes that serve the traffic, without a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, request } from '../helpers.js';
import { bootstrapFor } from '../resilience/harness.js';
import { cluster, routeTo } from '../resilience/harness.js';
import { TestUpstream } from '../resilience/upstreams.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('runtime with worker processes', () => {
  it('pushes /runtime_modify snapshots to every worker', async () => {
    const up = await new TestUpstream('a').start();
    cleanups.push(() => up.stop());
    const dir = mkdtempSync(join(tmpdir(), 'ms-rt-workers-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const adminPort = await freePort();
    const cfg = bootstrapFor(
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
      join(dir, 'access.log'),
    ) as {
      admin: { address: { socket_address: { port_value: number } } };
      static_resources: { listeners: Array<{ address: { socket_address: { port_value: number } } }> };
    };
    cfg.admin.address.socket_address.port_value = adminPort;
    cfg.static_resources.listeners[0]!.address.socket_address.port_value = port;
    const file = join(dir, 'envoy.yaml');
    writeFileSync(file, stringify(cfg));
    const child: ChildProcess = spawn(
      process.execPath,
      ['dist/cli/main.js', 'proxy', '-c', file, '--concurrency', '2', '--drain-time-s', '1', '-l', 'warning'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    });
    const deadline = Date.now() + 30_000;
    while (
      (await request(adminPort, '/ready').then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline) throw new Error('proxy did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
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
