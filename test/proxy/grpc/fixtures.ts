// A real @grpc/grpc-js server and client for the gRPC tests: raw bytes for messages (no
// protobuf needed to prove the transport), one method per call shape, and request texts that
// pick a behaviour (hang, fail once, fail in the trailers, a given status).
import * as grpc from '@grpc/grpc-js';
import { staticCluster, httpProtocolOptions } from '../helpers.js';

const identity = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

export const ECHO_SERVICE = {
  echo: method('Echo', false, false),
  download: method('Download', false, true),
  upload: method('Upload', true, false),
  chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
export type EchoClient = InstanceType<typeof EchoClient> & {
  echo(
    req: Buffer,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: Buffer) => void,
  ): grpc.ClientUnaryCall;
  download(req: Buffer, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<Buffer>;
  upload(
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: Buffer) => void,
  ): grpc.ClientWritableStream<Buffer>;
  chat(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<Buffer, Buffer>;
};

export interface EchoServer {
  readonly port: number;
  readonly server: grpc.Server;
  /** Calls seen per request text (for the fail-once behaviours). */
  readonly calls: Map<string, number>;
  /** Server-side stream events: 'cancelled:<method>' when a client cancelled. */
  readonly events: string[];
  close(): void;
}

/**
 * Echo request texts: `hang` never answers; `head-unavailable:<k>` fails the first call per key
 * trailers-only; `trailer-unavailable:<k>` sends its head, then fails in the trailers;
 * `status:<n>` fails with code n; anything else echoes with a header and a trailer.
 */
export async function startEchoServer(): Promise<EchoServer> {
  const calls = new Map<string, number>();
  const events: string[] = [];
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      const n = (calls.get(text) ?? 0) + 1;
      calls.set(text, n);
      call.on('cancelled', () => events.push('cancelled:echo'));
      if (text === 'hang') return;
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 't1');
      if (text.startsWith('head-unavailable:') && n === 1) {
        cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
        return;
      }
      if (text.startsWith('trailer-unavailable:') && n === 1) {
        call.sendMetadata(new grpc.Metadata());
        setTimeout(() => cb({ code: grpc.status.UNAVAILABLE, details: 'late failure' }), 5);
        return;
      }
      if (text.startsWith('status:')) {
        cb({ code: Number(text.slice(7)), details: `status ${text.slice(7)}`, metadata: trailer });
        return;
      }
      const header = new grpc.Metadata();
      header.set('x-initial', 'h1');
      call.sendMetadata(header);
      cb(null, Buffer.from(`echo:${text}:${call.metadata.get('x-client')[0] ?? ''}`), trailer);
    },
    download: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      // "<count>:<bytes>": count messages of bytes each, the i-th filled with byte i.
      const [count, size] = call.request.toString().split(':').map(Number) as [number, number];
      call.on('cancelled', () => events.push('cancelled:download'));
      let i = 0;
      const writeMore = (): void => {
        while (i < count) {
          const ok = call.write(Buffer.alloc(size, i % 256));
          i++;
          if (!ok) {
            call.once('drain', writeMore);
            return;
          }
        }
        const trailer = new grpc.Metadata();
        trailer.set('x-sent', String(count));
        call.end(trailer);
      };
      if (count < 0) {
        call.sendMetadata(new grpc.Metadata()); // stream forever until cancelled: only a head
        return;
      }
      writeMore();
    },
    upload: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let messages = 0;
      let bytes = 0;
      call.on('data', (d: Buffer) => {
        messages++;
        bytes += d.length;
      });
      call.on('end', () => cb(null, Buffer.from(`${messages}:${bytes}`)));
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.sendMetadata(new grpc.Metadata());
      call.on('data', (d: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), d])));
      call.on('end', () => call.end());
      call.on('cancelled', () => events.push('cancelled:chat'));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e === null ? resolve(p) : reject(e),
    ),
  );
  return { port, server, calls, events, close: () => server.forceShutdown() };
}

export function echoClient(port: number): EchoClient {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as EchoClient;
}

export interface UnaryResult {
  error: grpc.ServiceError | null;
  response: Buffer | undefined;
  headers: grpc.Metadata | null;
}

/** One unary Echo call; resolves with its error (status, details, trailers) or response. */
export function unary(
  client: EchoClient,
  text: string,
  metadata: Record<string, string> = {},
  opts: grpc.CallOptions = {},
): Promise<UnaryResult> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    const call = client.echo(Buffer.from(text), md, opts, (error, response) => resolve({ error, response, headers }));
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
  });
}

/** Waits until `probe` returns a value (polling; no fixed sleeps in assertions). */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** typed_extension_protocol_options that make a cluster speak HTTP/2 to its endpoints. */
export const H2_UPSTREAM = httpProtocolOptions({ explicit_http_config: { http2_protocol_options: {} } });

function cluster(name: string, port: number, extra: Record<string, unknown>): Record<string, unknown> {
  return staticCluster({ name, ports: [port], extra });
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/**
 * A sidecar's bootstrap: one h2c/HTTP/1.1 (AUTO) listener routing gRPC to `upstreamPort` over
 * HTTP/2, traced to an OTLP receiver, with Istio's stats filter (port 0 = ephemeral).
 */
export function sidecarBootstrap(
  name: string,
  direction: 'INBOUND' | 'OUTBOUND',
  upstreamPort: number,
  collectorPort: number,
  ports: { listener: number; admin: number } = { listener: 0, admin: 0 },
): Record<string, unknown> {
  return {
    node: {
      id: `${name}~127.0.0.1~${name}.default~default.svc.cluster.local`,
      cluster: name,
      metadata: { NAME: `${name}-0`, NAMESPACE: 'default', WORKLOAD_NAME: name, LABELS: { app: name } },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: ports.admin } } },
    static_resources: {
      listeners: [
        {
          name,
          address: { socket_address: { address: '127.0.0.1', port_value: ports.listener } },
          traffic_direction: direction,
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: name,
                    codec_type: 'AUTO',
                    route_config: {
                      virtual_hosts: [
                        {
                          name,
                          domains: ['*'],
                          routes: [{ match: { prefix: '/', grpc: {} }, route: { cluster: 'next', timeout: '0s' } }],
                        },
                      ],
                    },
                    tracing: {
                      provider: {
                        name: 'envoy.tracers.opentelemetry',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
                          service_name: name,
                          http_service: {
                            http_uri: { uri: 'http://collector/v1/traces', cluster: 'collector', timeout: '1s' },
                          },
                        },
                      },
                      random_sampling: { value: 100 },
                    },
                    http_filters: [
                      { name: 'istio.stats', typed_config: { '@type': 'type.googleapis.com/stats.PluginConfig' } },
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [cluster('next', upstreamPort, H2_UPSTREAM), cluster('collector', collectorPort, {})],
    },
  };
}
