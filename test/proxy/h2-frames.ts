// A raw HTTP/2 peer for tests: writes frames byte by byte (RFC 9113 §4.1) with a literal-only
// HPACK encoder (RFC 7541 §6.2.2, no Huffman, no indexing), and reads the server's frames back,
// so a test can send what no well-behaved client library would (floods, bad frames, bombs)
// and see exactly what the proxy answered and whether it closed the connection.
import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** One frame: the 9-octet header (length, type, flags, R + stream id) and the payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([h, payload]);
}

export function settings(entries: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);

export function ping(data = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

export function rstStream(streamId: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment >>> 0, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function priority(streamId: number, dependsOn: number, weight = 16, exclusive = false): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(((exclusive ? 0x80000000 : 0) | dependsOn) >>> 0, 0);
  p[4] = weight - 1;
  return frame(FrameType.PRIORITY, 0, streamId, p);
}

export function goaway(lastStreamId: number, code: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId, 0);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

export function data(streamId: number, body: Buffer | string, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, Buffer.from(body));
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits. */
export function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7), b]);
}

/** Literal header fields without indexing, new names (RFC 7541 §6.2.2): no state on either side. */
export function hpack(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(headers.flatMap(([n, v]) => [Buffer.from([0x00]), hpackString(n), hpackString(v)]));
}

/** A literal field with incremental indexing, new name (§6.2.1): it enters the dynamic table. */
export function hpackIndexed(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]);
}

export const GET = (path = '/', authority = 'h2.test'): Array<[string, string]> => [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', authority],
];

export function headers(streamId: number, block: Buffer, opts: { endStream?: boolean; endHeaders?: boolean } = {}) {
  const flags = (opts.endStream === true ? Flag.END_STREAM : 0) | (opts.endHeaders === false ? 0 : Flag.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, block);
}

export const continuation = (streamId: number, block: Buffer, endHeaders: boolean): Buffer =>
  frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, block);

/** A connection speaking raw frames; everything the server sends is parsed into `frames`. */
export class RawH2 {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        const f = this.#buf.subarray(0, 9 + len);
        this.frames.push({
          type: f[3]!,
          flags: f[4]!,
          streamId: f.readUInt32BE(5) & 0x7fffffff,
          payload: f.subarray(9),
        });
        this.#buf = this.#buf.subarray(9 + len);
      }
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /** Connects and sends the preface and SETTINGS (and, unless told not to, ACKs the server's). */
  static async connect(
    port: number,
    opts: { settings?: ReadonlyArray<readonly [number, number]>; handshake?: boolean } = {},
  ): Promise<RawH2> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawH2(socket);
    if (opts.handshake === false) return c;
    c.send(PREFACE, settings(opts.settings ?? []));
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0);
    c.send(settingsAck());
    return c;
  }

  send(...bufs: Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const fn of w) fn();
  }

  /** The first frame (received so far or later) matching `pred`; null if the connection closes first. */
  async waitFor(pred: (f: Frame) => boolean, from = 0): Promise<Frame | null> {
    for (;;) {
      for (let i = from; i < this.frames.length; i++) if (pred(this.frames[i]!)) return this.frames[i]!;
      if (this.closed) return null;
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** The GOAWAY the server sent (its error code), or null if it closed without one. */
  async goaway(): Promise<{ lastStreamId: number; code: number } | null> {
    const f = await this.waitFor((x) => x.type === FrameType.GOAWAY);
    return f === null
      ? null
      : { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  /** The RST_STREAM code the server sent on `streamId`, or null if the connection closed first. */
  async rstCode(streamId: number): Promise<number | null> {
    const f = await this.waitFor((x) => x.type === FrameType.RST_STREAM && x.streamId === streamId);
    return f === null ? null : f.payload.readUInt32BE(0);
  }

  /** Resolves once the server has closed the connection. */
  async closedByPeer(): Promise<void> {
    await this.waitFor(() => false);
  }

  /** Stream error or connection error, as h2spec accepts either: RST_STREAM code or GOAWAY code. */
  async streamOrConnectionError(streamId: number): Promise<{ kind: 'rst' | 'goaway'; code: number } | null> {
    const f = await this.waitFor(
      (x) => x.type === FrameType.GOAWAY || (x.type === FrameType.RST_STREAM && x.streamId === streamId),
    );
    if (f === null) return null;
    return f.type === FrameType.GOAWAY
      ? { kind: 'goaway', code: f.payload.readUInt32BE(4) }
      : { kind: 'rst', code: f.payload.readUInt32BE(0) };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
