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
