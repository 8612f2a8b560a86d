import { describe, expect, it } from 'vitest';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type AddressInfo } from 'node:net';
import { createStatsStore } from '../../../proxy/stats/index.js';
import { HealthChecker } from '../../../proxy/core/upstream/health-checker.js';
import { healthCheckSchema } from '../../../proxy/api/health-check.js';
import { testFixtures, testHost } from './harness.js';

const { cleanups } = testFixtures();

async function listen(server: HttpServer | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  if ('closeAllConnections' in server) cleanups.push(() => server.closeAllConnections());
  return (server.address() as AddressInfo).port;
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function counter(store: ReturnType<typeof createStatsStore>, name: string): number {
  return store.snapshot().counters.find((c) => c.name === `cluster.backend.health_check.${name}`)?.value ?? 0;
}

describe('active health checking', () => {
  it('HTTP: healthy on first pass, unhealthy at once on an unexpected status, back after healthy_threshold', async () => {
    let status = 200;
    const paths: string[] = [];
    const server = createHttpServer((req, res) => {
      paths.push(`${req.headers.host} ${req.url}`);
      res.writeHead(status).end();
    });
    const port = await listen(server);
    const store = createStatsStore();
    const h = testHost(port);
    const checker = new HealthChecker(
      healthCheckSchema.parse({
        timeout: '1s',
        interval: '0.05s',
        no_traffic_interval: '0.05s',
        unhealthy_threshold: 3,
        healthy_threshold: 2,
        http_health_check: { path: '/healthz', expected_statuses: [{ start: 200, end: 300 }] },
      }),
      store.scope('cluster.backend'),
      { hasTraffic: () => false, clusterName: 'backend' },
    );
    cleanups.push(() => checker.close());
    checker.setHosts([h]);
    expect(h.healthFlagNames()).toEqual(['/failed_active_hc']);
    checker.start();
    await until(() => h.healthy(), 'first pass');
    expect(paths[0]).toBe('backend /healthz');

    status = 503;
    await until(() => !h.healthy(), 'active failure');
    // A non-expected status is not subject to unhealthy_threshold.
    expect(counter(store, 'failure')).toBeLessThanOrEqual(2);
    expect(h.healthFlagNames()).toEqual(['/failed_active_hc']);

    status = 204;
    const before = counter(store, 'success');
    await until(() => h.healthy(), 'recovery');
    expect(counter(store, 'success') - before).toBeGreaterThanOrEqual(2);
    expect(counter(store, 'attempt')).toBeGreaterThanOrEqual(counter(store, 'success') + counter(store, 'failure'));
  });

  it('network failures need unhealthy_threshold in a row; a dead host is marked and returns when it is back', async () => {
    const server = createHttpServer((_req, res) => res.writeHead(200).end());
    const port = await listen(server);
    const store = createStatsStore();
    const h = testHost(port);
    const checker = new HealthChecker(
      healthCheckSchema.parse({
        timeout: '0.2s',
        interval: '0.03s',
        unhealthy_threshold: 3,
        healthy_threshold: 1,
        http_health_check: { path: '/' },
      }),
      store.scope('cluster.backend'),
      { hasTraffic: () => true, clusterName: 'backend' },
    );
    cleanups.push(() => checker.close());
    checker.setHosts([h]);
    checker.start();
    await until(() => h.healthy(), 'healthy');
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await until(() => !h.healthy(), 'unhealthy after the host died');
    expect(counter(store, 'network_failure')).toBeGreaterThanOrEqual(3);

    const again = createHttpServer((_req, res) => res.writeHead(200).end());
    await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => again.close(resolve)));
    cleanups.push(() => again.closeAllConnections());
    await until(() => h.healthy(), 'healthy after the host came back');
  });

  it('TCP: send and fuzzy-match receive blocks; a wrong reply fails the check', async () => {
    let reply = 'PONG';
    const server = createTcpServer((socket) => {
      socket.on('data', (d) => {
        if (d.toString() === 'PING') socket.write(`x${reply}y`);
      });
      socket.on('error', () => undefined);
    });
    const port = await listen(server);
    const h = testHost(port);
    const checker = new HealthChecker(
      healthCheckSchema.parse({
        timeout: '0.3s',
        interval: '0.03s',
        unhealthy_threshold: 5,
        healthy_threshold: 1,
        tcp_health_check: {
          send: { text: Buffer.from('PING').toString('hex') },
          receive: [{ text: Buffer.from('PO').toString('hex') }, { text: Buffer.from('NG').toString('hex') }],
        },
      }),
      createStatsStore().scope('cluster.backend'),
      { hasTraffic: () => true, clusterName: 'backend' },
    );
    cleanups.push(() => checker.close());
    checker.setHosts([h]);
    checker.start();
    await until(() => h.healthy(), 'tcp healthy');
    reply = 'NOPE';
    // The reply arrives but never matches: a timeout each time, unhealthy after the threshold.
    await until(() => !h.healthy(), 'tcp unhealthy');
  });

  it('requires exactly one checker kind and valid ranges', () => {
    const r = healthCheckSchema.safeParse({
      timeout: '1s',
      interval: '1s',
      unhealthy_threshold: 1,
      healthy_threshold: 1,
      http_health_check: { path: '/', expected_statuses: [{ start: 300, end: 200 }] },
      tcp_health_check: {},
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['', 'http_health_check.expected_statuses.0.end']));
  });
});
