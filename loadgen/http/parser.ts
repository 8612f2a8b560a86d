// A small incremental HTTP/1.1 response parser (status line, headers, content-length, chunked or
// read-until-close bodies). It works on the socket's Buffers in place and only copies a partial
// header block or chunk-size line, so a keep-alive GET costs one pass over the head's bytes (no
// native search call) and one latin1 slice.

/** #head's answers besides the offset after the head: more bytes needed, or the response refused. */
const INCOMPLETE = -1;
const FAILED = -2;
/** Heads longer than this are not remembered for the next response (ResponseParser.#seen). */
const HEAD_KEEP_MAX = 2048;
/** Consecutive heads unlike the last before a parser stops remembering them, and how often it tries again then. */
const HEAD_MISSES = 4;
const HEAD_RETRY = 64;

/** Index of the CR of the next CRLF at or after `from`, or -1 if the bytes end first at `end` (a bare CR is line content). */
function lineEnd(buf: Buffer, from: number, end: number): number {
  const last = end - 1;
  for (let i = from; i < last; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

export interface ParsedHead {
  status: number;
  statusText: string;
  proto: string;
  /** The header block after the status line, unparsed (see parseHeaders). */
  rawHeaders: string;
  /** A Set-Cookie header is present (so cookie handling is skipped for the usual response without one). */
  setCookie: boolean;
}

export interface ParserHandler {
  onHead(head: ParsedHead): void;
  onBody(chunk: Buffer): void;
  onComplete(keepAlive: boolean): void;
  onParseError(message: string): void;
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const canonicalCache = new Map<string, string>();
const CANONICAL_CACHE_MAX = 512;

/** Go's CanonicalMIMEHeaderKey, which k6 applies to response header names (memoized: servers repeat them). */
function canonicalHeaderName(name: string): string {
  const hit = canonicalCache.get(name);
  if (hit !== undefined) return hit;
  const out = canonicalize(name);
  if (canonicalCache.size < CANONICAL_CACHE_MAX) canonicalCache.set(name, out);
  return out;
}

function canonicalize(name: string): string {
  let out = '';
  let upper = true;
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    out += upper ? c.toUpperCase() : c.toLowerCase();
    upper = c === '-';
  }
  return out;
}

/** Header block → object with canonical names (Content-Type), repeated headers joined with ", ". */
export function parseHeaders(raw: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of raw.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = canonicalHeaderName(line.slice(0, colon));
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  return headers;
}

const HTTP1 = 'HTTP/1.';

function isHttp1(buf: Buffer, at: number): boolean {
  for (let i = 0; i < HTTP1.length; i++) if (buf[at + i] !== HTTP1.charCodeAt(i)) return false;
  return true;
}

/** Case-insensitive comparison of buf[from, to) with a lower-case ASCII name. */
function nameIs(buf: Buffer, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((buf[from + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** A header value as a number: plain digits read from the bytes, anything else as Number() reads it. */
function decimal(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return Number(buf.toString('latin1', from, to));
    n = n * 10 + d;
  }
  return n;
}

export class ResponseParser {
  #state = State.Head;
  #pending: Buffer | null = null;
  #remaining = 0;
  #keepAlive = true;
  #noBody = false;
  readonly #handler: ParserHandler;
  /** Reused for every response: handlers copy what they keep during onHead. */
  readonly #parsed: ParsedHead = { status: 0, statusText: '', proto: '', rawHeaders: '', setCookie: false };
  // The bytes of the last final head parsed (status line to blank line) and what they said. A
  // keep-alive connection gets the same head again and again (nginx's differ only in their Date,
  // once a second), and the same bytes parse to the same head: one native compare (memcmp) then
  // stands for the walk over every byte of the head and the latin1 copy of its header block. A
  // server whose heads keep changing stops being compared after a few misses and is tried again
  // now and then (HEAD_RETRY).
  #seen: Buffer | null = null;
  #seenLength = 0;
  #seenMisses = 0;
  #seenHead: ParsedHead = { status: 0, statusText: '', proto: '', rawHeaders: '', setCookie: false };
  #seenContentLength = -1;
  #seenChunked = false;
  #seenKeepAlive = false;

  constructor(handler: ParserHandler) {
    this.#handler = handler;
  }

  /** Prepares for the next response; `noBody` for HEAD requests. */
  reset(noBody: boolean): void {
    this.#state = State.Head;
    this.#pending = null;
    this.#remaining = 0;
    this.#keepAlive = true;
    this.#noBody = noBody;
  }

  get readsUntilClose(): boolean {
    return this.#state === State.UntilClose;
  }

  /** The connection closed: completes a read-until-close body. Returns false if the response was cut short. */
  end(): boolean {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done;
      this.#handler.onComplete(false);
      return true;
    }
    return this.#state === State.Done;
  }

  /**
   * Parses the bytes data[0, length): a plain TCP connection hands over its shared read buffer and
   * the read's size rather than a view made for every read.
   */
  execute(data: Buffer, length = data.length): void {
    let buf = data;
    let end = length;
    let pos = 0;
    while (pos < end && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Head: {
          if (this.#pending !== null) {
            buf = Buffer.concat([this.#pending, buf.subarray(pos, end)]);
            end = buf.length;
            pos = 0;
            this.#pending = null;
          }
          const next = this.#head(buf, pos, end);
          if (next === INCOMPLETE) {
            if (end - pos > 65536) return this.#fail('response header block larger than 64 KiB');
            this.#pending = Buffer.from(buf.subarray(pos, end));
            return;
          }
          if (next === FAILED) return;
          pos = next;
          break;
        }
        case State.Length: {
          const n = Math.min(this.#remaining, end - pos);
          this.#handler.onBody(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case State.UntilClose:
          this.#handler.onBody(pos === 0 && end === buf.length ? buf : buf.subarray(pos, end));
          return;
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers: {
          // Chunk lines are searched with indexOf, which must not run past the read.
          if (end !== buf.length) buf = buf.subarray(0, end);
          if (this.#pending !== null) {
            buf = Buffer.concat([this.#pending, buf.subarray(pos)]);
            end = buf.length;
            pos = 0;
            this.#pending = null;
          }
          const eol = buf.indexOf(13, pos);
          if (eol === -1 || eol + 1 >= buf.length) {
            if (buf.length - pos > 8192) return this.#fail('chunk line longer than 8 KiB');
            this.#pending = Buffer.from(buf.subarray(pos));
            return;
          }
          if (buf[eol + 1] !== 10) return this.#fail('bare CR in chunked body');
          const line = buf.toString('latin1', pos, eol);
          pos = eol + 2;
          if (this.#state === State.ChunkDataEnd) {
            if (line !== '') return this.#fail('chunk data not followed by CRLF');
            this.#state = State.ChunkSize;
          } else if (this.#state === State.Trailers) {
            if (line === '') this.#finish();
          } else {
            const semi = line.indexOf(';');
            const size = parseInt(semi === -1 ? line : line.slice(0, semi), 16);
            if (!Number.isFinite(size) || size < 0) return this.#fail(`invalid chunk size '${line}'`);
            if (size === 0) this.#state = State.Trailers;
            else {
              this.#remaining = size;
              this.#state = State.ChunkData;
            }
          }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.#remaining, end - pos);
          this.#handler.onBody(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.ChunkDataEnd;
          break;
        }
      }
    }
  }

  #malformed(buf: Buffer, start: number, eol: number): number {
    this.#fail(`malformed status line '${buf.toString('latin1', start, Math.min(eol, start + 80))}'`);
    return FAILED;
  }

  #fail(message: string): void {
    this.#state = State.Done;
    this.#handler.onParseError(message);
  }

  #finish(): void {
    this.#state = State.Done;
    this.#handler.onComplete(this.#keepAlive);
  }

  /**
   * Reads a response head starting at `start` in one pass over its lines (no search for the blank
   * line first): returns the offset after it, INCOMPLETE when `buf` ends inside it, FAILED when it
   * is malformed (after onParseError).
   */
  #head(buf: Buffer, start: number, end: number): number {
    const seen = this.#seenLength;
    if (seen !== 0 && end - start >= seen && buf.compare(this.#seen!, 0, seen, start, start + seen) === 0) {
      const head = this.#seenHead;
      this.#seenMisses = 0;
      this.#keepAlive = this.#seenKeepAlive;
      this.#begin(head, this.#seenContentLength, this.#seenChunked);
      return start + seen;
    }
    // Works on the bytes: the status and the framing headers (Content-Length, Transfer-Encoding,
    // Connection) are read without cutting strings; the header block after the status line stays
    // one string that parseHeaders() turns into an object if the script reads res.headers.
    const eol = lineEnd(buf, start, end);
    if (eol === -1) return INCOMPLETE;
    let sp1 = start;
    while (sp1 < eol && buf[sp1] !== 32) sp1++;
    if (sp1 >= eol || !isHttp1(buf, start)) return this.#malformed(buf, start, eol);
    const proto =
      sp1 !== start + 8
        ? buf.toString('latin1', start, sp1)
        : buf[start + 7] === 0x31
          ? 'HTTP/1.1'
          : buf[start + 7] === 0x30
            ? 'HTTP/1.0'
            : buf.toString('latin1', start, sp1);
    let sp2 = sp1 + 1;
    let status = 0;
    while (sp2 < eol && buf[sp2] !== 32) {
      const d = buf[sp2]! - 0x30;
      if (d < 0 || d > 9) return this.#malformed(buf, start, eol);
      status = status * 10 + d;
      sp2++;
    }
    if (status < 100 || status > 999) return this.#malformed(buf, start, eol);
    let contentLength = -1;
    let chunked = false;
    let setCookie = false;
    let keepAlive = proto === 'HTTP/1.1';
    let at = eol + 2;
    for (;;) {
      const next = lineEnd(buf, at, end);
      if (next === -1) return INCOMPLETE;
      if (next === at) break;
      const c = buf[at]! | 0x20;
      // Only lines starting with c, t or s can be Content-Length, Connection, Transfer-Encoding or Set-Cookie.
      if (c === 0x63 || c === 0x74 || c === 0x73) {
        let colon = at;
        while (colon < next && buf[colon] !== 0x3a) colon++;
        if (colon < next) {
          let vs = colon + 1;
          let ve = next;
          while (vs < ve && (buf[vs] === 32 || buf[vs] === 9)) vs++;
          while (ve > vs && (buf[ve - 1] === 32 || buf[ve - 1] === 9)) ve--;
          if (nameIs(buf, at, colon, 'content-length')) contentLength = decimal(buf, vs, ve);
          else if (nameIs(buf, at, colon, 'transfer-encoding'))
            chunked = buf.toString('latin1', vs, ve).toLowerCase().includes('chunked');
          else if (nameIs(buf, at, colon, 'connection')) {
            if (nameIs(buf, vs, ve, 'keep-alive')) keepAlive = true;
            else {
              const v = buf.toString('latin1', vs, ve).toLowerCase();
              if (v.includes('close')) keepAlive = false;
              else if (v.includes('keep-alive')) keepAlive = true;
            }
          } else if (nameIs(buf, at, colon, 'set-cookie')) setCookie = true;
        }
      }
      at = next + 2;
    }
    // `at` is the blank line's CR: the header block (without the status line and the blank line)
    // ends at the CRLF before it, the head 2 bytes after it.
    const blockEnd = at - 2;
    const after = at + 2;
    const statusText =
      sp2 >= eol
        ? ''
        : eol - sp2 === 3 && buf[sp2 + 1] === 0x4f && buf[sp2 + 2] === 0x4b
          ? 'OK'
          : buf.toString('latin1', sp2 + 1, eol);
    this.#keepAlive = keepAlive;
    // 1xx informational responses precede the real one; skip them.
    if (status < 200) {
      this.#state = State.Head;
      return after;
    }
    const rawHeaders = eol + 2 >= blockEnd ? '' : buf.toString('latin1', eol + 2, blockEnd);
    let head = this.#parsed;
    const misses = this.#seenMisses;
    this.#seenMisses = misses + 1;
    this.#seenLength = 0;
    if (
      (misses < HEAD_MISSES || misses % HEAD_RETRY === 0) &&
      after - start <= HEAD_KEEP_MAX &&
      (contentLength === -1 || Number.isFinite(contentLength))
    ) {
      // Remembered for the next response, in a ParsedHead of its own (the one onHead gets then).
      const length = after - start;
      if (this.#seen === null || this.#seen.length < length) this.#seen = Buffer.allocUnsafe(Math.max(length, 256));
      buf.copy(this.#seen, 0, start, after);
      this.#seenLength = length;
      head = this.#seenHead;
      this.#seenContentLength = contentLength;
      this.#seenChunked = chunked;
      this.#seenKeepAlive = keepAlive;
    }
    head.status = status;
    head.statusText = statusText;
    head.proto = proto;
    head.rawHeaders = rawHeaders;
    head.setCookie = setCookie;
    return this.#begin(head, contentLength, chunked) ? after : FAILED;
  }

  /** Hands a final head to the handler and sets up for its body; false when its Content-Length is unusable. */
  #begin(head: ParsedHead, contentLength: number, chunked: boolean): boolean {
    this.#handler.onHead(head);
    const status = head.status;
    if (this.#noBody || status === 204 || status === 304) this.#finish();
    else if (chunked) this.#state = State.ChunkSize;
    else if (contentLength >= 0) {
      if (!Number.isFinite(contentLength)) {
        this.#fail('invalid Content-Length');
        return false;
      }
      this.#remaining = contentLength;
      if (contentLength === 0) this.#finish();
      else this.#state = State.Length;
    } else {
      this.#keepAlive = false;
      this.#state = State.UntilClose;
    }
    return true;
  }
}
