// An upload the client gives up mid-body (RST_STREAM, or its connection closed) must reach
// the upstream as given up, never as a complete request: an HTTP/2 upstream gets RST_STREAM and no
// END_STREAM, an HTTP/1.1 upstream sees its connection close before the chunked body's last chunk
// (or never sees a request still waiting for a connection). Also when the upload was paused
// (the upstream backed up) with body still unread in the proxy when the reset came. Both server
// codecs (both ways), as Envoy's runtime key envoy.reloadable_features.http2_use_oghttp2 chooses. A
// raw-frame client (and a raw HTTP/1.1 one, whose upload the node:http2 client codec cuts off
// upstream too); upstreams that record what they saw: node:http (is the request complete?) and
// a raw TCP server reading HTTP/2 frames.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  data,
  ErrorCode,
  Flag,
  FrameType,
  headers,
  hpack,
  ping,
  RawH2,
  rstStream,
  Setting,
  settings,
  settingsAck,
  windowUpdate,
} from './h2-frames.js';
import { startProxyPerCodec, h2Cluster, H2_CODECS, request, type RunningProxy, staticCluster } from './helpers.js';

/** What an upstream saw of one request: its path, body bytes, and how it ended. */
interface Seen {
  path: string;
  bytes: number;
  /** 'complete' (the body's end arrived), 'reset' (cut off), or null while under way. */
  end: 'complete' | 'reset' | null;
}

/** An HTTP/1.1 upstream: answers at once, except `/held/hold`, answered when released. */
class H1Upstream {
  readonly seen: Seen[] = [];
  readonly server: http.Server;
  #held: http.ServerResponse[] = [];

  constructor() {
    this.server = http.createServer((req, res) => {
      const seen: Seen = { path: req.url ?? '', bytes: 0, end: null };
      this.seen.push(seen);
      req.on('data', (d: Buffer) => {
        seen.bytes += d.length;
      });
      req.on('end', () => {
        seen.end = 'complete';
        if (seen.path === '/held/hold') this.#held.push(res);
        else res.end('ok');
      });
      req.on('close', () => {
        seen.end ??= req.complete ? 'complete' : 'reset';
      });
      req.on('error', () => {});
    });
  }

  release(): void {
    for (const res of this.#held.splice(0)) res.end('released');
  }
}

/**
 * A raw HTTP/2 upstream that never answers and opens a stream window of 1,000 octets only, until
 * openWindows(): it records each stream's DATA and how it ended.
 */
class H2Upstream {
  readonly seen: Seen[] = [];
  readonly server: net.Server;
  readonly #sockets = new Map<net.Socket, number[]>();

  constructor() {
    this.server = net.createServer((socket) => {
      const streams = new Map<number, Seen>();
      this.#sockets.set(socket, []);
      let buf = Buffer.alloc(0);
      let prefaceLeft = 24;
      socket.on('error', () => {});
      socket.write(settings([[Setting.INITIAL_WINDOW_SIZE, 1000]]));
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (prefaceLeft > 0) {
          const n = Math.min(prefaceLeft, buf.length);
          prefaceLeft -= n;
          buf = buf.subarray(n);
        }
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const type = buf[3]!;
          const flags = buf[4]!;
          const id = buf.readUInt32BE(5) & 0x7fffffff;
          buf = buf.subarray(9 + len);
          if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) socket.write(settingsAck());
          if (type === FrameType.HEADERS && !streams.has(id)) {
            const seen: Seen = { path: '', bytes: 0, end: null };
            streams.set(id, seen);
            this.seen.push(seen);
            this.#sockets.get(socket)!.push(id);
          }
          const seen = streams.get(id);
          if (seen === undefined || seen.end !== null) continue;
          if (type === FrameType.DATA) seen.bytes += len;
          if ((type === FrameType.DATA || type === FrameType.HEADERS) && (flags & Flag.END_STREAM) !== 0)
            seen.end = 'complete';
          if (type === FrameType.RST_STREAM) seen.end = 'reset';
        }
      });
      socket.on('close', () => {
        for (const seen of streams.values()) seen.end ??= 'reset';
      });
    });
  }

  /** WINDOW_UPDATEs for every connection and stream: what the proxy held back may go now. */
  openWindows(): void {
    for (const [socket, ids] of this.#sockets) {
      socket.write(windowUpdate(0, 1 << 24));
      for (const id of ids) socket.write(windowUpdate(id, 1 << 24));
    }
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

const listen = (s: net.Server): Promise<number> =>
  new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

const h1 = new H1Upstream();
const h2 = new H2Upstream();
let proxies = new Map<string, RunningProxy>();

beforeAll(async () => {
  const h1Port = await listen(h1.server);
  const h2Port = await listen(h2.server);
  proxies = await startProxyPerCodec({
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/h1' }, route: { cluster: 'h1', timeout: '0s' } },
          { match: { prefix: '/h2' }, route: { cluster: 'h2', timeout: '0s' } },
          { match: { prefix: '/held' }, route: { cluster: 'held', timeout: '0s' } },
        ],
      },
    ],
    clusters: [
      staticCluster({ name: 'h1', ports: [h1Port] }),
      h2Cluster('h2', h2Port),
      // One connection: a second request waits for it, its body held up to 1,000 octets.
      staticCluster({
        name: 'held',
        ports: [h1Port],
        extra: {
          circuit_breakers: { thresholds: [{ max_connections: 1 }] },
          per_connection_buffer_limit_bytes: 1000,
        },
      }),
    ],
    hcm: { codec_type: 'AUTO' },
  });
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  h1.server.closeAllConnections();
  await new Promise<void>((r) => h1.server.close(() => r()));
  await new Promise<void>((r) => h2.server.close(() => r()));
});

const POST = (path: string): Array<[string, string]> => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', 'upload.test'],
];

/** `n` octets of body as DATA frames of 1,000 octets each, none ending the stream. */
function body(n: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let off = 0; off < n; off += 1000) frames.push(data(1, Buffer.alloc(Math.min(1000, n - off), 0x61)));
  return frames;
}

/** Resets stream 1 and waits for the PING sent after it to be answered: the proxy has read the reset. */
async function resetAndSync(c: RawH2, code: number): Promise<void> {
  const mark = c.frames.length;
  c.send(rstStream(1, code), ping(Buffer.from('synced!!')));
  await c.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0, mark);
}

/** How the client gives up: RST_STREAM with this code (NO_ERROR is a reset too), or its connection closed. */
type Cancel = 'CANCEL' | 'NO_ERROR' | 'disconnect';

/** Opens an upload of unknown length, sends 800 octets, and once the upstream has them gives up as `how` says. */
async function cutOffUpload(port: number, path: string, ledger: readonly Seen[], how: Cancel): Promise<Seen> {
  const before = ledger.length;
  const c = await RawH2.connect(port);
  c.send(headers(1, hpack(POST(path))), ...body(800));
  await until(() => ledger.length > before && ledger[before]!.bytes === 800);
  if (how === 'disconnect') c.destroy();
  else c.send(rstStream(1, ErrorCode[how]));
  const seen = ledger[before]!;
  await until(() => seen.end !== null);
  c.destroy();
  return seen;
}

describe.each(H2_CODECS)('a cancelled upload through the $codec codecs', ({ codec }) => {
  const port = (): number => proxies.get(codec)!.port;

  for (const how of ['CANCEL', 'NO_ERROR', 'disconnect'] as const) {
    for (const [upstream, path, ledger] of [
      ['HTTP/2', '/h2', h2.seen],
      ['HTTP/1.1', '/h1', h1.seen],
    ] as const) {
      it(`${how}: the ${upstream} upstream sees the upload cut off`, async () => {
        expect(await cutOffUpload(port(), path, ledger, how)).toMatchObject({ bytes: 800, end: 'reset' });
      });
    }
  }

  for (const [upstream, path, ledger] of [
    ['HTTP/2', '/h2', h2.seen],
    ['HTTP/1.1', '/h1', h1.seen],
  ] as const) {
    it(`an HTTP/1.1 client that disconnects mid-upload: the ${upstream} upstream sees it cut off`, async () => {
      const before = ledger.length;
      const c = net.connect(port(), '127.0.0.1');
      c.on('error', () => {});
      c.write(
        `POST ${path} HTTP/1.1\r\nhost: upload.test\r\ntransfer-encoding: chunked\r\n\r\n320\r\n${'a'.repeat(800)}\r\n`,
      );
      await until(() => ledger.length > before && ledger[before]!.bytes === 800);
      c.destroy();
      const seen = ledger[before]!;
      await until(() => seen.end !== null);
      expect(seen).toMatchObject({ bytes: 800, end: 'reset' });
    });
  }

  for (const code of ['CANCEL', 'NO_ERROR'] as const) {
    it(`RST_STREAM ${code} while the HTTP/2 upstream is backed up: RST_STREAM reaches it, END_STREAM never does`, async () => {
      // A connection that has the upstream's SETTINGS (its small window) before the upload starts.
      await cutOffUpload(port(), '/h2', h2.seen, 'CANCEL');
      const before = h2.seen.length;
      const c = await RawH2.connect(port());
      // The upstream's window takes 1,000 octets; the proxy stops reading the rest part way.
      c.send(headers(1, hpack(POST('/h2'))), ...body(60_000));
      await until(() => h2.seen.length > before && h2.seen[before]!.bytes === 1000);
      await resetAndSync(c, ErrorCode[code]);
      h2.openWindows();
      const seen = h2.seen[before]!;
      await until(() => seen.end !== null);
      c.destroy();
      expect(seen.end).toBe('reset');
    });

    it(`RST_STREAM ${code} while waiting for an HTTP/1.1 connection: the upload never goes out as a whole`, async () => {
      const holder = request(port(), '/held/hold', { method: 'POST', body: 'x' }).catch(() => null);
      await until(() => h1.seen.some((s) => s.path === '/held/hold' && s.end !== null));
      const before = h1.seen.length;
      const c = await RawH2.connect(port());
      // The cluster's one connection is taken: the proxy holds 1,000 octets, then stops reading.
      c.send(headers(1, hpack(POST('/held/upload'))), ...body(5000));
      await resetAndSync(c, ErrorCode[code]);
      h1.release();
      await holder;
      // A later request on the same connection: anything of the upload would have gone first.
      expect((await request(port(), '/held/after')).body).toBe('ok');
      c.destroy();
      const after = h1.seen.slice(before);
      expect(after.at(-1)?.path).toBe('/held/after');
      for (const s of after.filter((x) => x.path === '/held/upload')) expect(s.end).toBe('reset');
    });
  }
});
