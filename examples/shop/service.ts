// One shop service: an HTTP/JSON server whose endpoints do some simulated work inside a manual
// span, then call other services through the local sidecar's egress port (Host = the service
// name, as an app in a mesh does), and answer 503 at their configured error rate or when a
// call they depend on failed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { context, propagation, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Call, Endpoint } from './shop.js';
import { GrpcCaller, startGrpcServer, type RunningGrpcServer } from './grpc.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ShopServiceOptions {
  service: string;
  version: string;
  listen: HostPort;
  /** The local sidecar's outbound listener, which routes by Host to every service. */
  egress: HostPort;
  endpoints: readonly Endpoint[];
  tracer: Tracer;
  /** Where the endpoints with a grpcMethod are served over gRPC; none without it. */
  grpcListen?: HostPort;
}

export interface RunningShopService {
  address: HostPort;
  /** The gRPC server's address, when the service serves gRPC. */
  grpcAddress: HostPort | null;
  close(): Promise<void>;
}

interface CallResult {
  service: string;
  path: string;
  status: number;
}

const MAX_BODY = 64 * 1024;

export async function startShopService(o: ShopServiceOptions): Promise<RunningShopService> {
  const byRoute = new Map(o.endpoints.map((e) => [`${e.method} ${e.path}`, e]));
  // Keep-alive to the sidecar, as a real client library would; bounded like the proxy's pools.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const grpcCaller = new GrpcCaller(o.egress);

  const call = (c: Call): Promise<CallResult> => {
    if (c.grpcMethod !== undefined)
      return grpcCaller.call(c, o.service).then((status) => ({ service: c.service, path: c.path, status }));
    return new Promise((resolve) => {
      const body = c.method === 'POST' ? JSON.stringify({ from: o.service }) : undefined;
      const headers: Record<string, string | number> = { host: c.service };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      // The app forwards its trace context to the sidecar, which makes the CLIENT span.
      propagation.inject(context.active(), headers);
      const req = http.request(
        {
          host: o.egress.host,
          port: o.egress.port,
          method: c.method,
          path: c.path,
          agent,
          headers,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ service: c.service, path: c.path, status: res.statusCode ?? 0 }));
          res.on('error', () => resolve({ service: c.service, path: c.path, status: 0 }));
        },
      );
      req.on('error', () => resolve({ service: c.service, path: c.path, status: 0 }));
      req.end(body);
    });
  };

  const handle = async (e: Endpoint): Promise<{ status: number; calls: CallResult[] }> =>
    o.tracer.startActiveSpan(`${o.service} ${e.method} ${e.path}`, async (span) => {
      span.setAttribute('shop.service', o.service);
      span.setAttribute('shop.version', o.version);
      try {
        await sleep(e.latencyMs + Math.random() * e.jitterMs);
        const calls = await Promise.all(e.calls.map(call));
        const failedCall = calls.find((c) => c.status === 0 || c.status >= 500);
        const injected = Math.random() * 100 < e.errorPercent;
        const status = injected || failedCall !== undefined ? 503 : 200;
        if (status !== 200) {
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: injected ? 'injected error' : `${failedCall?.service} answered ${failedCall?.status}`,
          });
        }
        return { status, calls };
      } finally {
        span.end();
      }
    });

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const endpoint = byRoute.get(`${req.method ?? 'GET'} ${path}`);
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      if (endpoint === undefined) {
        const body = JSON.stringify({
          error: `${o.service} has no endpoint ${req.method} ${path}`,
          endpoints: [...byRoute.keys()],
        });
        res.writeHead(404, { 'content-type': 'application/json' }).end(body);
        return;
      }
      handle(endpoint).then(
        ({ status, calls }) => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              service: o.service,
              version: o.version,
              endpoint: `${endpoint.method} ${endpoint.path}`,
              calls,
            }),
          );
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
        },
      );
    });
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  let grpcServer: RunningGrpcServer | null = null;
  if (o.grpcListen !== undefined && o.endpoints.some((e) => e.grpcMethod !== undefined)) {
    grpcServer = await startGrpcServer(o.grpcListen, o.endpoints, o.tracer, async (e) => {
      const { status, calls } = await handle(e);
      return {
        status,
        body: JSON.stringify({ service: o.service, version: o.version, endpoint: e.grpcMethod, calls }),
      };
    });
  }
  return {
    address: { host: addr.address, port: addr.port },
    grpcAddress: grpcServer === null ? null : { host: o.grpcListen!.host, port: grpcServer.port },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        grpcCaller.close();
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => grpcServer?.close()),
  };
}
