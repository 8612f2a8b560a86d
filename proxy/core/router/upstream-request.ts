// One upstream attempt (Envoy's UpstreamRequest): gets a stream from the host's connection pool,
// writes the request through the pool's client codec (whatever its protocol), and relays the
// response events to the router tagged with itself, so a router that retries can tell a stale
// attempt from the current one. Owns its CLIENT span when the stream is traced.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { readTime } from '../read-clock.js';
import type { HeaderMap } from '../http/headers.js';
import type { RequestEncoder, ResponseDecoder, StreamResetReason } from '../http/codec/types.js';
import type { Host } from '../upstream/host.js';
import type { Cancellable, PoolCallbacks, PoolFailureReason } from '../upstream/conn-pool.js';
import type { HttpProtocol, Span, UpstreamAttemptInfo } from '../stream-info.js';

const EMPTY = Buffer.alloc(0);

export interface AttemptOwner {
  onAttemptPoolReady(attempt: UpstreamRequest): void;
  onAttemptPoolFailure(
    attempt: UpstreamRequest,
    reason: PoolFailureReason,
    transportFailureReason: string | null,
  ): void;
  /** An interim 1xx response other than 101. */
  onAttemptInformational(attempt: UpstreamRequest, status: number, headers: HeaderMap): void;
  /**
   * The response head; `headers` holds no pseudo-headers. `endStream`: the head is the whole
   * response (HTTP/2 HEADERS with END_STREAM, e.g. gRPC's trailers-only), and no
   * onAttemptComplete follows.
   */
  onAttemptHeaders(attempt: UpstreamRequest, status: number, headers: HeaderMap, endStream: boolean): void;
  onAttemptData(attempt: UpstreamRequest, data: Buffer): void;
  /**
   * The response ended after its head, with its trailers when it had some, or with its last body
   * bytes (`data`, empty when none) when they came with the end (Envoy's decodeData(data, true)).
   */
  onAttemptComplete(attempt: UpstreamRequest, trailers: HeaderMap | null, data: Buffer): void;
  /**
   * The connection failed mid-request: closed early, reset, or sent a malformed response;
   * `refused`: the upstream refused the stream unprocessed (safe to retry on refused-stream).
   */
  onAttemptReset(attempt: UpstreamRequest, protocolError: boolean, refused?: boolean): void;
  /** The upstream write buffer drained (flow control). */
  onAttemptDrain(attempt: UpstreamRequest): void;
}

export class UpstreamRequest implements PoolCallbacks, ResponseDecoder, UpstreamAttemptInfo {
  readonly attempt: number;
  readonly cluster: string;
  readonly host: Host;
  upstreamHost: string | null;
  readonly #startMonotonic: number;
  responseCode = 0;
  responseFlags = 0;
  readonly #owner: AttemptOwner;
  /** The stream's request side once the pool is ready; null before and once the attempt is over. */
  encoder: RequestEncoder | null = null;
  #cancel: Cancellable | null = null;
  /** The request is an upgrade: its body is a raw tunnel. */
  raw = false;
  requestEnded = false;
  responseEnded = false;
  span: Span | null = null;
  /** The downstream request is HTTP/2: a use_downstream_protocol_config cluster sends it over HTTP/2. */
  downstreamHttp2 = false;
  /** auto_sni / auto_san_validation: the request's host name, whose pools the attempt takes; null for the host's own. */
  serverName: string | null = null;
  /** The protocol of the pool the attempt took (an HTTP/2 upstream may end a sized response with trailers). */
  protocol: HttpProtocol = 'HTTP/1.1';
  #finished = false;

  constructor(owner: AttemptOwner, attempt: number, cluster: string, host: Host) {
    this.#owner = owner;
    this.attempt = attempt;
    this.cluster = cluster;
    this.host = host;
    this.upstreamHost = host.addressString;
    this.#startMonotonic = readTime();
  }

  /**
   * Epoch milliseconds when the attempt started, from its monotonic start: one clock read per
   * attempt instead of two (no tracer reads it per request; spans time attempts themselves).
   */
  get startTimeMs(): number {
    return performance.timeOrigin + this.#startMonotonic;
  }

  /** Milliseconds since the attempt started, at `now` (a performance.now() the caller has). */
  elapsedMs(now: number = readTime()): number {
    return now - this.#startMonotonic;
  }

  start(): void {
    this.host.stats.rq_total++;
    this.host.stats.rq_active++;
    const pools = this.serverName === null ? this.host : this.host.poolsFor(this.serverName);
    const pool = this.downstreamHttp2 && pools.http2Pool !== null ? pools.http2Pool : pools.pool;
    this.protocol = pool.protocol;
    this.#cancel = pool.newStream(this, this);
  }

  onPoolReady(encoder: RequestEncoder): void {
    this.#cancel = null;
    this.encoder = encoder;
    this.#owner.onAttemptPoolReady(this);
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason?: string | null): void {
    this.#cancel = null;
    this.#owner.onAttemptPoolFailure(this, reason, transportFailureReason ?? null);
  }

  /**
   * Writes the head (`:path`/`:authority` already rewritten); `endStream` when the request has
   * no body, `raw` for an upgrade (its `upgrade` header makes the codec pass the body on raw).
   */
  writeHead(headers: HeaderMap, endStream: boolean, raw: boolean): boolean {
    this.raw = raw;
    if (endStream) this.requestEnded = true;
    return this.encoder!.encodeHeaders(headers, endStream);
  }

  /** Writes body bytes; returns false when the upstream is backed up. */
  writeBody(data: Buffer, end: boolean): boolean {
    if (this.requestEnded) return true;
    if (end) this.requestEnded = true;
    return this.encoder!.encodeData(data, end);
  }

  /** Ends the request with its trailers (after any body written). */
  writeTrailers(trailers: HeaderMap): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    this.encoder!.encodeTrailers(trailers);
  }

  pauseResponse(pause: boolean): void {
    this.encoder?.readDisable(pause);
  }

  // --- ResponseDecoder ---

  decode1xxHeaders(status: number, headers: HeaderMap): void {
    this.#owner.onAttemptInformational(this, status, headers);
  }

  decodeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    this.responseCode = status;
    if (endStream) {
      this.responseEnded = true;
      if (this.requestEnded || this.raw) this.encoder = null;
      this.#finish();
    }
    this.#owner.onAttemptHeaders(this, status, headers, endStream);
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (endStream) this.#onComplete(null, data);
    else if (data.length > 0) this.#owner.onAttemptData(this, data);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.#onComplete(trailers, EMPTY);
  }

  #onComplete(trailers: HeaderMap | null, data: Buffer): void {
    this.responseEnded = true;
    // Once both directions are done the pool may already have handed the connection to another request.
    if (this.requestEnded || this.raw) this.encoder = null;
    this.#finish();
    this.#owner.onAttemptComplete(this, trailers, data);
  }

  onResetStream(reason: StreamResetReason = 'reset'): void {
    this.#reset(false, reason === 'refused_stream');
  }

  onProtocolError(): void {
    this.#reset(true);
  }

  #reset(protocolError: boolean, refused = false): void {
    this.encoder = null;
    this.#finish();
    this.#owner.onAttemptReset(this, protocolError, refused);
  }

  onWriteBufferWatermark(above: boolean): void {
    if (!above) this.#owner.onAttemptDrain(this);
  }

  /** Abandons the attempt (timeout, downstream reset): the connection is closed, never reused. */
  reset(): void {
    if (this.#cancel !== null) {
      this.#cancel();
      this.#cancel = null;
    }
    const e = this.encoder;
    this.encoder = null;
    if (e !== null && !(this.responseEnded && this.requestEnded)) e.resetStream();
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.host.stats.rq_active--;
  }
}
