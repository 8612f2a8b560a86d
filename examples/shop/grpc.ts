// The shop's gRPC hop (checkout → payment) over @grpc/grpc-js: one unary method per endpoint that
// names a `grpcMethod`, JSON bytes for messages (the transport is the point, not protobuf), and
// the trace context carried in gRPC metadata both ways. The server side makes the SERVER span
// itself (the SDK's HTTP instrumentation does not see gRPC), with OpenTelemetry's rpc.*
// attributes; calls leave through the sidecar like HTTP ones, which spans them.
import * as grpc from '@grpc/grpc-js';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import type { Call, Endpoint } from './shop.js';

const bytes = (b: Buffer): Buffer => b;

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  keys: (md) => Object.keys(md.getMap()),
  get: (md, key) => {
    const v = md.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
};

const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (md, key, value) => md.set(key, value),
};

/** `/package.Service/Method` → its service and method, as rpc.service / rpc.method. */
function rpcNames(path: string): { service: string; method: string } {
  const [, service = '', method = ''] = path.split('/');
  return { service, method };
}

/** What a handled endpoint reports back: 200 or 503 and a JSON body, as the HTTP side answers. */
export type EndpointHandler = (e: Endpoint) => Promise<{ status: number; body: string }>;

export interface RunningGrpcServer {
  port: number;
  close(): Promise<void>;
}

/** Serves every endpoint with a grpcMethod; a 503 from the endpoint is UNAVAILABLE, as a sidecar retries. */
export async function startGrpcServer(
  listen: { host: string; port: number },
  endpoints: readonly Endpoint[],
  tracer: Tracer,
  handle: EndpointHandler,
): Promise<RunningGrpcServer> {
  const server = new grpc.Server();
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const e of endpoints) {
    if (e.grpcMethod === undefined) continue;
    const path = e.grpcMethod;
    definition[path] = {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: bytes,
      responseDeserialize: bytes,
    };
    const names = rpcNames(path);
    handlers[path] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const parent = propagation.extract(context.active(), call.metadata, metadataGetter);
      const span = tracer.startSpan(
        `${names.service}/${names.method}`,
        {
          kind: SpanKind.SERVER,
          attributes: { 'rpc.system': 'grpc', 'rpc.service': names.service, 'rpc.method': names.method },
        },
        parent,
      );
      context
        .with(trace.setSpan(parent, span), () => handle(e))
        .then(
          ({ status, body }) => {
            const code = status === 200 ? grpc.status.OK : grpc.status.UNAVAILABLE;
            span.setAttribute('rpc.grpc.status_code', code);
            if (code !== grpc.status.OK) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${status}` });
              callback({ code, details: body });
            } else callback(null, Buffer.from(body));
            span.end();
          },
          (err: unknown) => {
            span.setAttribute('rpc.grpc.status_code', grpc.status.INTERNAL);
            span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
            span.end();
            callback({ code: grpc.status.INTERNAL, details: String(err) });
          },
        );
    };
  }
  server.addService(definition, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${listen.host}:${listen.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err === null ? resolve(p) : reject(err),
    ),
  );
  return {
    port,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** gRPC clients to the sidecar's egress, one channel per callee (its `:authority` picks the route). */
export class GrpcCaller {
  readonly #egress: string;
  readonly #clients = new Map<string, grpc.Client>();

  constructor(egress: { host: string; port: number }) {
    this.#egress = `${egress.host}:${egress.port}`;
  }

  /** Calls `c.grpcMethod`; resolves with an HTTP-like status: 200 OK, 503 UNAVAILABLE, 500 other, 0 none. */
  call(c: Call, from: string): Promise<number> {
    let client = this.#clients.get(c.service);
    if (client === undefined) {
      client = new grpc.Client(this.#egress, grpc.credentials.createInsecure(), {
        'grpc.default_authority': c.service,
      });
      this.#clients.set(c.service, client);
    }
    const md = new grpc.Metadata();
    propagation.inject(context.active(), md, metadataSetter);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        c.grpcMethod!,
        bytes,
        bytes,
        Buffer.from(JSON.stringify({ from })),
        md,
        { deadline: Date.now() + 10_000 },
        (err) => {
          if (err === null) resolve(200);
          else if (err.code === grpc.status.UNAVAILABLE) resolve(503);
          else if (err.code === grpc.status.DEADLINE_EXCEEDED) resolve(504);
          else resolve(500);
        },
      );
    });
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
