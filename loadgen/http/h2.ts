// HTTP/2 over TLS, as k6 speaks it (Go's net/http negotiates h2 by ALPN and never does h2c): one
// session per origin per VU, reused and multiplexed. A Connection offers h2 and hands its socket
// over here when the server picks it (connection.ts); requests keep the transport's interface (the
// HTTP/1.1 request head the exchange built, parsed back into HTTP/2 headers here) and answer with
// the same RawResponse, so cookies, redirects and auth challenges work unchanged. node:http2 is
// loaded on the first h2 handshake: most runs never need it.
import { createRequire } from 'node:module';
import type * as Http2 from 'node:http2';
import type * as tls from 'node:tls';
import { errorCodeOf, type HandshakeTiming, type Origin, type RawResponse } from './connection.js';
import {
  ERR_GENERIC,
  ERR_HTTP2_CONNECTION,
  ERR_HTTP2_GOAWAY,
  ERR_HTTP2_STREAM,
  ERR_REQUEST_TIMEOUT,
} from './error-codes.js';

type Http2Module = typeof Http2;
let http2: Http2Module | undefined;
let statusTexts: Record<number, string | undefined> | undefined;

function lazyHttp2(): Http2Module {
  if (http2 === undefined) {
    const require = createRequire(import.meta.url);
    http2 = require('node:http2') as Http2Module;
    statusTexts = (require('node:http') as typeof import('node:http')).STATUS_CODES;
  }
  return http2;
}

// RFC 9113 §7's REFUSED_STREAM: the server did not process the stream, so it may be sent again.
const REFUSED_STREAM = 7;

// RFC 9113 §7 names, as Go prints them in its errors.
const H2_CODE_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

function codeName(code: number): string {
  return H2_CODE_NAMES[code] ?? `unknown error code 0x${code.toString(16)}`;
}

function goawayMessage(code: number): string {
  return `http2: server sent GOAWAY and closed the connection; ErrCode=${codeName(Math.max(0, code))}`;
}

/** base + the HTTP/2 code (k6 keeps 19 slots per family); the base alone for codes past them. */
function familyCode(base: number, h2Code: number): number {
  return h2Code >= 0 && h2Code < 19 ? base + 1 + h2Code : base;
}

// Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2); Host becomes :authority.
const DROPPED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** The HTTP/1.1 head the exchange built, as HTTP/2 request headers. */
export function h2RequestHeaders(head: string, origin: Origin): Http2.OutgoingHttpHeaders {
  const lines = head.split('\r\n');
  const start = lines[0]!;
  const sp1 = start.indexOf(' ');
  const sp2 = start.lastIndexOf(' ');
  const headers: Http2.OutgoingHttpHeaders = {
    ':method': start.slice(0, sp1),
    ':scheme': 'https',
    ':authority': origin.port === 443 ? origin.servername : `${origin.servername}:${origin.port}`,
    ':path': start.slice(sp1 + 1, sp2),
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'host') headers[':authority'] = value;
    if (DROPPED.has(name) || (name === 'te' && value !== 'trailers')) continue;
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [String(prev), value];
  }
  return headers;
}

/** HTTP/2 response headers as the header block the HTTP/1.1 path keeps (parseHeaders() reads either). */
function rawHeaderBlock(headers: Http2.IncomingHttpHeaders): { raw: string; setCookie: boolean } {
  let raw = '';
  let setCookie = false;
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a) continue; // pseudo-headers (:status)
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      for (const one of v) raw += `${name}: ${one}\r\n`;
    } else raw += `${name}: ${v}\r\n`;
    if (name === 'set-cookie') setCookie = true;
  }
  return { raw, setCookie };
}

/** A VU's HTTP/2 session with one origin. */
export class H2Session {
  readonly origin: Origin;
  readonly #session: Http2.ClientHttp2Session;
  readonly #socket: tls.TLSSocket;
  /** The handshake's timings, reported by the first request on the session (k6 does the same). */
  #handshake: HandshakeTiming | null;
  /** The socket's byte counts already attributed to a request. */
  #read = 0;
  #written = 0;
  readonly #inFlight = new Set<(message: string, code: number) => void>();
  #closed = false;
  /** A GOAWAY's error code (0 for a graceful one), reported by requests it ends. */
  #goaway = -1;
  /** The last stream a GOAWAY said the server processed (streams above it never reached it). */
  #lastStreamId = 0;

  constructor(origin: Origin, socket: tls.TLSSocket, handshake: HandshakeTiming, onClose: (s: H2Session) => void) {
    this.origin = origin;
    this.#socket = socket;
    this.#handshake = handshake;
    const host = origin.servername.includes(':') ? `[${origin.servername}]` : origin.servername;
    this.#session = lazyHttp2().connect(`https://${host}:${origin.port}`, {
      createConnection: () => socket,
    });
    this.#session.on('goaway', (code: number, lastStreamId: number) => {
      this.#goaway = code;
      this.#lastStreamId = lastStreamId;
      this.#closed = true;
      onClose(this);
    });
    this.#session.on('error', (err: NodeJS.ErrnoException) => {
      this.#closed = true;
      if (this.#goaway > 0) {
        // A GOAWAY with an error code destroys the session: k6 reports the GOAWAY.
        this.#failAll(goawayMessage(this.#goaway), familyCode(ERR_HTTP2_GOAWAY, this.#goaway));
        return;
      }
      // ERR_HTTP2_SESSION_ERROR says "Session closed with error code N".
      const h2Code = err.code === 'ERR_HTTP2_SESSION_ERROR' ? /(\d+)\s*$/.exec(err.message) : null;
      this.#failAll(
        err.message,
        h2Code !== null
          ? familyCode(ERR_HTTP2_CONNECTION, Number(h2Code[1]))
          : err.code?.startsWith('ERR_HTTP2') === true
            ? ERR_HTTP2_CONNECTION
            : errorCodeOf(err),
      );
    });
    this.#session.on('close', () => {
      this.#closed = true;
      this.#failAll('http2: client connection lost', ERR_HTTP2_CONNECTION);
      onClose(this);
    });
  }

  /** Takes new requests: neither closed, nor going away. */
  get usable(): boolean {
    return !this.#closed && !this.#session.closed && !this.#session.destroyed;
  }

  #failAll(message: string, code: number): void {
    for (const fail of [...this.#inFlight]) fail(message, code);
  }

  /**
   * Sends one request; `done` is called exactly once, with an error response on failure, unless
   * the server refused the stream unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream):
   * then `unprocessed`, when given, is called instead, to send it again elsewhere (as Go does).
   */
  request(
    head: string,
    body: Buffer | null,
    keepBody: boolean,
    timeoutMs: number,
    blockedSince: number,
    done: (res: RawResponse) => void,
    unprocessed: (() => void) | null = null,
  ): void {
    const start = performance.now();
    const hs = this.#handshake;
    this.#handshake = null;
    const res: RawResponse = {
      status: 0,
      statusText: '',
      proto: 'HTTP/2.0',
      rawHeaders: '',
      setCookie: false,
      body: null,
      bytesSent: 0,
      bytesReceived: 0,
      blocked: hs === null ? start - blockedSince : Math.max(0, hs.connectStart - blockedSince),
      connecting: hs === null ? 0 : (hs.tcpConnected === 0 ? hs.secured : hs.tcpConnected) - hs.connectStart,
      tlsHandshaking: hs === null || hs.tcpConnected === 0 ? 0 : hs.secured - hs.tcpConnected,
      sending: 0,
      waiting: 0,
      receiving: 0,
      sentAt: start,
      error: '',
      errorCode: 0,
    };
    const chunks: Buffer[] = [];
    let written = 0;
    let firstByte = 0;
    let settled = false;
    let stream: Http2.ClientHttp2Stream | undefined;
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      this.#inFlight.delete(fail);
      // Bytes on the wire (frames, HPACK, TLS records) since the last request finished: with
      // concurrent streams they are shared out by completion, and their sum is the socket's.
      const read = this.#socket.bytesRead;
      const wrote = this.#socket.bytesWritten;
      res.bytesReceived = Math.max(0, read - this.#read);
      res.bytesSent = Math.max(0, wrote - this.#written);
      this.#read = read;
      this.#written = wrote;
      done(res);
    };
    const fail = (message: string, code: number): void => {
      if (settled) return;
      // As on HTTP/1.1: a request without a response carries no protocol.
      res.proto = '';
      res.status = 0;
      res.error = message;
      res.errorCode = code;
      stream?.close(lazyHttp2().constants.NGHTTP2_CANCEL);
      finish();
    };
    /** Ends a request the server never processed: sent again when the caller allows it. */
    const refused = (message: string, code: number): void => {
      if (settled) return;
      if (unprocessed === null || firstByte !== 0) return fail(message, code);
      settled = true;
      clearTimeout(timer);
      this.#inFlight.delete(fail);
      stream?.close(lazyHttp2().constants.NGHTTP2_CANCEL);
      unprocessed();
    };
    const timer = setTimeout(() => fail('request timeout', ERR_REQUEST_TIMEOUT), timeoutMs);
    this.#inFlight.add(fail);
    const bodyless = body === null || body.length === 0;
    let s: Http2.ClientHttp2Stream;
    try {
      s = this.#session.request(h2RequestHeaders(head, this.origin), { endStream: bodyless });
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err), ERR_GENERIC);
      return;
    }
    stream = s;
    if (!bodyless) s.end(body);
    written = performance.now();
    res.sending = written - start;
    s.on('response', (headers) => {
      firstByte = performance.now();
      res.waiting = firstByte - written;
      const status = Number(headers[':status']);
      res.status = status;
      res.statusText = statusTexts?.[status] ?? '';
      const block = rawHeaderBlock(headers);
      res.rawHeaders = block.raw;
      res.setCookie = block.setCookie;
    });
    s.on('data', (chunk: Buffer) => {
      if (keepBody) chunks.push(chunk);
    });
    s.on('end', () => {
      if (settled) return;
      res.receiving = performance.now() - (firstByte === 0 ? written : firstByte);
      if (keepBody) res.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      finish();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_HTTP2_STREAM_ERROR') {
        const code = s.rstCode;
        (code === REFUSED_STREAM ? refused : fail)(
          `stream error: stream ID ${s.id}; ${codeName(code)}`,
          familyCode(ERR_HTTP2_STREAM, code),
        );
      } else if (err.code === 'ERR_HTTP2_GOAWAY_SESSION' || this.#goaway > 0)
        (this.#aboveGoaway(s) ? refused : fail)(
          goawayMessage(this.#goaway),
          familyCode(ERR_HTTP2_GOAWAY, this.#goaway),
        );
      else fail(err.message, errorCodeOf(err));
    });
    s.on('close', () => {
      if (settled) return;
      const code = s.rstCode;
      if (this.#goaway >= 0)
        (this.#aboveGoaway(s) ? refused : fail)(
          goawayMessage(this.#goaway),
          familyCode(ERR_HTTP2_GOAWAY, this.#goaway),
        );
      else fail(`stream error: stream ID ${s.id}; ${codeName(code)}`, familyCode(ERR_HTTP2_STREAM, code));
    });
  }

  #aboveGoaway(s: Http2.ClientHttp2Stream): boolean {
    return this.#goaway >= 0 && (s.id === undefined || s.id > this.#lastStreamId);
  }

  /** Closes once in-flight streams end. */
  close(): void {
    this.#closed = true;
    this.#session.close();
  }

  /** Fails in-flight requests and drops the session (the VU is interrupted or stops). */
  destroy(): void {
    this.#closed = true;
    this.#session.destroy();
    this.#socket.destroy();
  }
}
