// An upstream's response trailers reach an HTTP/2 client that did not send `te: trailers`, when the
// response has a content-length, as Envoy passes them (its codecs send a response's trailers
// whatever `te` said): with both HTTP/2 codecs, as the runtime key
// envoy.reloadable_features.http2_use_oghttp2 chooses them. node:http2 decides with the response
// headers whether a stream may end with trailers; a sized HTTP/1.1 response cannot carry any and
// still ends with its body. Real clients and servers: node:http2 both sides, node:http.
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrap,
  H2_CODECS,
  httpProtocolOptions,
  type RunningProxy,
  startTestProxy,
  staticCluster,
} from './helpers.js';

const BODY = 'sized answer';
let h2: http2.Http2Server;
let h1: http.Server;
const proxies = new Map<string, RunningProxy>();

beforeAll(async () => {
  // A sized body, then trailers (a trailing HEADERS frame after the last DATA).
  h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.respond(
      { ':status': 200, 'content-type': 'text/plain', 'content-length': String(BODY.length) },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-upstream-checksum': 'sized-sum', 'x-count': '1' }));
    stream.end(BODY);
    stream.resume();
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  h1 = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(BODY.length) });
    res.end(BODY);
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  const clusters = [
    staticCluster({
      name: 'h2',
      ports: [(h2.address() as AddressInfo).port],
      extra: httpProtocolOptions({ explicit_http_config: { http2_protocol_options: {} } }),
    }),
    staticCluster({ name: 'h1', ports: [(h1.address() as AddressInfo).port] }),
  ];
  const virtualHosts = [
    {
      name: 'all',
      domains: ['*'],
      routes: [
        { match: { prefix: '/h2' }, route: { cluster: 'h2' } },
        { match: { prefix: '/h1' }, route: { cluster: 'h1' } },
      ],
    },
  ];
  for (const { codec, runtime } of H2_CODECS) {
    proxies.set(
      codec,
      await startTestProxy(bootstrap({ runtime, virtualHosts, clusters, hcm: { codec_type: 'AUTO' } })),
    );
  }
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  h1?.closeAllConnections();
  await new Promise<void>((r) => h1?.close(() => r()));
  await new Promise<void>((r) => h2?.close(() => r()));
});

interface Answer {
  status: number;
  contentLength: string | undefined;
  body: string;
  trailers: Record<string, string | string[] | undefined> | null;
}

/** A GET over h2c prior knowledge, without `te: trailers`; null trailers when none came. */
async function h2Get(port: number, path: string): Promise<Answer> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const req = client.request({ ':path': path }, { endStream: true });
      const a: Answer = { status: 0, contentLength: undefined, body: '', trailers: null };
      req.on('response', (h) => {
        a.status = Number(h[':status']);
        a.contentLength = h['content-length'] as string | undefined;
      });
      req.setEncoding('latin1');
      req.on('data', (d: string) => {
        a.body += d;
      });
      req.on('trailers', (t) => {
        a.trailers = Object.fromEntries(Object.entries(t));
      });
      req.on('end', () => resolve(a));
      req.on('error', reject);
    });
  } finally {
    client.close();
  }
}

describe.each(H2_CODECS)('a sized response’s trailers to a client without te: trailers ($codec codec)', ({ codec }) => {
  const port = (): number => proxies.get(codec)!.port;

  it('an HTTP/2 upstream’s content-length body then trailers: the client gets both', async () => {
    const r = await h2Get(port(), '/h2');
    expect(r).toMatchObject({ status: 200, contentLength: String(BODY.length), body: BODY });
    expect(r.trailers).toEqual({ 'x-upstream-checksum': 'sized-sum', 'x-count': '1' });
  });

  it('a sized HTTP/1.1 response (which cannot carry trailers) ends with its body', async () => {
    const r = await h2Get(port(), '/h1');
    expect(r).toEqual({ status: 200, contentLength: String(BODY.length), body: BODY, trailers: null });
  });
});
