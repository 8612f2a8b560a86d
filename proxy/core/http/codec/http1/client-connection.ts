// The HTTP/1.1 client codec (Envoy's Http1::ClientConnectionImpl): one upstream connection,
// one request at a time. It writes the request head from the header map's pseudo-headers
// (`:method`, `:path`, `:authority` as Host), frames the body (sized, chunked when the length is
// unknown, raw for an upgrade) and reads the response with the incremental parser into the
// stream's ResponseDecoder. Reads arrive as views of the transport's shared read buffer.
import { Buffer } from 'node:buffer';
import { Http1Parser, type CodecError, type MessageHead, type ParserHandler } from './parser.js';
import type { HeaderMap } from '../../headers.js';
import { DeferredWriter } from '../../deferred-writer.js';
import type { NativeStream, TransportSocket } from '../../../network/transport-socket.js';
import type { ClientConnection, ClientConnectionCallbacks, RequestEncoder, ResponseDecoder } from '../types.js';

const PARSER_LIMITS = { maxHeaderBytes: 96 * 1024, maxHeaders: 200 };
const EMPTY = Buffer.alloc(0);
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
/**
 * Methods whose requests carry no content by definition (RFC 9110 §9.3): a headers-only request
 * of any other method says `content-length: 0`, as Envoy's HTTP/1 codec writes it (an HTTP/2
 * client's POST that ends with its HEADERS would otherwise reach an HTTP/1.1 upstream with no
 * framing at all, which some servers answer with 411 Length Required).
 */
const BODILESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);

/**
 * Being one request at a time, the connection is its own RequestEncoder: newStream binds the
 * response decoder and returns the connection, so a request costs no encoder object.
 */
export class Http1ClientConnection implements ClientConnection, RequestEncoder, ParserHandler {
  readonly protocol = 'HTTP/1.1' as const;
  readonly transport: TransportSocket;
  readonly #socket: NativeStream;
  readonly #callbacks: ClientConnectionCallbacks;
  readonly #parser: Http1Parser;
  /** Writes of one event-loop turn (typically the whole request head) leave in one syscall (see DeferredWriter). */
  readonly #writer: DeferredWriter;
  #decoder: ResponseDecoder | null = null;
  #requestDone = false;
  #responseDone = false;
  /** The request is an upgrade: its body bytes pass on raw. */
  #tunnelRequest = false;
  #chunked = false;
  #closed = false;
  /** The router paused reading the response (readDisable). */
  #readDisabled = false;
  /** Upgraded (WebSocket): the socket is a raw tunnel now and never serves another request. */
  #tunneled = false;
  /**
   * Body bytes of the read being parsed, not yet handed on (a copy: reads view the shared buffer).
   * As Envoy's codec buffers a dispatch's body, they leave at the end of the read, or with the
   * response's end when it is in the same read: one decodeData(body, true) instead of the body
   * and then an empty end, each a pass through the router and the filter chain.
   */
  #heldBody: Buffer | null = null;
  /** The cluster's http_protocol_options.enable_trailers: chunked trailers go both ways. */
  readonly #enableTrailers: boolean;
  /** The response's trailers (enable_trailers), passed on as its end. */
  #responseTrailers: HeaderMap | null = null;

  constructor(transport: TransportSocket, callbacks: ClientConnectionCallbacks, enableTrailers = false) {
    const socket = transport.stream;
    this.transport = transport;
    this.#socket = socket;
    this.#callbacks = callbacks;
    this.#enableTrailers = enableTrailers;
    this.#parser = new Http1Parser(false, this, PARSER_LIMITS);
    this.#parser.collectTrailers = enableTrailers;
    this.#writer = new DeferredWriter(socket);
    socket.on('drain', () => this.#decoder?.onWriteBufferWatermark(false));
    // Only armed while the connection sits idle in a pool (cluster idle_timeout).
    socket.on('timeout', () => socket.destroy());
    socket.on('close', () => this.#onClose());
    socket.on('error', () => {
      // 'close' follows and carries the consequence.
    });
    socket.on('end', () => {
      if (this.#parser.finishOnClose()) return;
      socket.destroy();
    });
  }

  /** False once the connection cannot carry another request (close-delimited, `connection: close`, a tunnel, closed). */
  get reusable(): boolean {
    return !this.#parser.lastMessage && !this.#tunneled && !this.#closed;
  }

  get destroyed(): boolean {
    return this.#socket.destroyed;
  }

  /** Closes an idle connection after `ms` without traffic (0 disarms). */
  setIdleTimeout(ms: number): void {
    this.#socket.setTimeout(ms);
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** A read from the transport; `data` views its shared read buffer (valid during this call only). */
  onRead(data: Buffer): void {
    // Bytes while no request is bound (the connection idles in the pool) belong to no
    // stream: an unsolicited or premature response. The connection cannot be trusted any
    // more and is closed, as Envoy does; it must never be released to the pool twice.
    if (this.#decoder === null && !this.#tunneled) {
      this.#socket.destroy();
      return;
    }
    this.#parser.execute(data);
    if (this.#heldBody !== null) this.#releaseHeldBody();
  }

  #releaseHeldBody(): void {
    const body = this.#heldBody!;
    this.#heldBody = null;
    this.#decoder?.decodeData(body, false);
  }

  // --- ClientConnection ---

  newStream(decoder: ResponseDecoder): RequestEncoder {
    this.#decoder = decoder;
    this.#requestDone = false;
    this.#responseDone = false;
    return this;
  }

  // --- RequestEncoder ---

  /**
   * The request head. Its body is chunked when it has one of unknown length (no
   * content-length), raw when the request is an upgrade (it carries `upgrade`).
   */
  encodeHeaders(headers: HeaderMap, endStream: boolean): boolean {
    const method = headers.get(':method') ?? 'GET';
    this.#parser.expectNoBody = method === 'HEAD';
    const tunnel = headers.has('upgrade');
    this.#tunnelRequest = tunnel;
    this.#chunked = !endStream && !tunnel && !headers.has('content-length');
    let out = `${method} ${headers.get(':path') ?? '/'} HTTP/1.1\r\nhost: ${headers.get(':authority') ?? ''}\r\n`;
    const names = headers.names;
    const values = headers.values;
    // The last headers may come as their HTTP/1 text already (the tracer's propagation headers).
    const linesFrom = headers.trailingLinesFrom();
    const end = linesFrom === -1 ? names.length : linesFrom;
    for (let i = 0; i < end; i++) {
      const n = names[i]!;
      if (n.charCodeAt(0) === 58) continue;
      out += `${n}: ${values[i]}\r\n`;
    }
    if (linesFrom !== -1) out += headers.trailingLines;
    if (this.#chunked) out += 'transfer-encoding: chunked\r\n';
    else if (
      endStream &&
      method !== 'GET' &&
      !tunnel &&
      !BODILESS_METHODS.has(method) &&
      !headers.has('content-length')
    )
      out += 'content-length: 0\r\n';
    const ok = this.#write(out + CRLF);
    if (endStream) return this.encodeData(EMPTY, true) && ok;
    return ok;
  }

  /** Body bytes with the request's framing; false when the socket is backed up. */
  encodeData(data: Buffer, endStream: boolean): boolean {
    let ok = true;
    if (this.#tunnelRequest) {
      if (data.length > 0) ok = this.#write(data);
      if (endStream) {
        this.#writer.flush();
        this.#socket.end();
      }
    } else if (this.#chunked) {
      if (data.length > 0) {
        this.#write(`${data.length.toString(16)}\r\n`);
        this.#write(data);
        ok = this.#write(endStream ? `\r\n${LAST_CHUNK}` : CRLF);
      } else if (endStream) ok = this.#write(LAST_CHUNK);
    } else if (data.length > 0) ok = this.#write(data);
    if (endStream && !this.#requestDone) {
      this.#requestDone = true;
      if (!this.#tunnelRequest && this.#responseDone) this.#release();
    }
    return ok;
  }

  /**
   * With enable_trailers, a chunked body ends with the trailers after its last chunk (RFC 9112
   * §7.1.2); otherwise (Envoy's default), or on a body of known length, the body ends without them.
   */
  encodeTrailers(trailers: HeaderMap): void {
    if (!this.#enableTrailers || !this.#chunked || this.#requestDone) {
      this.encodeData(EMPTY, true);
      return;
    }
    let out = '0\r\n';
    const names = trailers.names;
    for (let i = 0; i < names.length; i++) {
      if (names[i]!.charCodeAt(0) !== 58) out += `${names[i]}: ${trailers.values[i]}\r\n`;
    }
    this.#write(out + CRLF);
    this.#requestDone = true;
    if (this.#responseDone) this.#release();
  }

  /**
   * Pauses (true) or resumes (false) reading the response: the downstream is backed up. The
   * upstream socket reads into the transport's own buffer (net's `onread`), so a pause stops
   * its reads at once and what the upstream sends next stays in the kernel.
   */
  readDisable(disable: boolean): void {
    this.#readDisabled = disable;
    if (disable) this.#socket.pause();
    else this.#socket.resume();
  }

  /** The request is given up (timeout, downstream reset): the connection is not reusable. */
  resetStream(): void {
    this.#decoder = null;
    this.#socket.destroy();
  }

  #write(data: Buffer | string): boolean {
    // A tunnel's bytes are never held back: its end() may come straight from the peer.
    return this.#writer.write(data, !this.#tunneled);
  }

  // --- ParserHandler ---

  onHead(head: MessageHead): void {
    if (head.status === 101) {
      this.#tunneled = true;
      this.#parser.setRaw();
    }
    this.#decoder?.decodeHeaders(head.status, head.headers, false);
  }

  onInformational(head: MessageHead): void {
    this.#decoder?.decode1xxHeaders(head.status, head.headers);
  }

  onBody(data: Buffer): void {
    // `data` views the shared read buffer; whoever forwards it may hold it past this read.
    if (this.#heldBody !== null) this.#releaseHeldBody();
    this.#heldBody = Buffer.from(data);
  }

  onTrailers(trailers: HeaderMap): void {
    this.#responseTrailers = trailers;
  }

  onMessageComplete(): boolean {
    const d = this.#decoder;
    const body = this.#heldBody ?? EMPTY;
    this.#heldBody = null;
    const trailers = this.#responseTrailers;
    this.#responseTrailers = null;
    if (d === null) {
      // A further response in the same read as the previous one, with no request for it.
      this.#socket.destroy();
      return false;
    }
    this.#responseDone = true;
    if (this.#requestDone) this.#release();
    if (trailers === null) d.decodeData(body, true);
    else {
      if (body.length > 0) d.decodeData(body, false);
      d.decodeTrailers(trailers);
    }
    return true;
  }

  onError(_error: CodecError): void {
    // What was read before the error goes on first, as it did when body bytes left at once.
    if (this.#heldBody !== null) this.#releaseHeldBody();
    const d = this.#decoder;
    this.#decoder = null;
    this.#socket.destroy();
    this.#callbacks.onProtocolError?.();
    d?.onProtocolError();
  }

  /** Both halves are done: the decoder is unbound and the owner may reuse the connection. */
  #release(): void {
    this.#decoder = null;
    // Paused as the response's last bytes went downstream: the next request reads its own.
    if (this.#readDisabled) this.readDisable(false);
    this.#callbacks.onStreamComplete();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#callbacks.onConnectionClose();
    const d = this.#decoder;
    this.#decoder = null;
    if (d !== null) {
      if (this.#tunneled) d.decodeData(EMPTY, true);
      else if (!this.#responseDone) d.onResetStream();
    }
  }
}
