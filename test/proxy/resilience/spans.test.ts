// Spans of a retried request: the SERVER span carries the final outcome; every try is its own
// CLIENT span (the tracer's decision), so retries are visible in a trace.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { testFixtures, bootstrapFor, cluster, request, routeTo, until } from './harness.js';
import { startUpstreams } from './upstreams.js';
import { CLI, TelemetryReceiver, freePort, waitFor, zipkinTracing } from '../telemetry/helpers.js';

const { cleanups } = testFixtures();

describe('spans', () => {
  it('a request retried after a 503 shows one span per try and a 200 outcome', async () => {
    const [a] = await startUpstreams('a');
    cleanups.push(() => a!.stop());
    const receiver = new TelemetryReceiver();
    await receiver.start();
    cleanups.push(() => receiver.stop());
    let n = 0;
    a!.mode = { kind: 'status', status: 503 };
    // Span export runs on a worker thread of the built proxy, so this test runs the CLI.
    const dir = mkdtempSync(join(tmpdir(), 'ms-spans-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = bootstrapFor(
      {
        clusters: [cluster('backend', [a!.port]), cluster('collector', [receiver.port])],
        hcm: { tracing: zipkinTracing() },
        virtualHosts: routeTo('backend', {
          retry_policy: { retry_on: '5xx', num_retries: 2, retry_back_off: { base_interval: '0.001s' } },
        }),
      },
      join(dir, 'access.log'),
    ) as {
      admin: { address: { socket_address: { port_value: number } } };
      static_resources: { listeners: Array<{ address: { socket_address: { port_value: number } } }> };
    };
    const port = await freePort();
    const adminPort = await freePort();
    cfg.admin.address.socket_address.port_value = adminPort;
    cfg.static_resources.listeners[0]!.address.socket_address.port_value = port;
    writeFileSync(join(dir, 'envoy.yaml'), stringify(cfg));
    const child = spawn(
      process.execPath,
      [CLI, 'proxy', '-c', join(dir, 'envoy.yaml'), '--concurrency', '1', '--drain-time-s', '1', '-l', 'warning'],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    });
    await until(
      async () =>
        (await request(adminPort, '/ready').then(
          (r) => r.status,
          () => 0,
        )) === 200,
      'proxy ready',
      30_000,
    );
    const p = { port };
    const flip = setInterval(() => {
      if (a!.count >= 1 && n++ === 0) a!.mode = { kind: 'ok' };
    }, 1);
    cleanups.push(() => clearInterval(flip));
    const res = await request(p.port, '/traced', { headers: { 'x-b3-sampled': '1' } });
    expect(res.status).toBe(200);
    const tries = a!.seen.length;
    expect(tries).toBeGreaterThanOrEqual(2);
    const spans = await waitFor('spans', () => (receiver.zipkin.length >= tries + 1 ? receiver.zipkin : undefined));
    const traceIds = new Set(spans.map((s) => s.traceId));
    expect(traceIds.size).toBe(1);
    const server = spans.find((s) => s.kind === 'SERVER');
    const clients = spans.filter((s) => s.kind === 'CLIENT');
    expect(server).toBeDefined();
    expect(clients.length).toBe(tries);
    for (const c of clients) expect(c.parentId).toBe(server!.id);
    const codes = clients.map((c) => c.tags?.['http.response.status_code']).sort();
    expect(codes).toEqual([...Array(tries - 1).fill('503'), '200'].sort());
    expect(clients.filter((c) => c.tags?.['otel.status_code'] === 'ERROR').length).toBe(tries - 1);
    expect(server!.tags?.['http.response.status_code']).toBe('200');
    // Each try's span carries the trace context the upstream received.
    const sentSpanIds = a!.seen.map((s) => s.headers['x-b3-spanid']);
    expect(new Set(sentSpanIds).size).toBe(tries);

    // Trace sampling follows the runtime: tracing.random_sampling (out of 10000) at 0 traces
    // nothing without an incoming decision, at 10000 everything.
    expect((await request(adminPort, '/runtime_modify?tracing.random_sampling=0', { method: 'POST' })).status).toBe(
      200,
    );
    const before = receiver.zipkin.length;
    for (let i = 0; i < 5; i++) await request(port, '/unsampled');
    await request(adminPort, '/runtime_modify?tracing.random_sampling=10000', { method: 'POST' });
    await request(port, '/sampled', { headers: { 'x-test-id': 'sampled' } });
    await waitFor('the sampled request', () =>
      receiver.zipkin.some((z) => z.tags?.['url.path'] === '/sampled') ? true : undefined,
    );
    expect(receiver.zipkin.slice(before).filter((z) => z.tags?.['url.path'] === '/unsampled')).toEqual([]);
  });
});
