// Envoy's http2_protocol_options.max_outbound_frames on our own HTTP/2 server codec: a client
// that opens streams to a route answering with bodies and never reads has its connection closed
// once more frames are queued for it than the limit allows (http2.outbound_flood), while a client
// that reads gets the same responses under the same limit. node:http2's codec has no hook for
// its outbound queue, so only ours is tested here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import {
  bootstrap,
  configProblems,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';
import { GET, headers, hpack, RawH2, Setting, windowUpdate } from './h2-frames.js';

const BODY_BYTES = 1024 * 1024;
/** Small, so a client that does not read passes it once the kernel's buffers are full. */
const MAX_OUTBOUND_FRAMES = 32;
const OWN_CODEC = { 'envoy.reloadable_features.http2_use_oghttp2': true };

let big: Upstream;
let proxy: RunningProxy;
/** Called when an upstream response is closed before it finished (the proxy reset its request). */
let onUpstreamAbort: ((url: string) => void) | null = null;

beforeAll(async () => {
  big = await startUpstream('big', (req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) onUpstreamAbort?.(req.url ?? '');
    });
    const block = Buffer.alloc(64 * 1024, 97);
    let left = BODY_BYTES / block.length;
    const pump = () => {
      while (left-- > 0) if (!res.write(block)) return void res.once('drain', pump);
      res.end();
    };
    pump();
  });
  proxy = await startTestProxy(
    bootstrap({
      runtime: OWN_CODEC,
      virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'big' } }] }],
      clusters: [staticCluster({ name: 'big', ports: [big.port] })],
      hcm: { codec_type: 'HTTP2', http2_protocol_options: { max_outbound_frames: MAX_OUTBOUND_FRAMES } },
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await big?.close();
});

async function outboundFloods(): Promise<number> {
  const snap = await proxy.server.stats();
  return snap.counters.find((c) => c.name === 'http2.outbound_flood')?.value ?? 0;
}

async function activeConnections(): Promise<number> {
  const snap = await proxy.server.stats();
  return snap.gauges.find((g) => g.name === 'http.ingress_http.downstream_cx_active')?.value ?? 0;
}

/** GETs `path` over `session` and reads the whole body. */
function fetchBody(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let status = 0;
    let bytes = 0;
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => resolve({ status, bytes }));
    req.on('error', reject);
    req.end();
  });
}

describe('max_outbound_frames (our codec)', () => {
  it('is validated at the edge: 0 is refused with its path, as Envoy refuses it', () => {
    const config = (n: number) =>
      bootstrap({
        virtualHosts: [
          { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'big' } }] },
        ],
        clusters: [staticCluster({ name: 'big', ports: [big.port] })],
        hcm: { http2_protocol_options: { max_outbound_frames: n } },
      });
    expect(configProblems(config(1))).toEqual([]);
    expect(configProblems(config(0)).join('\n')).toMatch(/http2_protocol_options\.max_outbound_frames/);
  });

  it('a client that reads gets every body under the limit, and nothing counts as a flood', async () => {
    const before = await outboundFloods();
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    try {
      const results = await Promise.all([1, 2, 3, 4].map((i) => fetchBody(session, `/ok/${i}`)));
      for (const r of results) expect(r).toEqual({ status: 200, bytes: BODY_BYTES });
    } finally {
      session.destroy();
    }
    expect((await outboundFloods()) - before).toBe(0);
  });

  it('a client that opens streams and never reads: http2.outbound_flood and the connection closes', async () => {
    const before = await outboundFloods();
    // Windows opened wide, so only the frames queued (not flow control) can hold the proxy back.
    const c = await RawH2.connect(proxy.port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]] });
    c.send(windowUpdate(0, 2 ** 31 - 1 - 65_535));
    c.socket.pause();
    // 32 MiB asked for: more than loopback's socket buffers hold, so the proxy's queue grows.
    for (let i = 0; i < 32; i++) c.send(headers(1 + 2 * i, hpack(GET(`/flood/${i}`)), { endStream: true }));
    while ((await outboundFloods()) === before) await new Promise((r) => setTimeout(r, 50));
    c.socket.resume();
    await c.closedByPeer();
    expect(c.closed).toBe(true);
    expect((await outboundFloods()) - before).toBe(1);
  });

  it('at the cut-off its streams are reset at once, before the connection closes', async () => {
    // The earlier tests' connections are gone, so the flood's is the only one counted.
    while ((await activeConnections()) !== 0) await new Promise((r) => setTimeout(r, 50));
    const before = await outboundFloods();
    // The connection's state when the proxy first abandons an upstream response: before, streams
    // were reset only once the socket closed, a second after the GOAWAY for a peer that does not read.
    const activeAtAbort = new Promise<number>((resolve) => {
      onUpstreamAbort = (url) => {
        // The earlier tests' upstream responses may still be ending.
        if (!url.startsWith('/cut/')) return;
        onUpstreamAbort = null;
        resolve(activeConnections());
      };
    });
    const c = await RawH2.connect(proxy.port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]] });
    c.send(windowUpdate(0, 2 ** 31 - 1 - 65_535));
    c.socket.pause();
    for (let i = 0; i < 32; i++) c.send(headers(1 + 2 * i, hpack(GET(`/cut/${i}`)), { endStream: true }));
    expect(await activeAtAbort).toBe(1);
    expect((await outboundFloods()) - before).toBe(1);
    c.socket.resume();
    await c.closedByPeer();
    expect(c.closed).toBe(true);
  });
});
