// The HTTP/2 client codec of our own (Envoy's oghttp2 client, chosen over node:http2's
// client-connection.ts by envoy.reloadable_features.http2_use_oghttp2): one upstream connection
// carrying many streams, on the same framing (frame.ts) and HPACK (hpack.ts) as the server
// codec. Frames are read off the transport's socket in one parse loop per read and written in
// one batch per event-loop turn. The peer's SETTINGS bound the streams the pool puts on the
// connection; flow control runs both ways (a read-disabled stream's window stays closed; a
// request body waits for the server's windows); GOAWAY refuses the streams above its last id,
// which the router retries; a server that breaks the protocol ends the connection with GOAWAY
// and its streams reset as protocol errors (UPE, upstream_cx_protocol_error).
import { HeaderMap } from '../../headers.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import type { ClientConnectionCallbacks, RequestEncoder, ResponseDecoder } from '../types.js';
import type { Http2ClientSettings, Http2PoolConnection } from './client-settings.js';
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  FrameFlag,
  FrameType,
  frameHeader,
  goawayFrame,
  MAX_WINDOW_SIZE,
  rstStreamFrame,
  SettingId,
  settingsFrame,
  windowUpdateFrame,
} from './frame.js';
import { type HeaderListLimits, HpackDecoder, HpackStatus } from './hpack.js';
import { FramedHttp2Connection } from './framed-connection.js';

const EMPTY = Buffer.alloc(0);
/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2), and Host, which `:authority` replaces. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);
/** A request head's pseudo-headers, in the order sent, and each one's value when the head has none. */
const REQUEST_PSEUDO = [':method', ':scheme', ':authority', ':path'];
const REQUEST_PSEUDO_DEFAULTS = ['GET', 'http', '', '/'];
/** An HTTP/1.1 upgrade goes out as an extended CONNECT (RFC 8441), as Envoy's codec sends it. */
const EXTENDED_CONNECT_PSEUDO = [':method', ':protocol', ':scheme', ':authority', ':path'];
const EXTENDED_CONNECT_DEFAULTS = ['CONNECT', '', 'http', '', '/'];
const NO_PSEUDO: readonly string[] = [];
/** Envoy's max_response_headers_kb (60) and max_response_headers_count (100) defaults; pseudo-headers on top. */
const RESPONSE_HEADER_LIMITS: HeaderListLimits = { maxBytes: 60 * 1024, maxFields: 104 };
/** Request body bytes a stream holds behind a closed window before the router stops reading downstream. */
const STREAM_WRITE_BUFFER_LIMIT = 64 * 1024;
/** Socket bytes queued past which request bodies wait for 'drain' (Envoy's per_connection_buffer_limit_bytes). */
const CONNECTION_BUFFER_LIMIT = 1024 * 1024;

/** One upstream stream: its state both ways, and the router's RequestEncoder. */
class UpstreamStream implements RequestEncoder {
  readonly #conn: FramedHttp2ClientConnection;
  readonly decoder: ResponseDecoder;
  /** 0 until the request's HEADERS go out. */
  id = 0;
  sendWindow = 0;
  recvWindow = 0;
  /** Response bytes consumed but not yet given back in a WINDOW_UPDATE. */
  recvUnacked = 0;
  readDisabled = 0;
  /** Request body held behind a closed window. */
  pending: Buffer[] | null = null;
  pendingBytes = 0;
  pendingEnd = false;
  /** The request's trailers, held behind the body that waits on a window. */
  pendingTrailers: HeaderMap | null = null;
  /** encodeData said false: the router waits for onWriteBufferWatermark(false). */
  aboveWatermark = false;
  localClosed = false;
  remoteClosed = false;
  /** The upgrade (lower-case `upgrade` value) sent as an extended CONNECT, else ''. */
  upgrade = '';
  /** Final response headers arrived. */
  responseStarted = false;
  closed = false;

  constructor(conn: FramedHttp2ClientConnection, decoder: ResponseDecoder) {
    this.#conn = conn;
    this.decoder = decoder;
  }

  get transport(): TransportSocket {
    return this.#conn.transport;
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): boolean {
    return this.#conn.sendRequestHeaders(this, headers, endStream);
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (this.closed || this.localClosed) return true;
    this.#conn.sendData(this, data, endStream);
    return !this.aboveWatermark;
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.closed || this.localClosed) return;
    this.#conn.sendTrailers(this, trailers);
  }

  readDisable(disable: boolean): void {
    if (disable) this.readDisabled++;
    else if (this.readDisabled > 0 && --this.readDisabled === 0) this.#conn.reopenWindow(this);
  }

  /** The request is given up: RST_STREAM (CANCEL); the connection's other streams go on. */
  resetStream(): void {
    this.#conn.cancelStream(this);
  }
}

export class FramedHttp2ClientConnection extends FramedHttp2Connection<UpstreamStream> implements Http2PoolConnection {
  readonly protocol = 'HTTP/2' as const;
  readonly transport: TransportSocket;
  readonly #socket: TransportSocket['stream'];
  readonly #callbacks: ClientConnectionCallbacks;
  readonly #decoder = new HpackDecoder();
  readonly #ourMaxStreams: number;
  maxConcurrentStreams: number;
  activeStreams = 0;
  goingAway = false;
  #nextStreamId = 1;
  /** A GOAWAY's last stream id: streams above it were refused unprocessed. */
  #goawayLastId = 2 ** 31 - 1;
  readonly #localInitialWindow: number;
  #connected = false;
  #socketAbove = false;
  #closed = false;

  constructor(transport: TransportSocket, callbacks: ClientConnectionCallbacks, settings: Http2ClientSettings) {
    super(false, transport.stream);
    this.transport = transport;
    this.#socket = transport.stream;
    this.#callbacks = callbacks;
    this.#ourMaxStreams = settings.maxConcurrentStreams;
    // Until the server's SETTINGS say otherwise, as many as we would allow (RFC 9113 §6.5.2: unlimited).
    this.maxConcurrentStreams = settings.maxConcurrentStreams;
    this.#localInitialWindow = Math.min(settings.initialStreamWindowSize, MAX_WINDOW_SIZE);
    this.recvSlack = Math.max(0, DEFAULT_WINDOW_SIZE - this.#localInitialWindow);
    this.#queue(CLIENT_PREFACE);
    this.#queue(
      settingsFrame([
        [SettingId.ENABLE_PUSH, 0],
        [SettingId.INITIAL_WINDOW_SIZE, this.#localInitialWindow],
      ]),
    );
    this.openConnectionWindow(
      Math.min(Math.max(settings.initialConnectionWindowSize, DEFAULT_WINDOW_SIZE), MAX_WINDOW_SIZE),
    );
    const s = this.#socket;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('drain', () => this.#onDrain());
    s.on('end', () => this.destroy());
    s.on('error', () => {
      // 'close' follows.
    });
    s.on('close', () => this.#onClose());
    transport.onConnected(() => {
      this.#connected = true;
      this.flushOut();
    });
  }

  get destroyed(): boolean {
    return this.#closed;
  }

  get hasCapacity(): boolean {
    return !this.goingAway && !this.dead && this.activeStreams < this.maxConcurrentStreams;
  }

  newStream(decoder: ResponseDecoder): RequestEncoder {
    this.activeStreams++;
    return new UpstreamStream(this, decoder);
  }

  close(): void {
    this.goingAway = true;
    if (this.dead) return;
    this.#queue(goawayFrame(0, ErrorCode.NO_ERROR));
    if (this.streams.size === 0) this.endNow();
  }

  destroy(): void {
    this.dead = true;
    this.#socket.destroy();
  }

  // --- writing ---

  sendRequestHeaders(s: UpstreamStream, h: HeaderMap, endStream: boolean): boolean {
    if (this.dead || this.#nextStreamId > this.#goawayLastId || this.#nextStreamId > MAX_WINDOW_SIZE) {
      // The connection went away before the stream started: nothing of it reached the upstream.
      s.closed = true;
      this.activeStreams--;
      queueMicrotask(() => {
        this.#callbacks.onStreamComplete();
        s.decoder.onResetStream('refused_stream');
      });
      return true;
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    s.id = id;
    s.sendWindow = this.peerInitialWindow;
    s.recvWindow = this.#localInitialWindow;
    this.streams.set(id, s);
    const upgrade = h.get('upgrade');
    if (upgrade !== undefined) {
      // Envoy's transformUpgradeRequestFromH1toH2: CONNECT with `:protocol` naming the upgrade;
      // `upgrade` and `connection` stay behind, as for any request. A copy, so the access log
      // still sees the client's method.
      s.upgrade = upgrade.toLowerCase();
      const connect = new HeaderMap();
      connect.names.push(...h.names);
      connect.values.push(...h.values);
      connect.set(':method', 'CONNECT');
      connect.set(':protocol', s.upgrade);
      connect.remove('content-length');
      this.queueHeaderBlock(id, connect, EXTENDED_CONNECT_PSEUDO, EXTENDED_CONNECT_DEFAULTS, NOT_FORWARDED, endStream);
    } else this.queueHeaderBlock(id, h, REQUEST_PSEUDO, REQUEST_PSEUDO_DEFAULTS, NOT_FORWARDED, endStream);
    if (endStream) s.localClosed = true;
    s.aboveWatermark = this.#socketAbove;
    return !s.aboveWatermark;
  }

  /** Writes request body bytes within the server's windows; the rest waits for WINDOW_UPDATE. */
  sendData(s: UpstreamStream, data: Buffer, endStream: boolean): void {
    if (s.pending !== null) {
      if (data.length > 0) {
        s.pending.push(data);
        s.pendingBytes += data.length;
      }
      if (endStream) s.pendingEnd = true;
      this.#checkWatermark(s);
      return;
    }
    const sent = this.#writeData(s, data, endStream);
    if (sent < data.length) {
      s.pending = [sent === 0 ? data : data.subarray(sent)];
      s.pendingBytes = data.length - sent;
      s.pendingEnd = endStream;
      this.blocked.add(s);
    }
    this.#checkWatermark(s);
  }

  /** The request's trailers: a HEADERS block with END_STREAM, after the body still behind a window. */
  sendTrailers(s: UpstreamStream, trailers: HeaderMap): void {
    if (s.pending !== null) {
      s.pendingTrailers = trailers;
      s.pendingEnd = true;
      return;
    }
    this.#writeTrailers(s, trailers);
  }

  #writeTrailers(s: UpstreamStream, t: HeaderMap): void {
    this.queueHeaderBlock(s.id, t, NO_PSEUDO, NO_PSEUDO, NOT_FORWARDED, true);
    s.localClosed = true;
    this.#maybeClose(s);
  }

  /** DATA frames for `data` as far as the windows allow; returns the octets sent. */
  #writeData(s: UpstreamStream, data: Buffer, endStream: boolean): number {
    const total = data.length;
    if (total === 0) {
      if (endStream) {
        this.#queue(frameHeader(0, FrameType.DATA, FrameFlag.END_STREAM, s.id));
        s.localClosed = true;
        this.#maybeClose(s);
      }
      return 0;
    }
    let off = 0;
    while (off < total) {
      const n = Math.min(total - off, this.peerMaxFrameSize, s.sendWindow, this.connSendWindow);
      if (n <= 0) break;
      const last = off + n === total;
      this.#queue(frameHeader(n, FrameType.DATA, last && endStream ? FrameFlag.END_STREAM : 0, s.id));
      this.#queue(off === 0 && last ? data : data.subarray(off, off + n));
      s.sendWindow -= n;
      this.connSendWindow -= n;
      off += n;
    }
    if (off === total && endStream) {
      s.localClosed = true;
      this.#maybeClose(s);
    }
    return off;
  }

  protected sendPending(s: UpstreamStream): void {
    const pending = s.pending!;
    while (pending.length > 0) {
      const chunk = pending[0]!;
      const end = pending.length === 1 && s.pendingEnd && s.pendingTrailers === null;
      const sent = this.#writeData(s, chunk, end);
      s.pendingBytes -= sent;
      if (sent < chunk.length) {
        pending[0] = chunk.subarray(sent);
        this.#checkWatermark(s);
        return;
      }
      pending.shift();
    }
    s.pending = null;
    s.pendingBytes = 0;
    this.blocked.delete(s);
    if (s.pendingTrailers !== null) {
      const t = s.pendingTrailers;
      s.pendingTrailers = null;
      this.#writeTrailers(s, t);
    }
    this.#checkWatermark(s);
  }

  /** Above the stream's limit (or the socket's), the router stops reading the request body. */
  #checkWatermark(s: UpstreamStream): void {
    if (s.closed) return;
    const above = this.#socketAbove || s.pendingBytes > STREAM_WRITE_BUFFER_LIMIT;
    if (above) {
      s.aboveWatermark = true;
      return;
    }
    if (!s.aboveWatermark || s.pendingBytes > STREAM_WRITE_BUFFER_LIMIT / 2) return;
    s.aboveWatermark = false;
    s.decoder.onWriteBufferWatermark(false);
  }

  /** The router reads the response again: the window it held closed reopens. */
  reopenWindow(s: UpstreamStream): void {
    if (s.closed || s.remoteClosed || s.recvUnacked < this.#localInitialWindow / 2) return;
    this.#queue(windowUpdateFrame(s.id, s.recvUnacked));
    s.recvWindow += s.recvUnacked;
    s.recvUnacked = 0;
  }

  cancelStream(s: UpstreamStream): void {
    if (s.closed) return;
    if (s.id !== 0 && !this.dead) this.#queue(rstStreamFrame(s.id, ErrorCode.CANCEL));
    this.#closeStream(s, null);
  }

  #maybeClose(s: UpstreamStream): void {
    if (s.localClosed && s.remoteClosed && !s.closed) this.#closeStream(s, null);
  }

  /**
   * Closes `s`; the router learns of a reset (`refused_stream`/`reset`, or `protocol` for a
   * malformed response) unless its response had ended.
   */
  #closeStream(s: UpstreamStream, reset: 'reset' | 'refused_stream' | 'protocol' | null): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    s.pending = null;
    this.activeStreams--;
    if (reset === 'protocol') s.decoder.onProtocolError();
    else if (reset !== null) s.decoder.onResetStream(reset);
    this.#callbacks.onStreamComplete();
    if (this.goingAway && this.streams.size === 0 && !this.dead) this.endNow();
  }

  #queue(frame: Buffer): void {
    this.enqueueFrame(frame);
    // Before the connection is up the batch waits: connecting writes it.
    if (this.#connected) this.scheduleFlush();
  }

  protected flushOut(): void {
    if (!this.#connected || this.writeQueued() === null) return;
    if (this.#socket.writableLength > CONNECTION_BUFFER_LIMIT) this.#socketAbove = true;
  }

  #onDrain(): void {
    if (!this.#socketAbove) return;
    this.#socketAbove = false;
    for (const st of this.streams.values()) this.#checkWatermark(st);
  }

  // --- reading ---

  /** A frame on a stream id we never opened (even: a server-initiated stream; above ours: not yet opened). */
  protected unopenedStream(id: number): boolean {
    return (id & 1) === 0 || id >= this.#nextStreamId;
  }

  protected onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0 || this.unopenedStream(id)) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const dataEnd = this.unpad(flags, buf, start, end);
    if (dataEnd < 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const length = end - start;
    if (!this.consumeConnectionWindow(length)) return;
    const s = this.streams.get(id);
    // A stream we reset may still have DATA in flight (RFC 9113 §5.1): ignored.
    if (s === undefined) return;
    if (!s.responseStarted || s.remoteClosed) {
      this.streamError(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (length > s.recvWindow + this.recvSlack) {
      this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    s.recvWindow -= length;
    s.recvUnacked += length;
    if (s.readDisabled === 0) this.reopenWindow(s);
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    const dataStart = (flags & FrameFlag.PADDED) === 0 ? start : start + 1;
    if (endStream) s.remoteClosed = true;
    if (dataEnd > dataStart || endStream) {
      s.decoder.decodeData(dataEnd > dataStart ? buf.subarray(dataStart, dataEnd) : EMPTY, endStream);
    }
    if (endStream) this.#maybeClose(s);
  }

  protected onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0 || this.unopenedStream(id)) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const fragment = this.headersFragment(flags, buf, start, end);
    if (fragment === null) return;
    if ((flags & FrameFlag.END_HEADERS) !== 0) this.onHeaderBlock(id, flags, fragment);
    else this.holdHeaderBlock(id, flags, fragment);
  }

  /** A server's header block that never ends: the connection is ended, as Envoy's client does. */
  protected onHeaderBlockFlood(): void {
    this.connectionError(ErrorCode.ENHANCE_YOUR_CALM);
  }

  protected onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    const fields: string[] = [];
    const status = this.#decoder.decode(block, fields, RESPONSE_HEADER_LIMITS);
    if (status === HpackStatus.COMPRESSION_ERROR) {
      this.connectionError(ErrorCode.COMPRESSION_ERROR);
      return;
    }
    const s = this.streams.get(id);
    // A stream we reset: its block is decoded above (the table stays in step) and dropped.
    if (s === undefined) return;
    if (s.remoteClosed) {
      this.streamError(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (status === HpackStatus.OVERFLOW) {
      this.streamError(s, ErrorCode.INTERNAL_ERROR);
      return;
    }
    const headers = new HeaderMap();
    let code = -1;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      if (name.charCodeAt(0) !== 58) {
        headers.add(name, fields[i + 1]!);
        continue;
      }
      // Pseudo-headers: only a response head's `:status`, before any other field (RFC 9113 §8.3).
      if (name !== ':status' || s.responseStarted || headers.size > 0 || code !== -1) {
        this.streamError(s, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      const v = fields[i + 1]!;
      code = v.length === 3 ? Number(v) : Number.NaN;
      if (!(code >= 100 && code <= 999)) {
        this.streamError(s, ErrorCode.PROTOCOL_ERROR);
        return;
      }
    }
    if (s.responseStarted) {
      // Trailers end the response (gRPC's status).
      if (!endStream) {
        this.streamError(s, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      s.remoteClosed = true;
      s.decoder.decodeTrailers(headers);
      this.#maybeClose(s);
      return;
    }
    if (code === -1 || (code < 200 && endStream)) {
      this.streamError(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (code < 200) {
      if (code !== 101) s.decoder.decode1xxHeaders(code, headers);
      return;
    }
    s.responseStarted = true;
    if (endStream) s.remoteClosed = true;
    if (s.upgrade !== '' && code === 200) {
      // Envoy's transformUpgradeResponseFromH2toH1: the tunnel is open, which HTTP/1.1 says as 101.
      code = 101;
      headers.set('upgrade', s.upgrade);
      headers.set('connection', 'upgrade');
    }
    s.decoder.decodeHeaders(code, headers, endStream);
    if (endStream) this.#maybeClose(s);
  }

  protected onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0 || this.unopenedStream(id)) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (end - start !== 4) {
      this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) return;
    const code = buf.readUInt32BE(start);
    // A response that ended before its request: NO_ERROR asks only that the request stop (RFC 9113 §8.1).
    if (s.remoteClosed) {
      this.#closeStream(s, null);
      return;
    }
    this.#closeStream(s, code === ErrorCode.REFUSED_STREAM ? 'refused_stream' : 'reset');
  }

  protected onGoaway(buf: Buffer, start: number): void {
    const lastId = buf.readUInt32BE(start) & 0x7fffffff;
    this.goingAway = true;
    this.#goawayLastId = Math.min(this.#goawayLastId, lastId);
    // Streams above the last id were never processed: the router may retry them elsewhere.
    for (const s of [...this.streams.values()]) if (s.id > lastId) this.#closeStream(s, 'refused_stream');
    if (this.streams.size === 0 && !this.dead) this.endNow();
  }

  protected onPeerMaxConcurrentStreams(value: number): boolean {
    const next = Math.min(this.#ourMaxStreams, value);
    const more = next > this.maxConcurrentStreams;
    this.maxConcurrentStreams = next;
    return more;
  }

  protected onMoreStreamsAllowed(): void {
    // The pool may put its waiting streams on the room the server now allows.
    this.#callbacks.onStreamComplete();
  }

  protected onPriorityFrame(): void {
    // Ignored: a server's priorities mean nothing to us.
  }

  protected queueFrame(frame: Buffer): void {
    this.#queue(frame);
  }

  protected queueControl(frame: Buffer): void {
    this.#queue(frame);
  }

  // --- errors and the connection's end ---

  /** A malformed response (RFC 9113 §8.1.1): RST_STREAM; the stream's a protocol error (UPE), the connection serves on. */
  protected streamError(s: UpstreamStream, code: number): void {
    this.#queue(rstStreamFrame(s.id, code));
    this.#closeStream(s, 'protocol');
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code; every stream ends as a protocol error. */
  protected connectionError(code: number): void {
    if (this.dead) return;
    this.goingAway = true;
    // A client processes no server-initiated stream: the last stream id is 0.
    this.#queue(goawayFrame(0, code));
    this.dead = true;
    this.#callbacks.onProtocolError?.();
    for (const s of [...this.streams.values()]) this.#closeStream(s, 'protocol');
    this.endNow();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dead = true;
    this.goingAway = true;
    // Streams still open when the connection went: reset (UC), never refused, since the
    // upstream may have processed them.
    for (const s of [...this.streams.values()]) this.#closeStream(s, 'reset');
    this.blocked.clear();
    this.#callbacks.onConnectionClose();
  }
}
