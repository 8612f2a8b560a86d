// The HTTP/1 codecs read their connections into shared read buffers (a plaintext or TLS
// downstream through TransportSocket.readWith, an upstream through onread): bodies must cross
// intact both ways even when many connections' reads land in one event-loop turn, and bytes a
// listener filter or codec_type AUTO's preface detection read first must still come first.
// Checked through one proxy in plaintext and through two sidecars with mutual TLS between them.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyServer } from '../../proxy/index.js';
import { bootstrap, startUpstream, staticCluster, type Upstream } from './helpers.js';
import { makeTlsFixtures, type TlsFixtures } from './security/tls-fixtures.js';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const DOWNSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const routes = [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'echo' } }] }];

type Bootstrap = {
  static_resources: { listeners: Array<Record<string, unknown>>; clusters: Array<Record<string, unknown>> };
};

const agent = new http.Agent({ keepAlive: false });

/** POSTs `body` and returns the response body's bytes. */
function post(port: number, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sixteen 300 KB bodies at once: each crosses in many reads, interleaved with the others'. */
async function expectConcurrentUploadsIntact(port: number): Promise<void> {
  const bodies = Array.from({ length: 16 }, () => randomBytes(300 * 1024));
  const responses = await Promise.all(bodies.map((b) => post(port, b)));
  for (let i = 0; i < bodies.length; i++) {
    expect(responses[i]!.status).toBe(200);
    expect(sha256(responses[i]!.body)).toBe(sha256(bodies[i]!));
  }
}

function tls(cfg: Record<string, unknown>): Record<string, unknown> {
  return { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: cfg } };
}

function commonTls(fx: TlsFixtures, own: 'server' | 'client', peerId: string): Record<string, unknown> {
  const [cert, key] = own === 'server' ? [fx.serverCert, fx.serverKey] : [fx.clientCert, fx.clientKey];
  return {
    tls_certificates: [{ certificate_chain: { filename: cert }, private_key: { filename: key } }],
    validation_context: {
      trusted_ca: { filename: fx.caCert },
      match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: peerId } }],
    },
  };
}

async function start(config: unknown): Promise<{ server: ProxyServer; port: number }> {
  const server = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
  const addr = server.listeners()[0]!.localAddress;
  return { server, port: Number(addr.slice(addr.lastIndexOf(':') + 1)) };
}

describe('HTTP/1 reads into shared buffers', () => {
  let echo: Upstream;
  let plain: number;
  let inspected: number;
  let mtlsOutbound: number;
  const servers: ProxyServer[] = [];

  beforeAll(async () => {
    // Answers with the body it received.
    echo = await startUpstream('echo', (_req, res, body) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(body);
    });
    const proxy = async (config: Bootstrap): Promise<number> => {
      const p = await start(config);
      servers.push(p.server);
      return p.port;
    };
    const clusters = (port: number, extra: Record<string, unknown> = {}) => [
      { ...staticCluster({ name: 'echo', ports: [port] }), ...extra },
    ];
    plain = await proxy(bootstrap({ virtualHosts: routes, clusters: clusters(echo.port) }) as Bootstrap);

    const withInspector = bootstrap({ virtualHosts: routes, clusters: clusters(echo.port) }) as Bootstrap;
    withInspector.static_resources.listeners[0]!['listener_filters'] = [
      {
        name: 'envoy.filters.listener.http_inspector',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
        },
      },
    ];
    inspected = await proxy(withInspector);

    // client → outbound (plaintext) → mTLS → inbound → echo.
    const fx = makeTlsFixtures();
    const inbound = bootstrap({ virtualHosts: routes, clusters: clusters(echo.port) }) as Bootstrap;
    const chain = inbound.static_resources.listeners[0]!['filter_chains'] as Array<Record<string, unknown>>;
    Object.assign(
      chain[0]!,
      tls({
        '@type': DOWNSTREAM,
        require_client_certificate: true,
        common_tls_context: commonTls(fx, 'server', fx.clientId),
      }),
    );
    const inboundPort = await proxy(inbound);
    mtlsOutbound = await proxy(
      bootstrap({
        virtualHosts: routes,
        clusters: clusters(
          inboundPort,
          tls({ '@type': UPSTREAM, sni: 'localhost', common_tls_context: commonTls(fx, 'client', fx.serverId) }),
        ),
      }) as Bootstrap,
    );
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close(1000)));
    await echo?.close();
  });

  it('carries concurrent large uploads and responses byte for byte', async () => {
    await expectConcurrentUploadsIntact(plain);
  });

  it('carries them byte for byte through two sidecars with mutual TLS between them', async () => {
    await expectConcurrentUploadsIntact(mtlsOutbound);
  });

  it('carries chunked uploads byte for byte', async () => {
    const bodies = Array.from({ length: 8 }, () => randomBytes(100 * 1024));
    const responses = await Promise.all(
      bodies.map(
        (body) =>
          new Promise<Buffer>((resolve, reject) => {
            const socket = net.connect(plain, '127.0.0.1');
            const chunks: Buffer[] = [];
            socket.on('data', (d: Buffer) => {
              chunks.push(d);
              const got = Buffer.concat(chunks);
              const headEnd = got.indexOf('\r\n\r\n');
              if (headEnd >= 0 && got.length >= headEnd + 4 + body.length) {
                socket.destroy();
                resolve(got.subarray(headEnd + 4));
              }
            });
            socket.on('error', reject);
            socket.write('POST /chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
            // Chunks of odd sizes, so chunk boundaries fall anywhere in a read.
            for (let at = 0; at < body.length; ) {
              const n = Math.min(7919, body.length - at);
              socket.write(`${n.toString(16)}\r\n`);
              socket.write(body.subarray(at, at + n));
              socket.write('\r\n');
              at += n;
            }
            socket.write('0\r\n\r\n');
          }),
      ),
    );
    for (let i = 0; i < bodies.length; i++) expect(sha256(responses[i]!)).toBe(sha256(bodies[i]!));
  });

  it('serves a keep-alive connection whose first bytes a listener filter read, then later ones', async () => {
    const socket = net.connect(inspected, '127.0.0.1');
    socket.setEncoding('latin1');
    let got = '';
    socket.on('data', (d: string) => (got += d));
    const answered = (body: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (got.endsWith(`\r\n\r\n${body}`)) {
            socket.off('data', check);
            resolve();
          }
        };
        socket.on('data', check);
        check();
      });
    // The first request arrives in two writes: the inspector reads the start of it.
    socket.write('POST /one HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    socket.write('hello');
    await answered('hello');
    socket.write('POST /two HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nworld');
    await answered('world');
    socket.destroy();
    expect(got.match(/\r\n\r\n(hello|world)/g)).toEqual(['\r\n\r\nhello', '\r\n\r\nworld']);
  });
});
