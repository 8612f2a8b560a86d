// A bodiless request head made of a part that repeats (request line, Host, the script's header
// lines) and a fresh W3C traceparent: what k6/http sends for nearly every request, as tracing is
// on by default. Kept as its parts so that an HTTP/1.1 connection can keep the bytes of the
// repeating part in a buffer of its own and rewrite only the ids (Connection.#write): as one
// concatenated string, every request cost V8 a flatten of the head and Node a latin1 encode of
// it. The whole head as text (HTTP/2, --http-debug) is built only when asked for.
import { traceHeader, type TraceIds } from '../tracing.js';

/** 'traceparent: 00-' + trace id + '-' + span id + '-01\r\n' + the blank line. */
const TRACE_PREFIX = 'traceparent: 00-';
const TRACED_EXTRA = TRACE_PREFIX.length + 32 + 1 + 16 + 1 + 2 + 2 + 2;

export class TracedHead {
  /** Everything before the traceparent line, ending with a CRLF. */
  readonly base: string;
  readonly ids: TraceIds;
  readonly sampled: boolean;

  constructor(base: string, ids: TraceIds, sampled: boolean) {
    this.base = base;
    this.ids = ids;
    this.sampled = sampled;
  }

  /** Octets on the wire. */
  get length(): number {
    return this.base.length + TRACED_EXTRA;
  }

  get text(): string {
    return `${this.base}${traceHeader('w3c', this.ids, this.sampled)}\r\n`;
  }

  toString(): string {
    return this.text;
  }

  /**
   * A buffer holding this head for `base`, with the ids written at their offsets: `reuse` when it
   * was made for the same base (the usual keep-alive loop), else a new one.
   */
  encode(reuse: Buffer | null, reuseBase: string): Buffer {
    const base = this.base;
    let buf = reuse;
    if (buf === null || reuseBase !== base || buf.length !== base.length + TRACED_EXTRA) {
      buf = Buffer.allocUnsafe(base.length + TRACED_EXTRA);
      let at = buf.write(base, 0, 'latin1');
      at += buf.write(TRACE_PREFIX, at, 'latin1');
      buf[at + 32] = 0x2d; // '-' after the trace id
      buf[at + 32 + 1 + 16] = 0x2d; // '-' after the span id
      buf[at + 32 + 1 + 16 + 1] = 0x30;
      buf.write('\r\n\r\n', at + 32 + 1 + 16 + 1 + 2, 'latin1');
    }
    // Ids are lower-case hex, one byte a character: copied from the pool's bytes they were cut
    // from, or else as char codes (a span's trace id); no encoder call either way.
    let at = base.length + TRACE_PREFIX.length;
    const ids = this.ids;
    const hex = ids.hex;
    if (hex !== null) {
      const from = ids.at;
      for (let i = 0; i < 32; i++) buf[at + i] = hex[from + i]!;
      at += 33;
      for (let i = 0; i < 16; i++) buf[at + i] = hex[from + 32 + i]!;
    } else {
      const { traceId, spanId } = ids;
      for (let i = 0; i < 32; i++) buf[at + i] = traceId.charCodeAt(i);
      at += 33;
      for (let i = 0; i < 16; i++) buf[at + i] = spanId.charCodeAt(i);
    }
    buf[at + 16 + 2] = this.sampled ? 0x31 : 0x30;
    return buf;
  }
}
