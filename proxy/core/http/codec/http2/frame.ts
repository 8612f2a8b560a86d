// HTTP/2 framing (RFC 9113 §4, §6): the frame types, flags, error codes and settings, and
// writers that build each frame as one Buffer (a DATA frame's payload stays its own Buffer, so
// a body is never copied). Nothing here knows a connection's state: the server codec, and later
// a client codec or the ADS server, keep that themselves.

export const FRAME_HEADER_SIZE = 9;
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** SETTINGS_MAX_FRAME_SIZE's initial value (and the one we keep). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
export const DEFAULT_WINDOW_SIZE = 65_535;
export const MAX_WINDOW_SIZE = 2 ** 31 - 1;

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

export const FrameFlag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

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

export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  /** RFC 8441: the server takes extended CONNECT (`:protocol`). */
  ENABLE_CONNECT_PROTOCOL: 0x8,
} as const;

/** Writes a frame header at `b[pos]`. */
export function writeFrameHeader(
  b: Buffer,
  pos: number,
  length: number,
  type: number,
  flags: number,
  id: number,
): void {
  b[pos] = length >>> 16;
  b[pos + 1] = (length >>> 8) & 0xff;
  b[pos + 2] = length & 0xff;
  b[pos + 3] = type;
  b[pos + 4] = flags;
  b.writeUInt32BE(id, pos + 5);
}

export function frameHeader(length: number, type: number, flags: number, id: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  writeFrameHeader(b, 0, length, type, flags, id);
  return b;
}

export function settingsFrame(entries: ReadonlyArray<readonly [number, number]>): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 6 * entries.length);
  writeFrameHeader(b, 0, 6 * entries.length, FrameType.SETTINGS, 0, 0);
  let pos = FRAME_HEADER_SIZE;
  for (const [id, value] of entries) {
    b.writeUInt16BE(id, pos);
    b.writeUInt32BE(value, pos + 2);
    pos += 6;
  }
  return b;
}

export const SETTINGS_ACK: Buffer = frameHeader(0, FrameType.SETTINGS, FrameFlag.ACK, 0);

/** A PING ACK echoing the 8 octets at `src[start]`. */
export function pingAck(src: Buffer, start: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8);
  writeFrameHeader(b, 0, 8, FrameType.PING, FrameFlag.ACK, 0);
  src.copy(b, FRAME_HEADER_SIZE, start, start + 8);
  return b;
}

export function rstStreamFrame(id: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(b, 0, 4, FrameType.RST_STREAM, 0, id);
  b.writeUInt32BE(code, FRAME_HEADER_SIZE);
  return b;
}

export function goawayFrame(lastStreamId: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8);
  writeFrameHeader(b, 0, 8, FrameType.GOAWAY, 0, 0);
  b.writeUInt32BE(lastStreamId, FRAME_HEADER_SIZE);
  b.writeUInt32BE(code, FRAME_HEADER_SIZE + 4);
  return b;
}

export function windowUpdateFrame(id: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(b, 0, 4, FrameType.WINDOW_UPDATE, 0, id);
  b.writeUInt32BE(increment, FRAME_HEADER_SIZE);
  return b;
}

/**
 * A header block (already HPACK-encoded at `block[FRAME_HEADER_SIZE, end)`, with room for the
 * frame header before it) as HEADERS, split into CONTINUATION frames past `maxFrameSize`.
 */
export function headerFrames(
  block: Buffer,
  end: number,
  id: number,
  endStream: boolean,
  maxFrameSize: number,
): Buffer | Buffer[] {
  const len = end - FRAME_HEADER_SIZE;
  const flags = endStream ? FrameFlag.END_STREAM : 0;
  if (len <= maxFrameSize) {
    writeFrameHeader(block, 0, len, FrameType.HEADERS, flags | FrameFlag.END_HEADERS, id);
    return block.subarray(0, end);
  }
  const out: Buffer[] = [];
  writeFrameHeader(block, 0, maxFrameSize, FrameType.HEADERS, flags, id);
  out.push(block.subarray(0, FRAME_HEADER_SIZE + maxFrameSize));
  for (let pos = FRAME_HEADER_SIZE + maxFrameSize; pos < end; pos += maxFrameSize) {
    const n = Math.min(maxFrameSize, end - pos);
    const last = pos + n === end;
    out.push(frameHeader(n, FrameType.CONTINUATION, last ? FrameFlag.END_HEADERS : 0, id));
    out.push(block.subarray(pos, pos + n));
  }
  return out;
}
