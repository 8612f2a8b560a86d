// Flow control end to end (issue 16, Envoy's source/docs/flow_control.md): a downstream HTTP/2
// client that opens no window makes the router stop reading the upstream's response, so the body
// waits in the upstream (its socket, or its HTTP/2 window), not in the proxy; once the client
// opens its window the whole body arrives intact. Raw frames for the client (it must never open a
// window by itself), real HTTP/1.1 and HTTP/2 servers upstream that count what they could send.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import {
  bootstrap,
  H2_CODECS,
  startTestProxy,
  staticCluster,
  type RunningProxy,
  httpProtocolOptions,
} from './helpers.js';
import { data, Flag, FrameType, GET, headers, hpack, RawH2, Setting, windowUpdate } from './h2-frames.js';

/** Far more than the kernel's socket buffers on loopback take before the upstream blocks. */
const BODY = randomBytes(24 * 1024 * 1024);
const BODY_SHA256 = createHash('sha256').update(BODY).digest('hex');
/** Below a stream's own 64 KiB limit; 40 of them together pass the connection's 1 MiB. */
const SMALL = randomBytes(60 * 1024);
const SMALL_SHA256 = createHash('sha256').update(SMALL).digest('hex');
const BLOCK = 64 * 1024;
/** An upload past the ~4.4 MB the kernel's socket buffers take on loopback before the upstream's reading matters. */
const UPLOAD = BODY.subarray(0, 10 * 1024 * 1024);
const UPLOAD_SHA256 = createHash('sha256').update(UPLOAD).digest('hex');
const MAX_WINDOW = 2 ** 31 - 1;

/** What an upstream managed to send: bytes whose write completed, and writes still waiting. */
interface Sent {
  acked: number;
  inFlight: number;
}
const sent = new Map<string, Sent>();

/** Writes `body` in blocks as fast as the transport takes it, counting completed writes under `key`. */
function pump(
  key: string,
  body: Buffer,
  write: (b: Buffer, cb: () => void) => boolean,
  onDrain: (fn: () => void) => void,
  end: () => void,
): void {
  const s: Sent = { acked: 0, inFlight: 0 };
  sent.set(key, s);
  let off = 0;
  const next = (): void => {
    while (off < body.length) {
      const chunk = body.subarray(off, off + BLOCK);
      off += chunk.length;
      s.inFlight++;
      const ok = write(chunk, () => {
        s.inFlight--;
        s.acked += chunk.length;
      });
      if (!ok) return void onDrain(next);
    }
    end();
  };
  next();
}

let h1: http.Server;
let h2: http2.Http2Server;
/** The upload upstream reads nothing until `readUploads()`; then it answers the body's size and hash. */
let readUploads: () => void = () => {};
const uploadsHeld: Array<() => void> = [];
/** The /small/<id> responses' last octets, held until the test says (those asked later are not held). */
const smallEndsHeld: Array<() => void> = [];
let holdSmallEnds = true;
const endSmall = (): void => {
  holdSmallEnds = false;
  for (const f of smallEndsHeld.splice(0)) f();
};

beforeAll(async () => {
  h1 = http.createServer((req, res) => {
    if (req.url === '/upload') {
      req.pause();
      uploadsHeld.push(() => {
        const hash = createHash('sha256');
        let bytes = 0;
        req.on('data', (d: Buffer) => {
          hash.update(d);
          bytes += d.length;
        });
        req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
        req.resume();
      });
      return;
    }
    const body = req.url === '/big' ? BODY : SMALL;
    res.setHeader('content-length', body.length);
    if (req.url?.startsWith('/small/') === true && holdSmallEnds) {
      // All but the last octet, which waits for `endSmall()`: a response complete in the proxy's
      // read would end its upstream attempt at once, and a finished attempt has nothing to pause.
      res.write(body.subarray(0, -1));
      smallEndsHeld.push(() => res.end(body.subarray(-1)));
      return;
    }
    pump(
      `h1 ${req.url}`,
      body,
      (b, cb) => res.write(b, cb),
      (fn) => res.once('drain', fn),
      () => res.end(),
    );
  });
  h2 = http2.createServer();
  h2.on('stream', (stream, reqHeaders) => {
    const path = String(reqHeaders[':path']);
    const body = path === '/big' ? BODY : SMALL;
    // Read the request's (empty) body, as a real server does: a Node stream never read closes with
    // RST_STREAM NO_ERROR once its writes are accepted, which can beat its END_STREAM out.
    stream.resume();
    stream.respond({ ':status': 200, 'content-length': body.length });
    pump(
      `h2 ${path}`,
      body,
      (b, cb) => stream.write(b, cb),
      (fn) => stream.once('drain', fn),
      () => stream.end(),
    );
  });
  readUploads = () => {
    for (const f of uploadsHeld.splice(0)) f();
  };
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  h1?.closeAllConnections();
  await new Promise<void>((r) => h1?.close(() => r()));
  await new Promise<void>((r) => h2?.close(() => r()));
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds (the test's own timeout bounds the wait). */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await sleep(50);
}

/** The DATA of `streamId` once it ended: its byte count and SHA-256. */
async function body(c: RawH2, streamId: number): Promise<{ bytes: number; sha256: string }> {
  const end = await c.waitFor(
    (f) => f.streamId === streamId && f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0,
  );
  expect(end).not.toBeNull();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const f of c.frames) {
    if (f.streamId !== streamId || f.type !== FrameType.DATA) continue;
    hash.update(f.payload);
    bytes += f.payload.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

describe.each(H2_CODECS)('$codec codecs', ({ runtime }) => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    proxy = await startTestProxy(
      bootstrap({
        runtime,
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [
              { match: { prefix: '/h2/' }, route: { cluster: 'h2', prefix_rewrite: '/' } },
              { match: { prefix: '/' }, route: { cluster: 'h1' } },
            ],
          },
        ],
        clusters: [
          staticCluster({ name: 'h1', ports: [(h1.address() as AddressInfo).port] }),
          staticCluster({
            name: 'h2',
            ports: [(h2.address() as AddressInfo).port],
            extra: httpProtocolOptions({
              // As Envoy documents it, the stream window is what an HTTP/2 upstream may send
              // past a paused stream (its default, 256 MiB, would let the whole body in).
              explicit_http_config: { http2_protocol_options: { initial_stream_window_size: 65_536 } },
            }),
          }),
        ],
        // The client's stream window is what it may send past a stream whose reading stopped (as
        // in Envoy, whose default of 256 MiB would let a whole upload in).
        hcm: { codec_type: 'HTTP2', http2_protocol_options: { initial_stream_window_size: 65_535 } },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.close();
  });

  async function counter(name: string): Promise<number> {
    const snap = await proxy.server.stats();
    return snap.counters.find((c) => c.name === name)?.value ?? 0;
  }

  describe.each([
    { upstream: 'h1', path: '/big' },
    { upstream: 'h2', path: '/h2/big' },
  ])('HTTP/2 client ← $upstream upstream', ({ upstream, path }) => {
    it('a client that opens no window: the router pauses the response, the upstream stays blocked; once the window opens the whole body arrives', async () => {
      const paused = `cluster.${upstream}.upstream_flow_control_paused_reading_total`;
      const resumed = `cluster.${upstream}.upstream_flow_control_resumed_reading_total`;
      const pausedBefore = await counter(paused);
      const resumedBefore = await counter(resumed);
      const c = await RawH2.connect(proxy.port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
      c.send(headers(1, hpack(GET(path)), { endStream: true }));
      expect(await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1)).not.toBeNull();
      await until(async () => (await counter(paused)) > pausedBefore);
      const up = `${upstream} /big`;
      // The upstream is blocked: a write waits and nothing more completes while we look.
      await until(async () => {
        const s = sent.get(up);
        if (s === undefined || s.inFlight === 0) return false;
        const acked = s.acked;
        await sleep(300);
        return s.acked === acked && s.inFlight > 0;
      });
      // What left the upstream is what the sockets (or the HTTP/2 window) hold, not the body.
      expect(sent.get(up)!.acked).toBeLessThan(BODY.length / 2);
      expect(c.frames.some((f) => f.type === FrameType.DATA && f.streamId === 1 && f.payload.length > 0)).toBe(false);

      c.send(windowUpdate(0, MAX_WINDOW - 65_535), windowUpdate(1, MAX_WINDOW));
      expect(await body(c, 1)).toEqual({ bytes: BODY.length, sha256: BODY_SHA256 });
      expect(await counter(resumed)).toBeGreaterThan(resumedBefore);
      c.destroy();
    });
  });

  it('an upload to an upstream that does not read: the router stops reading it (no WINDOW_UPDATE); once the upstream reads, the whole body arrives', async () => {
    const names = [
      'cluster.h1.upstream_flow_control_backed_up_total',
      'cluster.h1.upstream_flow_control_drained_total',
      'http.ingress_http.downstream_flow_control_paused_reading_total',
      'http.ingress_http.downstream_flow_control_resumed_reading_total',
    ];
    const before = await Promise.all(names.map(counter));
    const grown = async (i: number): Promise<boolean> => (await counter(names[i]!)) > before[i]!;
    const c = await RawH2.connect(proxy.port);
    c.send(
      headers(
        1,
        hpack([
          [':method', 'POST'],
          [':scheme', 'http'],
          [':path', '/upload'],
          [':authority', 'h2.test'],
          ['content-length', String(UPLOAD.length)],
        ]),
      ),
    );
    // A client that keeps to its stream window (the proxy's 65,535) and sends as it reopens.
    let window = 65_535;
    let seen = 0;
    let off = 0;
    const upload = (async () => {
      while (off < UPLOAD.length && !c.closed) {
        if (window > 0) {
          const n = Math.min(16_384, window, UPLOAD.length - off);
          c.send(data(1, UPLOAD.subarray(off, off + n), off + n === UPLOAD.length));
          off += n;
          window -= n;
          continue;
        }
        const f = await c.waitFor((x) => x.type === FrameType.WINDOW_UPDATE && x.streamId === 1, seen);
        if (f === null) return;
        seen = c.frames.indexOf(f) + 1;
        window += f.payload.readUInt32BE(0) & 0x7fffffff;
      }
    })();
    await until(async () => (await grown(0)) && (await grown(2)));
    // Stuck: its window is spent and no WINDOW_UPDATE comes while we look.
    await until(async () => {
      const at = off;
      await sleep(300);
      return window === 0 && off === at;
    });
    // What left the client is what the sockets hold, not the upload.
    expect(off).toBeLessThan(UPLOAD.length * 0.75);
    readUploads();
    await upload;
    const end = await c.waitFor(
      (f) => f.streamId === 1 && f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0,
    );
    expect(end).not.toBeNull();
    const answer = Buffer.concat(
      c.frames.filter((f) => f.streamId === 1 && f.type === FrameType.DATA).map((f) => f.payload),
    );
    expect(JSON.parse(answer.toString())).toEqual({ bytes: UPLOAD.length, sha256: UPLOAD_SHA256 });
    expect(await grown(1)).toBe(true);
    expect(await grown(3)).toBe(true);
    c.destroy();
  });

  it('40 streams with no window on one connection, each under its own limit: past the connection buffer limit the rest are paused; opened, each body arrives whole', async () => {
    const paused = 'cluster.h1.upstream_flow_control_paused_reading_total';
    const before = await counter(paused);
    holdSmallEnds = true;
    const c = await RawH2.connect(proxy.port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    const ids = Array.from({ length: 40 }, (_, i) => 1 + 2 * i);
    for (const id of ids) c.send(headers(id, hpack(GET(`/small/${id}`)), { endStream: true }));
    // No stream passes its own limit: only the bytes they hold together pause the others.
    await until(async () => (await counter(paused)) > before);
    endSmall();
    c.send(windowUpdate(0, MAX_WINDOW - 65_535));
    for (const id of ids) c.send(windowUpdate(id, MAX_WINDOW));
    for (const id of ids) expect(await body(c, id)).toEqual({ bytes: SMALL.length, sha256: SMALL_SHA256 });
    c.destroy();
  });
});
