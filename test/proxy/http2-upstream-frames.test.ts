// A misbehaving (or merely strict) HTTP/2 upstream, written frame by frame: the proxy's HTTP/2
// client codec, both of them (node:http2's and ours, as envoy.reloadable_features.http2_use_oghttp2
// chooses), must retry what the server refused, keep to the server's SETTINGS and windows, and
// answer a broken frame with GOAWAY and an upstream protocol error. An HTTP/1.1 client (node:http)
// sends through the proxy; each upstream is a raw TCP server with its own script. A client that
// stops reading a large response must leave the upstream windows closed (both codecs).
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  data,
  ErrorCode,
  type Frame,
  FrameType,
  Flag,
  frame,
  GET,
  goaway,
  headers,
  hpack,
  RawH2,
  rstStream,
  Setting,
  settings,
  settingsAck,
  windowUpdate,
} from './h2-frames.js';
import {
  bootstrap,
  H2_CODECS,
  request,
  type RunningProxy,
  startTestProxy,
  staticCluster,
  httpProtocolOptions,
} from './helpers.js';

const PREFACE_LENGTH = 24;

/** One accepted upstream connection: the client's frames as they arrive, and a way to answer. */
class RawConn {
  readonly socket: net.Socket;
  readonly index: number;
  /** Streams opened (HEADERS seen) and not yet ended by us or reset by the client. */
  readonly open = new Set<number>();
  maxOpen = 0;
  #buf = Buffer.alloc(0);
  #prefaceLeft = PREFACE_LENGTH;

  constructor(socket: net.Socket, index: number, onFrame: (c: RawConn, f: Frame) => void) {
    this.socket = socket;
    this.index = index;
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      if (this.#prefaceLeft > 0) {
        const n = Math.min(this.#prefaceLeft, this.#buf.length);
        this.#prefaceLeft -= n;
        this.#buf = this.#buf.subarray(n);
      }
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        const f: Frame = {
          type: this.#buf[3]!,
          flags: this.#buf[4]!,
          streamId: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.#buf.subarray(9, 9 + len)),
        };
        this.#buf = this.#buf.subarray(9 + len);
        if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) socket.write(settingsAck());
        if (f.type === FrameType.HEADERS) {
          this.open.add(f.streamId);
          this.maxOpen = Math.max(this.maxOpen, this.open.size);
        }
        if (f.type === FrameType.RST_STREAM) this.open.delete(f.streamId);
        onFrame(this, f);
      }
    });
  }

  /** A 200 whose body is `body`. */
  respond(id: number, body: string): void {
    this.open.delete(id);
    this.socket.write(
      Buffer.concat([headers(id, hpack([[':status', '200']]), { endStream: false }), data(id, body, true)]),
    );
  }
}

/** A raw HTTP/2 server: sends `serverSettings` first, then hands each client frame to `onFrame`. */
class RawUpstream {
  readonly server: net.Server;
  readonly conns: RawConn[] = [];
  /** GOAWAY codes the client sent. */
  readonly goaways: number[] = [];

  constructor(serverSettings: ReadonlyArray<readonly [number, number]>, onFrame: (c: RawConn, f: Frame) => void) {
    this.server = net.createServer((socket) => {
      const c = new RawConn(socket, this.conns.length, (conn, f) => {
        if (f.type === FrameType.GOAWAY) this.goaways.push(f.payload.readUInt32BE(4));
        onFrame(conn, f);
      });
      this.conns.push(c);
      socket.write(settings(serverSettings));
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  close(): void {
    for (const c of this.conns) c.socket.destroy();
    this.server.close();
  }
}

// GOAWAY mid-stream: the first connection takes two streams, says GOAWAY with the first one's id
// as the last processed, and answers only that one; the other must be retried on a new connection.
const goawayUpstream = new RawUpstream([], (c, f) => {
  if (f.type !== FrameType.HEADERS) return;
  if (c.index > 0) return c.respond(f.streamId, `conn${c.index}`);
  if (c.open.size < 2) return;
  const [first] = [...c.open];
  c.socket.write(goaway(first!, ErrorCode.NO_ERROR));
  c.respond(first!, 'conn0');
});

// RST_STREAM REFUSED_STREAM for the first stream of each connection; the next ones are answered.
let refusedCount = 0;
const refusedUpstream = new RawUpstream([], (c, f) => {
  if (f.type !== FrameType.HEADERS) return;
  if (c.open.size === 1 && refusedCount === 0) {
    refusedCount++;
    c.open.delete(f.streamId);
    c.socket.write(rstStream(f.streamId, ErrorCode.REFUSED_STREAM));
    return;
  }
  c.respond(f.streamId, 'after-refusal');
});

// SETTINGS_MAX_CONCURRENT_STREAMS 1: a stream beyond it would be refused (and counted).
let beyondLimit = 0;
const oneStreamUpstream = new RawUpstream([[Setting.MAX_CONCURRENT_STREAMS, 1]], (c, f) => {
  if (f.type !== FrameType.HEADERS) return;
  if (c.open.size > 1) {
    beyondLimit++;
    c.open.delete(f.streamId);
    c.socket.write(rstStream(f.streamId, ErrorCode.REFUSED_STREAM));
    return;
  }
  // Held for a moment so that other requests find the connection busy.
  setTimeout(() => c.respond(f.streamId, 'one'), 20);
});

// A zero stream window: no DATA may come until our WINDOW_UPDATEs, sent once the headers arrived.
let dataBeforeWindow = 0;
let windowOpened = false;
/** Request body octets each connection received so far. */
const windowReceived = new Map<RawConn, number>();
const zeroWindowUpstream = new RawUpstream([[Setting.INITIAL_WINDOW_SIZE, 0]], (c, f) => {
  if (f.type === FrameType.HEADERS) {
    if ((f.flags & Flag.END_STREAM) !== 0) return c.respond(f.streamId, 'warm');
    windowOpened = false;
    setTimeout(() => {
      windowOpened = true;
      c.socket.write(Buffer.concat([windowUpdate(f.streamId, 1 << 20), windowUpdate(0, 1 << 20)]));
    }, 50);
    return;
  }
  if (f.type !== FrameType.DATA) return;
  if (!windowOpened && f.payload.length > 0) dataBeforeWindow++;
  const total = (windowReceived.get(c) ?? 0) + f.payload.length;
  windowReceived.set(c, total);
  if ((f.flags & Flag.END_STREAM) !== 0) {
    windowReceived.set(c, 0);
    c.respond(f.streamId, String(total));
  }
});

// A DATA frame on stream 0 in answer to a request: a connection error (RFC 9113 §6.1).
const badFrameUpstream = new RawUpstream([], (c, f) => {
  if (f.type === FrameType.HEADERS) c.socket.write(frame(FrameType.DATA, 0, 0, Buffer.from('oops')));
});

// The same broken frame, once three streams are open on the connection: one connection error.
const brokenUpstream = new RawUpstream([], (c, f) => {
  if (f.type === FrameType.HEADERS && c.open.size === 3)
    c.socket.write(frame(FrameType.DATA, 0, 0, Buffer.from('oops')));
});

// A large response sent as fast as the proxy's windows allow (64 KiB per stream, 1 MiB for the
// connection): while the downstream client does not read, the windows must stay closed.
const SLOW_READER_BODY = 32 * 1024 * 1024;
const CHUNK = Buffer.alloc(16_384, 's');
const slowReader = { sent: 0, streamWindow: 0, connWindow: 0, id: 0, conn: null as RawConn | null, lastUpdate: 0 };
/** Each connection's send window (the proxy may open it before its first request). */
const slowConnWindows = new Map<RawConn, number>();
function pumpSlowReader(): void {
  const st = slowReader;
  const c = st.conn;
  if (c === null) return;
  const frames: Buffer[] = [];
  while (st.sent < SLOW_READER_BODY && st.streamWindow > 0 && st.connWindow > 0) {
    const n = Math.min(CHUNK.length, st.streamWindow, st.connWindow, SLOW_READER_BODY - st.sent);
    st.sent += n;
    st.streamWindow -= n;
    st.connWindow -= n;
    frames.push(data(st.id, CHUNK.subarray(0, n), st.sent === SLOW_READER_BODY));
  }
  if (frames.length > 0) c.socket.write(Buffer.concat(frames));
}
const slowReaderUpstream = new RawUpstream([], (c, f) => {
  if (f.type === FrameType.HEADERS) {
    const connWindow = slowConnWindows.get(c) ?? 65_535;
    Object.assign(slowReader, { sent: 0, streamWindow: 65_535, connWindow, id: f.streamId, conn: c });
    c.socket.write(headers(f.streamId, hpack([[':status', '200']]), { endStream: false }));
    pumpSlowReader();
    return;
  }
  if (f.type !== FrameType.WINDOW_UPDATE) return;
  const increment = f.payload.readUInt32BE(0);
  if (f.streamId === 0) {
    slowConnWindows.set(c, (slowConnWindows.get(c) ?? 65_535) + increment);
    if (c === slowReader.conn) slowReader.connWindow += increment;
  } else if (f.streamId === slowReader.id) slowReader.streamWindow += increment;
  slowReader.lastUpdate = performance.now();
  pumpSlowReader();
});

const UPSTREAMS = {
  slow: slowReaderUpstream,
  goaway: goawayUpstream,
  refused: refusedUpstream,
  one: oneStreamUpstream,
  window: zeroWindowUpstream,
  bad: badFrameUpstream,
  broken: brokenUpstream,
};
const ports: Record<string, number> = {};

beforeAll(async () => {
  for (const [name, u] of Object.entries(UPSTREAMS)) ports[name] = await u.listen();
});

afterAll(() => {
  for (const u of Object.values(UPSTREAMS)) u.close();
});

function h2Cluster(name: string): Record<string, unknown> {
  return staticCluster({
    name,
    ports: [ports[name]!],
    extra: {
      ...httpProtocolOptions({
        explicit_http_config: {
          http2_protocol_options:
            name === 'slow' ? { initial_stream_window_size: 65_535, initial_connection_window_size: 1_048_576 } : {},
        },
      }),
      // One connection, whose SETTINGS are known once the first request is answered: before a
      // server's SETTINGS arrive a client may open more streams than it allows (they are refused).
      ...(name === 'one' || name === 'broken' ? { circuit_breakers: { thresholds: [{ max_connections: 1 }] } } : {}),
    },
  });
}

describe.each(H2_CODECS)('$codec client codec', ({ codec, runtime }) => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    refusedCount = 0;
    beyondLimit = 0;
    dataBeforeWindow = 0;
    for (const u of Object.values(UPSTREAMS)) {
      for (const c of u.conns) c.socket.destroy();
      u.conns.length = 0;
      u.goaways.length = 0;
    }
    const names = Object.keys(UPSTREAMS);
    proxy = await startTestProxy(
      bootstrap({
        runtime,
        admin: true,
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: names.map((n) => ({
              match: { prefix: `/${n}` },
              route: { cluster: n, retry_policy: { retry_on: 'refused-stream', num_retries: 2 } },
            })),
          },
        ],
        clusters: names.map(h2Cluster),
      }),
    );
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('GOAWAY mid-stream: the stream above its last id is retried on a new connection, the other answered', async () => {
    const [a, b] = await Promise.all([request(proxy.port, '/goaway/a'), request(proxy.port, '/goaway/b')]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.body, b.body].sort()).toEqual(['conn0', 'conn1']);
    expect(goawayUpstream.conns.length).toBe(2);
  });

  it('RST_STREAM REFUSED_STREAM is retried (refused-stream) and answered', async () => {
    const r = await request(proxy.port, '/refused');
    expect(r.status).toBe(200);
    expect(r.body).toBe('after-refusal');
    expect(refusedCount).toBe(1);
  });

  it('SETTINGS max_concurrent_streams 1: never two streams at once on a connection', async () => {
    expect((await request(proxy.port, '/one/warm')).status).toBe(200);
    const rs = await Promise.all([1, 2, 3, 4].map((i) => request(proxy.port, `/one/${i}`)));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(beyondLimit).toBe(0);
    expect(Math.max(...oneStreamUpstream.conns.map((c) => c.maxOpen))).toBe(1);
  });

  it('a zero stream window: the request body waits for WINDOW_UPDATE, then arrives whole', async () => {
    expect((await request(proxy.port, '/window/warm')).status).toBe(200);
    const body = Buffer.alloc(100_000, 'w');
    const r = await request(proxy.port, '/window/post', { method: 'POST', body });
    expect(r.status).toBe(200);
    expect(r.body).toBe('100000');
    expect(dataBeforeWindow).toBe(0);
  });

  // node:http2 leaves the stream hanging until the route timeout (504): ours only, so the case
  // is declared for our codec alone rather than skipped for the other.
  if (codec !== 'nghttp2')
    it('a DATA frame on stream 0: GOAWAY PROTOCOL_ERROR to the upstream, 502 (UPE) downstream, counted', async () => {
      const r = await request(proxy.port, '/bad');
      expect(r.status).toBe(502);
      expect(r.body).toContain('upstream protocol error');
      await expect.poll(() => badFrameUpstream.goaways).toContain(ErrorCode.PROTOCOL_ERROR);
      const admin = proxy.server.adminAddress()!;
      const filter = 'cluster.bad.upstream_cx_protocol_error';
      const stats = await (await fetch(`http://127.0.0.1:${admin.port}/stats?filter=${filter}`)).text();
      expect(stats).toContain(`${filter}: 1`);
    });

  if (codec !== 'nghttp2')
    it('a connection error under three streams counts one upstream_cx_protocol_error (a connection stat), each stream answered', async () => {
      const c = await RawH2.connect(proxy.port);
      for (const id of [1, 3, 5]) c.send(headers(id, hpack(GET(`/broken/${id}`)), { endStream: true }));
      for (const id of [1, 3, 5])
        expect(await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === id)).not.toBeNull();
      c.destroy();
      expect(brokenUpstream.conns.length).toBe(1);
      const admin = proxy.server.adminAddress()!;
      const filter = 'cluster.broken.upstream_cx_protocol_error';
      const stats = await (await fetch(`http://127.0.0.1:${admin.port}/stats?filter=${filter}`)).text();
      expect(stats).toContain(`${filter}: 1`);
    });

  it('a downstream that stops reading closes the upstream windows; the whole body arrives once it reads', async () => {
    let sentWhilePaused = 0;
    let resolve: (n: number) => void = () => {};
    let reject: (e: Error) => void = () => {};
    const promise = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const req = http.get({ host: '127.0.0.1', port: proxy.port, path: '/slow' }, (res) => {
      res.pause();
      // Wait for the upstream to stall: its windows used up and no WINDOW_UPDATE for a while.
      const poll = setInterval(() => {
        const st = slowReader;
        const stalled = (st.streamWindow <= 0 || st.connWindow <= 0) && performance.now() - st.lastUpdate > 500;
        if (!stalled && st.sent < SLOW_READER_BODY) return;
        clearInterval(poll);
        sentWhilePaused = st.sent;
        let received = 0;
        res.on('data', (d: Buffer) => {
          received += d.length;
        });
        res.on('end', () => resolve(received));
        res.resume();
      }, 100);
      res.on('error', reject);
    });
    req.on('error', reject);
    expect(await promise).toBe(SLOW_READER_BODY);
    // While it did not read, the proxy held a bounded amount, far from the whole body.
    expect(sentWhilePaused).toBeLessThan(SLOW_READER_BODY / 2);
  }, 30_000);
});
