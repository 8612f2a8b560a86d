// Real processes and sockets for the telemetry tests: meshscope sidecars started from the
// built CLI, a small OTLP/Zipkin receiver decoding with the project's collector decoders, and
// bootstrap builders in Envoy's v3 shape.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeLogsJson, decodeTracesJson } from '../../../collector/receivers/otlp/json.js';
import type { LogRecord, SpanRecord } from '../../../collector/receivers/otlp/model.js';
import { decodeLogsProto, decodeTracesProto } from '../../../collector/receivers/otlp/protobuf.js';

export const CLI = resolve(import.meta.dirname, '../../../dist/cli/main.js');

import { staticCluster as staticClusterOf } from '../helpers.js';
export { freePort } from '../helpers.js';

export function listen(server: Server): Promise<number> {
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res((server.address() as AddressInfo).port)));
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((res) => {
    server.closeAllConnections();
    server.close(() => res());
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks)));
    req.on('error', rej);
  });
}

/** A Zipkin v2 span as the Zipkin exporter sends it. */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** OTLP/HTTP (protobuf or JSON) and Zipkin JSON receiver; keeps what it got. */
export class TelemetryReceiver {
  readonly spans: SpanRecord[] = [];
  readonly logs: LogRecord[] = [];
  readonly zipkin: ZipkinSpan[] = [];
  /** OTLP trace export requests received. */
  traceExports = 0;
  readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      void readBody(req).then((raw) => {
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        const json = (req.headers['content-type'] ?? '').includes('json');
        if (req.url === '/v1/traces') {
          this.traceExports++;
          this.spans.push(...(json ? decodeTracesJson(body) : decodeTracesProto(body)).items);
        } else if (req.url === '/v1/logs')
          this.logs.push(...(json ? decodeLogsJson(body) : decodeLogsProto(body)).items);
        else if (req.url === '/api/v2/spans') this.zipkin.push(...(JSON.parse(body.toString('utf8')) as ZipkinSpan[]));
        else {
          res.statusCode = 404;
          res.end();
          return;
        }
        if (req.url === '/api/v2/spans') {
          res.statusCode = 202;
          res.end();
          return;
        }
        res.setHeader('content-type', json ? 'application/json' : 'application/x-protobuf');
        res.end(json ? '{}' : Buffer.alloc(0));
      });
    });
  }

  async start(): Promise<void> {
    this.port = await listen(this.server);
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Sidecar {
  readonly proc: ChildProcess;
  readonly adminPort: number;
  output = '';

  constructor(proc: ChildProcess, adminPort: number) {
    this.proc = proc;
    this.adminPort = adminPort;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  async admin(path: string, method = 'GET'): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, { method });
    return r.text();
  }

  stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((res) => {
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        res();
      });
      this.proc.kill('SIGTERM');
    });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'meshscope-telemetry-'));
export const tmpDir = dir;

/** Starts `meshscope proxy` on a bootstrap object; resolves once /ready answers LIVE. */
export async function startSidecar(
  name: string,
  bootstrap: object,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Sidecar> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(bootstrap, null, 1));
  const adminPort = (bootstrap as { admin: { address: { socket_address: { port_value: number } } } }).admin.address
    .socket_address.port_value;
  const proc = spawn(
    process.execPath,
    [CLI, 'proxy', '-c', file, '--concurrency', '1', '--drain-time-s', '1', ...args],
    {
      env: { ...process.env, OTEL_BSP_SCHEDULE_DELAY: '100', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const sidecar = new Sidecar(proc, adminPort);
  await waitFor(`${name} to be ready (${sidecar.output})`, async () => {
    if (proc.exitCode !== null) throw new Error(`${name} exited: ${sidecar.output}`);
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/ready`);
      return r.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return sidecar;
}

export function staticCluster(name: string, port: number): object {
  return staticClusterOf({ name, ports: [port] });
}

export interface ListenerSpec {
  name: string;
  port: number;
  direction: 'INBOUND' | 'OUTBOUND' | 'UNSPECIFIED';
  cluster: string;
  tracing?: object;
  accessLog?: object[];
  httpFilters?: object[];
}

export function listener(spec: ListenerSpec): object {
  const hcm: Record<string, unknown> = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: spec.name,
    route_config: {
      virtual_hosts: [
        { name: spec.name, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: spec.cluster } }] },
      ],
    },
    http_filters: [
      ...(spec.httpFilters ?? []),
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
      },
    ],
  };
  if (spec.tracing !== undefined) hcm['tracing'] = spec.tracing;
  if (spec.accessLog !== undefined) hcm['access_log'] = spec.accessLog;
  return {
    name: spec.name,
    address: { socket_address: { address: '127.0.0.1', port_value: spec.port } },
    traffic_direction: spec.direction,
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
  };
}

export function otelTracing(serviceName?: string, randomSampling = 100): object {
  const cfg: Record<string, unknown> = {
    '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
    http_service: { http_uri: { uri: 'http://collector/v1/traces', cluster: 'collector', timeout: '1s' } },
  };
  if (serviceName !== undefined) cfg['service_name'] = serviceName;
  return {
    provider: { name: 'envoy.tracers.opentelemetry', typed_config: cfg },
    random_sampling: { value: randomSampling },
  };
}

export function zipkinTracing(): object {
  return {
    provider: {
      name: 'envoy.tracers.zipkin',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
        collector_cluster: 'collector',
        collector_endpoint: '/api/v2/spans',
        collector_endpoint_version: 'HTTP_JSON',
      },
    },
  };
}

export const ISTIO_STATS = { name: 'istio.stats', typed_config: { '@type': 'type.googleapis.com/stats.PluginConfig' } };

export function bootstrap(
  nodeId: string,
  cluster: string,
  adminPort: number,
  listeners: object[],
  clusters: object[],
  metadata: Record<string, unknown> = {},
): object {
  return {
    node: { id: nodeId, cluster, metadata },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: { listeners, clusters },
  };
}

/** One HTTP request with exact header names and order; resolves with status, headers, body. */
export function request(
  port: number,
  path: string,
  headers: Array<[string, string]>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((res, rej) => {
    const flat: string[] = [];
    if (!headers.some(([k]) => k.toLowerCase() === 'host')) flat.push('host', `127.0.0.1:${port}`);
    for (const [k, v] of headers) flat.push(k, v);
    import('node:http').then(({ request: httpRequest }) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers: flat, agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (body += c));
        r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body }));
      });
      req.on('error', rej);
      req.end();
    }, rej);
  });
}
