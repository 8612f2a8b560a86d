// The HTTP/1.1 server codec (Envoy's Http1::ServerConnectionImpl): reads requests from the
// transport's native stream with the incremental parser, turns each request head into a header
// map with pseudo-headers (Host → `:authority`, absolute-form targets, `:scheme` from the
// transport) and writes responses with HTTP/1.1 framing (status line, chunked or sized bodies,
// `connection: close`, upgrades). One stream at a time: a pipelined request waits in the parser
// until the previous stream is complete.
import { Buffer } from 'node:buffer';
import { emptyHead, Http1Parser, statusLine, type MessageHead, type ParserHandler } from './parser.js';
import type { HeaderMap } from '../../headers.js';
import { DeferredWriter } from '../../deferred-writer.js';
import { isHopByHopResponseHeader } from '../../header-utility.js';
import { ResponseFlag, type HttpProtocol } from '../../../stream-info.js';
import type { NativeStream, TransportSocket } from '../../../network/transport-socket.js';
import type {
  CodecError,
  RequestDecoder,
  ResponseEncoder,
  ServerConnection,
  ServerConnectionCallbacks,
} from '../types.js';

/** Envoy's Http1Settings for a server codec, from the HCM's config. */
export interface Http1ServerSettings {
  readonly maxRequestHeadersBytes: number;
  readonly maxHeadersCount: number;
  readonly acceptHttp10: boolean;
  readonly defaultHostForHttp10: string;
  /**
   * http_protocol_options.enable_trailers: a chunked request's trailers are read and passed on, a
   * chunked response ends with its trailers; both are dropped otherwise, as in Envoy.
   */
  readonly enableTrailers?: boolean;
}

const EMPTY = Buffer.alloc(0);

/** The head a stream gets when the codec must answer before any request head was read. */
function errorHead(): MessageHead {
  const head = emptyHead();
  head.connectionClose = true;
  return head;
}

/** One request/response exchange: the response side of the codec's current stream. */
class Http1ResponseEncoder implements ResponseEncoder {
  readonly #conn: Http1ServerConnection;
  readonly #versionMinor: number;
  readonly protocol: HttpProtocol;
  readonly upgradeType: string;
  readonly #headRequest: boolean;
  decoder: RequestDecoder | null = null;
  /** The parser delivered the whole request. */
  requestEnded = false;
  /** The chunked request's trailers (enable_trailers), passed on as its end. */
  requestTrailers: HeaderMap | null = null;
  responseStarted = false;
  responseComplete = false;
  upgraded = false;
  /** The response carries no body bytes (HEAD, 204, 304, ended with its headers, a tunnel). */
  bodyless = false;
  #chunked = false;
  #closeAfterResponse: boolean;
  /** With accept_http_10 an HTTP/1.0 request is answered in HTTP/1.0, as Envoy's codec does. */
  readonly #http10: boolean;

  readonly #enableTrailers: boolean;

  constructor(conn: Http1ServerConnection, head: MessageHead, acceptHttp10: boolean, enableTrailers: boolean) {
    this.#conn = conn;
    this.#enableTrailers = enableTrailers;
    this.#versionMinor = head.versionMinor;
    this.#http10 = head.versionMinor === 0 && acceptHttp10;
    this.protocol = head.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    // h2c upgrades are stripped as Envoy's HTTP/1 codec does; others need HCM configuration.
    this.upgradeType = head.upgrade === 'h2c' ? '' : head.upgrade;
    this.#headRequest = head.method === 'HEAD';
    this.#closeAfterResponse = head.connectionClose;
  }

  get closingConnection(): boolean {
    return this.#closeAfterResponse;
  }

  closeConnectionAfterResponse(): void {
    this.#closeAfterResponse = true;
  }

  encode1xxHeaders(headers: HeaderMap): void {
    let out = statusLine(Number(headers.get(':status') ?? 100));
    for (let i = 0; i < headers.names.length; i++) {
      const n = headers.names[i]!;
      if (n.charCodeAt(0) !== 58) out += `${n}: ${headers.values[i]}\r\n`;
    }
    this.#conn.write(`${out}\r\n`);
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    const status = Number(headers.get(':status') ?? 200);
    this.responseStarted = true;
    this.upgraded = status === 101 && this.upgradeType !== '';
    this.bodyless = endStream || status === 204 || status === 304 || this.#headRequest || this.upgraded;
    const hasLength = headers.has('content-length');
    this.#chunked = !this.bodyless && !hasLength && this.#versionMinor === 1;
    if (!this.bodyless && !hasLength && this.#versionMinor === 0) this.#closeAfterResponse = true;
    if (this.#conn.shuttingDown && !this.upgraded) this.#closeAfterResponse = true;

    // The head is concatenated text: four cons strings per field line and a flattening copy at
    // the write, ~690 B of this head's garbage per response (and ~460 B for the upstream request
    // head). Two designs that allocate less cost more CPU, measured (issue 21): Array#join, 300 B
    // less and 15-40% slower; the lines copied char by char into one scratch buffer and sliced
    // into one string, 863 B less per proxied request (5189 -> 4306, BENCH_ALLOC=1
    // bench:proxy-request-path) and 16% fewer scavenges (bench:proxy-young-generation, 58-61
    // against 70-72 per 100k requests), but +3-5% CPU per request in five runs of that bench
    // (charCodeAt and a byte store cost ~2 ns a character; a cons string ~10 ns a piece).
    let out = statusLine(status, this.#http10 ? 0 : 1);
    const names = headers.names;
    const values = headers.values;
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n.charCodeAt(0) === 58) continue;
      if (isHopByHopResponseHeader(n)) continue;
      out += `${n}: ${values[i]}\r\n`;
    }
    if (this.upgraded) out += `connection: upgrade\r\nupgrade: ${headers.get('upgrade') ?? this.upgradeType}\r\n`;
    else if (this.#chunked) out += 'transfer-encoding: chunked\r\n';
    // A head that ends the response (an HTTP/2 upstream's HEADERS with END_STREAM) says so, as
    // Envoy's codec does: otherwise the client would read until the connection closes.
    else if (endStream && !hasLength && status !== 204 && status !== 304 && !this.#headRequest)
      out += 'content-length: 0\r\n';
    if (this.#closeAfterResponse && !this.upgraded) out += 'connection: close\r\n';
    else if (this.#http10) out += 'connection: keep-alive\r\n'; // HTTP/1.0 closes unless told otherwise
    this.#conn.write(`${out}\r\n`);
    if (endStream) this.#endResponse(false);
  }

  /**
   * HTTP/1.1 drops trailers, as Envoy does, unless http_protocol_options.enable_trailers: then a
   * chunked response ends with them after its last chunk (RFC 9112 §7.1.2).
   */
  encodeTrailers(trailers: HeaderMap): void {
    if (!this.responseStarted) return;
    if (this.#enableTrailers && this.#chunked && !this.responseComplete) {
      let out = '0\r\n';
      for (let i = 0; i < trailers.names.length; i++) out += `${trailers.names[i]}: ${trailers.values[i]}\r\n`;
      this.#conn.write(`${out}\r\n`);
      this.#endResponse(true);
      return;
    }
    this.#endResponse(false);
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (!this.responseStarted || this.responseComplete) return true;
    const conn = this.#conn;
    const n = data.length;
    let ok = true;
    if (n > 0 && !this.bodyless) {
      if (this.#chunked) {
        conn.write(`${n.toString(16)}\r\n`);
        conn.write(data);
        ok = conn.write(endStream ? '\r\n0\r\n\r\n' : '\r\n');
        if (endStream) this.#endResponse(true);
        return ok;
      }
      ok = conn.write(data);
    } else if (n > 0 && this.upgraded) {
      ok = conn.write(data);
    }
    if (endStream) this.#endResponse(false);
    return ok;
  }

  #endResponse(terminatorWritten: boolean): void {
    if (this.responseComplete) return;
    this.responseComplete = true;
    if (this.#chunked && !terminatorWritten) this.#conn.write('0\r\n\r\n');
    if (this.upgraded) this.#conn.close();
  }

  readDisable(disable: boolean): void {
    this.#conn.readDisable(disable);
  }

  resetStream(): void {
    this.#conn.destroy();
  }
}

export class Http1ServerConnection implements ServerConnection, ParserHandler {
  readonly protocol = 'HTTP/1.1' as const;
  readonly transport: TransportSocket;
  readonly #socket: NativeStream;
  readonly #callbacks: ServerConnectionCallbacks;
  readonly #settings: Http1ServerSettings;
  readonly #parser: Http1Parser;
  /** Writes of one event-loop turn leave in one syscall (see DeferredWriter). */
  readonly #writer: DeferredWriter;
  #active: Http1ResponseEncoder | null = null;
  #readDisabled = 0;
  #aboveWatermark = false;
  #pipelinePaused = false;
  #closed = false;
  /** A shared-buffer read is being parsed: body views must be copied before they are handed on. */
  #viewing = false;
  /** Set by shutdownNotice: every later response asks the client to close. */
  shuttingDown = false;

  constructor(transport: TransportSocket, callbacks: ServerConnectionCallbacks, settings: Http1ServerSettings) {
    const socket = transport.stream;
    this.transport = transport;
    this.#socket = socket;
    this.#callbacks = callbacks;
    this.#settings = settings;
    this.#parser = new Http1Parser(true, this, {
      maxHeaderBytes: settings.maxRequestHeadersBytes,
      maxHeaders: settings.maxHeadersCount,
    });
    this.#parser.collectTrailers = settings.enableTrailers === true;
    this.#writer = new DeferredWriter(socket, () => this.#setAboveWatermark());
    socket.setNoDelay(true);
    // Bytes the socket already holds (pushed back by a listener filter or the AUTO codec's
    // preface detection) come as `data`; later reads, where the transport can, straight from the
    // handle into a shared buffer. Measured (bench:proxy-low-rate, one sidecar at 1000 req/s):
    // the readable stream's part of a downstream read, a Buffer per read, push, `data` and a
    // nextTick, cost 14-20 us of the request thread's ~100-190 us per request, against ~5 us
    // for the upstream reads that already came this way.
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    transport.readWith?.((view) => this.#onSharedRead(view));
    socket.on('drain', () => this.#onDrain());
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onClose());
    socket.on('error', () => {
      // 'close' follows; a reset mid-stream is accounted there.
    });
  }

  get idle(): boolean {
    return this.#active === null && this.#parser.idle;
  }

  /** Responses from now on carry `connection: close` (HTTP/2 would send GOAWAY). */
  shutdownNotice(): void {
    this.shuttingDown = true;
  }

  /** Writes bytes downstream; tracks the write buffer for flow control. */
  write(data: string | Buffer): boolean {
    return this.#writer.write(data);
  }

  close(): void {
    this.#writer.flush();
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  readDisable(disable: boolean): void {
    if (disable) {
      if (this.#readDisabled++ === 0) this.#socket.pause();
    } else if (this.#readDisabled > 0 && --this.#readDisabled === 0) {
      this.#socket.resume();
    }
  }

  /**
   * The connection manager is done with the current stream: the connection closes when the
   * response asked for it, else the next (maybe pipelined) request is read. True when closing.
   */
  onStreamComplete(): boolean {
    const active = this.#active;
    this.#active = null;
    if (active === null || active.closingConnection) {
      this.close();
      return true;
    }
    this.#pipelinePaused = false;
    while (this.#readDisabled > 0) this.readDisable(false);
    this.#parser.resume();
    return false;
  }

  /**
   * Answers the request being read (or, between requests, a new stream) with `status`, then
   * closes: a malformed message, or the request-header timeout. A response already under way
   * cannot be replaced: the stream is reset instead.
   */
  sendProtocolError(status: number, details: string, responseFlag: number): void {
    let active = this.#active;
    if (active === null) active = this.#beginStream(errorHead());
    active.closeConnectionAfterResponse();
    if (active.responseStarted) {
      active.decoder!.onResetStream();
      this.destroy();
      return;
    }
    active.requestEnded = true;
    active.decoder!.sendLocalReply(status, '', responseFlag, details);
  }

  #beginStream(head: MessageHead): Http1ResponseEncoder {
    const encoder = new Http1ResponseEncoder(
      this,
      head,
      this.#settings.acceptHttp10,
      this.#settings.enableTrailers === true,
    );
    this.#active = encoder;
    encoder.decoder = this.#callbacks.newStream(encoder);
    return encoder;
  }

  /** A read viewing the transport's shared buffer: whatever outlives the call is copied (onBody). */
  #onSharedRead(view: Buffer): void {
    this.#viewing = true;
    try {
      this.#onData(view);
    } finally {
      this.#viewing = false;
    }
  }

  #onData(chunk: Buffer): void {
    this.#callbacks.onRead(chunk.length);
    this.#parser.execute(chunk);
    // A pipelined request waits in the parser; stop reading until the current response is done
    // so a client cannot queue unbounded data. Only once bytes are actually held: pausing and
    // resuming the socket around every request costs a stream resume per request.
    if (this.#parser.holdingInput && !this.#pipelinePaused) {
      this.#pipelinePaused = true;
      this.readDisable(true);
    }
  }

  #setAboveWatermark(): void {
    if (!this.#aboveWatermark) {
      this.#aboveWatermark = true;
      this.#active?.decoder?.onWriteBufferWatermark(true);
    }
  }

  #onDrain(): void {
    if (this.#aboveWatermark) {
      this.#aboveWatermark = false;
      this.#active?.decoder?.onWriteBufferWatermark(false);
    }
  }

  #onEnd(): void {
    // The client shut down its sending side (the listener keeps sockets half-open).
    const a = this.#active;
    if (a === null) this.close();
    else if (a.upgraded) {
      a.requestEnded = true;
      a.decoder!.decodeData(EMPTY, true);
    } else if (!a.requestEnded) a.decoder!.onResetStream();
    // A complete request still gets its response; nothing more can follow, so close after it.
    else a.closeConnectionAfterResponse();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#callbacks.onConnectionClose();
  }

  // --- ParserHandler ---

  onHead(head: MessageHead): void {
    const encoder = this.#beginStream(head);
    this.#decodeHeaders(encoder, encoder.decoder!, head);
  }

  /** The request head as Envoy's header map: pseudo-headers first, Host folded into `:authority`. */
  #decodeHeaders(encoder: Http1ResponseEncoder, decoder: RequestDecoder, head: MessageHead): void {
    const s = this.#settings;
    const h = head.headers;
    const endStream = !head.chunked && head.contentLength <= 0 && encoder.upgradeType === '';
    if (endStream) encoder.requestEnded = true;

    if (head.versionMinor === 0 && !s.acceptHttp10) {
      encoder.closeConnectionAfterResponse();
      decoder.sendLocalReply(426, '', 0, 'low_version');
      return;
    }
    // Host → :authority; absolute-form targets carry their own authority.
    let path = head.target;
    let authority: string | undefined;
    if (path.charCodeAt(0) !== 47 && path !== '*') {
      const m = /^https?:\/\/([^/?#]+)([^#]*)/i.exec(path);
      if (m === null) return this.#badRequest('http1.invalid_url');
      authority = m[1];
      path = m[2] === '' ? '/' : m[2]!;
    }
    const hostIndex = h.names.indexOf('host');
    if (hostIndex !== -1) {
      if (h.names.indexOf('host', hostIndex + 1) !== -1) return this.#badRequest('http1.multiple_host');
      authority ??= h.values[hostIndex];
      h.remove('host');
    }
    if (authority === undefined || authority === '') {
      if (head.versionMinor === 0 && s.defaultHostForHttp10 !== '') authority = s.defaultHostForHttp10;
      else return this.#badRequest('missing_host_header');
    }
    if (head.chunked) h.remove('content-length');
    // Pseudo-headers first, as Envoy orders them.
    h.prepend(':scheme', this.transport.scheme);
    h.prepend(':method', head.method);
    h.prepend(':path', path);
    h.prepend(':authority', authority);
    // An upgrade's bytes after the head belong to the tunnel (the HCM and route decide whether it is allowed).
    if (encoder.upgradeType !== '') this.#parser.setRaw();
    decoder.decodeHeaders(h, endStream);
  }

  #badRequest(details: string): void {
    this.#callbacks.onCodecError({ status: 400, details });
    this.sendProtocolError(400, details, ResponseFlag.DownstreamProtocolError);
  }

  onBody(data: Buffer): void {
    // Filters and the router may keep body bytes past this read (buffering, retries, a corked write).
    this.#active?.decoder?.decodeData(this.#viewing ? Buffer.from(data) : data, false);
  }

  onTrailers(trailers: HeaderMap): void {
    if (this.#active !== null) this.#active.requestTrailers = trailers;
  }

  onMessageComplete(): boolean {
    const a = this.#active;
    if (a === null) return true;
    // A request without body already ended with its headers.
    if (!a.requestEnded) {
      a.requestEnded = true;
      const d = a.decoder!;
      const trailers = a.requestTrailers;
      if (trailers !== null && d.decodeTrailers !== undefined) d.decodeTrailers(trailers);
      else d.decodeData(EMPTY, true);
    }
    // Pipelined requests wait until this stream's response is done.
    return this.#active === null;
  }

  onError(error: CodecError): void {
    this.#callbacks.onCodecError(error);
    this.sendProtocolError(error.status, error.details, ResponseFlag.DownstreamProtocolError);
  }
}
