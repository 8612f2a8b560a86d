// Envoy's HTTP connection manager (HCM) as a network filter: HttpConnectionManager is built once
// per listener filter chain per worker; each downstream connection gets an HcmConnection, which
// owns the connection's server codec (HTTP/1.1 today; codec/types.ts is what an HTTP/2 codec
// implements) and creates one ActiveStream (active-stream.ts) per request. Connection stats,
// idle / request-header timeouts and draining live here; framing is the codec's alone.
import type { TransportSocket } from '../network/transport-socket.js';
import { Http1ServerConnection } from './codec/http1/server-connection.js';
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

export type { HcmSettings } from './conn-manager-config.js';

/**
 * The server codec of a new downstream connection: HTTP/1.1 today. Where the HCM's codec_type
 * (AUTO, HTTP2) and the transport's negotiated ALPN will choose.
 */
function createServerCodec(
  transport: TransportSocket,
  callbacks: ServerConnectionCallbacks,
  settings: HcmSettings,
): ServerConnection {
  return new Http1ServerConnection(transport, callbacks, settings);
}

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
  readonly codec: ServerConnection;
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
    hcm.stats.downstream_cx_http1_total.inc();
    hcm.stats.downstream_cx_active.inc();
    hcm.stats.downstream_cx_http1_active.inc();
    this.codec = createServerCodec(transport, this, hcm.settings);
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
  }

  readDisable(disable: boolean): void {
    this.codec.readDisable(disable);
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
    if (this.stream === null && this.#headStart < 0) this.#headStart = performance.now();
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
    stats.downstream_cx_http1_active.dec();
    stats.downstream_cx_destroy.inc();
    if (this.closedLocally) stats.downstream_cx_destroy_local.inc();
    else stats.downstream_cx_destroy_remote.inc();
    if (this.stream !== null) this.stream.onResetStream();
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
    this.#idleSince = performance.now();
  }
}
