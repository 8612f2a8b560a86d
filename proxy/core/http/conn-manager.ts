// Envoy's HTTP connection manager (HCM) for HTTP/1.1: one ServerConnection per downstream
// socket, one ActiveStream per request. The stream owns the StreamInfo, runs the decoder
// filters (the router last) and the encoder filters, writes the response with HTTP/1.1
// framing, and on completion records stats, calls access loggers and finishes the span.
// Streams are the unit so an HTTP/2 codec can later drive many per connection.
import type { NativeStream, TransportSocket } from '../network/transport-socket.js';
import { Http1Parser, statusLine, type CodecError, type MessageHead, type ParserHandler } from './codec/http1/parser.js';
import { HeaderMap } from './headers.js';
import { httpDate } from './date.js';
import { randomRequestId } from './request-id.js';
import { DeferredWriter } from './deferred-writer.js';
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamFilter,
  type StreamFilterCallbacks,
  type StreamFilterFactory,
} from './filter.js';
import type { HcmStats } from './hcm-stats.js';
import { ResponseFlag, StreamInfo } from '../stream-info.js';
import type { Route, RouteTable } from '../router/route-table.js';
import type { AccessLogger, DownstreamConnection, ListenerInfo, NetworkFilter, Tracer } from '../extension-points.js';

export interface HcmSettings {
  readonly statPrefix: string;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  readonly serverName: string;
  readonly serverHeaderTransformation: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  /** 0 = disabled. */
  readonly idleTimeoutMs: number;
  /** 0 = disabled. */
  readonly requestHeadersTimeoutMs: number;
  readonly maxRequestHeadersBytes: number;
  readonly maxHeadersCount: number;
  readonly acceptHttp10: boolean;
  readonly defaultHostForHttp10: string;
  /** HCM-level upgrade types (lower-case) → enabled. */
  readonly upgrades: ReadonlyMap<string, boolean>;
  /** RFC 3986 dot-segment removal before routing (normalize_path). */
  readonly normalizePath: boolean;
  /** Collapse repeated slashes before routing (merge_slashes). */
  readonly mergeSlashes: boolean;
  /** Downstream bytes buffered per stream before reading pauses. */
  readonly bufferLimitBytes: number;
  /** `stream_idle_timeout` (Envoy default 5 min); a route's `idle_timeout` overrides it. 0 = disabled. */
  readonly streamIdleTimeoutMs: number;
  /** `request_timeout`: the whole request must arrive within it. 0 = disabled. */
  readonly requestTimeoutMs: number;
}

const EMPTY = Buffer.alloc(0);
const HOP_BY_HOP_REQUEST = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'expect',
];
const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';

/** One HCM per listener filter chain per worker; immutable after construction but for the route table RDS replaces. */
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

export class HttpConnectionManager implements NetworkFilter {
  readonly settings: HcmSettings;
  readonly stats: HcmStats;
  /** Replaced whole by RDS updates; a stream keeps the table it was routed with. */
  routeTable: RouteTable;
  readonly filterFactories: readonly StreamFilterFactory[];
  readonly accessLoggers: readonly AccessLogger[];
  readonly tracer: Tracer | null;
  readonly #connections = new Set<ServerConnection>();
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

  onNewConnection(transport: TransportSocket, listener: ListenerInfo): DownstreamConnection {
    const conn = new ServerConnection(this, transport, listener);
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

  onConnectionClosed(conn: ServerConnection): void {
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

export class ServerConnection implements ParserHandler, DownstreamConnection {
  readonly hcm: HttpConnectionManager;
  readonly transport: TransportSocket;
  readonly socket: NativeStream;
  readonly listener: ListenerInfo;
  readonly parser: Http1Parser;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  stream: ActiveStream | null = null;
  #readDisabled = 0;
  #draining = false;
  #closed = false;
  /** performance.now() when the connection went idle; -1 while a stream is active. */
  #idleSince: number;
  /** performance.now() when the current request's first byte arrived; -1 when not in a head. */
  #headStart = -1;
  #aboveWatermark = false;
  #pipelinePaused = false;
  /** Writes of one event-loop turn leave in one syscall (see DeferredWriter). */
  readonly #writer: DeferredWriter;
  readonly #closeCallbacks: Array<() => void> = [];

  constructor(hcm: HttpConnectionManager, transport: TransportSocket, listener: ListenerInfo) {
    const socket = transport.stream;
    this.hcm = hcm;
    this.transport = transport;
    this.socket = socket;
    this.listener = listener;
    this.remoteAddress = transport.remoteAddress;
    this.remotePort = transport.remotePort;
    this.localAddress = transport.localAddress;
    this.localPort = transport.localPort;
    const s = hcm.settings;
    this.parser = new Http1Parser(true, this, {
      maxHeaderBytes: s.maxRequestHeadersBytes,
      maxHeaders: s.maxHeadersCount,
    });
    this.#writer = new DeferredWriter(socket, () => this.#setAboveWatermark());
    this.#idleSince = performance.now();
    socket.setNoDelay(true);
    hcm.stats.downstream_cx_total.inc();
    hcm.stats.downstream_cx_http1_total.inc();
    hcm.stats.downstream_cx_active.inc();
    hcm.stats.downstream_cx_http1_active.inc();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onClose());
    socket.on('error', () => {
      // 'close' follows; a reset mid-stream is accounted there.
    });
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
    if (idleGraceMs > 0) {
      // A client may be reusing this idle connection right now: it gets `Connection: close`
      // on that response instead of a reset; only a connection still idle after the grace closes.
      setTimeout(() => this.#closeIfIdle(), idleGraceMs).unref();
      return;
    }
    this.#closeIfIdle();
  }

  #closeIfIdle(): void {
    if (this.#closed || this.stream !== null || !this.parser.idle) return;
    this.hcm.stats.downstream_cx_drain_close.inc();
    this.closedLocally = true;
    this.end();
  }

  destroy(): void {
    this.closedLocally = true;
    this.socket.destroy();
  }

  /** Set when the proxy (not the client) closed the connection, for destroy_local/remote. */
  closedLocally = false;

  checkTimeouts(now: number): void {
    const s = this.hcm.settings;
    if (this.#headStart >= 0 && s.requestHeadersTimeoutMs > 0 && now - this.#headStart >= s.requestHeadersTimeoutMs) {
      this.#headStart = -1;
      this.hcm.stats.downstream_rq_header_timeout.inc();
      this.#codecFailure(408, 'request_header_timeout', 0);
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
      this.end();
    }
    this.stream?.checkTimeouts(now);
  }

  #onData(chunk: Buffer): void {
    this.hcm.stats.downstream_cx_rx_bytes_total.add(chunk.length);
    if (this.stream === null && this.#headStart < 0) this.#headStart = performance.now();
    this.parser.execute(chunk);
    // A pipelined request waits in the parser; stop reading until the current response is done
    // so a client cannot queue unbounded data. Only once bytes are actually held: pausing and
    // resuming the socket around every request costs a stream resume per request.
    if (this.parser.holdingInput && !this.#pipelinePaused) {
      this.#pipelinePaused = true;
      this.readDisable(true);
    }
  }

  #onDrain(): void {
    if (this.#aboveWatermark) {
      this.#aboveWatermark = false;
      this.stream?.onDownstreamWatermark(false);
    }
  }

  #onEnd(): void {
    // The client shut down its sending side (the listener keeps sockets half-open).
    const s = this.stream;
    if (s === null) this.end();
    else if (s.upgraded) s.endUpgradedFromDownstream();
    else if (!s.requestComplete) s.resetFromDownstream();
    // A complete request still gets its response; nothing more can follow, so close after it.
    else s.closeAfterResponse = true;
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    const stats = this.hcm.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http1_active.dec();
    stats.downstream_cx_destroy.inc();
    if (this.closedLocally) stats.downstream_cx_destroy_local.inc();
    else stats.downstream_cx_destroy_remote.inc();
    if (this.stream !== null) this.stream.resetFromDownstream();
    this.hcm.onConnectionClosed(this);
    for (const fn of this.#closeCallbacks.splice(0)) fn();
  }

  /** Writes bytes downstream; tracks the write buffer for flow control. */
  write(data: string | Buffer): void {
    this.#writer.write(data);
  }

  /** Ends the connection after everything written so far. */
  end(): void {
    this.#writer.flush();
    this.socket.end();
  }

  #setAboveWatermark(): void {
    if (!this.#aboveWatermark) {
      this.#aboveWatermark = true;
      this.stream?.onDownstreamWatermark(true);
    }
  }

  readDisable(disable: boolean): void {
    if (disable) {
      if (this.#readDisabled++ === 0) this.socket.pause();
    } else if (this.#readDisabled > 0 && --this.#readDisabled === 0) {
      this.socket.resume();
    }
  }

  // --- ParserHandler ---

  onHead(head: MessageHead): void {
    this.#headStart = -1;
    this.#idleSince = -1;
    const stream = new ActiveStream(this, head);
    this.stream = stream;
    stream.decodeHeaders();
  }

  onBody(data: Buffer): void {
    this.stream?.decodeBody(data, false);
  }

  onMessageComplete(): boolean {
    const s = this.stream;
    if (s === null) return true;
    // A request without body already ended with its headers.
    if (!s.requestComplete) s.decodeBody(EMPTY, true);
    // Pipelined requests wait until this stream's response is done.
    return this.stream === null;
  }

  onError(error: CodecError): void {
    this.hcm.stats.downstream_cx_protocol_error.inc();
    this.#codecFailure(error.status, error.details, ResponseFlag.DownstreamProtocolError);
  }

  #codecFailure(status: number, details: string, flag: number): void {
    let s = this.stream;
    if (s === null) {
      // Answer through a stream so the failure is logged and counted like any other.
      const head: MessageHead = {
        method: '',
        target: '',
        status: 0,
        versionMinor: 1,
        headers: new HeaderMap(),
        contentLength: -1,
        chunked: false,
        connectionClose: true,
        upgrade: '',
        expectContinue: false,
      };
      s = new ActiveStream(this, head);
      this.stream = s;
      this.hcm.stats.downstream_rq_total.inc();
      this.hcm.stats.downstream_rq_active.inc();
    }
    s.closeAfterResponse = true;
    if (s.responseStarted) {
      s.resetFromDownstream();
      this.destroy();
      return;
    }
    s.requestComplete = true;
    s.sendLocalReply(status, '', flag, details);
  }

  /** The stream finished both ways; next request or close. */
  onStreamComplete(stream: ActiveStream): void {
    if (this.stream !== stream) return;
    this.stream = null;
    if (stream.closeAfterResponse || this.#draining) {
      if (this.#draining) this.hcm.stats.downstream_cx_drain_close.inc();
      this.closedLocally = true;
      this.end();
      return;
    }
    this.#idleSince = performance.now();
    this.#pipelinePaused = false;
    while (this.#readDisabled > 0) this.readDisable(false);
    this.parser.resume();
  }
}

/**
 * Envoy's path normalisation: `normalize_path` removes `.`/`..` segments (RFC 3986 §5.2.4)
 * after decoding percent-encoded unreserved characters; `merge_slashes` collapses `//`.
 * The query string is left alone. Null when the path is not a valid origin-form path.
 */
function normalizeRequestPath(full: string, normalize: boolean, merge: boolean): string | null {
  const q = full.indexOf('?');
  let path = q === -1 ? full : full.slice(0, q);
  if (normalize) {
    if (path.includes('\\')) path = path.replaceAll('\\', '/');
    path = path.replace(/%([0-9a-fA-F]{2})/g, (m, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase();
    });
    const out: string[] = [];
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const seg = segments[i]!;
      const last = i === segments.length - 1;
      if (seg === '.') {
        if (last) out.push('');
      } else if (seg === '..') {
        out.pop();
        if (last) out.push('');
      } else out.push(seg);
    }
    path = `/${out.join('/')}`;
  }
  if (merge) path = path.replace(/\/{2,}/g, '/');
  if (path.charCodeAt(0) !== 47) return null;
  return q === -1 ? path : path + full.slice(q);
}

/** Envoy's trusted client address from the peer and x-forwarded-for. */
function clientAddress(peer: string, xff: string | undefined, useRemoteAddress: boolean, trustedHops: number): string {
  if (useRemoteAddress && trustedHops === 0) return peer;
  if (xff === undefined) return peer;
  const entries = xff
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  // With use_remote_address the peer counts as the last hop: trust N entries from the right.
  const index = useRemoteAddress ? entries.length - trustedHops : entries.length - 1 - trustedHops;
  return index >= 0 && index < entries.length ? entries[index]! : peer;
}

/** RFC 1918, loopback, link-local and unique-local addresses count as internal, as in Envoy. */
function isInternalAddress(a: string): boolean {
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  if (/^(10\.|127\.|192\.168\.|169\.254\.)/.test(v4) || /^172\.(1[6-9]|2\d|3[01])\./.test(v4)) return true;
  return a === '::1' || /^f[cd]/i.test(a);
}

/** Response header names the HCM never forwards from upstream (hop-by-hop). */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export class ActiveStream implements StreamFilterCallbacks {
  readonly conn: ServerConnection;
  readonly streamInfo: StreamInfo;
  readonly requestHeaders: HeaderMap;
  readonly head: MessageHead;
  readonly #filters: StreamFilter[] = [];
  #routeCached = false;
  #route: Route | null = null;
  /** Index of the decoder filter that stopped iteration; -1 when iterating freely. */
  #decoderStoppedAt = -1;
  #decodedHeaders = false;
  #bufferedBody: Buffer[] | null = null;
  #bufferedBytes = 0;
  #bufferedEnd = false;
  #encoderStoppedAt = -1;
  #pendingResponseHeaders: HeaderMap | null = null;
  #pendingResponseBody: Buffer[] = [];
  #pendingResponseEnd = false;
  requestComplete = false;
  responseStarted = false;
  #responseComplete = false;
  #chunkedResponse = false;
  #noResponseBody = false;
  closeAfterResponse: boolean;
  /** Requested upgrade type (lower-case) accepted by the HCM, else ''. */
  readonly upgradeType: string;
  upgraded = false;
  #done = false;
  /** performance.now() of the last request or response bytes (stream idle timeout). */
  #lastActivity = performance.now();

  get upgradeEnabledByDefault(): boolean {
    return this.conn.hcm.settings.upgrades.get(this.upgradeType) === true;
  }

  #readDisabledByStream = 0;

  constructor(conn: ServerConnection, head: MessageHead) {
    this.conn = conn;
    this.head = head;
    this.requestHeaders = head.headers;
    this.closeAfterResponse = head.connectionClose;
    this.streamInfo = new StreamInfo(
      conn.listener.name,
      conn.remoteAddress,
      conn.remotePort,
      conn.localAddress,
      conn.localPort,
    );
    this.streamInfo.protocol = head.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    this.streamInfo.requestHeaders = head.headers;
    // h2c upgrades are stripped as Envoy's HTTP/1 codec does; others need HCM configuration.
    this.upgradeType = head.upgrade === 'h2c' ? '' : head.upgrade;
  }

  // --- decoding ---

  decodeHeaders(): void {
    const hcm = this.conn.hcm;
    const s = hcm.settings;
    const head = this.head;
    const h = this.requestHeaders;
    hcm.stats.downstream_rq_total.inc();
    hcm.stats.downstream_rq_http1_total.inc();
    hcm.stats.downstream_rq_active.inc();
    const endStream = !head.chunked && head.contentLength <= 0 && this.upgradeType === '';
    if (endStream) this.requestComplete = true;

    if (head.versionMinor === 0 && !s.acceptHttp10) {
      this.closeAfterResponse = true;
      this.sendLocalReply(426, '', 0, 'low_version');
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
    for (let i = 0; i < HOP_BY_HOP_REQUEST.length; i++) h.remove(HOP_BY_HOP_REQUEST[i]!);
    if (head.chunked) h.remove('content-length');
    if ((s.normalizePath || s.mergeSlashes) && path !== '*') {
      const normalized = normalizeRequestPath(path, s.normalizePath, s.mergeSlashes);
      if (normalized === null) return this.#badRequest('path_normalization_failed');
      path = normalized;
    }
    // Pseudo-headers first, as Envoy orders them.
    h.names.unshift(':authority', ':path', ':method', ':scheme');
    const scheme = this.conn.transport.scheme;
    h.values.unshift(authority, path, head.method, scheme);

    if (this.upgradeType !== '') {
      // The HCM must list the type; the route may then enable or disable it (router checks).
      if (!s.upgrades.has(this.upgradeType)) {
        this.closeAfterResponse = true;
        this.conn.hcm.stats.downstream_rq_ws_on_non_ws_route.inc();
        this.sendLocalReply(403, '', 0, 'upgrade_failed');
        return;
      }
      h.add('upgrade', this.upgradeType);
      h.add('connection', 'upgrade');
      this.conn.parser.setRaw();
    }

    // Envoy's client address: with use_remote_address the peer, unless xff_num_trusted_hops
    // trusts that many proxies in x-forwarded-for; without it, x-forwarded-for decides.
    const xff = h.get('x-forwarded-for');
    const client = clientAddress(this.conn.remoteAddress, xff, s.useRemoteAddress, s.xffNumTrustedHops);
    this.streamInfo.downstreamRemoteAddress = client;
    if (s.useRemoteAddress) {
      if (!s.skipXffAppend)
        h.set('x-forwarded-for', xff === undefined ? this.conn.remoteAddress : `${xff}, ${this.conn.remoteAddress}`);
      h.set('x-forwarded-proto', scheme);
    } else if (!h.has('x-forwarded-proto')) {
      h.add('x-forwarded-proto', scheme);
    }
    let requestId = h.get('x-request-id');
    // At the edge an external client's x-request-id is not trusted unless preserved.
    const external = s.useRemoteAddress && !isInternalAddress(client);
    if (
      s.generateRequestId &&
      (requestId === undefined || requestId === '' || (external && !s.preserveExternalRequestId))
    ) {
      requestId = randomRequestId();
      h.set('x-request-id', requestId);
    }
    this.streamInfo.requestId = requestId ?? null;

    if (head.expectContinue) {
      // Envoy answers 100-continue itself (proxy_100_continue off) and never forwards Expect.
      this.conn.write(CONTINUE_100);
    }

    const tracer = hcm.tracer;
    if (tracer !== null) {
      const route = this.route();
      const operation =
        route?.decoratorOperation ?? (this.conn.listener.direction === 'OUTBOUND' ? 'egress' : 'ingress');
      this.streamInfo.activeSpan = tracer.startSpan(this.streamInfo, h, operation);
    }

    const factories = hcm.filterFactories;
    for (let i = 0; i < factories.length; i++) this.#filters.push(factories[i]!(this));
    this.#runDecodeHeaders(0, endStream);
  }

  #badRequest(details: string): void {
    this.closeAfterResponse = true;
    this.conn.hcm.stats.downstream_cx_protocol_error.inc();
    this.sendLocalReply(400, '', ResponseFlag.DownstreamProtocolError, details);
  }

  #runDecodeHeaders(from: number, endStream: boolean): void {
    const filters = this.#filters;
    for (let i = from; i < filters.length; i++) {
      const d = filters[i]!.decoder;
      if (d === undefined) continue;
      if (this.#done || this.responseStarted) return;
      if (d.decodeHeaders(this.requestHeaders, endStream) === FilterHeadersStatus.StopIteration) {
        if (i < filters.length - 1) this.#decoderStoppedAt = i;
        return;
      }
    }
    this.#decodedHeaders = true;
  }

  decodeBody(data: Buffer, endStream: boolean): void {
    if (this.#done) return;
    this.#lastActivity = performance.now();
    this.streamInfo.bytesReceived += data.length;
    if (endStream) this.requestComplete = true;
    if (this.#decoderStoppedAt !== -1) {
      (this.#bufferedBody ??= []).push(data);
      this.#bufferedBytes += data.length;
      if (endStream) this.#bufferedEnd = true;
      if (this.#bufferedBytes > this.conn.hcm.settings.bufferLimitBytes && this.#readDisabledByStream === 0) {
        this.#readDisabledByStream++;
        this.conn.readDisable(true);
      }
      return;
    }
    this.#runDecodeData(0, data, endStream);
  }

  #runDecodeData(from: number, data: Buffer, endStream: boolean): void {
    const filters = this.#filters;
    for (let i = from; i < filters.length; i++) {
      const d = filters[i]!.decoder;
      if (d === undefined) continue;
      if (this.#done) return;
      if (d.decodeData(data, endStream) === FilterDataStatus.StopIterationAndBuffer && i < filters.length - 1) {
        this.#decoderStoppedAt = i;
        (this.#bufferedBody ??= []).push(data);
        if (endStream) this.#bufferedEnd = true;
        return;
      }
    }
  }

  continueDecoding(): void {
    const at = this.#decoderStoppedAt;
    if (at === -1 || this.#done) return;
    this.#decoderStoppedAt = -1;
    if (!this.#decodedHeaders) {
      const endStream = this.requestComplete && this.#bufferedBody === null && !this.#bufferedEnd;
      this.#runDecodeHeaders(at + 1, endStream);
      if (this.#decoderStoppedAt !== -1) return;
    }
    const body = this.#bufferedBody;
    const end = this.#bufferedEnd;
    this.#bufferedBody = null;
    this.#bufferedBytes = 0;
    this.#bufferedEnd = false;
    if (this.#readDisabledByStream > 0) {
      this.#readDisabledByStream--;
      this.conn.readDisable(false);
    }
    if (body !== null) {
      const merged = body.length === 1 ? body[0]! : Buffer.concat(body);
      this.#runDecodeData(this.#decodedHeaders ? 0 : at + 1, merged, end);
    }
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
    }
    return this.#route;
  }

  clearRouteCache(): void {
    this.#routeCached = false;
    this.#route = null;
  }

  readDisable(disable: boolean): void {
    this.conn.readDisable(disable);
  }

  onDownstreamWatermark(above: boolean): void {
    for (const f of this.#filters) f.decoder?.onDownstreamWatermark?.(above);
  }

  // --- encoding ---

  /**
   * Envoy's request_timeout (408 until the request is complete) and stream idle timeout (no
   * bytes either way for the route's idle_timeout, else stream_idle_timeout): 408 while the
   * request is still arriving, 504 once it is waiting on upstream, a reset after the response
   * started. Called by the HCM's sweeper.
   */
  checkTimeouts(now: number): void {
    if (this.#done || this.upgraded) return;
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
  ): void {
    if (this.#done) return;
    if (this.responseStarted) {
      this.streamInfo.setResponseFlag(responseFlag);
      this.resetStream();
      return;
    }
    this.streamInfo.setResponseFlag(responseFlag);
    this.streamInfo.responseCodeDetails = details;
    const headers = new HeaderMap();
    headers.add(':status', String(status));
    if (body !== '') {
      headers.add('content-length', String(Buffer.byteLength(body)));
      headers.add('content-type', 'text/plain');
    } else {
      headers.add('content-length', '0');
    }
    modifyHeaders?.(headers);
    // A local reply ends the exchange even if the request body is still arriving.
    if (!this.requestComplete) this.closeAfterResponse = true;
    this.#encodeHeadersInternal(headers, body === '', true);
    if (body !== '') this.encodeData(Buffer.from(body), true);
  }

  encode1xxHeaders(headers: HeaderMap): void {
    if (this.responseStarted || this.#done) return;
    let out = statusLine(Number(headers.get(':status') ?? 100));
    for (let i = 0; i < headers.names.length; i++) {
      const n = headers.names[i]!;
      if (n.charCodeAt(0) !== 58) out += `${n}: ${headers.values[i]}\r\n`;
    }
    this.conn.write(`${out}\r\n`);
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.streamInfo.responseCodeDetails === '') this.streamInfo.responseCodeDetails = 'via_upstream';
    this.#encodeHeadersInternal(headers, endStream, false);
  }

  #encodeHeadersInternal(headers: HeaderMap, endStream: boolean, local: boolean): void {
    if (this.responseStarted || this.#done) return;
    const filters = this.#filters;
    for (let i = filters.length - 1; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e === undefined) continue;
      if (e.encodeHeaders(headers, endStream) === FilterHeadersStatus.StopIteration) {
        this.#encoderStoppedAt = i;
        this.#pendingResponseHeaders = headers;
        this.#pendingResponseEnd = endStream;
        return;
      }
    }
    this.#writeHeaders(headers, endStream, local);
  }

  continueEncoding(): void {
    if (this.#encoderStoppedAt === -1 || this.#pendingResponseHeaders === null) return;
    const headers = this.#pendingResponseHeaders;
    const from = this.#encoderStoppedAt - 1;
    this.#encoderStoppedAt = -1;
    this.#pendingResponseHeaders = null;
    const filters = this.#filters;
    for (let i = from; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e === undefined) continue;
      if (e.encodeHeaders(headers, this.#pendingResponseEnd) === FilterHeadersStatus.StopIteration) {
        this.#encoderStoppedAt = i;
        this.#pendingResponseHeaders = headers;
        return;
      }
    }
    this.#writeHeaders(headers, this.#pendingResponseEnd && this.#pendingResponseBody.length === 0, false);
    const body = this.#pendingResponseBody;
    this.#pendingResponseBody = [];
    for (let i = 0; i < body.length; i++) this.#writeData(body[i]!, this.#pendingResponseEnd && i === body.length - 1);
  }

  #writeHeaders(headers: HeaderMap, endStream: boolean, local: boolean): void {
    this.#lastActivity = performance.now();
    const info = this.streamInfo;
    const s = this.conn.hcm.settings;
    const status = Number(headers.get(':status') ?? 200);
    this.responseStarted = true;
    info.responseCode = status;
    info.responseHeaders = headers;
    this.upgraded = status === 101 && this.upgradeType !== '';
    this.#noResponseBody =
      endStream || status === 204 || status === 304 || this.head.method === 'HEAD' || this.upgraded;
    const hasLength = headers.has('content-length');
    this.#chunkedResponse = !this.#noResponseBody && !hasLength && this.head.versionMinor === 1;
    if (!this.#noResponseBody && !hasLength && this.head.versionMinor === 0) this.closeAfterResponse = true;
    if (this.conn.draining && !this.upgraded) this.closeAfterResponse = true;

    let out = statusLine(status);
    const names = headers.names;
    const values = headers.values;
    let sawServer = false;
    let sawDate = false;
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n.charCodeAt(0) === 58) continue;
      if (HOP_BY_HOP_RESPONSE.has(n)) continue;
      if (n === 'server') {
        sawServer = true;
        if (s.serverHeaderTransformation === 'OVERWRITE') continue;
      } else if (n === 'date') sawDate = true;
      out += `${n}: ${values[i]}\r\n`;
    }
    if (
      s.serverHeaderTransformation === 'OVERWRITE' ||
      (!sawServer && s.serverHeaderTransformation === 'APPEND_IF_ABSENT')
    ) {
      out += `server: ${s.serverName}\r\n`;
    }
    if (local && !sawDate) out += `date: ${httpDate()}\r\n`;
    if (this.upgraded) out += `connection: upgrade\r\nupgrade: ${headers.get('upgrade') ?? this.upgradeType}\r\n`;
    else if (this.#chunkedResponse) out += 'transfer-encoding: chunked\r\n';
    if (this.closeAfterResponse && !this.upgraded) out += 'connection: close\r\n';
    this.conn.write(`${out}\r\n`);
    if (this.upgraded) {
      this.conn.hcm.stats.downstream_cx_upgrades_total.inc();
      this.conn.hcm.stats.downstream_cx_upgrades_active.inc();
    }
    if (endStream) this.#endResponse();
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.#done) return;
    if (this.#encoderStoppedAt !== -1) {
      if (data.length > 0) this.#pendingResponseBody.push(data);
      if (endStream) this.#pendingResponseEnd = true;
      return;
    }
    const filters = this.#filters;
    for (let i = filters.length - 1; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e !== undefined) e.encodeData(data, endStream);
    }
    this.#writeData(data, endStream);
  }

  #writeData(data: Buffer, endStream: boolean): void {
    if (!this.responseStarted || this.#responseComplete) return;
    this.#lastActivity = performance.now();
    const n = data.length;
    if (n > 0 && !this.#noResponseBody) {
      this.streamInfo.bytesSent += n;
      this.conn.hcm.stats.downstream_cx_tx_bytes_total.add(n);
      if (this.#chunkedResponse) {
        this.conn.write(`${n.toString(16)}\r\n`);
        this.conn.write(data);
        this.conn.write(endStream ? '\r\n0\r\n\r\n' : '\r\n');
        if (endStream) this.#endResponse(true);
        return;
      }
      this.conn.write(data);
    } else if (n > 0 && this.upgraded) {
      this.streamInfo.bytesSent += n;
      this.conn.write(data);
    }
    if (endStream) this.#endResponse();
  }

  #endResponse(terminatorWritten = false): void {
    if (this.#responseComplete) return;
    this.#responseComplete = true;
    if (this.#chunkedResponse && !terminatorWritten) this.conn.write('0\r\n\r\n');
    if (this.upgraded) {
      this.conn.end();
      this.conn.hcm.stats.downstream_cx_upgrades_active.dec();
    }
    if (!this.requestComplete) this.closeAfterResponse = true;
    this.#complete();
  }

  resetStream(): void {
    if (this.#done) return;
    this.conn.hcm.stats.downstream_rq_tx_reset.inc();
    this.streamInfo.setResponseFlag(ResponseFlag.LocalReset);
    this.#complete();
    this.conn.destroy();
  }

  /** The downstream went away before the stream finished (Envoy's DC). */
  resetFromDownstream(): void {
    if (this.#done) return;
    this.conn.hcm.stats.downstream_rq_rx_reset.inc();
    this.streamInfo.setResponseFlag(ResponseFlag.DownstreamConnectionTermination);
    this.#complete();
    this.conn.socket.destroy();
  }

  /** A client half-closed an upgraded (tunnel) stream: pass the end upstream. */
  endUpgradedFromDownstream(): void {
    this.requestComplete = true;
    this.#runDecodeData(0, EMPTY, true);
  }

  #complete(): void {
    if (this.#done) return;
    this.#done = true;
    const info = this.streamInfo;
    const hcm = this.conn.hcm;
    info.durationMs = info.elapsedMs();
    hcm.stats.downstream_rq_active.dec();
    if (info.responseCode > 0 && this.#responseComplete) {
      hcm.stats.downstream_rq_completed.inc();
      hcm.stats.recordResponseClass(info.responseCode);
    }
    hcm.stats.downstream_rq_time.record(info.durationMs);
    let filterLogs = false;
    for (let i = 0; i < this.#filters.length; i++) {
      const f = this.#filters[i]!;
      f.decoder?.onDestroy();
      if (f.encoder !== undefined && f.encoder !== (f.decoder as unknown)) f.encoder.onDestroy();
      if (f.log !== undefined) filterLogs = true;
    }
    if (this.#readDisabledByStream > 0) {
      this.#readDisabledByStream = 0;
      this.conn.readDisable(false);
    }
    if (info.activeSpan !== null || hcm.accessLoggers.length > 0 || filterLogs)
      deferStreamTelemetry(info, hcm.accessLoggers, this.#filters);
    if (this.requestComplete || this.closeAfterResponse) this.conn.onStreamComplete(this);
    else {
      this.closeAfterResponse = true;
      this.conn.onStreamComplete(this);
    }
  }
}
