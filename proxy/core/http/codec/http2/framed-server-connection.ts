// The HTTP/2 server codec of our own (Envoy's oghttp2 counterpart to the nghttp2 one in
// server-connection.ts, chosen by the same runtime key): frames are read straight off the
// transport's socket in one parse loop per read and written in one batch per event-loop turn,
// with HPACK (hpack.ts) and flow control both ways kept here. An HTTP/2 stream is a small
// object (no Node stream, no per-stream closure) that is both the connection manager's
// ResponseEncoder and the codec's stream state. Every connection and stream error answers with
// the code RFC 9113 gives it, and the abuse limits of protocol-constraints.ts are kept as
// Envoy keeps them, each bumping its counter.
import type { HeaderMap } from '../../headers.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  FRAME_HEADER_SIZE,
  FrameFlag,
  FrameType,
  frameHeader,
  goawayFrame,
  rstStreamFrame,
  SettingId,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frame.js';
import { type HeaderListLimits, HpackDecoder, HpackStatus } from './hpack.js';
import {
  type Http2CodecStats,
  PREMATURE_RESET_MIN_STREAM_LIFETIME_MS,
  ProtocolConstraints,
} from './protocol-constraints.js';
import type { Http2Settings } from './server-connection.js';
import type { ServerConnection, ServerConnectionCallbacks } from '../types.js';
import { FramedHttp2Connection } from './framed-connection.js';
import { CONNECTION_SPECIFIC, requestHeaderMap, trailerMap } from './request-headers.js';
import { Http2Stream, type StreamOwner } from './server-stream.js';

const EMPTY = Buffer.alloc(0);
/** Envoy's max_outbound_control_frames default: SETTINGS/PING ACKs and RST_STREAMs a peer that does not read may have queued. */
const DEFAULT_MAX_OUTBOUND_CONTROL_FRAMES = 1000;
/** Envoy's max_outbound_frames default: frames of every type a peer that does not read may have queued. */
const DEFAULT_MAX_OUTBOUND_FRAMES = 10000;
/** Bytes a stream may hold behind a closed window before it asks the filter chain to stop. */
const STREAM_WRITE_BUFFER_LIMIT = 64 * 1024;
// Streams' held bytes also count together against the connection's buffer limit (Envoy keeps
// per-stream limits only, sized by the window): a client that opens many streams and no window
// (the zero-window stall) would otherwise make the proxy hold max_concurrent_streams × the
// stream limit, plus the read each paused upstream was in. Past the limit every stream of the
// connection is told to stop, so responses not yet read stay in the upstreams' sockets.
/** Envoy's default per_connection_buffer_limit_bytes. */
const DEFAULT_CONNECTION_BUFFER_LIMIT = 1024 * 1024;
/** Response headers HTTP/2 forbids (RFC 9113 §8.2.2), which an HTTP/1 upstream may send. */
const RESPONSE_DROPPED = new Set([...CONNECTION_SPECIFIC, 'http2-settings']);
/** A response head's pseudo-header and its value when the head has none; trailers have none. */
const STATUS = [':status'];
const STATUS_DEFAULT = ['200'];
const NO_PSEUDO: readonly string[] = [];

/** Each shared payload's DATA frame (END_STREAM unset) per stream id; most ADS streams are their connection's stream 1. */
const sharedFrames = new WeakMap<Buffer, Map<number, Buffer>>();

function sharedDataFrame(data: Buffer, id: number): Buffer {
  let byId = sharedFrames.get(data);
  if (byId === undefined) sharedFrames.set(data, (byId = new Map()));
  let frame = byId.get(id);
  if (frame === undefined) {
    frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + data.length);
    writeFrameHeader(frame, 0, data.length, FrameType.DATA, 0, id);
    data.copy(frame, FRAME_HEADER_SIZE);
    byId.set(id, frame);
  }
  return frame;
}

export class FramedHttp2ServerConnection
  extends FramedHttp2Connection<Http2Stream>
  implements ServerConnection, StreamOwner
{
  readonly protocol = 'HTTP/2' as const;
  readonly transport: TransportSocket;
  readonly #socket: TransportSocket['stream'];
  readonly #callbacks: ServerConnectionCallbacks;
  readonly #settings: Http2Settings;
  readonly #stats: Http2CodecStats;
  readonly #constraints: ProtocolConstraints;
  readonly #decoder = new HpackDecoder();
  readonly #limits: HeaderListLimits;
  /** Finished responses still behind a window, watched against the stream idle timeout. */
  readonly #stalled = new Set<Http2Stream>();
  #stallTimer: NodeJS.Timeout | null = null;
  #activeStreams = 0;
  /** The highest client stream id seen: lower ids not in #streams are closed. */
  #lastStreamId = 0;
  readonly #connectionBufferLimit: number;
  #consecutiveEmpty = 0;
  // Flow control, ours for what the client sends (its windows for what we send are the base's).
  readonly #localInitialWindow: number;
  // Output: frames queued this turn, written in one batch.
  #controlQueued = 0;
  /** Frames of every type queued since the socket last kept up, against #maxOutboundFrames. */
  #framesQueued = 0;
  readonly #maxOutboundFrames: number;
  readonly #maxOutboundControlFrames: number;
  /** The socket or the streams' held bytes are above the connection's limit (what streams see). */
  aboveWatermark = false;
  #socketAbove = false;
  /** Bytes all streams hold behind closed windows, and whether that passed the limit (until half of it). */
  #pendingTotal = 0;
  #pendingAbove = false;
  #goawaySent = false;
  #closed = false;

  constructor(
    transport: TransportSocket,
    callbacks: ServerConnectionCallbacks,
    settings: Http2Settings,
    stats: Http2CodecStats,
  ) {
    // The client's connection preface comes first (RFC 9113 §3.4).
    super(true, transport.stream);
    this.transport = transport;
    this.#socket = transport.stream;
    this.#callbacks = callbacks;
    this.#settings = settings;
    this.#stats = stats;
    this.#constraints = new ProtocolConstraints(settings.maxInboundPriorityFramesPerStream);
    // Envoy's limits, which a client may ignore in our SETTINGS (pseudo-headers count as fields
    // for the list but not for max_headers_count, hence the four more).
    this.#limits = { maxBytes: settings.maxRequestHeadersBytes, maxFields: settings.maxHeadersCount + 4 };
    this.maxHeaderBlockBytes = 2 * settings.maxRequestHeadersBytes + DEFAULT_MAX_FRAME_SIZE;
    this.copyHeaderFragments = true;
    this.#connectionBufferLimit = settings.connectionBufferLimitBytes ?? DEFAULT_CONNECTION_BUFFER_LIMIT;
    this.#maxOutboundFrames = settings.maxOutboundFrames ?? DEFAULT_MAX_OUTBOUND_FRAMES;
    this.#maxOutboundControlFrames = settings.maxOutboundControlFrames ?? DEFAULT_MAX_OUTBOUND_CONTROL_FRAMES;
    this.#localInitialWindow = settings.initialStreamWindowSize;
    this.recvSlack = Math.max(0, DEFAULT_WINDOW_SIZE - settings.initialStreamWindowSize);
    const entries: Array<[number, number]> = [
      [SettingId.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
      [SettingId.INITIAL_WINDOW_SIZE, settings.initialStreamWindowSize],
      [SettingId.MAX_HEADER_LIST_SIZE, settings.maxRequestHeadersBytes + 32 * (settings.maxHeadersCount + 4)],
    ];
    if (settings.allowConnect === true) entries.push([SettingId.ENABLE_CONNECT_PROTOCOL, 1]);
    this.#queue(settingsFrame(entries), false);
    this.openConnectionWindow(Math.max(settings.initialConnectionWindowSize, DEFAULT_WINDOW_SIZE));
    const s = this.#socket;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      this.#callbacks.onRead(chunk.length);
      this.onData(chunk);
    });
    // Bytes the socket already holds come as `data` above; with decoders that consume each DATA
    // chunk within the call, later reads come straight from the handle into the transport's
    // shared buffer: no Buffer per read, no readable-stream push, `data` and nextTick.
    if (settings.decodersCopyData === true)
      transport.readWith?.((view) => {
        this.#callbacks.onRead(view.length);
        this.onData(view, true);
      });
    s.on('drain', () => this.#onDrain());
    // HTTP/2 has no half-closed connection: a client's FIN means it is gone (Envoy's remote close).
    s.on('end', () => this.destroy());
    s.on('error', () => {
      // 'close' follows.
    });
    s.on('close', () => this.#onClose());
    s.resume();
  }

  get idle(): boolean {
    return this.#activeStreams === 0;
  }

  readDisable(_disable: boolean): void {
    // Streams are read-disabled one by one (their windows stay closed); the connection reads on.
  }

  /** Drain: GOAWAY with the last stream id; streams already open finish, no new one starts. */
  shutdownNotice(): void {
    if (this.#goawaySent || this.#closed) return;
    this.#sendGoaway(ErrorCode.NO_ERROR);
    if (this.#activeStreams === 0) this.#endSoon();
  }

  onStreamComplete(): boolean {
    return false;
  }

  sendProtocolError(_status: number, _details: string, _responseFlag: number): void {
    // The connection manager counted it; HTTP/2 has no stream to answer a connection's error on.
    if (this.dead) return;
    this.#sendGoaway(ErrorCode.PROTOCOL_ERROR);
    this.endNow();
  }

  close(): void {
    this.shutdownNotice();
    if (this.#activeStreams === 0) this.#endSoon();
  }

  destroy(): void {
    this.dead = true;
    this.#socket.destroy();
  }

  // --- reading ---

  protected onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const length = end - start;
    const s = this.streams.get(id);
    if (s === undefined && id > this.#lastStreamId) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const dataEnd = this.unpad(flags, buf, start, end);
    if (dataEnd < 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    // The connection's window takes every DATA frame, whatever its stream's state.
    if (!this.consumeConnectionWindow(length)) return;
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    if (length === 0 && !endStream) {
      if (++this.#consecutiveEmpty > this.#settings.maxConsecutiveInboundFramesWithEmptyPayload) {
        this.#stats.inbound_empty_frames_flood.inc();
        this.#terminate();
        return;
      }
    } else this.#consecutiveEmpty = 0;
    // A closed stream's DATA is ignored (RFC 9113 §5.1): after a response that ended before its
    // request (RST_STREAM NO_ERROR) a client may have a window's worth in flight, and a reset
    // for each frame would count as a control-frame flood. Half-closed (remote) is the peer's error.
    if (s === undefined) return;
    if (s.remoteClosed) {
      this.streamError(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (length > s.recvWindow + this.recvSlack) {
      this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    s.recvWindow -= length;
    const dataStart = (flags & FrameFlag.PADDED) === 0 ? start : start + 1;
    const n = dataEnd - dataStart;
    s.received += n;
    if (s.contentLength >= 0 && (s.received > s.contentLength || (endStream && s.received !== s.contentLength))) {
      this.streamError(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    // Padding is consumed at once; the body when the stream reads on (a read-disabled stream's
    // window stays closed, so a slow upstream never makes the proxy buffer without bound).
    s.recvUnacked += length;
    if (s.readDisabled === 0) this.#maybeReopen(s);
    if (endStream) s.remoteClosed = true;
    if (s.responseComplete) {
      if (endStream) this.#maybeClose(s);
      return;
    }
    if (n > 0 || endStream) s.decoder!.decodeData(n > 0 ? buf.subarray(dataStart, dataEnd) : EMPTY, endStream);
    if (endStream) this.#maybeClose(s);
  }

  #maybeReopen(s: Http2Stream): void {
    if (s.recvUnacked < this.#localInitialWindow / 2 || s.remoteClosed) return;
    this.#queue(windowUpdateFrame(s.id, s.recvUnacked), false);
    s.recvWindow += s.recvUnacked;
    s.recvUnacked = 0;
  }

  /** A stream's reading resumed: the window it held closed reopens. */
  reopenWindow(s: Http2Stream): void {
    this.#maybeReopen(s);
  }

  protected onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const fragment = this.headersFragment(flags, buf, start, end);
    if (fragment === null) return;
    if (fragment.length > 0) this.#consecutiveEmpty = 0;
    if ((flags & FrameFlag.END_HEADERS) !== 0) this.onHeaderBlock(id, flags, fragment);
    else this.holdHeaderBlock(id, flags, fragment);
  }

  /** A header block that never ends (CVE-2024-27316): counted, and the connection ends. */
  protected onHeaderBlockFlood(): void {
    this.#stats.header_overflow.inc();
    this.#terminate();
  }

  protected onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    const fields: string[] = [];
    const status = this.#decoder.decode(block, fields, this.#limits);
    if (status === HpackStatus.COMPRESSION_ERROR) {
      this.connectionError(ErrorCode.COMPRESSION_ERROR);
      return;
    }
    const s = this.streams.get(id);
    if (s !== undefined) {
      this.#onTrailers(s, endStream, fields, status);
      return;
    }
    if (id <= this.#lastStreamId) {
      // A closed stream (its HPACK block is decoded above, the table stays in step): trailers
      // that crossed our RST_STREAM, or an id reused. Only that stream is refused.
      if ((id & 1) === 0) this.connectionError(ErrorCode.PROTOCOL_ERROR);
      else this.#queue(rstStreamFrame(id, ErrorCode.STREAM_CLOSED), true);
      return;
    }
    if ((id & 1) === 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    this.#lastStreamId = id;
    // After our GOAWAY no stream starts; the client learns from it which ones to retry.
    if (this.#goawaySent) return;
    if (status === HpackStatus.OVERFLOW) {
      this.#stats.header_overflow.inc();
      this.#queue(rstStreamFrame(id, ErrorCode.INTERNAL_ERROR), true);
      return;
    }
    if (this.#activeStreams >= this.#settings.maxConcurrentStreams) {
      this.#queue(rstStreamFrame(id, ErrorCode.REFUSED_STREAM), true);
      return;
    }
    const s2 = new Http2Stream(id, this, this.#localInitialWindow, this.peerInitialWindow);
    const headers = requestHeaderMap(fields, this.transport.scheme, s2, this.#settings.allowConnect);
    if (headers === null) {
      this.#stats.rx_messaging_error.inc();
      this.#queue(rstStreamFrame(id, ErrorCode.PROTOCOL_ERROR), true);
      return;
    }
    if (endStream && s2.contentLength > 0) {
      this.#stats.rx_messaging_error.inc();
      this.#queue(rstStreamFrame(id, ErrorCode.PROTOCOL_ERROR), true);
      return;
    }
    this.streams.set(id, s2);
    this.#activeStreams++;
    this.#constraints.onStreamOpened();
    s2.remoteClosed = endStream;
    s2.decoder = this.#callbacks.newStream(s2);
    s2.decoder.decodeHeaders(headers, endStream);
    // A stream that opens while the connection is backed up starts paused (its router has just
    // asked for a response, which then waits in the upstream).
    if (this.aboveWatermark && !s2.closed) this.#notifyWatermark(s2);
  }

  #onTrailers(s: Http2Stream, endStream: boolean, fields: string[], status: HpackStatus): void {
    if (s.remoteClosed) {
      this.streamError(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (!endStream || status !== HpackStatus.OK) {
      this.streamError(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i]!.charCodeAt(0) === 58) {
        this.streamError(s, ErrorCode.PROTOCOL_ERROR);
        return;
      }
    }
    const trailers = trailerMap(fields);
    if (trailers === null || (s.contentLength >= 0 && s.received !== s.contentLength)) {
      this.streamError(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.remoteClosed = true;
    if (!s.responseComplete) {
      const d = s.decoder!;
      if (d.decodeTrailers !== undefined) d.decodeTrailers(trailers);
      else d.decodeData(EMPTY, true);
    }
    this.#maybeClose(s);
  }

  /** A client never pushes to us (RFC 9113 §8.4): the stream limit it sets us is moot. */
  protected onPeerMaxConcurrentStreams(_value: number): boolean {
    return false;
  }

  protected onMoreStreamsAllowed(): void {}

  /** A stream id above every one the client opened. */
  protected unopenedStream(id: number): boolean {
    return id > this.#lastStreamId;
  }

  protected onPriorityFrame(): void {
    // Ignored, but bounded as Envoy bounds it.
    if (this.#constraints.onPriorityFrame() && !this.#goawaySent) {
      this.#stats.inbound_priority_frames_flood.inc();
      this.#terminate();
    }
  }

  protected onGoaway(_buf: Buffer, _start: number): void {
    // A client's GOAWAY changes nothing here: it opens no more streams, and the ones it has run on.
  }

  protected queueFrame(frame: Buffer): void {
    this.#queue(frame, false);
  }

  protected queueControl(frame: Buffer): void {
    this.#queue(frame, true);
  }

  protected onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (end - start !== 4) {
      this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.#lastStreamId) this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.rstCode = buf.readUInt32BE(start);
    this.#closeStream(s);
  }

  // --- writing ---

  /** Writes a HEADERS frame (response head, interim head or trailers) for `s`. */
  sendHeaders(s: Http2Stream, headers: HeaderMap, endStream: boolean, trailers: boolean): void {
    this.queueHeaderBlock(s.id, headers, trailers ? NO_PSEUDO : STATUS, STATUS_DEFAULT, RESPONSE_DROPPED, endStream);
    if (endStream) this.#onLocalEnd(s);
  }

  sendTrailers(s: Http2Stream, trailers: HeaderMap): void {
    if (s.pending !== null) {
      s.pendingTrailers = trailers;
      s.pendingEnd = true;
      return;
    }
    this.sendHeaders(s, trailers, true, true);
  }

  /** Writes body bytes within the peer's windows; the rest waits for WINDOW_UPDATE. */
  sendData(s: Http2Stream, data: Buffer, endStream: boolean): void {
    if (s.pending !== null) {
      if (data.length > 0) {
        s.pending.push(data);
        s.pendingBytes += data.length;
        this.#addPending(data.length);
      }
      if (endStream) s.pendingEnd = true;
      this.#checkStreamWatermark(s);
      return;
    }
    const sent = this.#writeData(s, data, 0, endStream);
    if (sent < data.length) {
      s.pending = [sent === 0 ? data : data.subarray(sent)];
      s.pendingBytes = data.length - sent;
      s.pendingEnd = endStream;
      this.blocked.add(s);
      this.#addPending(s.pendingBytes);
      this.#checkStreamWatermark(s);
    }
  }

  /**
   * Like sendData(s, data, false) for a payload many streams are sent alike (an xDS push after a
   * mesh edit): when it fits one frame and the windows, its DATA frame (header and payload in one
   * buffer) is built once per stream id and queued as is, so a fan-out to a thousand streams
   * neither allocates a header nor joins it to the payload per stream. Anything else frames it
   * as sendData does. The payload must not change once sent.
   */
  sendSharedData(s: Http2Stream, data: Buffer): void {
    const n = data.length;
    if (s.pending !== null || n === 0 || n > this.peerMaxFrameSize || n > s.sendWindow || n > this.connSendWindow) {
      this.sendData(s, data, false);
      return;
    }
    this.#queue(sharedDataFrame(data, s.id), false);
    s.sendWindow -= n;
    this.connSendWindow -= n;
  }

  /** DATA frames for `data[from..]` as far as the windows allow; returns the offset reached. */
  #writeData(s: Http2Stream, data: Buffer, from: number, endStream: boolean): number {
    const total = data.length;
    if (from === total) {
      if (endStream) {
        this.#queue(frameHeader(0, FrameType.DATA, FrameFlag.END_STREAM, s.id), false);
        this.#onLocalEnd(s);
      }
      return total;
    }
    let off = from;
    while (off < total) {
      const n = Math.min(total - off, this.peerMaxFrameSize, s.sendWindow, this.connSendWindow);
      if (n <= 0) break;
      const last = off + n === total;
      const flags = last && endStream ? FrameFlag.END_STREAM : 0;
      this.#queue(frameHeader(n, FrameType.DATA, flags, s.id), false);
      // The payload of the DATA frame whose header was just queued: no frame of its own.
      this.#queue(off === 0 && last ? data : data.subarray(off, off + n), false, 0);
      s.sendWindow -= n;
      this.connSendWindow -= n;
      off += n;
    }
    if (off === total && endStream) this.#onLocalEnd(s);
    return off;
  }

  /** Sends what `s` holds as far as the windows allow. */
  protected sendPending(s: Http2Stream): void {
    const pending = s.pending!;
    while (pending.length > 0) {
      const chunk = pending[0]!;
      const last = pending.length === 1;
      const end = last && s.pendingEnd && s.pendingTrailers === null;
      const sent = this.#writeData(s, chunk, 0, end);
      s.pendingBytes -= sent;
      this.#addPending(-sent);
      if (sent < chunk.length) {
        pending[0] = chunk.subarray(sent);
        this.#checkStreamWatermark(s);
        return;
      }
      pending.shift();
    }
    s.pending = null;
    this.blocked.delete(s);
    this.#stalled.delete(s);
    if (s.pendingTrailers !== null) {
      const t = s.pendingTrailers;
      s.pendingTrailers = null;
      this.sendHeaders(s, t, true, true);
    } else if (s.pendingEnd && !s.localClosed) {
      this.#writeData(s, EMPTY, 0, true);
    }
    this.#checkStreamWatermark(s);
    if (s.resetAfterFlush && !s.closed) this.resetStream(s, ErrorCode.NO_ERROR, false);
  }

  #checkStreamWatermark(s: Http2Stream): void {
    const above = s.pendingBytes > STREAM_WRITE_BUFFER_LIMIT;
    if (above === s.aboveWatermark) return;
    if (!above && s.pendingBytes > STREAM_WRITE_BUFFER_LIMIT / 2) return;
    s.aboveWatermark = above;
    this.#notifyWatermark(s);
  }

  /** Adds `delta` to the bytes the connection's streams hold; past the buffer limit they all stop, below half they resume. */
  #addPending(delta: number): void {
    const total = (this.#pendingTotal += delta);
    const limit = this.#connectionBufferLimit;
    if (this.#pendingAbove ? total > limit / 2 : total <= limit) return;
    this.#pendingAbove = !this.#pendingAbove;
    this.#setAbove(this.#socketAbove || this.#pendingAbove);
  }

  #setAbove(above: boolean): void {
    if (above === this.aboveWatermark) return;
    this.aboveWatermark = above;
    for (const st of this.streams.values()) this.#notifyWatermark(st);
  }

  /** Tells the stream's filter chain when its own buffer or the connection's is above its limit, or both went below. */
  #notifyWatermark(s: Http2Stream): void {
    const above = s.aboveWatermark || this.aboveWatermark;
    if (above === s.notifiedAbove || s.responseComplete) return;
    s.notifiedAbove = above;
    s.decoder?.onWriteBufferWatermark(above);
  }

  /** END_STREAM went out on `s`. */
  #onLocalEnd(s: Http2Stream): void {
    s.localClosed = true;
    this.#maybeClose(s);
  }

  #maybeClose(s: Http2Stream): void {
    if (s.localClosed && s.remoteClosed && !s.closed) this.#closeStream(s);
  }

  /**
   * Resets `s` (RST_STREAM with `code`) and closes it; `local` counts it as the proxy's reset.
   * NO_ERROR (the response ended before the request: the rest of it is refused) is not a control
   * frame for the flood limit: it answers a request the client made, once per stream, after the
   * response it follows, where the limit is for ACKs of PINGs and SETTINGS a client does not read
   * (CVE-2019-9512/9515). A backlog of a thousand requests answered locally in one read (no
   * route, an overflowing circuit breaker) would otherwise end the connection and every call on it.
   */
  resetStream(s: Http2Stream, code: number, local: boolean): void {
    if (s.closed) return;
    if (local) {
      s.localReset = true;
      this.#stats.tx_reset.inc();
    }
    this.#queue(rstStreamFrame(s.id, code), code !== ErrorCode.NO_ERROR);
    this.#closeStream(s);
  }

  /** A stream error (RFC 9113 §5.4.2): RST_STREAM with the code; the peer's fault. */
  protected streamError(s: Http2Stream, code: number): void {
    this.#stats.rx_messaging_error.inc();
    s.localReset = true;
    this.#queue(rstStreamFrame(s.id, code), true);
    this.#closeStream(s);
  }

  #closeStream(s: Http2Stream): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.#stalled.delete(s);
    s.pending = null;
    if (s.pendingBytes > 0) {
      const held = s.pendingBytes;
      s.pendingBytes = 0;
      this.#addPending(-held);
    }
    this.#activeStreams--;
    const unfinished = !s.remoteClosed || !s.responseComplete;
    const rxReset = !s.localReset && s.rstCode !== ErrorCode.NO_ERROR;
    if (rxReset) this.#stats.rx_reset.inc();
    // The connection manager is done with a stream once its response ended; before, it learns
    // of the reset (synchronously: every caller is the read loop or the manager's own reset).
    if (!s.responseComplete) s.decoder!.onResetStream();
    const premature = rxReset && unfinished && performance.now() - s.openedAt < PREMATURE_RESET_MIN_STREAM_LIFETIME_MS;
    if (this.#constraints.onStreamClosed(premature) && !this.dead) {
      this.#stats.downstream_rq_too_many_premature_resets.inc();
      this.#terminate();
      return;
    }
    if (this.#goawaySent && this.#activeStreams === 0) this.#endSoon();
  }

  /**
   * Queues `frames` frames (a whole frame, or a DATA header and then its payload as 0) for this
   * turn's batch; `control` counts it against the outbound control flood limit too.
   */
  #queue(frame: Buffer, control: boolean, frames = 1): void {
    this.enqueueFrame(frame);
    if (control && ++this.#controlQueued > this.#maxOutboundControlFrames && !this.dead) {
      // A peer that sends PINGs or SETTINGS but never reads their ACKs (CVE-2019-9512/9515).
      this.#stats.outbound_control_flood.inc();
      this.discardQueued();
      this.#terminate();
      return;
    }
    if ((this.#framesQueued += frames) > this.#maxOutboundFrames && !this.dead) {
      // A peer that opens streams but never reads their responses (CVE-2019-9511 and kin): the
      // buffer watermarks bound the bytes held, this bounds the frames, however small.
      this.#stats.outbound_flood.inc();
      this.discardQueued();
      // Nothing is queued now but the GOAWAY #terminate() sends.
      this.#framesQueued = 0;
      this.#terminate();
      return;
    }
    this.scheduleFlush();
  }

  protected flushOut(): void {
    const bytes = this.queuedBytes;
    const ok = this.writeQueued();
    if (ok === null) return;
    const s = this.#socket;
    // Control frames count as queued while the socket holds more than a batch: a peer that
    // reads keeps it near empty. Node's own write() says false past 16 KiB, which a single
    // large batch exceeds at once; the streams are told to stop only past the connection's
    // buffer limit, so a fast reader does not pause and resume every upstream each turn.
    const held = s.writableLength;
    if (ok || held <= bytes) {
      this.#controlQueued = 0;
      this.#framesQueued = 0;
    }
    if (held > this.#connectionBufferLimit && !this.#socketAbove) {
      this.#socketAbove = true;
      this.#setAbove(true);
    }
  }

  #onDrain(): void {
    this.#controlQueued = 0;
    this.#framesQueued = 0;
    if (!this.#socketAbove) return;
    this.#socketAbove = false;
    this.#setAbove(this.#pendingAbove);
  }

  // --- the connection's end ---

  #sendGoaway(code: number): void {
    this.#goawaySent = true;
    this.#stats.goaway_sent.inc();
    this.#queue(goawayFrame(this.#lastStreamId, code), false);
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then close. */
  protected connectionError(code: number): void {
    if (this.dead) return;
    this.#stats.rx_messaging_error.inc();
    this.#callbacks.onCodecError({ status: 400, details: 'http2.protocol_error' });
    this.#sendGoaway(code);
    this.endNow();
  }

  /** An attack: GOAWAY ENHANCE_YOUR_CALM, then the connection closes with its streams. */
  #terminate(): void {
    if (this.dead) return;
    this.#sendGoaway(ErrorCode.ENHANCE_YOUR_CALM);
    this.endNow();
    // As Envoy's connection manager does on a flood, every stream is reset at cut-off, so their
    // upstream requests and the bytes held for this peer go now, not once the socket's close grace
    // ends (a peer that does not read holds it the whole second). On the next turn: a flood found
    // while a filter chain is writing must not reset that chain under it.
    setImmediate(() => {
      for (const st of [...this.streams.values()]) {
        st.localReset = true;
        this.#closeStream(st);
      }
    });
  }

  /** The last stream after a GOAWAY finished: the connection closes once its frames are out. */
  #endSoon(): void {
    if (this.#closed) return;
    setImmediate(() => {
      if (this.#closed || this.#activeStreams > 0) return;
      this.endNow();
    });
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dead = true;
    if (this.#stallTimer !== null) clearInterval(this.#stallTimer);
    this.#stallTimer = null;
    for (const s of this.streams.values()) {
      s.closed = true;
      // Bytes that waited on the peer's windows: nothing will send them now.
      s.pending = null;
      s.pendingBytes = 0;
    }
    this.streams.clear();
    this.blocked.clear();
    this.#stalled.clear();
    this.#activeStreams = 0;
    this.#pendingTotal = 0;
    this.#callbacks.onConnectionClose();
  }

  /**
   * The connection manager is done with a stream once its response ended, but the response's last
   * bytes may wait on a window the client never opens (a local reply to a zero-window client). As
   * in Envoy, the stream idle timeout still applies: a finished response whose held bytes have
   * not moved for that long is reset. One timer per connection, running only while one waits.
   */
  watchStalled(s: Http2Stream): void {
    const idleMs = this.#settings.streamIdleTimeoutMs;
    if (idleMs <= 0) return;
    s.unsent = s.pendingBytes;
    s.unsentSince = performance.now();
    this.#stalled.add(s);
    if (this.#stallTimer === null) {
      this.#stallTimer = setInterval(() => this.#sweepStalled(), Math.min(idleMs, 1000));
      this.#stallTimer.unref();
    }
  }

  #sweepStalled(): void {
    const now = performance.now();
    const idleMs = this.#settings.streamIdleTimeoutMs;
    for (const s of this.#stalled) {
      if (s.closed || s.pending === null) {
        this.#stalled.delete(s);
        continue;
      }
      if (s.pendingBytes !== s.unsent) {
        s.unsent = s.pendingBytes;
        s.unsentSince = now;
      } else if (now - s.unsentSince >= idleMs) {
        this.#stalled.delete(s);
        this.resetStream(s, ErrorCode.INTERNAL_ERROR, true);
      }
    }
    if (this.#stalled.size === 0 && this.#stallTimer !== null) {
      clearInterval(this.#stallTimer);
      this.#stallTimer = null;
    }
  }
}
