// One request/response exchange of the connection manager (Envoy's ActiveStream): it is the
// codec's RequestDecoder, owns the StreamInfo, applies the connection manager's header rules
// (header-utility.ts), has its FilterManager run the HTTP filters (the router last), hands the
// response the filters let through to the codec's ResponseEncoder, and on completion records
// stats and queues the span, filter log handlers and access logs. It never frames bytes.
import { Buffer } from 'node:buffer';
import type { TransportSocket } from '../network/transport-socket.js';
import type { RequestDecoder, ResponseEncoder, ServerConnection } from './codec/types.js';
import { HeaderMap } from './headers.js';
import { httpDate } from './date.js';
import { mutateRequestHeaders, normalizeRequestPath, removeHopByHopRequestHeaders } from './header-utility.js';
import { mutateXfcc, SANITIZE } from './xfcc.js';
import type { StreamFilter, StreamFilterCallbacks } from './filter.js';
import { FilterManager, type FilterManagerCallbacks } from './filter-manager.js';
import type { ConnectionManagerConfig } from './conn-manager-config.js';
import { ResponseFlag, StreamInfo } from '../stream-info.js';
import { readTime } from '../read-clock.js';
import type { Route } from '../router/route-table.js';
import type { AccessLogger, ListenerInfo } from '../extension-points.js';
import {
  GrpcStatus,
  httpToGrpcStatus,
  isGrpcRequest,
  parseGrpcTimeout,
  percentEncodeGrpcMessage,
} from '../grpc/common.js';

/** What a stream needs of the downstream connection it runs on (the HCM's HcmConnection). */
export interface StreamConnection {
  readonly hcm: ConnectionManagerConfig;
  readonly listener: ListenerInfo;
  readonly transport: TransportSocket;
  readonly codec: ServerConnection;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** The proxy resets `stream` (a local reset): HTTP/1 closes the connection, HTTP/2 sends RST_STREAM. */
  resetStream(stream: ActiveStream): void;
  /** The downstream reset `stream`: HTTP/1 closes the connection; an HTTP/2 stream is gone already. */
  onDownstreamReset(stream: ActiveStream): void;
  /** The stream finished both ways. */
  onStreamComplete(stream: ActiveStream): void;
}

/** Request headers of a stream the codec refused before its headers were decoded (never mutated). */
const NO_HEADERS = new HeaderMap();
const EMPTY_BODY = Buffer.alloc(0);
/** Envoy answers Expect: 100-continue itself (proxy_100_continue off). */
const CONTINUE_100 = new HeaderMap();
CONTINUE_100.add(':status', '100');

/**
 * Envoy's local reply to a gRPC request: a trailers-only response (HTTP 200, the whole status
 * in the head) that any gRPC client reads as a status, `grpc-status` the one given or the HTTP
 * status mapped (503 → UNAVAILABLE, 404 → UNIMPLEMENTED …), the body as `grpc-message`.
 */
function grpcLocalReply(
  status: number,
  body: string,
  grpcStatus: number | undefined,
  modifyHeaders: ((headers: HeaderMap) => void) | undefined,
): HeaderMap {
  const headers = new HeaderMap();
  headers.add(':status', '200');
  headers.add('content-type', 'application/grpc');
  headers.add('grpc-status', String(grpcStatus ?? httpToGrpcStatus(status)));
  if (body !== '') headers.add('grpc-message', percentEncodeGrpcMessage(body));
  headers.add('content-length', '0');
  modifyHeaders?.(headers);
  return headers;
}

/**
 * A finished stream's span, filter log handlers and access logs run after the turn's socket writes (one
 * setImmediate per turn, queued after the writers' own), as Envoy logs a stream at its
 * deferred deletion: a response never waits for its own telemetry. Everything they read was
 * settled when the stream completed (its duration included), so the records are the same.
 * At 1000 req/s through two sidecars the span, log line and istio labels of each hop had
 * otherwise run between the last byte's arrival and its forwarding.
 */
const completedStreams: Array<StreamInfo | readonly AccessLogger[] | readonly StreamFilter[]> = [];

function deferStreamTelemetry(
  info: StreamInfo,
  loggers: readonly AccessLogger[],
  filters: readonly StreamFilter[],
): void {
  if (completedStreams.length === 0) setImmediate(writeStreamTelemetry);
  completedStreams.push(info, loggers, filters);
}

function writeStreamTelemetry(): void {
  try {
    for (let i = 0; i < completedStreams.length; i += 3) {
      const info = completedStreams[i] as StreamInfo;
      const loggers = completedStreams[i + 1] as readonly AccessLogger[];
      const filters = completedStreams[i + 2] as readonly StreamFilter[];
      info.activeSpan?.finishSpan(info, null);
      for (let j = 0; j < filters.length; j++) filters[j]!.log?.(info);
      for (let j = 0; j < loggers.length; j++) loggers[j]!.log(info);
    }
  } finally {
    completedStreams.length = 0;
  }
}

export class ActiveStream implements RequestDecoder, StreamFilterCallbacks, FilterManagerCallbacks {
  readonly conn: StreamConnection;
  readonly encoder: ResponseEncoder;
  readonly streamInfo: StreamInfo;
  requestHeaders: HeaderMap = NO_HEADERS;
  readonly #filterManager: FilterManager;
  #routeCached = false;
  #route: Route | null = null;
  requestComplete = false;
  responseStarted = false;
  #responseComplete = false;
  /** Requested upgrade type (lower-case) the codec saw, else ''. */
  readonly upgradeType: string;
  #done = false;
  /**
   * readTime() of the last request or response bytes (stream idle timeout); the stream's
   * start (its StreamInfo's, taken in the same constructor) until then.
   */
  #lastActivity: number;
  /** The route's max_stream_duration (or the gRPC deadline it honours), when one is armed. */
  #durationTimer: NodeJS.Timeout | null = null;

  get upgradeEnabledByDefault(): boolean {
    return this.conn.hcm.settings.upgrades.get(this.upgradeType) === true;
  }

  /** True once the stream finished (completed or reset). */
  get destroyed(): boolean {
    return this.#done;
  }

  constructor(conn: StreamConnection, encoder: ResponseEncoder) {
    this.conn = conn;
    this.encoder = encoder;
    this.streamInfo = new StreamInfo(
      conn.listener.name,
      conn.remoteAddress,
      conn.remotePort,
      conn.localAddress,
      conn.localPort,
    );
    this.#lastActivity = this.streamInfo.startMonotonic;
    this.streamInfo.protocol = encoder.protocol;
    this.streamInfo.downstreamSsl = conn.transport.ssl;
    this.upgradeType = encoder.upgradeType;
    this.#filterManager = new FilterManager(this, conn.hcm.settings.bufferLimitBytes);
  }

  // --- decoding (RequestDecoder) ---

  /** The request head from the codec, pseudo-headers included. */
  decodeHeaders(h: HeaderMap, endStream: boolean): void {
    const hcm = this.conn.hcm;
    const s = hcm.settings;
    this.requestHeaders = h;
    this.streamInfo.requestHeaders = h;
    if (endStream) this.requestComplete = true;

    const expectContinue = removeHopByHopRequestHeaders(h);
    if (s.normalizePath || s.mergeSlashes) {
      const path = h.get(':path') ?? '/';
      if (path !== '*') {
        const normalized = normalizeRequestPath(path, s.normalizePath, s.mergeSlashes);
        if (normalized === null) return this.#badRequest('path_normalization_failed');
        h.set(':path', normalized);
      }
    }

    if (this.upgradeType !== '') {
      // The HCM must list the type; the route may then enable or disable it (router checks).
      if (!s.upgrades.has(this.upgradeType)) {
        this.encoder.closeConnectionAfterResponse();
        hcm.stats.downstream_rq_ws_on_non_ws_route.inc();
        this.sendLocalReply(403, '', 0, 'upgrade_failed');
        return;
      }
      h.add('upgrade', this.upgradeType);
      h.add('connection', 'upgrade');
    }

    mutateRequestHeaders(h, this.conn.remoteAddress, this.conn.transport.scheme, s, this.streamInfo);
    mutateXfcc(h, this.streamInfo.downstreamSsl, s.xfcc ?? SANITIZE);
    // Routes are resolved as the headers arrive only where some route limits stream duration.
    if (hcm.routeTable.hasStreamDuration) this.route();

    if (expectContinue) {
      // proxy_100_continue: the upstream answers Expect (its 100 comes back through encode1xxHeaders).
      if (s.proxy100Continue === true) h.add('expect', '100-continue');
      else this.encoder.encode1xxHeaders(CONTINUE_100);
    }

    const tracer = hcm.tracer;
    if (tracer !== null) {
      const route = this.route();
      const operation =
        route?.decoratorOperation ?? (this.conn.listener.direction === 'OUTBOUND' ? 'egress' : 'ingress');
      this.streamInfo.activeSpan = tracer.startSpan(this.streamInfo, h, operation);
    }

    this.#filterManager.createFilterChain(hcm.filterFactories, this);
    this.#filterManager.decodeHeaders(endStream);
  }

  #badRequest(details: string): void {
    this.encoder.closeConnectionAfterResponse();
    this.conn.hcm.stats.downstream_cx_protocol_error.inc();
    this.sendLocalReply(400, '', ResponseFlag.DownstreamProtocolError, details);
  }

  /**
   * The request's trailers: kept on the stream info for the router, which forwards them; the
   * filters see the request end as decodeData(empty, true), as they see a response's trailers.
   */
  decodeTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    this.streamInfo.requestTrailers = trailers;
    this.decodeData(EMPTY_BODY, true);
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (this.#done) return;
    if (endStream && this.encoder.upgraded) {
      // A client half-closed an upgraded (tunnel) stream: pass the end upstream.
      this.requestComplete = true;
      this.#filterManager.decodeDataFromStart(data, true);
      return;
    }
    this.#lastActivity = readTime();
    this.streamInfo.bytesReceived += data.length;
    if (endStream) this.requestComplete = true;
    this.#filterManager.decodeData(data, endStream);
  }

  continueDecoding(): void {
    this.#filterManager.continueDecoding();
  }

  route(): Route | null {
    if (!this.#routeCached) {
      this.#routeCached = true;
      const h = this.requestHeaders;
      const fullPath = h.get(':path') ?? '/';
      const q = fullPath.indexOf('?');
      const path = q === -1 ? fullPath : fullPath.slice(0, q);
      const query = q === -1 ? '' : fullPath.slice(q + 1);
      this.#route = this.conn.hcm.routeTable.route(h.get(':authority') ?? '', path, query, h);
      if (this.#route !== null) {
        this.streamInfo.routeName = this.#route.name;
        this.streamInfo.virtualHostName = this.#route.virtualHost.name;
      }
      if (this.#durationTimer !== null || this.#route?.streamDuration != null) this.#refreshDurationTimeout();
    }
    return this.#route;
  }

  /**
   * Envoy's refreshDurationTimeout: a route's max_stream_duration bounds the stream's life; for a
   * request with `grpc-timeout` and grpc_timeout_header_max set, the client's deadline does (capped
   * by the max unless it is 0, less grpc_timeout_header_offset), so the proxy answers
   * DEADLINE_EXCEEDED itself rather than leave the upstream working for a caller that gave up.
   */
  #refreshDurationTimeout(): void {
    if (this.#durationTimer !== null) {
      clearTimeout(this.#durationTimer);
      this.#durationTimer = null;
    }
    const d = this.#route?.streamDuration;
    if (d == null || this.#done) return;
    const grpcTimeout = d.grpcHeaderMaxMs >= 0 ? parseGrpcTimeout(this.requestHeaders) : null;
    let timeout: number;
    if (grpcTimeout === null) {
      if (d.maxMs <= 0) return;
      timeout = d.maxMs;
    } else {
      timeout = grpcTimeout;
      if (d.grpcHeaderMaxMs > 0 && timeout > d.grpcHeaderMaxMs) timeout = d.grpcHeaderMaxMs;
      // An offset that eats the whole deadline leaves none: the stream times out at once.
      if (timeout !== 0 && d.grpcHeaderOffsetMs > 0)
        timeout = d.grpcHeaderOffsetMs < timeout ? timeout - d.grpcHeaderOffsetMs : 0;
      else if (timeout === 0) return; // grpc-timeout 0 with no cap: no deadline
    }
    const remaining = Math.max(0, timeout - this.streamInfo.elapsedMs());
    this.#durationTimer = setTimeout(() => this.#onStreamMaxDurationReached(), remaining);
  }

  #onStreamMaxDurationReached(): void {
    this.#durationTimer = null;
    this.conn.hcm.stats.downstream_rq_max_duration_reached.inc();
    this.sendLocalReply(
      this.requestComplete ? 504 : 408,
      'downstream duration timeout',
      ResponseFlag.DurationTimeout,
      'max_duration_timeout',
      undefined,
      GrpcStatus.DeadlineExceeded,
    );
  }

  clearRouteCache(): void {
    this.#routeCached = false;
    this.#route = null;
  }

  readDisable(disable: boolean): void {
    // HTTP/1: the connection's reading; HTTP/2: this stream's (its window stays closed).
    const stats = this.conn.hcm.stats;
    if (disable) stats.downstream_flow_control_paused_reading_total.inc();
    else stats.downstream_flow_control_resumed_reading_total.inc();
    this.encoder.readDisable(disable);
  }

  onWriteBufferWatermark(above: boolean): void {
    this.#filterManager.onDownstreamWatermark(above);
  }

  // --- encoding ---

  /**
   * Envoy's request_timeout (408 until the request is complete) and stream idle timeout (no
   * bytes either way for the route's idle_timeout, else stream_idle_timeout): 408 while the
   * request is still arriving, 504 once it is waiting on upstream, a reset after the response
   * started. Called by the HCM's sweeper.
   */
  checkTimeouts(now: number): void {
    if (this.#done || this.encoder.upgraded) return;
    const s = this.conn.hcm.settings;
    if (!this.requestComplete && s.requestTimeoutMs > 0 && now - this.streamInfo.startMonotonic >= s.requestTimeoutMs) {
      this.conn.hcm.stats.downstream_rq_timeout.inc();
      this.sendLocalReply(408, 'request timeout', 0, 'request_overall_timeout');
      return;
    }
    const routeIdle = this.#routeCached ? (this.#route?.idleTimeoutMs ?? -1) : -1;
    const idle = routeIdle >= 0 ? routeIdle : s.streamIdleTimeoutMs;
    if (idle <= 0 || now - this.#lastActivity < idle) return;
    this.conn.hcm.stats.downstream_rq_idle_timeout.inc();
    if (this.responseStarted) {
      this.streamInfo.setResponseFlag(ResponseFlag.StreamIdleTimeout);
      this.resetStream();
      return;
    }
    this.sendLocalReply(
      this.requestComplete ? 504 : 408,
      'stream timeout',
      ResponseFlag.StreamIdleTimeout,
      'stream_idle_timeout',
    );
  }

  sendLocalReply(
    status: number,
    body: string,
    responseFlag: number,
    details: string,
    modifyHeaders?: (headers: HeaderMap) => void,
    grpcStatus?: number,
  ): void {
    if (this.#done) return;
    if (this.responseStarted) {
      this.streamInfo.setResponseFlag(responseFlag);
      this.resetStream();
      return;
    }
    this.streamInfo.setResponseFlag(responseFlag);
    this.streamInfo.responseCodeDetails = details;
    // A local reply ends the exchange even if the request body is still arriving.
    if (!this.requestComplete) this.encoder.closeConnectionAfterResponse();
    if (isGrpcRequest(this.requestHeaders)) {
      this.#encodeHeadersInternal(grpcLocalReply(status, body, grpcStatus, modifyHeaders), true);
      return;
    }
    const headers = new HeaderMap();
    headers.add(':status', String(status));
    if (body !== '') {
      headers.add('content-length', String(Buffer.byteLength(body)));
      headers.add('content-type', 'text/plain');
    } else {
      headers.add('content-length', '0');
    }
    modifyHeaders?.(headers);
    this.#encodeHeadersInternal(headers, body === '');
    if (body !== '') this.encodeData(Buffer.from(body), true);
  }

  encode1xxHeaders(headers: HeaderMap): void {
    // Envoy's filter manager swallows an upstream's 1xx unless proxy_100_continue is on: with the
    // HCM answering Expect itself, a 100 from upstream would be a second one.
    if (this.conn.hcm.settings.proxy100Continue !== true) return;
    if (this.responseStarted || this.#done) return;
    this.encoder.encode1xxHeaders(headers);
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.streamInfo.responseCodeDetails === '') this.streamInfo.responseCodeDetails = 'via_upstream';
    this.#encodeHeadersInternal(headers, endStream);
  }

  #encodeHeadersInternal(headers: HeaderMap, endStream: boolean): void {
    if (this.responseStarted || this.#done) return;
    this.#filterManager.encodeHeaders(headers, endStream);
  }

  continueEncoding(): void {
    this.#filterManager.continueEncoding();
  }

  /** FilterManagerCallbacks: the response headers leave through the codec. */
  encodeHeadersToCodec(headers: HeaderMap, endStream: boolean): void {
    // A response that ends here completes the stream: no idle timeout is checked after it.
    if (!endStream) this.#lastActivity = readTime();
    const info = this.streamInfo;
    const hcm = this.conn.hcm;
    const s = hcm.settings;
    this.responseStarted = true;
    info.responseCode = Number(headers.get(':status') ?? 200);
    info.responseHeaders = headers;
    // Envoy's server header rules, then a date when the response has none (local replies, and
    // upstreams that send none), as Envoy's HCM adds one: whatever the downstream codec.
    if (s.serverHeaderTransformation === 'OVERWRITE') {
      headers.remove('server');
      headers.add('server', s.serverName);
    } else if (s.serverHeaderTransformation === 'APPEND_IF_ABSENT' && !headers.has('server')) {
      headers.add('server', s.serverName);
    }
    if (!headers.has('date')) headers.add('date', httpDate());
    const encoder = this.encoder;
    // Assigned only when true: most encoders never read it and keep their shape.
    if (info.upstreamProtocol === 'HTTP/2') encoder.trailersMayFollow = true;
    encoder.encodeHeaders(headers, endStream);
    if (encoder.upgraded) {
      hcm.stats.downstream_cx_upgrades_total.inc();
      hcm.stats.downstream_cx_upgrades_active.inc();
    }
    if (endStream) this.#endResponse();
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.#done) return;
    this.#filterManager.encodeData(data, endStream);
  }

  /** FilterManagerCallbacks: body bytes leave through the codec. */
  encodeDataToCodec(data: Buffer, endStream: boolean): void {
    if (!this.responseStarted || this.#responseComplete) return;
    if (!endStream) this.#lastActivity = readTime();
    const n = data.length;
    const encoder = this.encoder;
    if (n > 0) {
      if (!encoder.bodyless) {
        this.streamInfo.bytesSent += n;
        this.conn.hcm.stats.downstream_cx_tx_bytes_total.add(n);
      } else if (encoder.upgraded) this.streamInfo.bytesSent += n;
    }
    encoder.encodeData(data, endStream);
    if (endStream) this.#endResponse();
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    this.streamInfo.responseTrailers = trailers;
    this.#filterManager.encodeTrailers(trailers);
  }

  /** FilterManagerCallbacks: the trailers leave through the codec and end the response. */
  encodeTrailersToCodec(trailers: HeaderMap): void {
    if (!this.responseStarted || this.#responseComplete) return;
    this.#lastActivity = readTime();
    this.encoder.encodeTrailers(trailers);
    this.#endResponse();
  }

  #endResponse(): void {
    if (this.#responseComplete) return;
    this.#responseComplete = true;
    if (this.encoder.upgraded) this.conn.hcm.stats.downstream_cx_upgrades_active.dec();
    if (!this.requestComplete) this.encoder.closeConnectionAfterResponse();
    this.#complete();
  }

  resetStream(): void {
    if (this.#done) return;
    this.conn.hcm.stats.downstream_rq_tx_reset.inc();
    this.streamInfo.setResponseFlag(ResponseFlag.LocalReset);
    this.#complete();
    this.conn.resetStream(this);
  }

  /** RequestDecoder: the downstream went away before the stream finished (Envoy's DC). */
  onResetStream(): void {
    if (this.#done) return;
    this.conn.hcm.stats.downstream_rq_rx_reset.inc();
    this.streamInfo.setResponseFlag(ResponseFlag.DownstreamConnectionTermination);
    this.#complete();
    this.conn.onDownstreamReset(this);
  }

  #complete(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#durationTimer !== null) {
      clearTimeout(this.#durationTimer);
      this.#durationTimer = null;
    }
    const info = this.streamInfo;
    const hcm = this.conn.hcm;
    info.durationMs = info.elapsedMs();
    hcm.stats.downstream_rq_active.dec();
    if (info.responseCode > 0 && this.#responseComplete) {
      hcm.stats.downstream_rq_completed.inc();
      hcm.stats.recordResponseClass(info.responseCode);
    }
    hcm.stats.downstream_rq_time.record(info.durationMs);
    const filterLogs = this.#filterManager.destroyFilters();
    if (info.activeSpan !== null || hcm.accessLoggers.length > 0 || filterLogs)
      deferStreamTelemetry(info, hcm.accessLoggers, this.#filterManager.filters);
    // A stream that ends before its request did leaves the connection unusable.
    if (!this.requestComplete) this.encoder.closeConnectionAfterResponse();
    this.conn.onStreamComplete(this);
  }
}
