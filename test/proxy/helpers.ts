// Shared helpers for proxy integration tests: real upstream servers, an in-process proxy,
// bootstrap builders and a small HTTP client that can set any Host header.
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { ConfigInvalidError, startProxy, type ProxyServer, validateBootstrap } from '../../proxy/index.js';
export { freePort } from '../helpers/ports.js';

export interface Upstream {
  readonly name: string;
  readonly port: number;
  /** Requests seen, in order. */
  readonly seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }>;
  /** Distinct client ports (≈ upstream connections opened by the proxy). */
  readonly connections: Set<number>;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** An upstream answering JSON `{ upstream, method, url, headers, bodyBytes }` unless `handler` says otherwise. */
export async function startUpstream(name: string, handler?: UpstreamHandler): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const connections = new Set<number>();
  const server = http.createServer((req, res) => {
    connections.add(req.socket.remotePort ?? 0);
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (handler !== undefined) return handler(req, res, body);
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', name);
      res.end(
        JSON.stringify({
          upstream: name,
          method: req.method,
          url: req.url,
          headers: req.headers,
          bodyBytes: body.length,
        }),
      );
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    name,
    port: (server.address() as AddressInfo).port,
    seen,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface ClusterSpec {
  name: string;
  ports?: number[];
  lb_policy?: string;
  extra?: Record<string, unknown>;
  endpoints?: unknown[];
}

export function staticCluster(spec: ClusterSpec): Record<string, unknown> {
  return {
    name: spec.name,
    type: 'STATIC',
    connect_timeout: '1s',
    ...(spec.lb_policy !== undefined ? { lb_policy: spec.lb_policy } : {}),
    load_assignment: {
      cluster_name: spec.name,
      endpoints: spec.endpoints ?? [
        {
          lb_endpoints: (spec.ports ?? []).map((p) => ({
            endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } },
          })),
        },
      ],
    },
    ...spec.extra,
  };
}

/** The cluster extension that sets its upstream protocol (Envoy's HttpProtocolOptions). */
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * A cluster's `typed_extension_protocol_options` holding HttpProtocolOptions with `options`
 * (`explicit_http_config`, `use_downstream_protocol_config`, `common_http_protocol_options`): the
 * `extra` of staticCluster() for a cluster that speaks HTTP/2 to its endpoints.
 */
export function httpProtocolOptions(options: Record<string, unknown>): Record<string, unknown> {
  return {
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, ...options },
    },
  };
}

/** A static cluster whose endpoint speaks HTTP/2 (explicit_http_config.http2_protocol_options). */
export function h2Cluster(name: string, port: number): Record<string, unknown> {
  return staticCluster({
    name,
    ports: [port],
    extra: httpProtocolOptions({ explicit_http_config: { http2_protocol_options: {} } }),
  });
}

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

export interface BootstrapOptions {
  virtualHosts: unknown[];
  clusters: unknown[];
  hcm?: Record<string, unknown>;
  admin?: boolean;
  /** A static runtime layer (Envoy's layered_runtime), e.g. a reloadable feature's key. */
  runtime?: Record<string, unknown>;
}

/** A bootstrap with one listener on an ephemeral port. */
export function bootstrap(opts: BootstrapOptions): Record<string, unknown> {
  return {
    ...(opts.runtime !== undefined
      ? { layered_runtime: { layers: [{ name: 'static', static_layer: opts.runtime }] } }
      : {}),
    ...(opts.admin === true ? { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } } : {}),
    static_resources: {
      listeners: [
        {
          name: 'test_listener',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM_TYPE,
                    stat_prefix: 'ingress_http',
                    route_config: { name: 'local_route', virtual_hosts: opts.virtualHosts },
                    http_filters: [ROUTER],
                    ...opts.hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: opts.clusters,
    },
  };
}

export interface RunningProxy {
  readonly server: ProxyServer;
  readonly port: number;
  close(): Promise<void>;
}

export async function startTestProxy(config: unknown): Promise<RunningProxy> {
  const server = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
  const addr = server.listeners()[0]!.localAddress;
  return { server, port: Number(addr.slice(addr.lastIndexOf(':') + 1)), close: () => server.close(1000) };
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

const agent = new http.Agent({ keepAlive: false });

export function request(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: opts.agent ?? agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Sends raw bytes and returns everything received until the server closes (or `waitMs`). */
export function rawExchange(port: number, data: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('timeout', reject);
  });
}

export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m === null ? 0 : Number(m[1]);
}

/** Every problem validateBootstrap reports for `config` (each with its path), [] when it is valid. */
export function configProblems(config: unknown): string[] {
  try {
    validateBootstrap(config);
  } catch (err) {
    if (err instanceof ConfigInvalidError) return [...err.problems];
    throw err;
  }
  return [];
}

/** The two HTTP/2 server codecs, as Envoy's runtime key chooses them (codec-factory.ts): node:http2's and our own. */
export const H2_CODECS = [
  { codec: 'nghttp2', runtime: { 'envoy.reloadable_features.http2_use_oghttp2': false } },
  { codec: 'oghttp2', runtime: { 'envoy.reloadable_features.http2_use_oghttp2': true } },
] as const;

/**
 * One proxy per HTTP/2 server codec (H2_CODECS), keyed by codec name: the same bootstrap, with
 * that codec's runtime key added. Started one after the other; the caller closes them.
 */
export async function startProxyPerCodec(opts: Omit<BootstrapOptions, 'runtime'>): Promise<Map<string, RunningProxy>> {
  const proxies = new Map<string, RunningProxy>();
  for (const { codec, runtime } of H2_CODECS) proxies.set(codec, await startTestProxy(bootstrap({ runtime, ...opts })));
  return proxies;
}

/** The accept queue's length of the socket listening on 127.0.0.1:`port`, as the kernel reports it (ss's Send-Q). */
export async function listenBacklog(port: number): Promise<number> {
  const { stdout } = await promisify(execFile)('ss', ['-ltnH', `sport = :${port}`]);
  const [, , sendQ] = stdout.trim().split(/\s+/);
  return Number(sendQ);
}
