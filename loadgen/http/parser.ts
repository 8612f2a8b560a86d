// A small incremental HTTP/1.1 response parser (status line, headers, content-length, chunked or
// read-until-close bodies). It works on the socket's Buffers in place and only copies a partial
// header block or chunk-size line, so a keep-alive GET costs one indexOf and one latin1 slice.

const CRLFCRLF = Buffer.from('\r\n\r\n');

export interface ParsedHead {
  status: number;
  statusText: string;
  proto: string;
  /** The header block after the status line, unparsed (see parseHeaders). */
  rawHeaders: string;
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

export class ResponseParser {
  #state = State.Head;
  #pending: Buffer | null = null;
  #remaining = 0;
  #keepAlive = true;
  #noBody = false;
  readonly #handler: ParserHandler;

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

  execute(data: Buffer): void {
    let buf = data;
    let pos = 0;
    while (pos < buf.length && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Head: {
          if (this.#pending !== null) {
            buf = Buffer.concat([this.#pending, buf.subarray(pos)]);
            pos = 0;
            this.#pending = null;
          }
          const end = buf.indexOf(CRLFCRLF, pos);
          if (end === -1) {
            if (buf.length - pos > 65536) return this.#fail('response header block larger than 64 KiB');
            this.#pending = Buffer.from(buf.subarray(pos));
            return;
          }
          if (!this.#head(buf.toString("latin1", pos, end))) return;
          pos = end + 4;
          break;
        }
        case State.Length: {
          const n = Math.min(this.#remaining, buf.length - pos);
          this.#handler.onBody(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case State.UntilClose:
          this.#handler.onBody(pos === 0 ? buf : buf.subarray(pos));
          return;
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers: {
          if (this.#pending !== null) {
            buf = Buffer.concat([this.#pending, buf.subarray(pos)]);
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
          const line = buf.toString("latin1", pos, eol);
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
          const n = Math.min(this.#remaining, buf.length - pos);
          this.#handler.onBody(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.ChunkDataEnd;
          break;
        }
      }
    }
  }

  #fail(message: string): void {
    this.#state = State.Done;
    this.#handler.onParseError(message);
  }

  #finish(): void {
    this.#state = State.Done;
    this.#handler.onComplete(this.#keepAlive);
  }

  #head(text: string): boolean {
    // Only the framing headers are looked at here; the rest stays one string that
    // parseHeaders() turns into an object if the script reads res.headers.
    const eol = text.indexOf('\r\n');
    const statusLine = eol === -1 ? text : text.slice(0, eol);
    // "HTTP/1.1 200 OK"
    const sp1 = statusLine.indexOf(' ');
    const proto = statusLine.slice(0, sp1);
    if (sp1 === -1 || !proto.startsWith('HTTP/1.')) {
      this.#fail(`malformed status line '${statusLine.slice(0, 80)}'`);
      return false;
    }
    const sp2 = statusLine.indexOf(' ', sp1 + 1);
    const status = Number(statusLine.slice(sp1 + 1, sp2 === -1 ? undefined : sp2));
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      this.#fail(`malformed status line '${statusLine.slice(0, 80)}'`);
      return false;
    }
    const raw = eol === -1 ? '' : text.slice(eol + 2);
    let contentLength = -1;
    let chunked = false;
    let keepAlive = proto === 'HTTP/1.1';
    for (let at = 0; at < raw.length; ) {
      let next = raw.indexOf('\r\n', at);
      if (next === -1) next = raw.length;
      const c = raw.charCodeAt(at) | 0x20;
      // Only lines starting with c or t can be Content-Length, Connection or Transfer-Encoding.
      if (c === 0x63 || c === 0x74) {
        const colon = raw.indexOf(':', at);
        if (colon !== -1 && colon < next) {
          const name = raw.slice(at, colon).toLowerCase();
          if (name === 'content-length') contentLength = Number(raw.slice(colon + 1, next).trim());
          else if (name === 'transfer-encoding') chunked = raw.slice(colon + 1, next).toLowerCase().includes('chunked');
          else if (name === 'connection') {
            const v = raw.slice(colon + 1, next).toLowerCase();
            if (v.includes('close')) keepAlive = false;
            else if (v.includes('keep-alive')) keepAlive = true;
          }
        }
      }
      at = next + 2;
    }
    this.#keepAlive = keepAlive;
    // 1xx informational responses precede the real one; skip them.
    if (status < 200) {
      this.#state = State.Head;
      return true;
    }
    this.#handler.onHead({ status, statusText: sp2 === -1 ? '' : statusLine.slice(sp2 + 1), proto, rawHeaders: raw });
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
