// An in-process proxy for resilience tests: one listener, the admin on an ephemeral port, an
// access log carrying the response code, flags and upstream host of every stream, and helpers
// to read stats, /clusters and the log back.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { afterEach } from 'vitest';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { stringify } from 'yaml';
import { HCM_TYPE, ROUTER, freePort, request, type Response } from '../helpers.js';
import { Host, type HostDescription } from '../../../proxy/core/upstream/host.js';
import { startUpstreams, type TestUpstream } from './upstreams.js';

export { request, type Response };

export interface ProxySpec {
  virtualHosts: unknown[];
  clusters: unknown[];
  httpFilters?: unknown[];
  hcm?: Record<string, unknown>;
  layeredRuntime?: unknown;
  /** Top-level bootstrap fields (node, cluster_manager...). */
  bootstrapExtra?: Record<string, unknown>;
}

export const LOG_FORMAT = '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST% %REQ(X-TEST-ID)%\n';

export interface ResilienceProxy {
  readonly server: ProxyServer;
  readonly port: number;
  readonly adminPort: number;
  /** GET (or POST) on the admin; resolves with status and body. */
  admin(path: string, method?: string): Promise<Response>;
  /** Counter and gauge values from `/stats`, by full name. */
  stats(): Promise<Map<string, number>>;
  stat(name: string): Promise<number>;
  /** Access-log lines written so far, waiting until at least `count` are there. */
  logLines(count: number): Promise<string[]>;
  close(): Promise<void>;
}

export function bootstrapFor(spec: ProxySpec, logPath: string): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    ...(spec.layeredRuntime !== undefined ? { layered_runtime: spec.layeredRuntime } : {}),
    ...spec.bootstrapExtra,
    static_resources: {
      listeners: [
        {
          name: 'resilience_listener',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM_TYPE,
                    stat_prefix: 'ingress_http',
                    route_config: { name: 'local_route', virtual_hosts: spec.virtualHosts },
                    http_filters: [...(spec.httpFilters ?? []), ROUTER],
                    access_log: [
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: logPath,
                          log_format: { text_format: LOG_FORMAT },
                        },
                      },
                    ],
                    ...spec.hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: spec.clusters,
    },
  };
}

export async function startResilienceProxy(spec: ProxySpec): Promise<ResilienceProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-resilience-'));
  const logPath = join(dir, 'access.log');
  const server = await startProxy({
    config: bootstrapFor(spec, logPath),
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 1,
  });
  const addr = server.listeners()[0]!.localAddress;
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  const adminPort = server.adminAddress()!.port;
  const admin = (path: string, method = 'GET'): Promise<Response> => request(adminPort, path, { method });
  const stats = async (): Promise<Map<string, number>> => {
    const res = await admin('/stats');
    const out = new Map<string, number>();
    for (const line of res.body.split('\n')) {
      const m = /^([^:]+): (\d+)$/.exec(line);
      if (m !== null) out.set(m[1]!, Number(m[2]));
    }
    return out;
  };
  return {
    server,
    port,
    adminPort,
    admin,
    stats,
    stat: async (name) => (await stats()).get(name) ?? 0,
    async logLines(count) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const text = await readFile(logPath, 'utf8').catch(() => '');
        const lines = text.split('\n').filter((l) => l !== '');
        if (lines.length >= count || Date.now() > deadline) return lines;
        await sleep(50);
      }
    },
    async close() {
      await server.close(500);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxyProcess {
  /** The listener's port. */
  port: number;
  adminPort: number;
  pid: number;
  /** SIGTERM, then the process's exit and its temporary directory removed. */
  stop(): Promise<void>;
}

/**
 * `meshscope proxy` as its own process (dist/cli/main.js) on bootstrapFor(spec), with
 * `--concurrency`, once its admin's /ready answers 200.
 */
export async function startProxyProcess(spec: ProxySpec, concurrency: number): Promise<ProxyProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-proxy-process-'));
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = bootstrapFor(spec, join(dir, 'access.log')) as {
    admin: { address: { socket_address: { port_value: number } } };
    static_resources: { listeners: Array<{ address: { socket_address: { port_value: number } } }> };
  };
  cfg.admin.address.socket_address.port_value = adminPort;
  cfg.static_resources.listeners[0]!.address.socket_address.port_value = port;
  const file = join(dir, 'envoy.yaml');
  await writeFile(file, stringify(cfg));
  const child = spawn(
    process.execPath,
    [
      'dist/cli/main.js',
      'proxy',
      '-c',
      file,
      '--concurrency',
      String(concurrency),
      '--drain-time-s',
      '1',
      '-l',
      'warning',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await until(
      () =>
        request(adminPort, '/ready').then(
          (r) => r.status === 200,
          () => false,
        ),
      'the proxy to become ready',
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, adminPort, pid: child.pid!, stop };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until(
  predicate: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function endpoints(...ports: number[]): unknown[] {
  return [
    {
      lb_endpoints: ports.map((p) => ({
        endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } },
      })),
    },
  ];
}

export function cluster(name: string, ports: number[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '0.5s',
    load_assignment: { cluster_name: name, endpoints: endpoints(...ports) },
    ...extra,
  };
}

/** One catch-all virtual host routing to `clusterName` with the given route action extras. */
export function routeTo(
  clusterName: string,
  action: Record<string, unknown> = {},
  vhost: Record<string, unknown> = {},
  route: Record<string, unknown> = {},
): unknown[] {
  return [
    {
      name: 'vh',
      domains: ['*'],
      routes: [{ match: { prefix: '/' }, route: { cluster: clusterName, ...action }, ...route }],
      ...vhost,
    },
  ];
}

/** A keep-alive agent for load loops; destroyed by the caller. */
export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

/**
 * Two-sided binomial check: is `successes` out of `n` compatible with probability `p` at
 * about 4.4 standard deviations (false-failure odds ≈ 1e-5)?
 */
export function withinBinomialBounds(successes: number, n: number, p: number): boolean {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return Math.abs(successes - mean) <= 4.4 * sd + 0.5;
}

export interface TestFixtures {
  /** Run after each test in reverse order of registration, even when the test failed. */
  readonly cleanups: Array<() => Promise<unknown> | unknown>;
  /** An in-process proxy closed after the test. */
  proxy(spec: ProxySpec): Promise<ResilienceProxy>;
  /** Upstreams stopped after the test. */
  upstreams(...names: string[]): Promise<TestUpstream[]>;
}

/** Call once at a test file's top level: registers the afterEach that cleans up. */
export function testFixtures(): TestFixtures {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  return {
    cleanups,
    async proxy(spec) {
      const p = await startResilienceProxy(spec);
      cleanups.push(() => p.close());
      return p;
    },
    async upstreams(...names) {
      const list = await startUpstreams(...names);
      for (const u of list) cleanups.push(() => u.stop());
      return list;
    },
  };
}

/** A standalone host on 127.0.0.1 for unit tests of health checking and outlier detection. */
export function testHost(port: number): Host {
  const d: HostDescription = {
    address: '127.0.0.1',
    port,
    hostname: '',
    weight: 1,
    priority: 0,
    locality: { region: '', zone: '', subZone: '' },
    localityWeight: 1,
    healthStatus: 'UNKNOWN',
  };
  return new Host(d, () => undefined);
}
