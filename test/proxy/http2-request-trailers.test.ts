// Request trailers (a trailing HEADERS block after the body, as RFC 9113 §8.1 allows) go from an
// HTTP/2 client through the proxy to an HTTP/2 upstream, after the whole body even when it waits
// on the upstream's windows; an HTTP/1.1 upstream gets the body ended without them, as Envoy
// sends none unless http_protocol_options.enable_trailers. Both codec kinds, as Envoy's runtime key
// envoy.reloadable_features.http2_use_oghttp2 chooses them: our own framing, and node:http2's
// (whose client opens every request with a body to wait for trailers). Raw frames for the
// client, real node:http2 and node:http servers upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import {
  h2Cluster,
  startProxyPerCodec,
  H2_CODECS,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';
import { data, Flag, FrameType, headers, hpack, RawH2 } from './h2-frames.js';

let h2: http2.Http2Server;
let h1: Upstream;
let proxies = new Map<string, RunningProxy>();

beforeAll(async () => {
  h2 = http2.createServer();
  // Answers with what it received: the body's length and the trailers it saw.
  h2.on('stream', (stream) => {
    let bytes = 0;
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ bytes, trailers }));
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  h1 = await startUpstream('h1');
  proxies = await startProxyPerCodec({
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/h1' }, route: { cluster: 'h1' } },
          { match: { prefix: '/' }, route: { cluster: 'h2' } },
        ],
      },
    ],
    clusters: [staticCluster({ name: 'h1', ports: [h1.port] }), h2Cluster('h2', (h2.address() as AddressInfo).port)],
    hcm: { codec_type: 'HTTP2' },
  });
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  await h1?.close();
  await new Promise<void>((r) => h2?.close(() => r()));
});

const POST = (path: string): Array<[string, string]> => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', 'h2.test'],
];

/** Sends a POST with `body` (none when empty) and `trailers`; returns the JSON the upstream answered. */
async function post(
  codec: string,
  path: string,
  body: Buffer,
  trailers: Array<[string, string]>,
): Promise<Record<string, unknown>> {
  const c = await RawH2.connect(proxies.get(codec)!.port);
  const frames = [headers(1, hpack(POST(path)))];
  for (let off = 0; off < body.length; off += 16_384) frames.push(data(1, body.subarray(off, off + 16_384)));
  frames.push(headers(1, hpack(trailers), { endStream: true }));
  c.send(...frames);
  const end = await c.waitFor(
    (f) => f.streamId === 1 && f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0,
  );
  expect(end).not.toBeNull();
  const answer = Buffer.concat(
    c.frames.filter((f) => f.streamId === 1 && f.type === FrameType.DATA).map((f) => f.payload),
  );
  c.destroy();
  return JSON.parse(answer.toString()) as Record<string, unknown>;
}

describe.each(H2_CODECS)('request trailers, HTTP/2 client → $codec codecs', ({ codec }) => {
  it('to an HTTP/2 upstream: the body, then the trailers', async () => {
    const r = await post(codec, '/small', Buffer.from('hello'), [['x-checksum', 'abc']]);
    expect(r).toMatchObject({ bytes: 5, trailers: { 'x-checksum': 'abc' } });
  });

  it('to an HTTP/2 upstream: trailers with no body at all', async () => {
    const r = await post(codec, '/empty', Buffer.alloc(0), [['x-checksum', 'none']]);
    expect(r).toMatchObject({ bytes: 0, trailers: { 'x-checksum': 'none' } });
  });

  it('to an HTTP/2 upstream: a body larger than its windows, the trailers held until the last byte left', async () => {
    const r = await post(codec, '/large', Buffer.alloc(200 * 1024, 'b'), [
      ['x-checksum', 'large'],
      ['x-count', '2'],
    ]);
    expect(r).toMatchObject({ bytes: 200 * 1024, trailers: { 'x-checksum': 'large', 'x-count': '2' } });
  });

  it('to an HTTP/1.1 upstream: the body ends without them', async () => {
    const r = await post(codec, '/h1', Buffer.from('hello'), [['x-checksum', 'abc']]);
    expect(r).toMatchObject({ upstream: 'h1', bodyBytes: 5 });
    expect(h1.seen.at(-1)?.headers['x-checksum']).toBeUndefined();
  });
});
