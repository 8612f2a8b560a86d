// A growable byte buffer with the protobuf primitives the export pipelines need: the request
// thread writes finished spans into one as OTLP messages (otlp-span.ts) and access-log
// records as UTF-8 text. Callers reserve room with ensure() before writing raw bytes.

export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  let n = 2;
  for (v = Math.floor(v / 0x4000); v > 0; v = Math.floor(v / 0x80)) n++;
  return n;
}

/** Hex digit values by character code (either case); ids are validated before they get here. */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = HEX_VALUE[0x41 + i] = 10 + i;

/** Strings up to this many characters are copied by a JavaScript loop when they are ASCII. */
const SHORT_STRING = 64;

export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  /** A new buffer of `size` bytes, or writes into `buffer` from its start. */
  constructor(sizeOrBuffer: number | Buffer) {
    this.buf = typeof sizeOrBuffer === 'number' ? Buffer.allocUnsafe(sizeOrBuffer) : sizeOrBuffer;
  }

  /** Room for `n` more bytes, growing (and keeping what is written) when needed. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(v: number): void {
    if (v > 0xffffffff) {
      // Beyond 32 bits (only huge int attributes): seven bits at a time without bit operators.
      while (v > 0x7f) {
        this.buf[this.pos++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.pos++] = v;
      return;
    }
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  fixed64(low: number, high: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = low & 0xff;
    b[p++] = (low >>> 8) & 0xff;
    b[p++] = (low >>> 16) & 0xff;
    b[p++] = low >>> 24;
    b[p++] = high & 0xff;
    b[p++] = (high >>> 8) & 0xff;
    b[p++] = (high >>> 16) & 0xff;
    b[p++] = high >>> 24;
    this.pos = p;
  }

  double(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /**
   * Bytes as they are. TypedArray#set (a V8 builtin, not a call into Node) beats a byte loop
   * from about a dozen bytes: a span's attribute keys and pre-encoded attributes (10-40 bytes)
   * are copied with it.
   */
  bytes(src: Uint8Array): void {
    if (src.length > 8) {
      this.buf.set(src, this.pos);
      this.pos += src.length;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < src.length; i++) b[p++] = src[i]!;
    this.pos = p;
  }

  /** Bytes as they are, with room made for them. */
  append(src: Uint8Array): void {
    this.ensure(src.length);
    this.bytes(src);
  }

  /** A string's UTF-8 bytes, unframed, with room made for them (text such as log lines). */
  text(s: string): void {
    this.ensure(s.length * 3);
    this.utf8(s);
  }

  /** A string's UTF-8 bytes, unframed; returns how many were written. Needs ensure(3 × length). */
  utf8(s: string): number {
    const n = s.length;
    if (n <= SHORT_STRING) {
      const b = this.buf;
      const p = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p + i] = c;
      }
      if (i === n) {
        this.pos = p + n;
        return n;
      }
    }
    const written = this.buf.write(s, this.pos);
    this.pos += written;
    return written;
  }

  /**
   * A length-delimited string field (tag already written): the length prefix is sized for the
   * string's length in characters, exact for ASCII; other text moves once if its UTF-8 length
   * needs another prefix size.
   */
  string(s: string): void {
    this.ensure(5 + s.length * 3);
    const at = this.pos;
    const guess = varintSize(s.length);
    this.pos = at + guess;
    const n = this.utf8(s);
    const size = varintSize(n);
    if (size !== guess) this.buf.copyWithin(at + size, at + guess, at + guess + n);
    this.pos = at;
    this.varint(n);
    this.pos = at + size + n;
  }

  /** `n` bytes of `src` from `at`, as length-delimited bytes (ids kept as bytes). Needs ensure(1 + n). */
  idBytes(src: Uint8Array, at: number, n: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = n;
    for (let i = 0; i < n; i++) b[p++] = src[at + i]!;
    this.pos = p;
  }

  /** An even-length hex string as length-delimited bytes (ids). Needs ensure(1 + length / 2). */
  hexBytes(hex: string): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = hex.length >> 1;
    for (let i = 0; i < hex.length; i += 2)
      b[p++] = (HEX_VALUE[hex.charCodeAt(i) & 0x7f]! << 4) | HEX_VALUE[hex.charCodeAt(i + 1) & 0x7f]!;
    this.pos = p;
  }
}
