// The HTTP/2 server codec (Envoy's Http2::ServerConnectionImpl) over Node's node:http2, which
// frames with nghttp2 on the transport's native handle. Each HTTP/2 stream becomes a stream of
// the connection manager: its request head a header map with Envoy's pseudo-headers, its body
// slices with flow control left to nghttp2 (a read-disabled stream is paused, so its window is
// not reopened and the client stops sending), its response written with the HTTP/1-only
// connection headers removed. GOAWAY on shutdownNotice; a peer's RST_STREAM resets the stream.
import http2, {
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { HeaderMap } from '../../headers.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import type { Runtime } from '../../../../runtime/index.js';
import {
  classifySessionError,
  type Http2CodecStats,
  NGHTTP2_ERR_BAD_CLIENT_MAGIC,
  PREMATURE_RESET_MIN_STREAM_LIFETIME_MS,
  ProtocolConstraints,
} from './protocol-constraints.js';
import type { RequestDecoder, ResponseEncoder, ServerConnection, ServerConnectionCallbacks } from '../types.js';

/** Envoy's Http2ProtocolOptions as the HCM's `http2_protocol_options` sets them. */
export interface Http2Settings {
  readonly maxConcurrentStreams: number;
  readonly initialStreamWindowSize: number;
  readonly initialConnectionWindowSize: number;
  /** The HCM's max_request_headers_kb, in bytes (SETTINGS_MAX_HEADER_LIST_SIZE). */
  readonly maxRequestHeadersBytes: number;
  /** The HCM's common_http_protocol_options.max_headers_count. */
  readonly maxHeadersCount: number;
  /**
   * Empty DATA frames without END_STREAM a client may send before its connection is closed as a
   * flood. node:http2 counts them (with frames nghttp2 finds invalid) over the connection's life,
   * where Envoy counts consecutive ones; at Envoy's default of 1 a second one closes it in both.
   */
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  /** PRIORITY frames allowed per stream opened (plus one stream's worth on a connection without any). */
  readonly maxInboundPriorityFramesPerStream: number;
  /** The HCM's stream_idle_timeout: also bounds a finished response stuck behind a closed window. */
  readonly streamIdleTimeoutMs: number;
  /** The layered runtime, read per connection for the codec's choice (codec-factory.ts). */
  readonly runtime?: Runtime;
  /** The listener's per_connection_buffer_limit_bytes: bytes the socket may hold before streams are told to stop (1 MiB). */
  readonly connectionBufferLimitBytes?: number;
  /** Frames (of every type) queued for a client and not yet drained before the connection closes as a flood (10000). */
  readonly maxOutboundFrames?: number;
  /** SETTINGS/PING ACKs and RST_STREAMs queued for a client and not yet drained before the connection closes as a flood (1000). */
  readonly maxOutboundControlFrames?: number;
  /** http2_protocol_options.allow_connect: SETTINGS_ENABLE_CONNECT_PROTOCOL, and extended CONNECT taken as an upgrade. */
  readonly allowConnect?: boolean;
  /**
   * The streams' decoders are done with each DATA chunk when decodeData returns (they copy what
   * they keep), so the framed codec may read into the transport's reused buffer (readWith). The
   * xDS server's ADS calls; not the proxy's, whose request bodies outlive the read.
   */
  readonly decodersCopyData?: boolean;
}

const EMPTY = Buffer.alloc(0);
const END_STREAM_FLAG = http2.constants.NGHTTP2_FLAG_END_STREAM;
const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
/** How long a socket whose session node:http2 destroyed may take to send its GOAWAY. */
const SOCKET_CLOSE_GRACE_MS = 1000;
/** RFC 7541 §4.1 counts 32 octets per field on top of its name and value; Envoy's limit counts the octets only. */
const HPACK_FIELD_OVERHEAD = 32;

/** Request and response headers HTTP/2 forbids (RFC 9113 §8.2.2); an HTTP/1 upstream may send them. */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * One node:http2 server per HCM settings object, used only to build sessions on sockets the
 * listener accepted (it never listens). `session` is emitted synchronously by emit('connection').
 */
const servers = new WeakMap<Http2Settings, { server: Http2Server; last: ServerHttp2Session | null }>();

function sessionOn(settings: Http2Settings, transport: TransportSocket): ServerHttp2Session {
  let entry = servers.get(settings);
  if (entry === undefined) {
    // Pseudo-headers count as pairs for nghttp2; Envoy's max_headers_count does not.
    const pairs = settings.maxHeadersCount + 4;
    const server = http2.createServer({
      settings: {
        maxConcurrentStreams: settings.maxConcurrentStreams,
        initialWindowSize: settings.initialStreamWindowSize,
        // node:http2 refuses a list past this (with the RFC's 32 octets per field) before the
        // proxy sees it; with the overhead added, every list within max_request_headers_kb and
        // max_headers_count reaches #headersOverflow, which decides as Envoy does.
        maxHeaderListSize: settings.maxRequestHeadersBytes + HPACK_FIELD_OVERHEAD * pairs,
        // http2_protocol_options.allow_connect: nghttp2 then takes `:protocol` (RFC 8441).
        enableConnectProtocol: settings.allowConnect === true,
      },
      maxHeaderListPairs: pairs,
      // Both close on the frame past the limit. node:http2 also counts frames nghttp2 finds
      // invalid here: at 0 the first protocol error would end in its INTERNAL_ERROR instead of
      // nghttp2's GOAWAY with the error's own code, so a limit of 0 is read as 1.
      maxSessionInvalidFrames: Math.max(1, settings.maxConsecutiveInboundFramesWithEmptyPayload),
    });
    const e = { server, last: null as ServerHttp2Session | null };
    server.on('session', (s: ServerHttp2Session) => {
      e.last = s;
    });
    entry = e;
    servers.set(settings, entry);
  }
  entry.last = null;
  entry.server.emit('connection', transport.stream);
  const session = entry.last as ServerHttp2Session | null;
  entry.last = null;
  if (session === null) throw new Error('node:http2 did not create a session');
  return session;
}

/** What every stream's encoder shares with its connection. */
interface EncoderContext {
  readonly stats: Http2CodecStats;
  /** Watches a finished response until its last bytes leave (see FlushWatch). */
  watchFlush(encoder: Http2ResponseEncoder): void;
  /** node:http2 closed the encoder's stream (either side, finished or not). */
  onStreamClose(encoder: Http2ResponseEncoder): void;
}

/**
 * A stream's encoder, in a slot on node:http2's stream object: the per-stream listeners are
 * the module's functions below, shared by every stream, so a stream costs no closures.
 */
const ENCODER = Symbol('http2ResponseEncoder');
type EncodedStream = ServerHttp2Stream & { [ENCODER]: Http2ResponseEncoder };

function onStreamClose(this: EncodedStream): void {
  const encoder = this[ENCODER];
  encoder.context.onStreamClose(encoder);
}

function onStreamData(this: EncodedStream, chunk: Buffer): void {
  this[ENCODER].decoder!.decodeData(chunk, false);
}

/**
 * node:http2 emits 'trailers' as the frame arrives, ahead of DATA still queued in a paused stream
 * (an upstream that reads slowly): they end the request only at 'end', after its last byte.
 */
function onStreamTrailers(this: EncodedStream, trailers: IncomingHttpHeaders): void {
  this[ENCODER].requestTrailers = trailerMap(trailers);
}

function onStreamEnd(this: EncodedStream): void {
  const encoder = this[ENCODER];
  if (encoder.requestEnded) return;
  encoder.requestEnded = true;
  const d = encoder.decoder!;
  const trailers = encoder.requestTrailers;
  if (trailers !== null && d.decodeTrailers !== undefined) d.decodeTrailers(trailers);
  else d.decodeData(EMPTY, true);
}

/** Request trailers as a header map: pseudo-headers have no place in them (RFC 9113 §8.1). */
function trailerMap(trailers: IncomingHttpHeaders): HeaderMap {
  const h = new HeaderMap();
  for (const name of Object.keys(trailers)) {
    if (name.charCodeAt(0) === 58) continue;
    const v = trailers[name];
    if (Array.isArray(v)) for (const x of v) h.add(name, x);
    else if (v !== undefined) h.add(name, String(v));
  }
  return h;
}

/**
 * The stream closed before its response ended: the peer's RST_STREAM, or the connection gone.
 * node:http2 may still end the readable side with 'end' (always after RST_STREAM NO_ERROR, once
 * the paused body behind a backed-up upstream is read), which would pass the request on as
 * complete. An upload under way is reset here instead, at once: the upstream sees it cut off
 * (RST_STREAM, or its HTTP/1.1 connection closed before the body's end), as in our own codec.
 */
function onStreamAborted(this: EncodedStream): void {
  const encoder = this[ENCODER];
  if (encoder.requestEnded || encoder.localReset) return;
  encoder.requestEnded = true;
  encoder.decoder!.onResetStream();
}

function ignoreStreamError(): void {
  // 'close' follows with the stream's rstCode; accounted there.
}

/** The response side of one HTTP/2 stream. */
class Http2ResponseEncoder implements ResponseEncoder {
  readonly protocol = 'HTTP/2' as const;
  /** Extended CONNECT (RFC 8441) is not offered: no HTTP/2 stream is an upgrade. */
  /** An extended CONNECT's `:protocol`, lower-case, else ''. */
  upgradeType = '';
  /** The upgrade was accepted: the stream is a tunnel. */
  upgraded = false;
  readonly closingConnection = false;
  readonly #stream: ServerHttp2Stream;
  readonly #stats: Http2CodecStats;
  readonly context: EncoderContext;
  decoder: RequestDecoder | null = null;
  /** performance.now() when the stream opened (a reset soon after is premature). */
  readonly openedAt: number;
  requestEnded = false;
  /** The request's trailers, held until its body has been read to the end. */
  requestTrailers: HeaderMap | null = null;
  responseStarted = false;
  responseComplete = false;
  bodyless = false;
  /** The proxy reset the stream (not the peer). */
  localReset = false;
  /** The client said it takes trailers (`te: trailers`, as gRPC does): the response may end with them. */
  acceptsTrailers = false;
  /** An HTTP/2 upstream's response: trailers may end it whatever its content-length (see ResponseEncoder). */
  trailersMayFollow = false;
  /** The stream was opened to end with trailers (node:http2 sends them only on such a stream). */
  #waitsForTrailers = false;
  #trailers: OutgoingHttpHeaders = {};
  #readDisabled = 0;
  #aboveWatermark = false;

  constructor(stream: ServerHttp2Stream, context: EncoderContext, openedAt: number) {
    this.#stream = stream;
    this.#stats = context.stats;
    this.context = context;
    this.openedAt = openedAt;
  }

  /** The stream's rst code once closed (NGHTTP2_NO_ERROR for a clean close). */
  get rstCode(): number {
    return this.#stream.rstCode;
  }

  closeConnectionAfterResponse(): void {
    // One stream's end says nothing about the connection's others.
  }

  encode1xxHeaders(headers: HeaderMap): void {
    const s = this.#stream;
    if (s.destroyed || s.headersSent) return;
    s.additionalHeaders(toHttp2Headers(headers));
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    const s = this.#stream;
    this.responseStarted = true;
    let status = Number(headers.get(':status') ?? 200);
    if (status === 101 && this.upgradeType !== '') {
      // Envoy's transformUpgradeResponseFromH1toH2: the upgrade is a 200 to an extended CONNECT.
      // A copy: the access log keeps the 101.
      const h = new HeaderMap();
      h.names.push(...headers.names);
      h.values.push(...headers.values);
      h.set(':status', '200');
      headers = h;
      status = 200;
      this.upgraded = true;
    }
    this.bodyless = endStream || status === 204 || status === 304;
    if (s.destroyed) return;
    try {
      // node:http2 sends trailers only on a stream opened to wait for them (the choice is made
      // here, with the headers), and one that ends without them then costs an empty DATA frame
      // carrying END_STREAM (and an event). Envoy, and our own codec, pass trailers whatever `te`
      // said, so the stream waits whenever they may come: the client asked (`te: trailers`, gRPC),
      // the length is unknown (a chunked HTTP/1.1 response), or the upstream is HTTP/2 (whose sized
      // response may still end with trailers). A sized HTTP/1.1 response, or a local reply, to a
      // client that did not ask cannot carry any: it ends with its body, at no extra cost.
      const waitForTrailers =
        !this.bodyless && (this.acceptsTrailers || this.trailersMayFollow || !headers.has('content-length'));
      this.#waitsForTrailers = waitForTrailers;
      s.respond(toHttp2Headers(headers), { endStream: this.bodyless, waitForTrailers });
      if (waitForTrailers) s.once('wantTrailers', () => s.sendTrailers(this.#trailers));
    } catch {
      // A header node:http2 refuses (an invalid value from upstream): the stream cannot be answered.
      this.resetStream();
      return;
    }
    if (this.bodyless) this.#endResponse();
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (!this.responseStarted || this.responseComplete) return true;
    const s = this.#stream;
    if (s.destroyed) return true;
    if (this.bodyless) {
      if (endStream) this.#endResponse();
      return true;
    }
    if (endStream) {
      s.end(data.length > 0 ? data : undefined);
      this.#endResponse();
      return true;
    }
    if (data.length === 0) return true;
    const ok = s.write(data);
    if (!ok && !this.#aboveWatermark) {
      // Above the stream's write buffer limit (the peer's window is closed or it reads slowly):
      // the filter manager stops reading upstream until 'drain'.
      this.#aboveWatermark = true;
      this.decoder?.onWriteBufferWatermark(true);
      s.once('drain', () => {
        this.#aboveWatermark = false;
        this.decoder?.onWriteBufferWatermark(false);
      });
    }
    return ok;
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (!this.responseStarted || this.responseComplete) return;
    const s = this.#stream;
    if (s.destroyed) return;
    if (this.#waitsForTrailers) this.#trailers = toHttp2Headers(trailers);
    if (!this.bodyless) s.end();
    this.#endResponse();
  }

  #endResponse(): void {
    this.responseComplete = true;
    // The connection manager is done with the stream, but its last bytes may wait on a window
    // the client never opens (a local reply to a zero-window client): the stream idle timeout
    // still applies, as in Envoy, and resets the stream rather than holding it open for ever.
    if (!this.bodyless && !this.#stream.writableFinished) this.context.watchFlush(this);
    // The response ended before the request: refuse the rest of it (Envoy resets with NO_ERROR).
    if (!this.requestEnded && !this.#stream.destroyed) this.#stream.close(NGHTTP2_NO_ERROR);
  }

  /** Bytes still queued on the stream, and since when that number has not moved (FlushWatch). */
  unsent = -1;
  unsentSince = 0;

  /** True once the stream is gone or its bytes all left. */
  get flushed(): boolean {
    const s = this.#stream;
    return s.destroyed || s.closed || s.writableFinished;
  }

  /** The bytes the stream still holds (a write completes as the peer's window takes it). */
  get queuedBytes(): number {
    return this.#stream.writableLength;
  }

  readDisable(disable: boolean): void {
    if (disable) {
      if (this.#readDisabled++ === 0) this.#stream.pause();
    } else if (this.#readDisabled > 0 && --this.#readDisabled === 0) {
      this.#stream.resume();
    }
  }

  resetStream(): void {
    const s = this.#stream;
    if (s.destroyed || s.closed) return;
    this.localReset = true;
    this.#stats.tx_reset.inc();
    // Not close(INTERNAL_ERROR): node:http2 ends the writable side first, so a response cut off
    // mid-body (an upstream timeout or reset) went out as an empty DATA frame with END_STREAM
    // before the RST_STREAM, and a client took the truncated body for the whole. destroy(error)
    // sends the RST_STREAM (INTERNAL_ERROR) alone; the 'error' it emits is ignored.
    s.destroy(new Error('stream reset by the proxy'));
  }
}

/** A header map to node:http2's object form: repeated names become arrays, HTTP/1-only headers are dropped. */
function toHttp2Headers(h: HeaderMap): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const names = h.names;
  const values = h.values;
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (CONNECTION_SPECIFIC.has(n)) continue;
    // `te` may only say `trailers` in HTTP/2 (gRPC sends it).
    if (n === 'te' && values[i] !== 'trailers') continue;
    const prev = out[n];
    if (prev === undefined) out[n] = values[i]!;
    else if (Array.isArray(prev)) prev.push(values[i]!);
    else out[n] = [String(prev), values[i]!];
  }
  return out;
}

/**
 * An HTTP/2 request head as Envoy's header map: `:authority`, `:path`, `:method`, `:scheme`
 * first (as the HTTP/1 codec orders them), then the regular headers as received, with the
 * cookie crumbs HTTP/2 allows joined back into one header (RFC 9113 §8.2.3).
 */
function requestHeaderMap(headers: IncomingHttpHeaders, raw: readonly string[], scheme: string): HeaderMap {
  const h = new HeaderMap();
  const authority = headers[':authority'] ?? headers.host ?? '';
  h.add(':authority', authority);
  h.add(':path', headers[':path'] ?? '');
  // An extended CONNECT is the HTTP/1.1 upgrade it names (Envoy's transformUpgradeRequestFromH2toH1).
  h.add(':method', headers[':protocol'] !== undefined ? 'GET' : (headers[':method'] ?? ''));
  h.add(':scheme', headers[':scheme'] ?? scheme);
  let cookie: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.charCodeAt(0) === 58 || n === 'host') continue;
    if (n === 'cookie') {
      cookie = cookie === null ? raw[i + 1]! : `${cookie}; ${raw[i + 1]}`;
      continue;
    }
    h.add(n, raw[i + 1]!);
  }
  if (cookie !== null) h.add('cookie', cookie);
  return h;
}

/**
 * The connection manager is done with a stream once its response ended, but the response's last
 * bytes may wait on a window the client never opens (a local reply to a zero-window client). As
 * in Envoy, the stream idle timeout still applies: a finished response whose queued bytes have
 * not moved for that long is reset rather than held open for ever. One timer per connection,
 * running only while some response is still flushing.
 */
class FlushWatch {
  readonly #idleMs: number;
  readonly #encoders = new Set<Http2ResponseEncoder>();
  #timer: NodeJS.Timeout | null = null;

  constructor(idleMs: number) {
    this.#idleMs = idleMs;
  }

  add(encoder: Http2ResponseEncoder): void {
    if (this.#idleMs <= 0) return;
    encoder.unsent = encoder.queuedBytes;
    encoder.unsentSince = performance.now();
    this.#encoders.add(encoder);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#sweep(), Math.min(this.#idleMs, 1000));
      this.#timer.unref();
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const e of this.#encoders) {
      if (e.flushed) {
        this.#encoders.delete(e);
        continue;
      }
      const queued = e.queuedBytes;
      if (queued !== e.unsent) {
        e.unsent = queued;
        e.unsentSince = now;
      } else if (now - e.unsentSince >= this.#idleMs) {
        this.#encoders.delete(e);
        e.resetStream();
      }
    }
    if (this.#encoders.size === 0) this.stop();
  }

  delete(encoder: Http2ResponseEncoder): void {
    this.#encoders.delete(encoder);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#encoders.clear();
  }
}

export class Http2ServerConnection implements ServerConnection {
  readonly protocol = 'HTTP/2' as const;
  readonly transport: TransportSocket;
  readonly #session: ServerHttp2Session;
  readonly #callbacks: ServerConnectionCallbacks;
  readonly #stats: Http2CodecStats;
  readonly #settings: Http2Settings;
  readonly #constraints: ProtocolConstraints;
  readonly #encoderContext: EncoderContext;
  readonly #flushWatch: FlushWatch;
  #activeStreams = 0;
  /** The id of the last stream node:http2 handed over: a gap after it is streams it refused. */
  #lastStreamId = -1;
  #goawaySent = false;
  /** The proxy is closing the connection for an attack; the session error it raises is its own. */
  #terminating = false;
  #closed = false;
  readonly #onPriority = (): void => {
    if (!this.#constraints.onPriorityFrame() || this.#goawaySent) return;
    this.#stats.inbound_priority_frames_flood.inc();
    this.#terminate();
  };

  constructor(
    transport: TransportSocket,
    callbacks: ServerConnectionCallbacks,
    settings: Http2Settings,
    stats: Http2CodecStats,
  ) {
    this.transport = transport;
    this.#callbacks = callbacks;
    this.#stats = stats;
    this.#settings = settings;
    this.#constraints = new ProtocolConstraints(settings.maxInboundPriorityFramesPerStream);
    const flushWatch = new FlushWatch(settings.streamIdleTimeoutMs);
    this.#flushWatch = flushWatch;
    this.#encoderContext = {
      stats,
      watchFlush: (e) => flushWatch.add(e),
      onStreamClose: (e) => this.#onStreamClose(e),
    };
    transport.stream.setNoDelay(true);
    const session = sessionOn(settings, transport);
    this.#session = session;
    const extra = settings.initialConnectionWindowSize - 65_535;
    if (extra > 0) session.setLocalWindowSize(settings.initialConnectionWindowSize);
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) =>
      this.#onStream(stream, headers, flags, raw),
    );
    // node:http2 tells PRIORITY frames only to a listener: on a stream it knows, to the stream's.
    session.on('priority', this.#onPriority);
    // nghttp2 reports a malformed or flooding peer as a session error (node:http2 then closes).
    session.on('error', (err: NodeJS.ErrnoException) => this.#onSessionError(err));
    session.on('close', () => this.#onClose());
    // HTTP/2 has no half-closed connection: a client's FIN means it is gone. node:http2 would keep
    // a session with a stream still open (the listener allows half-open sockets), so a stream
    // waiting on its upstream would hold the connection, and a drain, for as long as it waits.
    // As in Envoy (a remote close), the connection closes and its streams are reset.
    transport.stream.once('end', () => {
      if (!this.#closed) this.destroy();
    });
  }

  get idle(): boolean {
    return this.#activeStreams === 0;
  }

  readDisable(_disable: boolean): void {
    // Streams are read-disabled one by one (their windows close); the connection reads on.
  }

  /** Drain: GOAWAY with the last stream id; streams already open finish, no new one starts. */
  shutdownNotice(): void {
    if (this.#goawaySent || this.#closed) return;
    this.#goawaySent = true;
    this.#stats.goaway_sent.inc();
    this.#session.close();
  }

  onStreamComplete(): boolean {
    return false;
  }

  sendProtocolError(_status: number, _details: string, _responseFlag: number): void {
    // HTTP/2 errors are connection-level (GOAWAY) and nghttp2 sends them itself.
    this.destroy();
  }

  /** The connection manager closes an idle connection (idle timeout, drain): GOAWAY, then the socket. */
  close(): void {
    this.shutdownNotice();
    if (this.#activeStreams === 0) this.#closeSoon();
  }

  destroy(): void {
    if (!this.#session.destroyed) this.#session.destroy();
    // node:http2 only ends the socket it owned, and an ended socket whose reading nghttp2 stopped
    // (after a connection error) never sees the peer's FIN: without this it stays open for ever.
    this.transport.stream.destroy();
  }

  /**
   * node:http2 destroyed the session (a connection error, a flood): its GOAWAY is on the way
   * and the socket is ended, but nghttp2 stopped reading it, so the peer's close would never be
   * seen. The socket is destroyed after a grace for the GOAWAY to leave.
   */
  #closeSoon(): void {
    setTimeout(() => this.transport.stream.destroy(), SOCKET_CLOSE_GRACE_MS).unref();
  }

  /** An attack: GOAWAY ENHANCE_YOUR_CALM, then the connection closes with its streams. */
  #terminate(): void {
    if (this.#closed || this.#session.destroyed) return;
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      this.#stats.goaway_sent.inc();
    }
    this.#terminating = true;
    // node:http2 sends the GOAWAY code only with an error (which it emits on the session).
    this.#session.destroy(new Error('HTTP/2 flood'), NGHTTP2_ENHANCE_YOUR_CALM);
  }

  #onSessionError(err: NodeJS.ErrnoException): void {
    this.#closeSoon();
    if (this.#terminating) return;
    const flood = classifySessionError(err, this.#stats);
    if (flood !== null) return;
    if (err.code === 'ERR_HTTP2_ERROR' || err.errno === NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      this.#callbacks.onCodecError({ status: 400, details: 'http2.protocol_error' });
    }
  }

  /**
   * Envoy's header limits (max_request_headers_kb, max_headers_count), which a client may
   * ignore in our SETTINGS: past them the stream is reset and counted (http2.header_overflow),
   * as Envoy's HTTP/2 codec does, before it reaches the connection manager.
   */
  #headersOverflow(raw: readonly string[]): boolean {
    const s = this.#settings;
    let bytes = 0;
    let count = 0;
    for (let i = 0; i < raw.length; i += 2) {
      bytes += raw[i]!.length + raw[i + 1]!.length;
      if (raw[i]!.charCodeAt(0) !== 58) count++;
    }
    return bytes > s.maxRequestHeadersBytes || count > s.maxHeadersCount;
  }

  /**
   * Client stream ids rise by two; node:http2 hands over every stream but those it refused
   * itself: past maxHeaderListPairs or maxHeaderListSize (an HPACK bomb, which expands a few
   * octets into megabytes) it resets the stream with ENHANCE_YOUR_CALM before any callback.
   * Those are header overflows; a gap while all stream slots are taken is REFUSED_STREAM.
   */
  #countRefused(id: number): void {
    const skipped = this.#lastStreamId < 0 ? (id - 1) / 2 : (id - this.#lastStreamId) / 2 - 1;
    this.#lastStreamId = id;
    if (skipped > 0 && this.#activeStreams < this.#settings.maxConcurrentStreams) {
      this.#stats.header_overflow.add(skipped);
    }
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    this.#countRefused(stream.id ?? 0);
    if (this.#headersOverflow(raw)) {
      this.#stats.header_overflow.inc();
      stream.on('error', ignoreStreamError);
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.#activeStreams++;
    this.#constraints.onStreamOpened();
    const encoder = new Http2ResponseEncoder(stream, this.#encoderContext, performance.now());
    // nghttp2 passes `:protocol` only on a CONNECT, and only once allow_connect enabled it.
    const protocol = headers[':protocol'];
    if (protocol !== undefined) encoder.upgradeType = String(protocol).toLowerCase();
    const decoder = this.#callbacks.newStream(encoder);
    encoder.decoder = decoder;
    (stream as EncodedStream)[ENCODER] = encoder;
    stream.on('error', ignoreStreamError);
    stream.on('priority', this.#onPriority);
    stream.on('close', onStreamClose);
    encoder.acceptsTrailers = headers.te === 'trailers';
    const endStream = (flags & END_STREAM_FLAG) !== 0;
    if (endStream) encoder.requestEnded = true;
    else {
      stream.on('data', onStreamData);
      stream.on('trailers', onStreamTrailers);
      stream.on('end', onStreamEnd);
      stream.on('aborted', onStreamAborted);
    }
    decoder.decodeHeaders(requestHeaderMap(headers, raw, this.transport.scheme), endStream);
  }

  #onStreamClose(encoder: Http2ResponseEncoder): void {
    this.#activeStreams--;
    this.#flushWatch.delete(encoder);
    const unfinished = !encoder.requestEnded || !encoder.responseComplete;
    const rxReset = !encoder.localReset && encoder.rstCode !== NGHTTP2_NO_ERROR;
    if (rxReset) this.#stats.rx_reset.inc();
    if (unfinished) encoder.decoder!.onResetStream();
    const premature =
      rxReset && unfinished && performance.now() - encoder.openedAt < PREMATURE_RESET_MIN_STREAM_LIFETIME_MS;
    if (this.#constraints.onStreamClosed(premature) && !this.#closed) {
      this.#stats.downstream_rq_too_many_premature_resets.inc();
      this.#terminate();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flushWatch.stop();
    this.#callbacks.onConnectionClose();
  }
}
