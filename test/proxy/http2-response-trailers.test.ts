// An upstream's response trailers reach an HTTP/2 client that did not send `te: trailers`, when the
// response has a content-length, as Envoy passes them (its codecs send a response's trailers
// whatever `te` said): with both HTTP/2 codecs, as the runtime key
// envoy.reloadable_features.http2_use_oghttp2 chooses them. node:http2 decides with the response
// headers whether a stream may end with trailers; a sized HTTP/1.1 response cannot carry any and
// still ends with its body, in its last DATA frame (no empty DATA frame to end it). Real clients and
// servers: node:http2 both sides, node:http, and a raw-frame client to see the frames.
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flag, FrameType, GET, headers, hpack, RawH2 } from './h2-frames.js';
import { startProxyPerCodec, h2Cluster, H2_CODECS, type RunningProxy, staticCluster } from './helpers.js';

const BODY = 'sized answer';
let h2: http2.Http2Server;
let h1: http.Server;
let proxies = new Map<string, RunningProxy>();

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
    h2Cluster('h2', (h2.address() as AddressInfo).port),
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
  proxies = await startProxyPerCodec({ virtualHosts, clusters, hcm: { codec_type: 'AUTO' } });
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

  /** The frames of one GET on stream 1, up to the one that ends it: `D` DATA (`D0` empty), `H` HEADERS, `*` END_STREAM. */
  async function framesOf(path: string): Promise<string[]> {
    const c = await RawH2.connect(port());
    try {
      c.send(headers(1, hpack(GET(path)), { endStream: true }));
      const end = await c.waitFor((f) => f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0);
      expect(end, 'the response to end').not.toBeNull();
      return c.frames
        .filter((f) => f.streamId === 1 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS))
        .map(
          (f) =>
            (f.type === FrameType.HEADERS ? 'H' : f.payload.length === 0 ? 'D0' : 'D') +
            ((f.flags & Flag.END_STREAM) !== 0 ? '*' : ''),
        );
    } finally {
      c.destroy();
    }
  }

  it('on the wire: the trailers end the HTTP/2 upstream’s sized response; the HTTP/1.1 one ends with its last DATA', async () => {
    const h2Frames = await framesOf('/h2');
    expect(h2Frames[0]).toBe('H');
    expect(h2Frames.at(-1)).toBe('H*');
    expect(h2Frames.slice(1, -1).every((f) => f === 'D')).toBe(true);
    const h1Frames = await framesOf('/h1');
    expect(h1Frames[0]).toBe('H');
    expect(h1Frames.at(-1)).toBe('D*');
    expect(h1Frames.slice(1).every((f) => f === 'D' || f === 'D*')).toBe(true);
  });
});
