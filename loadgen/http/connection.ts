// One keep-alive HTTP/1.1 connection, one request at a time (each VU owns its connections, as a k6
// VU owns its transport). Callbacks are bound once in the constructor; per request the only
// allocations are the request head string, the response object and the promise the script awaits.
import { performance } from 'node:perf_hooks';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { EndOfTurn } from '../../shared/end-of-turn.js';
import {
  ERR_CONNECTION_REFUSED,
  ERR_CONNECTION_RESET,
  ERR_DIAL,
  ERR_DIAL_TIMEOUT,
  ERR_GENERIC,
  ERR_HTTP_PROTOCOL,
  ERR_REQUEST_TIMEOUT,
} from './error-codes.js';
import { HandleWriter, readFromHandle } from './handle-io.js';
import { ResponseParser, type ParsedHead, type ParserHandler } from './parser.js';
import type { TracedHead } from './traced-head.js';

export interface Origin {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly servername: string;
  readonly insecureSkipTLSVerify: boolean;
}

export interface RawResponse {
  status: number;
  statusText: string;
  proto: string;
  /** Unparsed header block (parseHeaders() on demand: most scripts never read headers). */
  rawHeaders: string;
  /** The response carries Set-Cookie (the cookie jar is only consulted then). */
  setCookie: boolean;
  body: Buffer | null;
  bytesSent: number;
  bytesReceived: number;
  // Sub-phase timings in ms, as far as Node exposes them: `sending` is the synchronous socket
  // write (the kernel took the bytes), `waiting` runs to the first response byte.
  blocked: number;
  connecting: number;
  tlsHandshaking: number;
  sending: number;
  waiting: number;
  receiving: number;
  /** Wall-clock (performance.now) instant the first request byte was written. */
  sentAt: number;
  error: string;
  errorCode: number;
}

type Done = (res: RawResponse) => void;

/** When a TLS connection's phases ended (performance.now()), handed to the HTTP/2 path with the socket. */
export interface HandshakeTiming {
  readonly connectStart: number;
  readonly tcpConnected: number;
  readonly secured: number;
}

/**
 * Takes over a TLS socket whose server picked h2 by ALPN (loadgen/http/h2.ts). The request that
 * opened the connection then completes with errorCode H2_HANDED_OVER, and the transport re-sends it
 * over HTTP/2.
 */
export type H2Handover = (origin: Origin, socket: tls.TLSSocket, timing: HandshakeTiming) => void;
export const H2_HANDED_OVER = -2;

export function failedResponse(error: string, errorCode: number, start: number): RawResponse {
  return {
    status: 0,
    statusText: '',
    proto: '',
    rawHeaders: '',
    setCookie: false,
    body: null,
    bytesSent: 0,
    bytesReceived: 0,
    blocked: 0,
    connecting: 0,
    tlsHandshaking: 0,
    sending: 0,
    waiting: 0,
    receiving: 0,
    sentAt: start,
    error,
    errorCode,
  };
}

export function errorCodeOf(err: NodeJS.ErrnoException): number {
  switch (err.code) {
    case 'ECONNREFUSED':
      return ERR_CONNECTION_REFUSED;
    case 'ECONNRESET':
    case 'EPIPE':
      return ERR_CONNECTION_RESET;
    case 'ETIMEDOUT':
      return ERR_DIAL_TIMEOUT;
    default:
      return err.syscall === 'connect' ? ERR_DIAL : ERR_GENERIC;
  }
}

// Every plain-TCP read is handled synchronously in its callback, so all connections can share
// one read buffer; anything kept past the callback is copied out.
const readBuffer = Buffer.allocUnsafe(64 * 1024);
const EMPTY = Buffer.alloc(0);

// Request timeouts: one shared, unref'd sweeper instead of a socket timer per connection, whose
// refresh on every read and write would sit on the hot path. Granularity is SWEEP_MS.
const SWEEP_MS = 100;
const watched = new Set<Connection>();
let sweeper: NodeJS.Timeout | undefined;

function watch(c: Connection): void {
  watched.add(c);
  if (sweeper === undefined) {
    sweeper = setInterval(() => {
      const now = performance.now();
      for (const w of watched) w.expire(now);
    }, SWEEP_MS);
    sweeper.unref();
  }
}

function unwatch(c: Connection): void {
  watched.delete(c);
  if (watched.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

// Requests asked for during an event-loop turn are written at its end (setImmediate: after every
// I/O callback of the turn), one write each, in the order asked: as wrk writes a connection's next
// request on its next writable event rather than inside the read that completed the last one. A
// turn that completes many responses then sends their successors together, so the server is woken
// once for them instead of once per write, each wake-up (an interprocessor interrupt in a VM)
// costing the writer's own time; the proxy's DeferredWriter does the same for the same reason.
// The wait until the flush counts in http_req_sending, as in k6 whatever delays a request between
// getting its connection and writing it does; the response's timings are unchanged.
const dueWrites = new EndOfTurn<Connection>((c) => c.flush());

export class Connection implements ParserHandler {
  readonly origin: Origin;
  #socket: net.Socket;
  readonly #parser: ResponseParser;
  #connected = false;
  #closed = false;
  /** performance.now() deadline of the in-flight request (checked by the shared sweeper). */
  #deadline = Infinity;
  /** Requests served; 0 means a failure before any response may be a stale keep-alive race. */
  served = 0;

  // The in-flight request.
  #done: Done | null = null;
  #res: RawResponse | null = null;
  #chunks: Buffer[] = [];
  #keepBody = true;
  #connectStart = 0;
  #tcpConnected = 0;
  #writeStart = 0;
  #written = 0;
  #firstByte = 0;
  /** When the last read of the in-flight response arrived: its end, if that read completes it. */
  #lastRead = 0;
  #pendingWrite: string | TracedHead | null = null;
  /** When the in-flight request was asked for (performance.now()): its http_req_blocked runs to its write. */
  #blockedSince = 0;
  /** Writes to a plain TCP socket's native handle once connected (handle-io.ts); TLS sockets use socket.write. */
  #writer: HandleWriter | null = null;
  // The last head written, and its bytes once the same head came twice: a VU's loop sends one
  // head string over and over (the exchange memoizes it), so its bytes are encoded once and the
  // socket gets them as they are. A string write costs V8 a flatten of the concatenated head and
  // Node a latin1 encode on every request (~4% of the user time of a loop with a headers param).
  #lastHead = '';
  #lastHeadBytes: Buffer | null = null;
  // The bytes of the last traced head (traced-head.ts) and the repeating part they were made for:
  // the next head with that part only gets its ids rewritten.
  #tracedBytes: Buffer | null = null;
  #tracedBase = '';
  readonly #onRead = (nread: number, buf: Uint8Array): boolean => {
    this.#onData(buf as Buffer, nread);
    return true;
  };
  /** The same, for reads taken straight from the handle (readFromHandle). */
  readonly #onBytes = (nread: number): void => this.#onData(readBuffer, nread);
  #pendingBody: Buffer | null = null;
  #onIdleClose: ((c: Connection) => void) | null;

  /**
   * With `onH2` (TLS origins), offers h2 before http/1.1 as k6 (Go's net/http) does, and hands the
   * socket over when the server picks it.
   */
  constructor(
    origin: Origin,
    connectTimeout: number,
    onIdleClose: (c: Connection) => void,
    onH2: H2Handover | null = null,
  ) {
    this.origin = origin;
    this.#onIdleClose = onIdleClose;
    this.#parser = new ResponseParser(this);
    this.#connectStart = performance.now();
    const socket = origin.tls
      ? tls.connect({
          host: origin.host,
          port: origin.port,
          servername: origin.servername,
          rejectUnauthorized: !origin.insecureSkipTLSVerify,
          ALPNProtocols: onH2 === null ? ['http/1.1'] : ['h2', 'http/1.1'],
        })
      : net.connect({ host: origin.host, port: origin.port, onread: { buffer: readBuffer, callback: this.#onRead } });
    socket.setNoDelay(true);
    if (!origin.tls) readFromHandle(socket, this.#onBytes);
    this.#socket = socket;
    this.#deadline = this.#connectStart + connectTimeout;
    watch(this);
    const onError = (e: NodeJS.ErrnoException): void => this.#onError(e.message, errorCodeOf(e));
    const onClose = (): void => this.#onClose();
    if (origin.tls) {
      const secure = socket as tls.TLSSocket;
      socket.once('connect', () => {
        this.#tcpConnected = performance.now();
      });
      secure.on('secureConnect', () => {
        if (onH2 !== null && secure.alpnProtocol === 'h2') {
          secure.off('error', onError);
          secure.off('close', onClose);
          this.#handOver(secure, onH2);
          return;
        }
        // Plain TCP reads land in the shared buffer through `onread` (no per-read Buffer, no
        // stream machinery); TLS sockets do not support it and use 'data', from here on (an h2
        // socket is handed over unread).
        secure.on('data', (d: Buffer) => this.#onData(d, d.length));
        this.#onConnect();
      });
    } else socket.on('connect', () => this.#onConnect());
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  #handOver(socket: tls.TLSSocket, onH2: H2Handover): void {
    this.#closed = true;
    unwatch(this);
    onH2(this.origin, socket, {
      connectStart: this.#connectStart,
      tcpConnected: this.#tcpConnected,
      secured: performance.now(),
    });
    const forget = this.#onIdleClose;
    this.#onIdleClose = null;
    forget?.(this);
    this.#pendingWrite = null;
    this.#pendingBody = null;
    this.#fail('handed over to HTTP/2', H2_HANDED_OVER);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get busy(): boolean {
    return this.#done !== null;
  }

  /** Sends one request; `done` is called exactly once, with an error response on failure. */
  request(
    head: string | TracedHead,
    body: Buffer | null,
    noResponseBody: boolean,
    keepBody: boolean,
    timeoutMs: number,
    blockedSince: number,
    done: Done,
  ): void {
    const fresh = !this.#connected;
    this.#done = done;
    this.#blockedSince = blockedSince;
    if (this.#chunks.length !== 0) this.#chunks = [];
    this.#keepBody = keepBody;
    this.#written = 0;
    this.#firstByte = 0;
    this.#parser.reset(noResponseBody);
    this.#res = {
      status: 0,
      statusText: '',
      proto: '',
      rawHeaders: '',
      setCookie: false,
      body: null,
      bytesSent: 0,
      bytesReceived: 0,
      // A connected one was there when asked for (blockedSince was read just before this call).
      blocked: fresh ? Math.max(0, this.#connectStart - blockedSince) : 0,
      connecting: 0,
      tlsHandshaking: 0,
      sending: 0,
      waiting: 0,
      receiving: 0,
      sentAt: blockedSince,
      error: '',
      errorCode: 0,
    };
    // blockedSince was read by the transport just before this call: no clock read of our own.
    this.#deadline = blockedSince + timeoutMs;
    this.#pendingWrite = head;
    this.#pendingBody = body;
    // Connected: written at the end of this event-loop turn with the turn's other requests
    // (dueWrites); otherwise once connected (#onConnect).
    if (this.#connected) dueWrites.schedule(this);
  }

  /**
   * Writes the request request() left for the end of the turn. Its sending time runs from when it
   * was asked for, as k6's runs from when the connection was got to when the request was written.
   */
  flush(): void {
    const head = this.#pendingWrite;
    if (head === null || this.#closed) return;
    const body = this.#pendingBody;
    this.#pendingWrite = null;
    this.#pendingBody = null;
    this.#write(head, body, this.#blockedSince);
  }

  #write(head: string | TracedHead, body: Buffer | null, start: number): void {
    const res = this.#res!;
    this.#writeStart = start;
    res.sentAt = start;
    const writer = this.#writer;
    if (body === null || body.length === 0) {
      res.bytesSent = head.length;
      if (typeof head !== 'string') {
        // The buffer is rewritten only once the socket holds no unsent bytes of it; a response
        // cannot complete before its request went out, so in a keep-alive loop it always can be.
        const idle = writer === null ? this.#socket.writableLength === 0 : writer.idle;
        const bytes = head.encode(idle ? this.#tracedBytes : null, this.#tracedBase);
        this.#tracedBytes = bytes;
        this.#tracedBase = head.base;
        if (writer === null) this.#socket.write(bytes);
        else writer.write(bytes);
      } else if (head === this.#lastHead) {
        const bytes = (this.#lastHeadBytes ??= Buffer.from(head, 'latin1'));
        if (writer === null) this.#socket.write(bytes);
        else writer.write(bytes);
      } else {
        this.#lastHead = head;
        this.#lastHeadBytes = null;
        if (writer === null) this.#socket.write(head, 'latin1');
        else writer.write(head);
      }
    } else {
      res.bytesSent = head.length + body.length;
      const bytes = Buffer.concat([Buffer.from(String(head), 'latin1'), body]);
      if (writer === null) this.#socket.write(bytes);
      else writer.write(bytes);
    }
    this.#written = performance.now();
  }

  #onConnect(): void {
    const now = performance.now();
    this.#connected = true;
    if (!this.origin.tls) this.#writer = new HandleWriter(this.#socket);
    const res = this.#res;
    if (res !== null) {
      if (this.#tcpConnected !== 0) {
        res.connecting = this.#tcpConnected - this.#connectStart;
        res.tlsHandshaking = now - this.#tcpConnected;
      } else res.connecting = now - this.#connectStart;
      if (this.#pendingWrite !== null) {
        const head = this.#pendingWrite;
        const body = this.#pendingBody;
        this.#pendingWrite = null;
        this.#pendingBody = null;
        this.#write(head, body, now);
      }
    }
  }

  /** The bytes data[0, length) arrived (a plain TCP read: the shared buffer and the read's size). */
  #onData(data: Buffer, length: number): void {
    const res = this.#res;
    if (res === null) {
      // Bytes with no request in flight: the server broke the protocol; drop the connection.
      this.#socket.destroy();
      return;
    }
    // One clock read per read: a response that arrives in one read (the usual small one) gets
    // its first byte and its end from the same reading.
    const now = performance.now();
    this.#lastRead = now;
    if (this.#firstByte === 0) this.#firstByte = now;
    res.bytesReceived += length;
    this.#parser.execute(data, length);
  }

  onHead(head: ParsedHead): void {
    const res = this.#res!;
    res.status = head.status;
    res.statusText = head.statusText;
    res.proto = head.proto;
    res.rawHeaders = head.rawHeaders;
    res.setCookie = head.setCookie;
  }

  onBody(chunk: Buffer): void {
    // Plain TCP chunks are views of the shared read buffer, reused by the next read: keep a copy.
    if (this.#keepBody) this.#chunks.push(this.origin.tls ? chunk : Buffer.from(chunk));
  }

  onComplete(keepAlive: boolean): void {
    const res = this.#res!;
    const done = this.#done!;
    const end = this.#lastRead;
    res.sending = this.#written - this.#writeStart;
    res.waiting = Math.max(0, this.#firstByte - this.#written);
    res.receiving = end - this.#firstByte;
    if (this.#keepBody)
      res.body =
        this.#chunks.length === 0 ? EMPTY : this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    if (this.#chunks.length !== 0) this.#chunks = [];
    this.#res = null;
    this.#done = null;
    this.served++;
    if (!keepAlive) this.close();
    done(res);
  }

  onParseError(message: string): void {
    this.#fail(`malformed HTTP response: ${message}`, ERR_HTTP_PROTOCOL);
    this.#socket.destroy();
  }

  #fail(message: string, code: number): void {
    const done = this.#done;
    const res = this.#res;
    this.#done = null;
    this.#res = null;
    this.#chunks = [];
    if (done === null || res === null) return;
    res.status = 0;
    res.error = message;
    res.errorCode = code;
    done(res);
  }

  #onError(message: string, code: number): void {
    this.#closed = true;
    this.#fail(message, code);
  }

  /** Called by the sweeper: fails the in-flight request once its deadline passed. */
  expire(now: number): void {
    if (this.#done === null || now < this.#deadline) return;
    this.#onTimeout();
  }

  #onTimeout(): void {
    if (this.#done !== null)
      this.#fail(
        this.#connected ? `request timeout` : `dial tcp ${this.origin.host}:${this.origin.port}: i/o timeout`,
        this.#connected ? ERR_REQUEST_TIMEOUT : ERR_DIAL_TIMEOUT,
      );
    this.#closed = true;
    this.#socket.destroy();
  }

  #onClose(): void {
    this.#closed = true;
    unwatch(this);
    if (this.#done !== null) {
      if (this.#parser.readsUntilClose && this.#parser.end()) return;
      this.#fail('connection closed before the response completed', ERR_CONNECTION_RESET);
    }
    const cb = this.#onIdleClose;
    this.#onIdleClose = null;
    cb?.(this);
  }

  /** Bytes already read when the connection failed: a stale keep-alive socket fails with none. */
  get receivedNothing(): boolean {
    return this.#firstByte === 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
  }

  /** Aborts an in-flight request (the VU is being interrupted). */
  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}
