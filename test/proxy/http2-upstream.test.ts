// HTTP/2 to upstreams: a cluster whose typed_extension_protocol_options say
// explicit_http_config.http2_protocol_options gets a multiplexed HTTP/2 pool. An HTTP/1.1
// client and an HTTP/2 client reach a node:http2 server through the proxy; many concurrent
// requests share one upstream connection; a large request body crosses the windows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { clusterSchema } from '../../proxy/api/schema.js';
import {
  bootstrap,
  H2_CODECS,
  request,
  startTestProxy,
  staticCluster,
  type RunningProxy,
  httpProtocolOptions,
} from './helpers.js';

let upstream: http2.Http2Server;
let upstreamPort: number;
/** Remote ports of the sessions the upstream accepted (one per proxy connection). */
const sessions = new Set<number>();
/** Called with each upstream session that closes. */
let onUpstreamSessionClose: () => void = () => {};
/** Called with the RST_STREAM code of a `/hang` stream the upstream never answered. */
let onHangClosed: (rstCode: number) => void = () => {};
let onHangOpened: () => void = () => {};
let proxy: RunningProxy;
let grpcPortValue: number;
let grpcServer: grpc.Server;
/** Answers with the protocol it was spoken to in: HTTP/1.1 and h2c on one port, told apart by the preface. */
let dual: net.Server;

const identity = (b: Buffer): Buffer => b;
/** A unary method with raw bytes for messages (no protobuf needed to prove the transport). */
const ECHO_SERVICE = {
  echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} satisfies grpc.ServiceDefinition;

beforeAll(async () => {
  upstream = http2.createServer();
  upstream.on('session', (s) => {
    sessions.add(s.socket.remotePort ?? 0);
    s.on('close', () => onUpstreamSessionClose());
  });
  upstream.on('stream', (stream, headers) => {
    if (headers[':path'] === '/hang') {
      stream.on('close', () => onHangClosed(stream.rstCode));
      onHangOpened();
      return;
    }
    let bytes = 0;
    stream.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    stream.on('end', () => {
      stream.respond({
        ':status': 200,
        'content-type': 'application/json',
        'x-upstream-protocol': 'h2',
      });
      stream.end(
        JSON.stringify({
          method: headers[':method'],
          path: headers[':path'],
          authority: headers[':authority'],
          host: headers.host ?? null,
          connection: headers.connection ?? null,
          bodyBytes: bytes,
        }),
      );
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  const h1 = http.createServer((_req, res) => res.end('HTTP/1.1'));
  const h2 = http2.createServer((_req, res) => res.end('HTTP/2'));
  dual = net.createServer((socket) =>
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first.toString('latin1').startsWith('PRI * HTTP/2.0')) h2.emit('connection', socket);
      else {
        h1.emit('connection', socket);
        socket.resume();
      }
    }),
  );
  await new Promise<void>((r) => dual.listen(0, '127.0.0.1', r));
  grpcServer = new grpc.Server();
  grpcServer.addService(ECHO_SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const header = new grpc.Metadata();
      header.set('x-initial', 'h1');
      call.sendMetadata(header);
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 't1');
      const text = call.request.toString();
      if (text === 'missing') callback({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: trailer });
      else callback(null, Buffer.from(`echo:${text}:${call.metadata.get('x-client')[0]}`), trailer);
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e === null ? resolve(p) : reject(e),
    ),
  );
  grpcPortValue = grpcPort;
});

afterAll(async () => {
  await new Promise<void>((r) => upstream?.close(() => r()));
  grpcServer?.forceShutdown();
  dual?.close();
});

// Both HTTP/2 client codecs, as Envoy's runtime key chooses them (node:http2's and our own).
describe.each(H2_CODECS)(
  'HTTP/2 upstreams (explicit_http_config.http2_protocol_options), $codec codec',
  ({ runtime }) => {
    beforeAll(async () => {
      proxy = await startTestProxy(
        bootstrap({
          runtime,
          virtualHosts: [
            {
              name: 'all',
              domains: ['*'],
              routes: [
                { match: { prefix: '/test.Echo/' }, route: { cluster: 'grpc' } },
                { match: { prefix: '/dual' }, route: { cluster: 'dual' } },
                { match: { prefix: '/idle' }, route: { cluster: 'h2-idle' } },
                { match: { prefix: '/' }, route: { cluster: 'h2' } },
              ],
            },
          ],
          clusters: [
            staticCluster({
              name: 'h2-idle',
              ports: [upstreamPort],
              extra: httpProtocolOptions({
                common_http_protocol_options: { idle_timeout: '0.2s' },
                explicit_http_config: { http2_protocol_options: {} },
              }),
            }),
            staticCluster({
              name: 'dual',
              ports: [(dual.address() as AddressInfo).port],
              extra: httpProtocolOptions({
                use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
              }),
            }),
            staticCluster({
              name: 'grpc',
              ports: [grpcPortValue],
              extra: httpProtocolOptions({
                explicit_http_config: { http2_protocol_options: {} },
              }),
            }),
            staticCluster({
              name: 'h2',
              ports: [upstreamPort],
              extra: httpProtocolOptions({
                explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
              }),
            }),
          ],
        }),
      );
    });

    afterAll(async () => {
      await proxy?.close();
    });

    it('an HTTP/1.1 client reaches an HTTP/2 server: Host becomes :authority, connection headers stay behind', async () => {
      const r = await request(proxy.port, '/h1?q=1', {
        method: 'POST',
        headers: { host: 'shop.example', connection: 'keep-alive', 'content-type': 'text/plain' },
        body: 'x'.repeat(300_000),
      });
      expect(r.status).toBe(200);
      expect(r.headers['x-upstream-protocol']).toBe('h2');
      const body = r.json<{
        method: string;
        path: string;
        authority: string;
        host: null;
        connection: null;
        bodyBytes: number;
      }>();
      expect(body).toEqual({
        method: 'POST',
        path: '/h1?q=1',
        authority: 'shop.example',
        host: null,
        connection: null,
        bodyBytes: 300_000,
      });
    });

    it('h2 → h2: 200 concurrent streams (h2load) ride few upstream connections', async () => {
      sessions.clear();
      const r = await new Promise<string>((resolve) =>
        execFile('h2load', ['-n', '200', '-c', '2', '-m', '50', `http://127.0.0.1:${proxy.port}/load`], (_e, out) =>
          resolve(out),
        ),
      );
      expect(r).toMatch(/status codes: 200 2xx/);
      // At most one upstream connection per 100 concurrent streams (max_concurrent_streams 100).
      expect(sessions.size).toBeLessThanOrEqual(2);
    });

    it('h2 → h2 with Node’s client: a POST body larger than the windows arrives whole', async () => {
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      const req = session.request({ ':method': 'POST', ':path': '/big' });
      req.end(Buffer.alloc(5 * 1024 * 1024, 1));
      const chunks: Buffer[] = [];
      let status = 0;
      req.on('response', (h) => {
        status = Number(h[':status']);
      });
      req.on('data', (d: Buffer) => chunks.push(d));
      await new Promise<void>((resolve) => req.on('end', () => resolve()));
      session.close();
      expect(status).toBe(200);
      expect(JSON.parse(Buffer.concat(chunks).toString()).bodyBytes).toBe(5 * 1024 * 1024);
    });

    it('a protocol choice meshscope cannot honour is refused, naming the field', () => {
      const cluster = (options: Record<string, unknown>) =>
        staticCluster({
          name: 'c',
          ports: [1],
          extra: httpProtocolOptions(options),
        });
      const auto = clusterSchema.safeParse(cluster({ auto_config: {} }));
      expect(auto.success).toBe(false);
      expect(JSON.stringify(auto.error?.issues)).toContain('auto_config');
      const both = clusterSchema.safeParse(
        cluster({ explicit_http_config: { http_protocol_options: {}, http2_protocol_options: {} } }),
      );
      expect(both.success).toBe(false);
      expect(JSON.stringify(both.error?.issues)).toContain(
        'exactly one of http_protocol_options, http2_protocol_options',
      );
      const window = clusterSchema.safeParse(
        cluster({ explicit_http_config: { http2_protocol_options: { initial_stream_window_size: 100 } } }),
      );
      expect(JSON.stringify(window.error?.issues)).toContain('initial_stream_window_size');
    });

    it('gRPC unary (@grpc/grpc-js) through the proxy, h2 both sides: message, headers, trailers and status', async () => {
      const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
      const client = new Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
      const call = (text: string) =>
        new Promise<{
          error: grpc.ServiceError | null;
          value?: Buffer;
          header: grpc.Metadata;
          status: grpc.StatusObject;
        }>((resolve) => {
          const md = new grpc.Metadata();
          md.set('x-client', 'c1');
          let header = new grpc.Metadata();
          let result: { error: grpc.ServiceError | null; value?: Buffer } = { error: null };
          const c = client.echo(Buffer.from(text), md, (error: grpc.ServiceError | null, value?: Buffer) => {
            result = { error, value };
          });
          c.on('metadata', (m: grpc.Metadata) => {
            header = m;
          });
          c.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ ...result, header, status })));
        });
      const ok = await call('hello');
      expect(ok.error).toBeNull();
      expect(ok.value?.toString()).toBe('echo:hello:c1');
      expect(ok.header.get('x-initial')).toEqual(['h1']);
      expect(ok.status.code).toBe(grpc.status.OK);
      expect(ok.status.metadata.get('x-trailer')).toEqual(['t1']);

      const missing = await call('missing');
      expect(missing.status.code).toBe(grpc.status.NOT_FOUND);
      expect(missing.status.details).toBe('no such thing');
      expect(missing.status.metadata.get('x-trailer')).toEqual(['t1']);
      client.close();
    });

    it('use_downstream_protocol_config: each request goes upstream in the protocol it arrived in', async () => {
      expect((await request(proxy.port, '/dual')).body).toBe('HTTP/1.1');
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      const req = session.request({ ':path': '/dual' });
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      await new Promise<void>((resolve) => req.on('end', () => resolve()));
      session.close();
      expect(body).toBe('HTTP/2');
    });

    it('a downstream RST_STREAM resets the upstream stream (CANCEL); the upstream connection stays up', async () => {
      const closed = new Promise<number>((resolve) => {
        onHangClosed = resolve;
      });
      const opened = new Promise<void>((resolve) => {
        onHangOpened = resolve;
      });
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      const req = session.request({ ':path': '/hang' });
      req.on('error', () => {});
      // Cancel once the proxy forwarded the request and the upstream stream exists.
      await opened;
      req.close(http2.constants.NGHTTP2_CANCEL);
      expect(await closed).toBe(http2.constants.NGHTTP2_CANCEL);
      const after = session.request({ ':path': '/after' });
      after.resume();
      const status = await new Promise<number>((resolve) => after.on('response', (h) => resolve(Number(h[':status']))));
      expect(status).toBe(200);
      session.close();
    });

    it('common_http_protocol_options.idle_timeout closes an idle HTTP/2 upstream connection', async () => {
      const upstreamClosed = new Promise<void>((resolve) => {
        onUpstreamSessionClose = resolve;
      });
      expect((await request(proxy.port, '/idle')).status).toBe(200);
      await upstreamClosed;
    });
  },
);
