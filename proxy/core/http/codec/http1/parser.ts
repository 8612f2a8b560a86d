// Incremental HTTP/1.1 parser for both directions (requests from downstream, responses from
// upstream), written for the proxy's needs rather than generality: it validates framing
// strictly (no request smuggling: conflicting Content-Length/Transfer-Encoding, repeated
// Content-Length, obs-fold, bare CR/LF, bad chunk sizes are errors), emits body bytes as
// slices of the socket's buffers (no copies), and can pause between messages so pipelined
// requests wait for the previous response. A head that cannot become valid is refused as soon
// as its bytes show it (a bare LF, a request line that does not start with a method token, as
// a TLS ClientHello on a plaintext port), not when it completes, which such a head never does.
import { Buffer } from 'node:buffer';
import { HeaderMap } from '../../headers.js';
import { knownHeaderName, knownHeaderNameIn } from './known-header-names.js';

export const ParserState = {
  Head: 0,
  BodyLength: 1,
  ChunkSize: 2,
  ChunkData: 3,
  ChunkDataEnd: 4,
  ChunkTrailers: 5,
  BodyUntilClose: 6,
  Raw: 7,
  Paused: 8,
  Error: 9,
} as const;
type ParserStateValue = (typeof ParserState)[keyof typeof ParserState];

/** Why a message was refused; `status` is what a downstream client gets. */
export interface CodecError {
  readonly status: 400 | 413 | 431 | 501 | 502;
  /** Envoy-style response code details, e.g. `http1.invalid_transfer_encoding`. */
  readonly details: string;
}

export interface MessageHead {
  /** Request: method; response: ''. */
  method: string;
  /** Request: request-target; response: ''. */
  target: string;
  /** Response status; 0 for requests. */
  status: number;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  headers: HeaderMap;
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** `Connection: close` (or HTTP/1.0 without keep-alive). */
  connectionClose: boolean;
  /** Lower-cased `Upgrade` value when `Connection: upgrade` asks for it, else ''. */
  upgrade: string;
  expectContinue: boolean;
}

export interface ParserHandler {
  onHead(head: MessageHead): void;
  /** An interim 1xx response (not 101); responses only. */
  onInformational?(head: MessageHead): void;
  onBody(data: Buffer): void;
  /** A chunked message's trailers, when the parser collects them (collectTrailers); onMessageComplete follows. */
  onTrailers?(trailers: HeaderMap): void;
  /** Return false to pause before the next message (pipelining). */
  onMessageComplete(): boolean;
  onError(error: CodecError): void;
}

/** tchar lookup (RFC 9110 token characters), for header names without a regex call each. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN_CHARS[c.charCodeAt(0)] = 1;

/**
 * True when text[start, end) holds a control character other than HTAB. Lines are split at
 * CRLF, so a CR or LF left inside one is a bare line ending (which smuggles headers); together
 * with the token checks on methods and names, every byte of a head is checked exactly once.
 */
function hasControlChar(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}

function isToken(s: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}
/** The methods most requests use, as constants (no slice; compared by pointer downstream). */
const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'] as const;

/** The known method that is line[0, end) exactly, or null. */
function knownMethod(line: string, end: number): string | null {
  for (let k = 0; k < METHODS.length; k++) {
    const m = METHODS[k]!;
    if (m.length === end && line.startsWith(m)) return m;
  }
  return null;
}

/**
 * Why line[start, end) is not a request-target, or null: empty, a control character or space,
 * or a fragment, which is no part of a request-target (RFC 9112 §3.2) and which Envoy refuses
 * by default (runtime envoy.reloadable_features.http_reject_path_with_fragment).
 */
function invalidTarget(line: string, start: number, end: number): CodecError | null {
  if (end <= start) return err(400, 'http1.invalid_request_line');
  let fragment = false;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c <= 32 || c === 127) return err(400, 'http1.invalid_request_line');
    if (c === 35) fragment = true;
  }
  return fragment ? err(400, 'http1.invalid_url') : null;
}

/** The status of a status line `HTTP/1.x NNN[ reason]`, or -1 when it is not one. */
function statusOf(line: string): number {
  if (line.length < 12 || !line.startsWith('HTTP/1.')) return -1;
  const minor = line.charCodeAt(7);
  if ((minor !== 48 && minor !== 49) || line.charCodeAt(8) !== 32) return -1;
  if (line.length > 12 && line.charCodeAt(12) !== 32) return -1;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    status = status * 10 + d;
  }
  return status;
}

/** A Content-Length value: 1 to 15 decimal digits and nothing else; -1 otherwise. */
function decimalOf(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The start line of the head text[0, headEnd): up to its CRLF (firstEnd), or the whole head (firstEnd -1). */
function startLineOf(text: string, headEnd: number): { startLine: string; firstEnd: number } {
  let firstEnd = text.indexOf('\r\n');
  if (firstEnd >= headEnd) firstEnd = -1;
  return { startLine: firstEnd === -1 ? text.slice(0, headEnd) : text.slice(0, firstEnd), firstEnd };
}

/** METHODS as bytes, by length. */
const METHOD_BYTES_BY_LENGTH: Array<Array<readonly [string, Uint8Array]> | undefined> = [];
for (const m of METHODS) (METHOD_BYTES_BY_LENGTH[m.length] ??= []).push([m, Buffer.from(m, 'latin1')]);

/** The known method that is bytes[start, end) exactly (case-sensitive, as methods are), or null. */
function knownMethodIn(bytes: Uint8Array, start: number, end: number): string | null {
  const candidates = METHOD_BYTES_BY_LENGTH[end - start];
  if (candidates === undefined) return null;
  next: for (let k = 0; k < candidates.length; k++) {
    const [name, b] = candidates[k]!;
    for (let i = 0; i < b.length; i++) if (bytes[start + i] !== b[i]) continue next;
    return name;
  }
  return null;
}

/** `HTTP/1.` as bytes. */
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');

/** True when bytes[at, at + 7) is `HTTP/1.`. */
function isHttp1At(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < 7; i++) if (bytes[at + i] !== HTTP_1[i]) return false;
  return true;
}

/**
 * Where the fields start (relative to base) after the request line at bytes[base, ...), read
 * into head, when it is `known-method SP target SP HTTP/1.x` ending at CRLF or the head's end,
 * with a target of no control character, space or `#`; otherwise -1, head untouched but for
 * nothing, and the line is read again from the text (#parseHead), which gives its error or takes
 * a method it does not know. The bytes it accepts are exactly those that path accepts with a
 * known method, and it sets the same fields; a slice of the start line and four searches of it
 * (indexOf, startsWith) per request are saved.
 */
function requestLineIn(
  bytes: Uint8Array,
  base: number,
  headEnd: number,
  text: string,
  head: MessageHead,
  open: boolean,
): number {
  const end = base + headEnd;
  let at = base;
  while (at < end && bytes[at] !== 32) at++;
  if (at === end) return -1;
  const method = knownMethodIn(bytes, base, at);
  if (method === null) return -1;
  const targetStart = ++at;
  while (at < end) {
    const c = bytes[at]!;
    if (c <= 32 || c === 127 || c === 35) break;
    at++;
  }
  if (at === targetStart || at + 9 > end || bytes[at] !== 32 || !isHttp1At(bytes, at + 1)) return -1;
  const minor = bytes[at + 8];
  if (minor !== 49 && minor !== 48) return -1;
  const lineEnd = at + 9;
  let fields: number;
  if (lineEnd === end) {
    if (open) return -1;
    fields = headEnd;
  } else if (lineEnd + 2 <= end && bytes[lineEnd] === 13 && bytes[lineEnd + 1] === 10) fields = lineEnd + 2 - base;
  else return -1;
  head.method = method;
  head.target = text.slice(targetStart - base, at - base);
  head.versionMinor = minor - 48;
  return fields;
}

/**
 * Where the fields start (relative to base) after the status line at bytes[base, ...), read into
 * head, when it is `HTTP/1.x NNN` with an optional ` reason` of no control character but HTAB,
 * ending at CRLF or the head's end; otherwise -1, and the line is read again from the text
 * (#parseHead), which gives its error. Accepts what statusOf and the control-character check of
 * that path accept, with no slice of the line.
 */
function statusLineIn(bytes: Uint8Array, base: number, headEnd: number, head: MessageHead, open: boolean): number {
  const end = base + headEnd;
  if (base + 12 > end || !isHttp1At(bytes, base)) return -1;
  const minor = bytes[base + 7]!;
  if ((minor !== 48 && minor !== 49) || bytes[base + 8] !== 32) return -1;
  let status = 0;
  for (let i = base + 9; i < base + 12; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) return -1;
    status = status * 10 + d;
  }
  let at = base + 12;
  if (at < end && bytes[at] !== 32 && bytes[at] !== 13) return -1;
  while (at < end) {
    const c = bytes[at]!;
    if (c === 13) break;
    if ((c < 32 && c !== 9) || c === 127) return -1;
    at++;
  }
  let fields: number;
  if (at === end) {
    if (open) return -1;
    fields = headEnd;
  } else if (at + 2 <= end && bytes[at + 1] === 10) fields = at + 2 - base;
  else return -1;
  head.versionMinor = minor - 48;
  head.status = status;
  return fields;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** A head with nothing read into it yet: HTTP/1.1, no fields, no framing, kept open. */
export function emptyHead(): MessageHead {
  return {
    method: '',
    target: '',
    status: 0,
    versionMinor: 1,
    headers: new HeaderMap(),
    contentLength: -1,
    chunked: false,
    connectionClose: false,
    upgrade: '',
    expectContinue: false,
  };
}

/** #parseHead's answer, open, for a head its scan would not take whole (nothing failed). */
const UNSURE: MessageHead = Object.freeze(emptyHead());
/** Reads up to this many bytes (from where a head starts) are searched for its end as text. */
const HEAD_AS_TEXT_MAX = 2048;
const MAX_CHUNK_LINE = 1024;

function err(status: CodecError['status'], details: string): CodecError {
  return { status, details };
}

export interface ParserLimits {
  maxHeaderBytes: number;
  maxHeaders: number;
}

export class Http1Parser {
  handler: ParserHandler;
  readonly #isRequest: boolean;
  readonly #limits: ParserLimits;
  #state: ParserStateValue = ParserState.Head;
  /** Bytes kept across chunks: an incomplete head or chunk-size line, or input held while paused. */
  #pending: Buffer | null = null;
  #remaining = 0;
  /** Response parsing: the request was HEAD, so the response has no body. */
  expectNoBody = false;
  /** Set when the current message cannot be followed by another on this connection. */
  lastMessage = false;
  /**
   * Chunked trailers go to onTrailers (http_protocol_options.enable_trailers); otherwise they are
   * read and dropped, as Envoy's HTTP/1 codec drops them by default.
   */
  collectTrailers = false;
  /** The trailers read so far of the current message, and their octets (bounded as a head is). */
  #trailers: HeaderMap | null = null;
  #trailerBytes = 0;
  /** Where the head #parseHead read open ended (relative to its start). */
  #headEnd = 0;
  /** What #readField gathered of the head being parsed: framing fields, connection options. */
  #contentLengths = 0;
  #transferEncodings = 0;
  #connection = '';
  #upgrade = '';

  constructor(isRequest: boolean, handler: ParserHandler, limits: ParserLimits) {
    this.#isRequest = isRequest;
    this.handler = handler;
    this.#limits = limits;
  }

  get state(): ParserStateValue {
    return this.#state;
  }

  /** True when paused with input held back (pipelined bytes waiting for the current response). */
  get holdingInput(): boolean {
    return this.#state === ParserState.Paused && this.#pending !== null;
  }

  /** True when the parser sits between messages with nothing buffered. */
  get idle(): boolean {
    return this.#state === ParserState.Head && this.#pending === null;
  }

  /** Response side: the connection closed; completes a close-delimited body. */
  finishOnClose(): boolean {
    if (this.#state === ParserState.BodyUntilClose) {
      this.#state = ParserState.Head;
      this.handler.onMessageComplete();
      return true;
    }
    return false;
  }

  /** Switch to raw pass-through (after an accepted upgrade). */
  setRaw(): void {
    this.#state = ParserState.Raw;
  }

  resume(): void {
    if (this.#state !== ParserState.Paused) return;
    this.#state = ParserState.Head;
    const held = this.#pending;
    this.#pending = null;
    if (held !== null && held.length > 0) this.execute(held);
  }

  /**
   * Parses `chunk`. The parser never keeps a reference to it: bytes it must hold across calls
   * are copied, so callers may pass a read buffer they reuse (upstream sockets do).
   */
  execute(chunk: Buffer): void {
    let data = chunk;
    let offset = 0;
    if (this.#pending !== null) {
      if (this.#state === ParserState.Paused) {
        this.#pending = Buffer.concat([this.#pending, chunk]);
        return;
      }
      data = Buffer.concat([this.#pending, chunk]);
      this.#pending = null;
    } else if (this.#state === ParserState.Paused) {
      this.#pending = Buffer.from(chunk);
      return;
    }
    const len = data.length;
    while (offset < len) {
      switch (this.#state) {
        case ParserState.Head: {
          // Tolerate empty lines between pipelined messages (RFC 9112 §2.2).
          while (offset + 1 < len && data[offset] === 13 && data[offset + 1] === 10) offset += 2;
          if (offset >= len) return;
          // A read small enough is made a string at once and the head's end found in it: the
          // head is parsed as a string anyway, and Buffer#indexOf is a call into C++ per head
          // (perf under wrk -c50: ~1.5% of the request thread, for the request's and the
          // response's). A larger read is searched as bytes, so a body is not made a string.
          // Such a read's head is first read open (#parseHead): its lines' scan over the bytes
          // finds the blank line that ends it, so the text is not searched for it as well
          // (indexOf, ~45 ns a head: 2% of a proxied request's user-space CPU); a head the scan
          // does not take whole is found and parsed as before.
          let text: string | null = null;
          let end: number;
          let head: MessageHead | null = UNSURE;
          if (len - offset <= HEAD_AS_TEXT_MAX) {
            text = data.toString('latin1', offset, len);
            head = this.#parseHead(text, len - offset, data, offset, true);
            if (head !== UNSURE) end = offset + this.#headEnd;
            else {
              const at = text.indexOf('\r\n\r\n');
              end = at === -1 ? -1 : offset + at;
            }
          } else end = data.indexOf(CRLFCRLF, offset);
          if (head !== UNSURE) {
            // Read open, found whole and within the limits (a failure was the head's own).
          } else if (end === -1) {
            if (len - offset > this.#limits.maxHeaderBytes) return this.#fail(err(431, 'http1.headers_too_large'));
            const doomed = this.#incompleteHeadError(data, offset, len);
            if (doomed !== null) return this.#fail(doomed);
            this.#pending = Buffer.from(data.subarray(offset));
            return;
          } else {
            if (end - offset > this.#limits.maxHeaderBytes) return this.#fail(err(431, 'http1.headers_too_large'));
            head = this.#parseHead(text ?? data.toString('latin1', offset, end), end - offset, data, offset);
          }
          offset = end + 4;
          if (head === null) return;
          if (!this.#isRequest && head.status >= 100 && head.status < 200 && head.status !== 101) {
            this.handler.onInformational?.(head);
            continue;
          }
          this.#state = this.#bodyState(head);
          this.handler.onHead(head);
          if (this.#state === ParserState.Error) return;
          if (this.#state === ParserState.Head && !this.handler.onMessageComplete())
            return this.#pauseWith(data, offset);
          break;
        }
        case ParserState.BodyLength: {
          const n = Math.min(this.#remaining, len - offset);
          const slice = data.subarray(offset, offset + n);
          offset += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = ParserState.Head;
          this.handler.onBody(slice);
          if (this.#state === ParserState.Head && !this.handler.onMessageComplete())
            return this.#pauseWith(data, offset);
          break;
        }
        case ParserState.ChunkSize: {
          const lf = data.indexOf(10, offset);
          if (lf === -1 || lf - offset > MAX_CHUNK_LINE) {
            if (len - offset > MAX_CHUNK_LINE) return this.#fail(err(400, 'http1.invalid_chunk_size'));
            this.#pending = Buffer.from(data.subarray(offset));
            return;
          }
          if (lf === offset || data[lf - 1] !== 13) return this.#fail(err(400, 'http1.invalid_chunk_size'));
          const line = data.toString('latin1', offset, lf - 1);
          offset = lf + 1;
          const semi = line.indexOf(';');
          const hex = semi === -1 ? line : line.slice(0, semi);
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.#fail(err(400, 'http1.invalid_chunk_size'));
          const size = parseInt(hex, 16);
          if (size === 0) this.#state = ParserState.ChunkTrailers;
          else {
            this.#remaining = size;
            this.#state = ParserState.ChunkData;
          }
          break;
        }
        case ParserState.ChunkData: {
          const n = Math.min(this.#remaining, len - offset);
          const slice = data.subarray(offset, offset + n);
          offset += n;
          this.#remaining -= n;
          if (this.#remaining === 0) {
            this.#state = ParserState.ChunkDataEnd;
            this.#remaining = 2;
          }
          this.handler.onBody(slice);
          break;
        }
        case ParserState.ChunkDataEnd: {
          const expected = this.#remaining === 2 ? 13 : 10;
          if (data[offset] !== expected) return this.#fail(err(400, 'http1.invalid_chunk_framing'));
          offset++;
          if (--this.#remaining === 0) this.#state = ParserState.ChunkSize;
          break;
        }
        case ParserState.ChunkTrailers: {
          const lf = data.indexOf(10, offset);
          if (lf === -1) {
            if (len - offset > this.#limits.maxHeaderBytes) return this.#fail(err(431, 'http1.trailers_too_large'));
            this.#pending = Buffer.from(data.subarray(offset));
            return;
          }
          if (lf === offset || data[lf - 1] !== 13) return this.#fail(err(400, 'http1.invalid_trailer'));
          const empty = lf === offset + 1;
          if (!empty && this.collectTrailers) {
            const e = this.#addTrailer(data.toString('latin1', offset, lf - 1));
            if (e !== null) return this.#fail(e);
          }
          offset = lf + 1;
          if (empty) {
            this.#state = ParserState.Head;
            const trailers = this.#trailers;
            if (trailers !== null) {
              this.#trailers = null;
              this.#trailerBytes = 0;
              this.handler.onTrailers?.(trailers);
            }
            if (!this.handler.onMessageComplete()) return this.#pauseWith(data, offset);
          }
          break;
        }
        case ParserState.BodyUntilClose:
        case ParserState.Raw: {
          const slice = offset === 0 ? data : data.subarray(offset);
          offset = len;
          this.handler.onBody(slice);
          break;
        }
        case ParserState.Paused:
          this.#pending = Buffer.from(data.subarray(offset));
          return;
        case ParserState.Error:
          return;
      }
    }
  }

  /**
   * An incomplete head that can never be valid: a bare LF (lines end in CRLF here, so a
   * client ending lines in LF alone would otherwise wait for a CRLFCRLF that never comes), or
   * request bytes before the first space that are not a method token (a TLS handshake).
   */
  #incompleteHeadError(data: Buffer, offset: number, len: number): CodecError | null {
    for (let lf = data.indexOf(10, offset); lf !== -1 && lf < len; lf = data.indexOf(10, lf + 1)) {
      if (lf === offset || data[lf - 1] !== 13) return err(this.#isRequest ? 400 : 502, 'http1.invalid_characters');
    }
    if (!this.#isRequest) return null;
    for (let i = offset; i < len; i++) {
      const c = data[i]!;
      if (c === 32) return null;
      if (c > 127 || TOKEN_CHARS[c] === 0) return err(400, 'http1.invalid_method');
    }
    return null;
  }

  /**
   * One trailer field line, checked as a header line is (a token name, no control characters,
   * no obs-fold) and counted against the head's limits; an error when it is refused.
   */
  #addTrailer(line: string): CodecError | null {
    const bad = this.#isRequest ? 400 : 502;
    this.#trailerBytes += line.length + 2;
    if (this.#trailerBytes > this.#limits.maxHeaderBytes) return err(431, 'http1.trailers_too_large');
    const trailers = (this.#trailers ??= new HeaderMap());
    if (trailers.size >= this.#limits.maxHeaders) return err(431, 'http1.too_many_trailers');
    const colon = line.indexOf(':');
    if (colon <= 0) return err(bad, 'http1.invalid_trailer');
    let name = knownHeaderName(line, 0, colon);
    if (name === null) {
      if (!isToken(line, 0, colon)) return err(bad, 'http1.invalid_trailer');
      name = line.slice(0, colon).toLowerCase();
    }
    if (hasControlChar(line, colon + 1, line.length)) return err(bad, 'http1.invalid_characters');
    let vs = colon + 1;
    let ve = line.length;
    while (vs < ve && (line.charCodeAt(vs) === 32 || line.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (line.charCodeAt(ve - 1) === 32 || line.charCodeAt(ve - 1) === 9)) ve--;
    trailers.add(name, line.slice(vs, ve));
    return null;
  }

  #pauseWith(data: Buffer, offset: number): void {
    this.#state = ParserState.Paused;
    this.#pending = offset < data.length ? Buffer.from(data.subarray(offset)) : null;
  }

  #fail(e: CodecError): void {
    this.#state = ParserState.Error;
    this.#pending = null;
    this.#trailers = null;
    this.handler.onError(e);
  }

  #bodyState(head: MessageHead): ParserStateValue {
    if (this.#isRequest) {
      if (head.chunked) return ParserState.ChunkSize;
      if (head.contentLength > 0) {
        this.#remaining = head.contentLength;
        return ParserState.BodyLength;
      }
      return ParserState.Head;
    }
    const s = head.status;
    if (this.expectNoBody || s === 204 || s === 304 || s === 101) return ParserState.Head;
    if (head.chunked) return ParserState.ChunkSize;
    if (head.contentLength >= 0) {
      this.#remaining = head.contentLength;
      return head.contentLength === 0 ? ParserState.Head : ParserState.BodyLength;
    }
    this.lastMessage = true;
    return ParserState.BodyUntilClose;
  }

  /**
   * The head in text[0, headEnd) (text may go on past it: the blank line, body bytes), which is
   * bytes[base, base + headEnd) as latin1. `open`: headEnd is only where the read ends, and the
   * head's end is found as its lines are read (#headEnd), or UNSURE is returned, having failed
   * nothing, for a head that scan would not take whole (incomplete, too large, a line the
   * line-by-line reading must judge): the caller then finds the end in the text and parses again.
   */
  #parseHead(text: string, headEnd: number, bytes: Buffer, base: number, open = false): MessageHead | null {
    const bad = this.#isRequest ? 400 : 502;
    const head = emptyHead();
    // The start line read from the bytes (where it is the usual well-formed one), or -1: then
    // from the text, as before, which refuses a bad one with its error.
    let pos = this.#isRequest
      ? requestLineIn(bytes, base, headEnd, text, head, open)
      : statusLineIn(bytes, base, headEnd, head, open);
    if (open && pos === -1) return UNSURE;
    if (pos !== -1) {
      // The fields follow.
    } else if (this.#isRequest) {
      const { startLine, firstEnd } = startLineOf(text, headEnd);
      pos = firstEnd === -1 ? headEnd : firstEnd + 2;
      const sp1 = startLine.indexOf(' ');
      const sp2 = startLine.indexOf(' ', sp1 + 1);
      if (sp1 <= 0 || sp2 === -1 || startLine.indexOf(' ', sp2 + 1) !== -1)
        return this.#failNull(err(400, 'http1.invalid_request_line'));
      const method = knownMethod(startLine, sp1);
      if (method === null && !isToken(startLine, 0, sp1)) return this.#failNull(err(400, 'http1.invalid_request_line'));
      head.method = method ?? startLine.slice(0, sp1);
      const target = invalidTarget(startLine, sp1 + 1, sp2);
      if (target !== null) return this.#failNull(target);
      head.target = startLine.slice(sp1 + 1, sp2);
      if (sp2 + 9 !== startLine.length || !startLine.startsWith('HTTP/1.', sp2 + 1))
        return this.#failNull(err(400, 'http1.invalid_version'));
      const minor = startLine.charCodeAt(sp2 + 8);
      if (minor === 49) head.versionMinor = 1;
      else if (minor === 48) head.versionMinor = 0;
      else return this.#failNull(err(400, 'http1.invalid_version'));
    } else {
      const { startLine, firstEnd } = startLineOf(text, headEnd);
      pos = firstEnd === -1 ? headEnd : firstEnd + 2;
      const status = statusOf(startLine);
      if (status === -1) return this.#failNull(err(502, 'http1.invalid_status_line'));
      if (hasControlChar(startLine, 12, startLine.length)) return this.#failNull(err(502, 'http1.invalid_characters'));
      head.versionMinor = startLine.charCodeAt(7) - 48;
      head.status = status;
    }
    this.#contentLengths = 0;
    this.#transferEncodings = 0;
    this.#connection = '';
    this.#upgrade = '';
    let count = 0;
    const names = head.headers.names;
    const values = head.headers.values;
    let scanned: boolean;
    if (open) {
      headEnd = this.#scanFields(text, pos, headEnd, bytes, base, names, values, true);
      if (headEnd === -1 || headEnd > this.#limits.maxHeaderBytes) return UNSURE;
      this.#headEnd = headEnd;
      scanned = true;
    } else scanned = pos < headEnd && this.#scanFields(text, pos, headEnd, bytes, base, names, values, false) !== -1;
    if (scanned) {
      // Every field line is well formed; what the fields mean is read as the loop below reads it.
      for (let i = 0; i < names.length; i++) {
        const value = values[i]!;
        const e = this.#readField(head, names[i]!, value);
        if (e !== null) return this.#failNull(e);
      }
      pos = headEnd;
    } else {
      // A line the scan would not take: the loop below reads the head again, line by line, and
      // refuses it with the error of its first bad line.
      while (names.length > 0) {
        names.pop();
        values.pop();
      }
    }
    while (pos < headEnd) {
      let eol = text.indexOf('\r\n', pos);
      if (eol === -1 || eol > headEnd) eol = headEnd;
      const c0 = text.charCodeAt(pos);
      if (c0 === 32 || c0 === 9) return this.#failNull(err(400, 'http1.obs_fold_not_allowed'));
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon >= eol) return this.#failNull(err(bad, 'http1.invalid_header_line'));
      let name = knownHeaderName(text, pos, colon);
      if (name === null) {
        if (!isToken(text, pos, colon)) return this.#failNull(err(bad, 'http1.invalid_header_name'));
        name = text.slice(pos, colon).toLowerCase();
      }
      if (hasControlChar(text, colon + 1, eol)) return this.#failNull(err(bad, 'http1.invalid_characters'));
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      const value = text.slice(vs, ve);
      if (++count > this.#limits.maxHeaders) return this.#failNull(err(431, 'http1.too_many_headers'));
      pos = eol + 2;
      const e = this.#readField(head, name, value);
      if (e !== null) return this.#failNull(e);
      names.push(name);
      values.push(value);
    }
    const clCount = this.#contentLengths;
    const teCount = this.#transferEncodings;
    const connectionHeader = this.#connection;
    const upgradeHeader = this.#upgrade;
    if (clCount > 1) return this.#failNull(err(bad, 'http1.multiple_content_length'));
    if (teCount > 1) return this.#failNull(err(bad, 'http1.multiple_transfer_encoding'));
    if (clCount > 0 && teCount > 0) return this.#failNull(err(bad, 'http1.content_length_and_chunked_not_allowed'));
    if (teCount > 0 && head.versionMinor === 0)
      return this.#failNull(err(bad, 'http1.transfer_encoding_not_allowed_http10'));
    // `keep-alive` alone (what most clients and upstreams send) asks for nothing: no split.
    if (connectionHeader === 'keep-alive') {
      // Keep-alive is HTTP/1.1's default and what keeps an HTTP/1.0 connection open.
    } else if (connectionHeader !== '') {
      for (const token of connectionHeader.split(',')) {
        const t = token.trim();
        if (t === 'close') head.connectionClose = true;
        // h2c is not offered: as Envoy does, the request goes on as plain HTTP/1.1.
        else if (t === 'upgrade' && upgradeHeader !== '' && upgradeHeader !== 'h2c') head.upgrade = upgradeHeader;
      }
      if (head.versionMinor === 0 && !connectionHeader.includes('keep-alive')) head.connectionClose = true;
    } else if (head.versionMinor === 0) head.connectionClose = true;
    if (head.connectionClose) this.lastMessage = true;
    return head;
  }

  /**
   * What one field means for the head (framing, connection options, 100-continue), the same for
   * the one-pass scan's fields and the line-by-line loop's: counts and values gathered into the
   * #parseHead fields below, an error for a field that cannot frame the message.
   */
  #readField(head: MessageHead, name: string, value: string): CodecError | null {
    switch (name) {
      case 'content-length':
        this.#contentLengths++;
        head.contentLength = decimalOf(value);
        if (head.contentLength === -1) return err(400, 'http1.invalid_content_length');
        break;
      case 'transfer-encoding':
        this.#transferEncodings++;
        if (value.toLowerCase() !== 'chunked') {
          return this.#isRequest
            ? err(501, 'http1.invalid_transfer_encoding')
            : err(502, 'http1.invalid_transfer_encoding');
        }
        head.chunked = true;
        break;
      case 'connection':
        this.#connection = this.#connection === '' ? value.toLowerCase() : `${this.#connection},${value.toLowerCase()}`;
        break;
      case 'upgrade':
        this.#upgrade = value.toLowerCase();
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') head.expectContinue = true;
        break;
    }
    return null;
  }

  /**
   * The field lines of text[pos, headEnd) into names and values, scanned in one pass over their
   * bytes (bytes[base + i] is text[i]); returns headEnd, or -1, with what was added left for the
   * caller to drop, at anything the line-by-line loop of #parseHead would refuse or treat apart
   * (obs-fold, no colon, a name that is not a token, a control character or bare CR/LF, too many
   * fields). `open`: headEnd is where the read ends, every line must end with CRLF, and a blank
   * line ends the head: its end (where CRLFCRLF starts) is returned, -1 when the read ends first.
   * Profile of the response head a proxied request reads (nginx's, 5 fields): the per-character
   * string reads (charCodeAt) of the name lookup, the value check and the trims, and the two
   * indexOf calls per line, were about half of the parser's time; typed-array reads cost less
   * than charCodeAt, and one pass finds the colon, checks the value and finds the line's end.
   */
  #scanFields(
    text: string,
    pos: number,
    headEnd: number,
    bytes: Buffer,
    base: number,
    names: string[],
    values: string[],
    open: boolean,
  ): number {
    const max = this.#limits.maxHeaders;
    const end = base + headEnd;
    let at = base + pos;
    while (at < end) {
      const lineStart = at;
      let c = bytes[at]!;
      // Open: a blank line ends the head, which ends at the CRLF before it (as CRLFCRLF is found).
      if (open && c === 13) return at + 1 < end && bytes[at + 1] === 10 ? at - 2 - base : -1;
      // The name, up to its colon: token characters only (a space or tab first is obs-fold).
      while (c !== 58) {
        if (c > 127 || TOKEN_CHARS[c] === 0) return -1;
        if (++at === end) return -1;
        c = bytes[at]!;
      }
      if (at === lineStart) return -1;
      const colon = at;
      // The value, up to CRLF (or the head's end): no control character but HTAB, no bare CR or LF.
      at++;
      while (at < end) {
        c = bytes[at]!;
        if (c === 13) break;
        if ((c < 32 && c !== 9) || c === 127) return -1;
        at++;
      }
      const eol = at;
      if (eol < end) {
        if (eol + 1 >= end || bytes[eol + 1] !== 10) return -1;
        at = eol + 2;
      } else if (open) return -1;
      if (names.length === max) return -1;
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve && (bytes[vs] === 32 || bytes[vs] === 9)) vs++;
      while (ve > vs && (bytes[ve - 1] === 32 || bytes[ve - 1] === 9)) ve--;
      names.push(
        knownHeaderNameIn(bytes, lineStart, colon) ?? text.slice(lineStart - base, colon - base).toLowerCase(),
      );
      values.push(text.slice(vs - base, ve - base));
    }
    return open ? -1 : headEnd;
  }

  #failNull(e: CodecError): null {
    this.#fail(e);
    return null;
  }
}

/**
 * Reason phrases for the status lines the proxy writes: its local replies, and responses whose
 * upstream sent none (HTTP/2 has no reason phrase). The codes Envoy's CodeUtility::toString names,
 * with its phrases; any other is `Unknown`, as there.
 */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
};

/** HTTP/1.1 status lines made so far, by status: every response writes one, and most use a handful of codes. */
const STATUS_LINES: Array<string | undefined> = [];

/** The status line; `versionMinor` 0 answers an HTTP/1.0 request in its own version. */
export function statusLine(status: number, versionMinor = 1): string {
  if (versionMinor !== 1 || !Number.isInteger(status) || status < 100 || status > 999)
    return `HTTP/1.${versionMinor} ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n`;
  return (STATUS_LINES[status] ??= `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n`);
}
