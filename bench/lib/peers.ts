// Real HTTP peers for proxy benchmarks, each started on ephemeral ports in a temp directory
// and stopped by `stopAll()`: nginx as the `return 200` upstream or as a keep-alive reverse
// proxy (one worker), haproxy (one thread), and meshscope from dist/ via its CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

const children: ChildProcess[] = [];
export const workDir = mkdtempSync(join(tmpdir(), 'meshscope-bench-'));
// npm scripts run from the package root; the benchmark drives the built CLI.
const CLI = resolve(process.cwd(), 'dist/cli/main.js');

export interface Peer {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
  /**
   * How the process ended (null while it runs), whether a stop() asked for it, and the last
   * STDERR_TAIL_BYTES of its stderr: a peer that dies mid-run (an uncaught exception, a V8 fatal
   * error, a signal) says why in the bench's output instead of only as the client's ECONNRESET.
   */
  exit(): { code: number | null; signal: string | null; atMs: number; stopped: boolean; stderrTail: string } | null;
}

/** How much of a peer's stderr launch() keeps (an uncaught exception's stack, a V8 fatal's report). */
const STDERR_TAIL_BYTES = 8192;

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const net = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`peer exited with code ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for port ${port}`);
}

export function launch(name: string, cmd: string, args: string[], port: number): Promise<Peer> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (stderr.length > 2 * STDERR_TAIL_BYTES) stderr = stderr.slice(-STDERR_TAIL_BYTES);
  });
  children.push(child);
  // atMs on process.hrtime's clock (ms), the one the benches time their windows by.
  let ended: { code: number | null; signal: string | null; atMs: number } | null = null;
  let stopped = false;
  child.once('exit', (code, signal) => (ended = { code, signal, atMs: Number(process.hrtime.bigint()) / 1e6 }));
  const peer: Peer = {
    name,
    port,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        stopped = true;
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
    exit: () => (ended === null ? null : { ...ended, stopped, stderrTail: stderr.slice(-STDERR_TAIL_BYTES) }),
  };
  return waitForPort(port, child).then(
    () => peer,
    (err: Error) => {
      throw new Error(`${name}: ${err.message}\n${stderr}`);
    },
  );
}

/** nginx.conf for a one-worker peer under `dir`: the shared settings, then `body` inside `http`. */
export function nginxConf(dir: string, body: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
${body}
}
`;
}

/** nginx answering every request with `200 ok` (the shared upstream of every row). */
export async function startNginxUpstream(): Promise<Peer> {
  const port = await freePort();
  const dir = mkdtempSync(join(workDir, 'nginx-up-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    nginxConf(dir, `  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }`),
  );
  return launch('nginx-upstream', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], port);
}

/** nginx as a reverse proxy: one worker, HTTP/1.1 keep-alive to the upstream. */
export async function startNginxProxy(upstreamPort: number): Promise<Peer> {
  const port = await freePort();
  const dir = mkdtempSync(join(workDir, 'nginx-proxy-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    nginxConf(
      dir,
      `  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`,
    ),
  );
  return launch('nginx-proxy', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], port);
}

/** nginx as an h2c reverse proxy (`listen … http2`, prior knowledge): one worker, HTTP/1.1 keep-alive upstream. */
export async function startNginxH2cProxy(upstreamPort: number): Promise<Peer> {
  const port = await freePort();
  const dir = mkdtempSync(join(workDir, 'nginx-h2c-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    nginxConf(
      dir,
      `  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} http2;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`,
    ),
  );
  return launch('nginx-h2c', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], port);
}

/**
 * A plain node:http2 h2c proxy with no meshscope (bench/h2-plain-proxy.ts, bundled beside the
 * benchmark): the ceiling node:http2 itself sets for meshscope's HTTP/2 codec.
 */
export async function startNodeHttp2Plain(upstreamPort: number): Promise<Peer> {
  const port = await freePort();
  const script = resolve(process.cwd(), 'dist/bench/h2-plain-proxy.js');
  return launch('node-http2-plain', process.execPath, [script, String(port), String(upstreamPort)], port);
}

/** haproxy with one thread, reusing server connections. */
export async function startHaproxy(upstreamPort: number): Promise<Peer> {
  const port = await freePort();
  const dir = mkdtempSync(join(workDir, 'haproxy-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${upstreamPort} maxconn 10000
`,
  );
  return launch('haproxy', '/usr/sbin/haproxy', ['-f', cfg, '-db'], port);
}

/**
 * Terminates TLS on a bootstrap's first listener (proxyBootstrap's): our DownstreamTlsContext with
 * its defaults, this certificate and key, and these ALPN protocols. Returns the same bootstrap.
 */
export function withDownstreamTls(
  bootstrap: Record<string, unknown>,
  tls: { cert: string; key: string; alpn: string[] },
): Record<string, unknown> {
  const b = bootstrap as { static_resources: { listeners: Array<{ filter_chains: Array<Record<string, unknown>> }> } };
  b.static_resources.listeners[0]!.filter_chains[0]!.transport_socket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: tls.cert }, private_key: { filename: tls.key } }],
        alpn_protocols: tls.alpn,
      },
    },
  };
  return bootstrap;
}

/** A minimal Envoy bootstrap: one listener, one route to one STATIC cluster. */
export function proxyBootstrap(
  listenPort: number,
  upstreamPort: number,
  extraHcm: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    static_resources: {
      listeners: [
        {
          name: 'bench',
          address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'bench',
                    route_config: {
                      virtual_hosts: [
                        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                    ...extraHcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'up',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'up',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

/** meshscope from dist/ with the given bootstrap and flags. */
export async function startMeshscope(
  name: string,
  bootstrap: Record<string, unknown>,
  port: number,
  args: string[] = [],
  nodeArgs: string[] = [],
  cli: string = CLI,
): Promise<Peer> {
  const file = join(mkdtempSync(join(workDir, 'meshscope-')), 'envoy.yaml');
  writeFileSync(file, stringify(bootstrap));
  return launch(name, process.execPath, [...nodeArgs, cli, 'proxy', '-c', file, '-l', 'error', ...args], port);
}

/**
 * The CLI of another build of meshscope to measure beside this one (`variable`, BENCH_BASELINE
 * unless a section names its own: a checkout with `dist/` built, e.g. `git worktree add
 * ../baseline <commit> && (cd ../baseline && npm run build)`), so a change is judged against its
 * parent in the same run, rounds interleaved.
 */
export function baselineCli(variable = 'BENCH_BASELINE'): string | null {
  const dir = process.env[variable];
  if (dir === undefined || dir === '') return null;
  const cli = join(dir, 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${variable}=${dir}: no ${cli} (build that checkout first)`);
  return cli;
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 3000).unref();
        }),
    ),
  );
}
