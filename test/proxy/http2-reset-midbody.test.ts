// A response cut off mid-body (the route's timeout fires after the upstream sent the head and
// part of the body) must reach an HTTP/2 client as RST_STREAM alone, never as END_STREAM: a
// client that saw END_STREAM would take the truncated body for the whole response. Both server
// codecs, as Envoy's runtime key envoy.reloadable_features.http2_use_oghttp2 chooses them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Flag, FrameType, GET, headers, hpack, RawH2 } from './h2-frames.js';
import { startProxyPerCodec, H2_CODECS, type RunningProxy, staticCluster } from './helpers.js';

let upstream: http.Server;
let proxies = new Map<string, RunningProxy>();

beforeAll(async () => {
  // Half of the promised body, then nothing: the route's timeout ends the stream.
  upstream = http.createServer((_req, res) => {
    res.setHeader('content-length', '100');
    res.write(Buffer.alloc(50, 0x61));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  proxies = await startProxyPerCodec({
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'half', timeout: '0.3s' } }],
      },
    ],
    clusters: [staticCluster({ name: 'half', ports: [port] })],
    hcm: { codec_type: 'HTTP2' },
  });
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  upstream?.closeAllConnections();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

describe.each(H2_CODECS)('$codec codecs', ({ codec }) => {
  it('a response cut off mid-body ends with RST_STREAM and no END_STREAM', async () => {
    const c = await RawH2.connect(proxies.get(codec)!.port);
    c.send(headers(1, hpack(GET('/')), { endStream: true }));
    expect(await c.rstCode(1)).toBe(ErrorCode.INTERNAL_ERROR);
    const mine = c.frames.filter((f) => f.streamId === 1);
    expect(mine.some((f) => f.type === FrameType.HEADERS)).toBe(true);
    const body = mine.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
    expect(body).toBe(50);
    expect(
      mine.filter(
        (f) => (f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & Flag.END_STREAM) !== 0,
      ),
    ).toEqual([]);
    c.destroy();
  });
});
