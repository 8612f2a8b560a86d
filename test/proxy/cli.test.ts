// `node dist/cli/main.js proxy -c FILE` as a user runs it: SIGTERM drains in-flight requests,
// --concurrency 2 runs two workers whose stats the admin merges, the admin endpoints answer
// from the main process, and a body far larger than the heap streams through.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { stringify } from 'yaml';
import { ROUTER, bootstrap, freePort, request, startUpstream, staticCluster, type Upstream } from './helpers.js';

const HEALTH_CHECK = {
  name: 'envoy.filters.http.health_check',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
    pass_through_mode: false,
    headers: [{ name: ':path', string_match: { exact: '/healthz' } }],
  },
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Peak resident memory of a process in MiB (Linux VmHWM): proves bodies were not buffered whole. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

interface Spawned {
  child: ChildProcess;
  port: number;
  adminPort: number;
  exited: Promise<number | null>;
  stderr: () => string;
}

async function spawnProxy(up: Upstream, args: string[], nodeArgs: string[] = []): Promise<Spawned> {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = bootstrap({
    admin: true,
    virtualHosts: [
      { name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up', timeout: '30s' } }] },
    ],
    clusters: [staticCluster({ name: 'up', ports: [up.port] })],
    hcm: { http_filters: [HEALTH_CHECK, ROUTER] },
  }) as {
    admin: { address: { socket_address: { port_value: number } } };
    static_resources: { listeners: Array<{ address: { socket_address: { port_value: number } } }> };
  };
  cfg.admin.address.socket_address.port_value = adminPort;
  cfg.static_resources.listeners[0]!.address.socket_address.port_value = port;
  const dir = mkdtempSync(join(tmpdir(), 'ms-cli-'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, stringify(cfg));
  const child = spawn(
    process.execPath,
    [...nodeArgs, 'dist/cli/main.js', 'proxy', '-c', file, '-l', 'warning', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  // Wait until the admin answers /ready and the listener accepts (bounded; the suite runs in parallel).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const adminReady = await request(adminPort, '/ready').then(
      (r) => r.status === 200,
      () => false,
    );
    const listening =
      adminReady &&
      (await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      }));
    if (listening) break;
    if (child.exitCode !== null) throw new Error(`proxy exited: ${err}`);
    if (Date.now() > deadline) throw new Error(`proxy not ready after 30 s: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, adminPort, exited, stderr: () => err };
}

describe('meshscope proxy (CLI)', () => {
  it('SIGTERM drains: in-flight requests complete, new connections are refused, exit 0', async () => {
    const slow = await startUpstream('slow', (_req, res) => {
      setTimeout(() => res.end('finished'), 800).unref();
    });
    cleanups.push(() => slow.close());
    const p = await spawnProxy(slow, ['--concurrency', '1', '--drain-time-s', '5']);
    // An idle keep-alive connection (one request answered, socket left open).
    const idle = net.connect(p.port, '127.0.0.1');
    await new Promise<void>((resolve) => {
      idle.once('connect', () => idle.write('GET /first HTTP/1.1\r\nhost: x\r\n\r\n'));
      idle.on('data', (d) => {
        if (d.toString().includes('finished')) resolve();
      });
    });
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    idle.on('error', () => {});
    const inFlight = request(p.port, '/work');
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill('SIGTERM');
    // The idle connection is closed at once, while the in-flight request is still running.
    await idleClosed;
    expect(p.child.exitCode).toBeNull();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.body).toBe('finished');
    expect(r.headers.connection).toBe('close');
    expect(await p.exited).toBe(0);
    await expect(request(p.port, '/again')).rejects.toThrow();
  });

  it('SIGTERM after traffic exits once drained, not when the 30 s route timeouts its requests armed would have fired', async () => {
    const up = await startUpstream('up');
    cleanups.push(() => up.close());
    const p = await spawnProxy(up, ['--concurrency', '1', '--drain-time-s', '1']);
    // Each request armed a 30 s route timeout and cancelled it when its response came.
    for (let i = 0; i < 5; i++) expect((await request(p.port, `/r${i}`)).status).toBe(200);
    p.child.kill('SIGTERM');
    const lingering = new Promise<string>((r) =>
      setTimeout(() => r('still running 20 s after SIGTERM'), 20_000).unref(),
    );
    expect(await Promise.race([p.exited, lingering])).toBe(0);
  }, 30_000);

  it('--concurrency 2: two workers accept, admin stats are merged across them', async () => {
    const up = await startUpstream('up');
    cleanups.push(() => up.close());
    const p = await spawnProxy(up, ['--concurrency', '2', '--service-node', 'node-7', '--service-cluster', 'edge']);
    const N = 40;
    await Promise.all(Array.from({ length: N }, () => request(p.port, '/x')));
    const stats = (await request(p.adminPort, '/stats?format=json')).json<{
      stats: Array<{ name: string; value: number }>;
    }>().stats;
    const value = (n: string) => stats.find((s) => s.name === n)?.value;
    expect(value('http.ingress_http.downstream_rq_total')).toBe(N);
    expect(value('cluster.up.upstream_rq_200')).toBe(N);
    expect(value('http.ingress_http.downstream_rq_2xx')).toBe(N);
    const info = (await request(p.adminPort, '/server_info')).json<Record<string, unknown>>();
    expect(JSON.stringify(info)).toContain('node-7');
    expect(JSON.stringify(info)).toContain('edge');
    const clusters = (await request(p.adminPort, '/clusters')).body;
    expect(clusters).toContain(`up::127.0.0.1:${up.port}::health_flags::healthy`);
    expect(clusters).toMatch(new RegExp(`up::127.0.0.1:${up.port}::rq_total::${N}`));
    const listeners = (await request(p.adminPort, '/listeners')).body;
    expect(listeners).toContain(`127.0.0.1:${p.port}`);
    const dump = (await request(p.adminPort, '/config_dump')).json<{ configs: Array<Record<string, unknown>> }>();
    expect(dump.configs[0]!['@type']).toBe('type.googleapis.com/envoy.admin.v3.BootstrapConfigDump');
    // /healthcheck/fail reaches every worker's health_check filter; /healthcheck/ok restores it.
    expect((await request(p.port, '/healthz')).status).toBe(200);
    expect((await request(p.adminPort, '/healthcheck/fail', { method: 'POST' })).status).toBe(200);
    for (let i = 0; i < 6; i++) {
      const r = await request(p.port, '/healthz');
      expect(r.status).toBe(503);
      expect(r.headers['x-envoy-immediate-health-check-fail']).toBe('true');
    }
    expect((await request(p.adminPort, '/healthcheck/ok', { method: 'POST' })).status).toBe(200);
    expect((await request(p.port, '/healthz')).status).toBe(200);
    expect(up.seen.some((s) => s.url === '/healthz')).toBe(false);
    expect((await request(p.adminPort, '/quitquitquit', { method: 'POST' })).status).toBe(200);
    expect(await p.exited).toBe(0);
  });

  it('streams a body several times larger than the proxy heap', async () => {
    const sink = await startUpstream('sink', (_req, res, body) => res.end(String(body.length)));
    cleanups.push(() => sink.close());
    const p = await spawnProxy(sink, ['--concurrency', '1'], ['--max-old-space-size=48']);
    const total = 256 * 1024 * 1024;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: p.port,
          path: '/upload',
          method: 'POST',
          headers: { 'content-length': String(total) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      const block = Buffer.alloc(1024 * 1024, 1);
      let sent = 0;
      const write = () => {
        while (sent < total) {
          sent += block.length;
          if (!req.write(block)) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    expect(status).toBe(200);
    // 256 MiB went through; buffering it would show in the proxy's peak RSS.
    expect(peakRssMiB(p.child.pid!)).toBeLessThan(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('streams a download larger than the heap to a client that stops reading for a while', async () => {
    const total = 256 * 1024 * 1024;
    const source = await startUpstream('source', (_req, res) => {
      const block = Buffer.alloc(1024 * 1024, 2);
      let sent = 0;
      res.setHeader('content-length', String(total));
      const pump = () => {
        while (sent < total) {
          sent += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    cleanups.push(() => source.close());
    const p = await spawnProxy(source, ['--concurrency', '1'], ['--max-old-space-size=48']);
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: p.port, path: '/download' }, (res) => {
          let n = 0;
          let paused = false;
          res.on('data', (d: Buffer) => {
            n += d.length;
            if (!paused && n > 16 * 1024 * 1024) {
              // Stop reading: the proxy must stop reading upstream instead of buffering.
              paused = true;
              res.pause();
              setTimeout(() => res.resume(), 1000);
            }
          });
          res.on('end', () => resolve(n));
        })
        .on('error', reject);
    });
    expect(received).toBe(total);
    expect(peakRssMiB(p.child.pid!)).toBeLessThan(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});
