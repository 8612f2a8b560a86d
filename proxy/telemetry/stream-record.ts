// A finished stream's raw values, as the request thread hands them to a telemetry thread: one
// flat record per stream of tagged values (null, a number, or a string's UTF-8 bytes) written in
// the order the consumer's compiled format reads them, straight into the export pipeline's
// batch buffer. Nothing is formatted here (no dates, flags text, digits or literals) and nothing
// of the record stays alive on the request thread; the thread reads the values back in the same
// order and does the formatting.
import type { ProtoWriter } from './proto-writer.js';

const NULL = 0;
const STRING = 1;
const NUMBER = 2;
/** A whole number below 2^32 (status codes, byte counts, flags): a varint, not eight bytes. */
const UINT32 = 3;
/** Strings up to this many bytes are copied byte by byte (see copyStringInto). */
const SHORT_COPY = 64;

export type RecordValue = string | number | null;

/** A whole number in [0, 2^53)'s decimal digits, written straight into `out` (no string made). */
export function writeUintDigits(out: ProtoWriter, v: number): void {
  let digits = 1;
  if (v <= 0x7fffffff) {
    for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
    out.ensure(digits);
    const b = out.buf;
    let x = v;
    for (let i = out.pos + digits - 1; i >= out.pos; i--) {
      const q = (x / 10) | 0;
      b[i] = 0x30 + x - q * 10;
      x = q;
    }
  } else {
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    out.ensure(digits);
    const b = out.buf;
    let x = v;
    for (let i = out.pos + digits - 1; i >= out.pos; i--) {
      b[i] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    }
  }
  out.pos += digits;
}

/** Appends one value to the record being written. */
export function writeRecordValue(w: ProtoWriter, v: RecordValue): void {
  if (v === null) {
    w.ensure(1);
    w.byte(NULL);
  } else if (typeof v === 'number') {
    w.ensure(9);
    if (v >>> 0 === v) {
      w.byte(UINT32);
      w.varint(v);
    } else {
      w.byte(NUMBER);
      w.double(v);
    }
  } else {
    // Most values are short: tag and one-byte length, filled in once the UTF-8 length is known.
    const n = v.length;
    w.ensure(2 + n * 3);
    const at = w.pos;
    w.buf[at] = STRING;
    if (n < 0x80) {
      w.pos = at + 2;
      const written = w.utf8(v);
      if (written < 0x80) {
        w.buf[at + 1] = written;
        return;
      }
    }
    w.pos = at + 1;
    w.string(v);
  }
}

/** Reads a batch of records back, value by value (the telemetry thread's side). */
export class RecordReader {
  readonly #buf: Buffer;
  #pos = 0;

  constructor(records: Uint8Array) {
    this.#buf = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  }

  varint(): number {
    const b = this.#buf;
    let v = 0;
    let shift = 1;
    for (;;) {
      const x = b[this.#pos++]!;
      v += (x & 0x7f) * shift;
      if (x < 0x80) return v;
      shift *= 0x80;
    }
  }

  /**
   * When the next value is a string, appends its UTF-8 bytes to `out` as they are (no string is
   * made) and returns true; otherwise reads nothing and returns false.
   */
  copyStringInto(out: ProtoWriter): boolean {
    if (this.#buf[this.#pos] !== STRING) return false;
    this.#pos++;
    const n = this.varint();
    out.ensure(n);
    const src = this.#buf;
    const start = this.#pos;
    if (n <= SHORT_COPY) {
      // Most values are a few bytes (a method, a host, a flag): a loop, where Buffer#copy makes
      // a Uint8Array view of the source per call and reads its ArrayBuffer (JSTypedArray::
      // GetBuffer), which with _copy was the access-log thread's largest cost after formatting.
      const dst = out.buf;
      const at = out.pos;
      for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
    } else src.copy(out.buf, out.pos, start, start + n);
    out.pos += n;
    this.#pos = start + n;
    return true;
  }

  /**
   * When the next value is a whole number below 2^32, appends its decimal digits to `out` (no
   * number is returned, no string made) and returns true; otherwise reads nothing, returns false.
   */
  copyUintInto(out: ProtoWriter): boolean {
    if (this.#buf[this.#pos] !== UINT32) return false;
    this.#pos++;
    writeUintDigits(out, this.varint());
    return true;
  }

  /**
   * When the next value is a string JSON.stringify would print as it is between quotes (printable
   * ASCII without a quote or backslash), appends it quoted to `out` and returns true; otherwise reads
   * nothing and returns false.
   */
  copyJsonStringInto(out: ProtoWriter): boolean {
    const src = this.#buf;
    const at = this.#pos;
    if (src[at] !== STRING) return false;
    this.#pos = at + 1;
    const n = this.varint();
    const start = this.#pos;
    for (let i = start; i < start + n; i++) {
      const c = src[i]!;
      if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) {
        this.#pos = at;
        return false;
      }
    }
    out.ensure(n + 2);
    const dst = out.buf;
    let p = out.pos;
    dst[p++] = 0x22;
    if (n <= SHORT_COPY) for (let i = 0; i < n; i++) dst[p + i] = src[start + i]!;
    else src.copy(dst, p, start, start + n);
    p += n;
    dst[p++] = 0x22;
    out.pos = p;
    this.#pos = start + n;
    return true;
  }

  value(): RecordValue {
    const tag = this.#buf[this.#pos++];
    if (tag === NULL) return null;
    if (tag === UINT32) return this.varint();
    if (tag === NUMBER) {
      const v = this.#buf.readDoubleLE(this.#pos);
      this.#pos += 8;
      return v;
    }
    const n = this.varint();
    const s = this.#buf.toString('utf8', this.#pos, this.#pos + n);
    this.#pos += n;
    return s;
  }
}
