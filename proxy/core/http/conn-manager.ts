// Envoy's HTTP connection manager (HCM) as a network filter: HttpConnectionManager is built once
// per listener filter chain per worker; each downstream connection gets an HcmConnection, which
// owns the connection's server codec (HTTP/1.1, or HTTP/2 by codec_type or, under AUTO, by the
// client's preface) and creates one ActiveStream (active-stream.ts) per request; an HTTP/2
// connection's streams run through Http2Streams, so the HTTP/1 path keeps its single stream. Connection stats,
// idle / request-header timeouts and draining live here; framing is the codec's alone.
import { performance } from 'node:perf_hooks';
import type { TransportSocket } from '../network/transport-socket.js';
import { Http1ServerConnection } from './codec/http1/server-connection.js';
import { PrefaceDetector } from './codec/preface-detector.js';
import { PendingCodec } from './codec/pending-codec.js';
import { type Http2ServerCodec, http2ServerCodec, preloadHttp2ServerCodec } from './codec/http2/codec-factory.js';
import type {
  CodecError,
  RequestDecoder,
  ResponseEncoder,
  ServerConnection,
  ServerConnectionCallbacks,
} from './codec/types.js';
import type { StreamFilterFactory } from './filter.js';
import type { HcmStats } from './hcm-stats.js';
import type { ConnectionManagerConfig, HcmSettings } from './conn-manager-config.js';
import { ActiveStream, type StreamConnection } from './active-stream.js';
import type { RouteTable } from '../router/route-table.js';
import type { AccessLogger, DownstreamConnection, ListenerInfo, NetworkFilter, Tracer } from '../extension-points.js';
import type { Gauge } from '../../stats/types.js';

export type { HcmSettings } from './conn-manager-config.js';

/** One HCM per listener filter chain per worker; immutable after construction but for the route table RDS replaces. */
export class HttpConnectionManager implements NetworkFilter, ConnectionManagerConfig {
  readonly settings: HcmSettings;
  readonly stats: HcmStats;
  /** Replaced whole by RDS updates; a stream keeps the table it was routed with. */
  routeTable: RouteTable;
  readonly filterFactories: readonly StreamFilterFactory[];
  readonly accessLoggers: readonly AccessLogger[];
  readonly tracer: Tracer | null;
  readonly #connections = new Set<HcmConnection>();
  #sweeper: NodeJS.Timeout | null = null;

  constructor(
    settings: HcmSettings,
    stats: HcmStats,
    routeTable: RouteTable,
    filterFactories: readonly StreamFilterFactory[],
    accessLoggers: readonly AccessLogger[],
    tracer: Tracer | null,
  ) {
    this.settings = settings;
    this.stats = stats;
    this.routeTable = routeTable;
    this.filterFactories = filterFactories;
    this.accessLoggers = accessLoggers;
    this.tracer = tracer;
    // Every connection of an HTTP/2-only HCM needs the codec: load it with the configuration.
    if (settings.codecType === 'HTTP2') preloadHttp2ServerCodec(settings.http2);
  }

  /**
   * The HCM's entry point (a network filter's onNewConnection): `transport` is the accepted
   * connection behind its filter chain's transport socket. Builds the connection's codec.
   */
  onNewConnection(transport: TransportSocket, listener: ListenerInfo): DownstreamConnection {
    const conn = new HcmConnection(this, transport, listener);
    this.#connections.add(conn);
    const s = this.settings;
    const timeouts = [
      s.idleTimeoutMs,
      s.requestHeadersTimeoutMs,
      s.streamIdleTimeoutMs,
      s.requestTimeoutMs,
      this.routeTable.minRouteIdleTimeoutMs,
    ];
    if (this.#sweeper === null && timeouts.some((x) => x > 0)) {
      // One coarse timer per HCM instead of timers per connection or stream: idle, header,
      // stream-idle and request timeouts are checked by sweeping (resolution: a quarter of the
      // shortest timeout, max 1s).
      const shortest = Math.min(...timeouts.filter((x) => x > 0));
      this.#sweeper = setInterval(() => this.#sweep(), Math.max(10, Math.min(1000, shortest / 4)));
      this.#sweeper.unref();
    }
    return conn;
  }

  onConnectionClosed(conn: HcmConnection): void {
    this.#connections.delete(conn);
    if (this.#connections.size === 0 && this.#sweeper !== null) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const c of this.#connections) c.checkTimeouts(now);
  }
}

/**
 * One downstream connection of an HCM (Envoy's per-connection ConnectionManagerImpl): connection
 * stats, idle/header/drain handling, and the codec that frames its streams.
 */
export class HcmConnection implements ServerConnectionCallbacks, DownstreamConnection, StreamConnection {
  readonly hcm: HttpConnectionManager;
  readonly transport: TransportSocket;
  readonly listener: ListenerInfo;
  /** A PrefaceDetector until an AUTO connection's first bytes tell its protocol. */
  codec: ServerConnection;
  /** The HTTP/2 connection's streams; null over HTTP/1. */
  #h2: Http2Streams | null = null;
  /** downstream_cx_http1_active or downstream_cx_http2_active, once the protocol is known. */
  #protocolActive: Gauge | null = null;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  stream: ActiveStream | null = null;
  #draining = false;
  #closed = false;
  /** performance.now() when the connection went idle; -1 while a stream is active. */
  #idleSince: number;
  /** performance.now() when the current request's first byte arrived; -1 when not in a head. */
  #headStart = -1;
  readonly #closeCallbacks: Array<() => void> = [];
  /** Set when the proxy (not the client) closed the connection, for destroy_local/remote. */
  closedLocally = false;

  constructor(hcm: HttpConnectionManager, transport: TransportSocket, listener: ListenerInfo) {
    this.hcm = hcm;
    this.transport = transport;
    this.listener = listener;
    this.remoteAddress = transport.remoteAddress;
    this.remotePort = transport.remotePort;
    this.localAddress = transport.localAddress;
    this.localPort = transport.localPort;
    this.#idleSince = performance.now();
    hcm.stats.downstream_cx_total.inc();
    hcm.stats.downstream_cx_active.inc();
    // The one protocol branch of a connection: after it, neither codec pays for the other.
    const codecType = hcm.settings.codecType;
    if (codecType === 'HTTP1') this.codec = this.#http1Codec();
    else if (codecType === 'HTTP2') this.codec = this.#http2Codec();
    else this.codec = new PrefaceDetector(transport, this, (h2) => this.#onPreface(h2));
  }

  #http1Codec(): ServerConnection {
    const stats = this.hcm.stats;
    stats.downstream_cx_http1_total.inc();
    stats.downstream_cx_http1_active.inc();
    this.#protocolActive = stats.downstream_cx_http1_active;
    return new Http1ServerConnection(this.transport, this, this.hcm.settings);
  }

  #http2Codec(): ServerConnection {
    const stats = this.hcm.stats;
    stats.downstream_cx_http2_total.inc();
    stats.downstream_cx_http2_active.inc();
    this.#protocolActive = stats.downstream_cx_http2_active;
    const streams = new Http2Streams(this);
    this.#h2 = streams;
    const codec = http2ServerCodec(this.hcm.settings.http2);
    if (!(codec instanceof Promise)) return this.#newHttp2Codec(codec, streams);
    // The process's first connection on this codec waits, paused, for the codec's module.
    const pending = new PendingCodec('HTTP/2', this.transport.stream, this);
    codec.then(
      (c) => {
        if (!pending.handOver()) return;
        this.codec = this.#newHttp2Codec(c, streams);
        if (this.#draining) this.codec.shutdownNotice();
      },
      (err: unknown) => {
        pending.destroy();
        throw err;
      },
    );
    return pending;
  }

  #newHttp2Codec(Codec: Http2ServerCodec, streams: Http2Streams): ServerConnection {
    return new Codec(this.transport, streams, this.hcm.settings.http2, this.hcm.stats.http2);
  }

  /** AUTO: the first bytes were read (and put back); the protocol's codec takes the socket. */
  #onPreface(http2: boolean): void {
    const draining = this.#draining;
    this.codec = http2 ? this.#http2Codec() : this.#http1Codec();
    if (draining) this.codec.shutdownNotice();
    if (!http2) this.transport.stream.resume();
  }

  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#closeCallbacks.push(fn);
  }

  get draining(): boolean {
    return this.#draining;
  }

  drain(idleGraceMs = 0): void {
    if (this.#draining) return;
    this.#draining = true;
    this.codec.shutdownNotice();
    if (idleGraceMs > 0) {
      // A client may be reusing this idle connection right now: it gets `Connection: close`
      // on that response instead of a reset; only a connection still idle after the grace closes.
      setTimeout(() => this.#closeIfIdle(), idleGraceMs).unref();
      return;
    }
    this.#closeIfIdle();
  }

  #closeIfIdle(): void {
    if (this.#closed || this.stream !== null || !this.codec.idle) return;
    this.hcm.stats.downstream_cx_drain_close.inc();
    this.closedLocally = true;
    this.codec.close();
  }

  destroy(): void {
    this.closedLocally = true;
    this.codec.destroy();
  }

  resetStream(_stream: ActiveStream): void {
    this.destroy();
  }

  onDownstreamReset(_stream: ActiveStream): void {
    this.codec.destroy();
  }

  /** An HTTP/2 stream began: the connection is not idle. */
  onStreamsBusy(): void {
    this.#idleSince = -1;
  }

  /** The last HTTP/2 stream finished: the idle timeout runs again, a draining connection closes. */
  onStreamsIdle(): void {
    this.#idleSince = performance.now();
    if (this.#draining) this.#closeIfIdle();
  }

  checkTimeouts(now: number): void {
    const s = this.hcm.settings;
    if (this.#headStart >= 0 && s.requestHeadersTimeoutMs > 0 && now - this.#headStart >= s.requestHeadersTimeoutMs) {
      this.#headStart = -1;
      this.hcm.stats.downstream_rq_header_timeout.inc();
      this.codec.sendProtocolError(408, 'request_header_timeout', 0);
      return;
    }
    if (
      this.stream === null &&
      this.#idleSince >= 0 &&
      s.idleTimeoutMs > 0 &&
      now - this.#idleSince >= s.idleTimeoutMs
    ) {
      this.#idleSince = -1;
      this.hcm.stats.downstream_cx_idle_timeout.inc();
      this.closedLocally = true;
      this.codec.close();
    }
    this.stream?.checkTimeouts(now);
    if (this.#h2 !== null) for (const stream of this.#h2.streams) stream.checkTimeouts(now);
  }

  // --- ServerConnectionCallbacks ---

  newStream(encoder: ResponseEncoder): RequestDecoder {
    this.#headStart = -1;
    this.#idleSince = -1;
    const stream = new ActiveStream(this, encoder);
    this.stream = stream;
    const stats = this.hcm.stats;
    stats.downstream_rq_total.inc();
    stats.downstream_rq_http1_total.inc();
    stats.downstream_rq_active.inc();
    return stream;
  }

  onRead(bytes: number): void {
    this.hcm.stats.downstream_cx_rx_bytes_total.add(bytes);
    // Only request_headers_timeout reads the head's start: without it, no clock read per request.
    if (this.stream === null && this.#headStart < 0 && this.hcm.settings.requestHeadersTimeoutMs > 0)
      this.#headStart = performance.now();
  }

  onCodecError(_error: CodecError): void {
    this.hcm.stats.downstream_cx_protocol_error.inc();
    // The codec answers and closes, or resets a response under way: either way the proxy closes.
    this.closedLocally = true;
  }

  onConnectionClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    const stats = this.hcm.stats;
    stats.downstream_cx_active.dec();
    this.#protocolActive?.dec();
    stats.downstream_cx_destroy.inc();
    if (this.closedLocally) stats.downstream_cx_destroy_local.inc();
    else stats.downstream_cx_destroy_remote.inc();
    if (this.stream !== null) this.stream.onResetStream();
    if (this.#h2 !== null) for (const stream of this.#h2.streams) stream.onResetStream();
    this.hcm.onConnectionClosed(this);
    for (const fn of this.#closeCallbacks.splice(0)) fn();
  }

  /** The stream finished both ways; the codec reads the next request or closes. */
  onStreamComplete(stream: ActiveStream): void {
    if (this.stream !== stream) return;
    this.stream = null;
    if (this.#draining) stream.encoder.closeConnectionAfterResponse();
    if (this.codec.onStreamComplete()) {
      if (this.#draining) this.hcm.stats.downstream_cx_drain_close.inc();
      this.closedLocally = true;
      return;
    }
    // The connection is idle from the stream's end, which the stream just measured (its duration).
    const info = stream.streamInfo;
    this.#idleSince = info.durationMs >= 0 ? info.startMonotonic + info.durationMs : performance.now();
  }
}

/**
 * An HTTP/2 connection's streams, many at once: the codec's ServerConnectionCallbacks and each
 * stream's StreamConnection, so resets and completions address one stream, never the connection.
 */
class Http2Streams implements ServerConnectionCallbacks, StreamConnection {
  readonly conn: HcmConnection;
  readonly hcm: HttpConnectionManager;
  readonly listener: ListenerInfo;
  readonly transport: TransportSocket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly streams = new Set<ActiveStream>();

  constructor(conn: HcmConnection) {
    this.conn = conn;
    this.hcm = conn.hcm;
    this.listener = conn.listener;
    this.transport = conn.transport;
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.localAddress = conn.localAddress;
    this.localPort = conn.localPort;
  }

  get codec(): ServerConnection {
    return this.conn.codec;
  }

  newStream(encoder: ResponseEncoder): RequestDecoder {
    const stream = new ActiveStream(this, encoder);
    if (this.streams.size === 0) this.conn.onStreamsBusy();
    this.streams.add(stream);
    const stats = this.hcm.stats;
    stats.downstream_rq_total.inc();
    stats.downstream_rq_http2_total.inc();
    stats.downstream_rq_active.inc();
    return stream;
  }

  onRead(bytes: number): void {
    // Not the connection's own onRead: its request-head timing is HTTP/1.1's.
    this.hcm.stats.downstream_cx_rx_bytes_total.add(bytes);
  }

  onCodecError(error: CodecError): void {
    this.conn.onCodecError(error);
  }

  onConnectionClose(): void {
    this.conn.onConnectionClose();
  }

  resetStream(stream: ActiveStream): void {
    stream.encoder.resetStream();
  }

  onDownstreamReset(stream: ActiveStream): void {
    stream.encoder.resetStream();
  }

  onStreamComplete(stream: ActiveStream): void {
    if (!this.streams.delete(stream)) return;
    if (this.streams.size === 0) this.conn.onStreamsIdle();
  }
}
