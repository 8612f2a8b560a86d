// A burst of requests the proxy answers before their bodies end (a local reply: no route, an
// overflowing circuit breaker) is no attack. Each such response is followed by RST_STREAM
// NO_ERROR (the rest of the request is refused, as Envoy does), and a client whose backlog of
// calls arrives in one read (a gRPC channel after a stall) gets a thousand of them in one turn.
// Those resets answer the client's requests, not its PINGs or SETTINGS: they must not count
// toward http2.outbound_control_flood, whose GOAWAY would fail every call on the connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data, FrameType, Flag, headers, hpack, RawH2, type Frame } from './h2-frames.js';
import { bootstrap, H2_CODECS, type RunningProxy, startTestProxy } from './helpers.js';

/** More than the 1000 control frames a connection may have queued (Envoy's max_outbound_control_frames). */
const CALLS = 1200;

let proxy: RunningProxy;

async function counter(name: string): Promise<number> {
  const snap = await proxy.server.stats();
  return snap.counters.find((c) => c.name === name)?.value ?? 0;
}

describe.each(H2_CODECS)('$codec codec: a burst of requests answered before their bodies end', ({ runtime }) => {
  beforeAll(async () => {
    proxy = await startTestProxy(
      bootstrap({
        runtime,
        // No route matches: every request gets the proxy's 404 as soon as its head is decoded.
        virtualHosts: [{ name: 'none', domains: ['*'], routes: [] }],
        clusters: [],
        hcm: { codec_type: 'HTTP2' },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('gets every response on a connection that stays open; no outbound_control_flood', async () => {
    const floodsBefore = await counter('http2.outbound_control_flood');
    const c = await RawH2.connect(proxy.port);
    const burst: Buffer[] = [];
    for (let i = 0; i < CALLS; i++) {
      const id = 1 + 2 * i;
      const head: Array<[string, string]> = [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', '/bench.Echo/Echo'],
        [':authority', 'h2.test'],
        ['content-type', 'application/grpc'],
      ];
      burst.push(headers(id, hpack(head)), data(id, Buffer.alloc(5), true));
    }
    // One write: the proxy reads the whole backlog at once.
    c.send(...burst);
    const lastId = 1 + 2 * (CALLS - 1);
    const isResponse = (f: Frame) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0;
    expect(await c.waitFor((f) => isResponse(f) && f.streamId === lastId)).not.toBeNull();
    expect(c.frames.filter(isResponse).length).toBe(CALLS);
    expect(c.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
    expect(c.closed).toBe(false);
    expect((await counter('http2.outbound_control_flood')) - floodsBefore).toBe(0);
    c.socket.destroy();
  });
});
