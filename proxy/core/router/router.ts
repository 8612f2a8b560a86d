// The router, core as Envoy's source/common/router (envoy.filters.http.router only configures and
// registers it), per stream: resolves the route's cluster, applies rewrites and header
// mutations, picks a host (hash policies feed RING_HASH/MAGLEV), runs one UpstreamRequest per
// attempt, streams the body both ways with flow control and turns upstream failures into
// Envoy's local replies and response flags.
import { Buffer } from 'node:buffer';
import type { StreamDecoderFilter, StreamFilterCallbacks } from '../http/filter.js';
import { FilterDataStatus, FilterHeadersStatus } from '../http/filter.js';
import { HeaderMap } from '../http/headers.js';
import {
  isHopByHopResponseHeader,
  isHopByHopResponseHeaderBut101Upgrade,
  setUpstreamServiceTime,
} from '../http/header-utility.js';
import { applyHeaderMutation, type Route } from './route-table.js';
import { hashString } from '../upstream/load-balancer.js';
import type { Cluster, ResourceManager } from '../upstream/cluster.js';
import type { PoolFailureReason } from '../upstream/conn-pool.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import { ResponseFlag } from '../stream-info.js';
import { UpstreamRequest, type AttemptOwner } from './upstream-request.js';
import { autoServerName } from './auto-server-name.js';
import type { Counter } from '../../stats/types.js';
import type { Host } from '../upstream/host.js';
import type { Runtime } from '../../runtime/index.js';
import { RetryState, finalTimeouts } from '../upstream/retry-policy.js';
import { mirrorClusterName, ShadowRequest, shouldMirror } from '../upstream/request-mirror.js';
import { grpcStatusOf, isGrpcRequest } from '../grpc/common.js';
import { WheelTimer, type WheelTimerOwner } from '../timer-wheel.js';
import { readTime } from '../read-clock.js';

/** The router's timers on the wheel (WheelTimerOwner kinds). */
const GLOBAL_TIMEOUT = 0;
const PER_TRY_TIMEOUT = 1;

/** `http.<stat_prefix>.*` counters the router owns. */
export interface RouterStats {
  readonly no_route: Counter;
  readonly no_cluster: Counter;
  readonly rq_direct_response: Counter;
  readonly rq_redirect: Counter;
}

export interface RouterConfig {
  readonly clusterManager: ClusterManager;
  readonly stats: RouterStats;
  /** Request mirrors draw their `runtime_fraction` from it. */
  readonly runtime: Runtime;
  readonly suppressEnvoyHeaders: boolean;
  readonly startChildSpan: boolean;
}

const UPSTREAM_RESET_PREFIX = 'upstream connect error or disconnect/reset before headers. reset reason: ';
const EMPTY = Buffer.alloc(0);
/** Envoy marks its circuit-breaker replies so a downstream Envoy does not retry them. */
const markOverloaded = (headers: HeaderMap): void => headers.set('x-envoy-overloaded', 'true');

export class RouterFilter implements StreamDecoderFilter, AttemptOwner, WheelTimerOwner {
  readonly #config: RouterConfig;
  readonly #cb: StreamFilterCallbacks;
  #route: Route | null = null;
  #cluster: Cluster | null = null;
  #weightedIndex = -1;
  #upstream: UpstreamRequest | null = null;
  #attempts = 0;
  #buffered: Buffer[] | null = null;
  #bufferedBytes = 0;
  #bufferedEnd = false;
  #requestEnded = false;
  /** The route timeout (created when first armed). */
  #timer: WheelTimer | null = null;
  #responseStarted = false;
  #downstreamBackedUp = false;
  #upstreamBackedUp = false;
  #setCookie: string | null = null;
  #countedRequest = false;
  // --- retries, per-try timeouts and mirrors ---
  #retryState: RetryState | null = null;
  /** The route priority's circuit breakers (DEFAULT or HIGH). */
  #resources: ResourceManager | null = null;
  /** The request body kept for replays; null once it outgrew the retry buffer (no retry then). */
  #retryBody: Buffer[] | null = null;
  #retryBodyBytes = 0;
  #retryBufferLimit = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #perTryTimeoutMs = 0;
  #perTryTimer: WheelTimer | null = null;
  #hashKeyValue = -1;
  #shadows: ShadowRequest[] | null = null;
  /** The request is gRPC and the retry policy names gRPC statuses: grpc-status decides retries. */
  #grpcRetry = false;
  /**
   * A gRPC response head held back while a retry may still follow: its status is in the
   * trailers, so the head leaves only with the first message (or the trailers, if not retried).
   */
  #heldHeaders: HeaderMap | null = null;

  constructor(config: RouterConfig, callbacks: StreamFilterCallbacks) {
    this.#config = config;
    this.#cb = callbacks;
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    const cb = this.#cb;
    const info = cb.streamInfo;
    const route = cb.route();
    if (route === null) {
      this.#config.stats.no_route.inc();
      cb.sendLocalReply(404, '', ResponseFlag.NoRouteFound, 'route_not_found');
      return FilterHeadersStatus.StopIteration;
    }
    this.#route = route;
    if (route.kind === 'direct_response') {
      this.#config.stats.rq_direct_response.inc();
      this.#directResponse(route);
      return FilterHeadersStatus.StopIteration;
    }
    if (route.kind === 'redirect') {
      this.#config.stats.rq_redirect.inc();
      this.#redirect(route, headers);
      return FilterHeadersStatus.StopIteration;
    }
    if (cb.upgradeType !== '' && !(route.upgrades.get(cb.upgradeType) ?? cb.upgradeEnabledByDefault)) {
      cb.sendLocalReply(403, '', 0, 'upgrade_failed');
      return FilterHeadersStatus.StopIteration;
    }
    const picked = route.pickCluster(headers);
    const cluster = picked.name === null ? undefined : this.#config.clusterManager.get(picked.name);
    if (cluster === undefined) {
      this.#config.stats.no_cluster.inc();
      cb.sendLocalReply(route.clusterNotFoundCode, '', ResponseFlag.NoClusterFound, 'cluster_not_found');
      return FilterHeadersStatus.StopIteration;
    }
    this.#cluster = cluster;
    this.#weightedIndex = picked.weightedIndex;
    info.upstreamCluster = cluster.name;
    const stats = cluster.info.stats;
    stats.upstream_rq_total.inc();
    stats.upstream_rq_active.inc();
    this.#countedRequest = true;
    const resources = route.priority === 'HIGH' ? cluster.info.highResources : cluster.info.resources;
    if (resources.requests >= resources.maxRequests) {
      stats.upstream_rq_pending_overflow.inc();
      cb.sendLocalReply(
        503,
        `${UPSTREAM_RESET_PREFIX}overflow`,
        ResponseFlag.UpstreamOverflow,
        'upstream_reset_before_response_started{overflow}',
        this.#overloadedHook(),
      );
      return FilterHeadersStatus.StopIteration;
    }
    resources.requests++;
    this.#resources = resources;

    // Request rewrites (Envoy keeps the original path in x-envoy-original-path).
    const fullPath = headers.get(':path') ?? '/';
    const q = fullPath.indexOf('?');
    const rewritten = route.rewritePath(
      q === -1 ? fullPath : fullPath.slice(0, q),
      q === -1 ? '' : fullPath.slice(q + 1),
    );
    if (rewritten !== null) {
      headers.set(':path', rewritten);
      if (!this.#config.suppressEnvoyHeaders) headers.set('x-envoy-original-path', fullPath);
    }
    if (route.hostRewriteLiteral !== null) headers.set(':authority', route.hostRewriteLiteral);
    else if (route.hostRewriteHeader !== null) {
      const v = headers.get(route.hostRewriteHeader);
      if (v !== undefined && v !== '') headers.set(':authority', v);
    }
    if (this.#weightedIndex >= 0)
      applyHeaderMutation(route.weightedClusters![this.#weightedIndex]!.mutation, headers, info);
    for (const m of route.requestMutations) applyHeaderMutation(m, headers, info);

    this.#hashKeyValue = route.hashPolicies.length === 0 ? -1 : this.#hashKey(route, headers);
    const host = cluster.chooseHost(this.#hashKeyValue);
    if (host === null) {
      stats.upstream_cx_none_healthy.inc();
      cb.sendLocalReply(503, 'no healthy upstream', ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return FilterHeadersStatus.StopIteration;
    }
    if (route.autoHostRewrite && host.description.hostname !== '') headers.set(':authority', host.description.hostname);
    this.#requestEnded = endStream;
    const timeouts = finalTimeouts(route.timeoutMs, route.retryPolicy?.perTryTimeoutMs ?? 0, headers);
    if (timeouts.globalMs > 0 && cb.upgradeType === '') {
      (this.#timer ??= new WheelTimer(this, GLOBAL_TIMEOUT)).arm(timeouts.globalMs);
    }
    if (cb.upgradeType === '') {
      this.#perTryTimeoutMs = timeouts.perTryMs;
      this.#retryState = RetryState.create(route.retryPolicy, headers, resources, stats);
      if (this.#retryState !== null) {
        this.#grpcRetry = this.#retryState.retriesGrpc && isGrpcRequest(headers);
        this.#retryBody = [];
        this.#retryBufferLimit =
          route.perRequestBufferLimitBytes >= 0 ? route.perRequestBufferLimitBytes : cluster.info.bufferLimitBytes;
      }
      if (route.mirrorPolicies.length > 0) this.#startShadows(route, headers, timeouts.globalMs, endStream);
    }
    this.#startAttempt(host);
    return FilterHeadersStatus.StopIteration;
  }

  #startAttempt(host: Host): void {
    const cb = this.#cb;
    const info = cb.streamInfo;
    this.#attempts++;
    info.attemptCount = this.#attempts;
    info.upstreamHost = host.addressString;
    if (this.#route!.virtualHost.includeRequestAttemptCount)
      cb.requestHeaders.set('x-envoy-attempt-count', String(this.#attempts));
    this.#retryState?.onHostAttempted(host);
    const attempt = new UpstreamRequest(this, this.#attempts, this.#cluster!.name, host);
    attempt.downstreamHttp2 = info.protocol === 'HTTP/2';
    if (host.poolsForServerName !== null) attempt.serverName = autoServerName(this.#cluster!.info, cb.requestHeaders);
    this.#upstream = attempt;
    if (this.#perTryTimeoutMs > 0)
      (this.#perTryTimer ??= new WheelTimer(this, PER_TRY_TIMEOUT)).arm(this.#perTryTimeoutMs);
    attempt.start();
  }

  /** previous_hosts: re-picks while the host was tried before, up to host_selection_retry_max_attempts. */
  #pickHost(): Host | null {
    const cluster = this.#cluster!;
    const state = this.#retryState;
    let host = cluster.chooseHost(this.#hashKeyValue);
    if (state === null || host === null) return host;
    for (let i = 0; i < state.hostSelectionMaxAttempts && state.shouldSelectAnotherHost(host); i++) {
      const next = cluster.chooseHost(this.#hashKeyValue);
      if (next === null) break;
      host = next;
    }
    return host;
  }

  /** request_mirror_policies: fire-and-forget copies to the shadow clusters. */
  #startShadows(route: Route, headers: HeaderMap, timeoutMs: number, endStream: boolean): void {
    const snapshot = this.#config.runtime.snapshot();
    for (const policy of route.mirrorPolicies) {
      const name = mirrorClusterName(policy, headers);
      const shadowCluster = name === undefined ? undefined : this.#config.clusterManager.get(name);
      if (shadowCluster === undefined || !shouldMirror(policy, snapshot)) continue;
      const shadow = new ShadowRequest(
        shadowCluster,
        headers,
        policy.appendShadowSuffix,
        timeoutMs,
        shadowCluster.info.bufferLimitBytes,
      );
      if (!shadow.start()) continue;
      if (endStream) shadow.data(EMPTY, true);
      (this.#shadows ??= []).push(shadow);
    }
  }

  #overloadedHook(): ((headers: HeaderMap) => void) | undefined {
    return this.#config.suppressEnvoyHeaders ? undefined : markOverloaded;
  }

  #clearPerTryTimer(): void {
    this.#perTryTimer?.cancel();
  }

  onWheelTimer(kind: number): void {
    if (kind === GLOBAL_TIMEOUT) this.#onTimeout();
    else this.#perTryTimeout();
  }

  /**
   * Envoy's retry decision after a try failed (or answered with a retriable status): true when a
   * retry was scheduled. A request still streaming its body, or whose body outgrew the retry
   * buffer, cannot be replayed. Exhausted retries flag URX, a full retry breaker flags UO.
   */
  #tryRetry(attempt: UpstreamRequest, retriable: boolean): boolean {
    const state = this.#retryState;
    if (state === null) return false;
    if (!retriable) {
      state.shouldRetry(false);
      return false;
    }
    if (!this.#requestEnded || this.#retryBody === null) return false;
    const status = state.shouldRetry(true);
    if (status === 'retry') {
      this.#clearPerTryTimer();
      this.#upstream = null;
      attempt.reset();
      this.#finishAttempt(attempt, true);
      this.#retryTimer = setTimeout(() => this.#retry(), state.nextBackoffMs());
      return true;
    }
    if (status === 'limit_exceeded') this.#cb.streamInfo.setResponseFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    else if (status === 'overflow') this.#cb.streamInfo.setResponseFlag(ResponseFlag.UpstreamOverflow);
    return false;
  }

  #retry(): void {
    this.#retryTimer = null;
    const host = this.#pickHost();
    if (host === null) {
      this.#cluster!.info.stats.upstream_cx_none_healthy.inc();
      this.#cb.sendLocalReply(503, 'no healthy upstream', ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return;
    }
    this.#cluster!.info.stats.upstream_rq_total.inc(); // Envoy counts every try
    const body = this.#retryBody!;
    this.#buffered = body.length === 0 ? null : body.slice();
    this.#bufferedBytes = this.#retryBodyBytes;
    this.#bufferedEnd = true;
    this.#startAttempt(host);
  }

  #perTryTimeout(): void {
    const up = this.#upstream;
    if (up === null) return;
    const cluster = this.#cluster!;
    cluster.info.stats.upstream_rq_per_try_timeout.inc();
    up.host.stats.rq_timeout++;
    up.responseFlags |= ResponseFlag.UpstreamRequestTimeout;
    cluster.resilience?.outlier?.putResult(up.host, 'local_origin_timeout');
    if (this.#tryRetry(up, this.#retryState?.wouldRetryFromFailure('per_try_timeout') ?? false)) return;
    this.#upstream = null;
    up.reset();
    this.#finishAttempt(up);
    this.#cb.sendLocalReply(
      504,
      'upstream request timeout',
      ResponseFlag.UpstreamRequestTimeout,
      'upstream_per_try_timeout',
    );
  }

  #hashKey(route: Route, headers: HeaderMap): number {
    let key = -1;
    for (const p of route.hashPolicies) {
      let value: string | undefined;
      switch (p.kind) {
        case 'header':
          value = headers.get(p.name);
          break;
        case 'source_ip':
          value = this.#cb.streamInfo.downstreamRemoteAddress;
          break;
        case 'query_parameter': {
          const path = headers.get(':path') ?? '';
          const q = path.indexOf('?');
          value = q === -1 ? undefined : (new URLSearchParams(path.slice(q + 1)).get(p.name) ?? undefined);
          break;
        }
        case 'cookie': {
          value = readCookie(headers.get('cookie'), p.name);
          if (value === undefined && p.cookieTtlMs >= 0) {
            // Envoy generates the cookie so the client sticks from its next request on.
            value = hashString(
              `${this.#cb.streamInfo.downstreamRemoteAddress}:${this.#cb.streamInfo.downstreamRemotePort}:${Date.now()}`,
            ).toString(16);
            let cookie = `${p.name}="${value}"`;
            if (p.cookieTtlMs > 0) cookie += `; Max-Age=${Math.floor(p.cookieTtlMs / 1000)}`;
            if (p.cookiePath !== '') cookie += `; Path=${p.cookiePath}`;
            this.#setCookie = `${cookie}; HttpOnly`;
          }
          break;
        }
      }
      if (value === undefined) continue;
      const h = hashString(value);
      // Envoy combines successive hashes by rotating and xoring.
      key = key === -1 ? h : (((key << 1) | (key >>> 31)) ^ h) >>> 0;
      if (p.terminal) break;
    }
    return key;
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (endStream) this.#requestEnded = true;
    if (this.#retryBody !== null) {
      this.#retryBodyBytes += data.length;
      if (this.#retryBodyBytes > this.#retryBufferLimit) this.#retryBody = null;
      else this.#retryBody.push(data);
    }
    if (this.#shadows !== null) for (const s of this.#shadows) s.data(data, endStream);
    const up = this.#upstream;
    if (up === null || up.encoder === null || this.#buffered !== null) {
      if (up === null && this.#cluster === null) return FilterDataStatus.Continue;
      (this.#buffered ??= []).push(data);
      this.#bufferedBytes += data.length;
      if (endStream) this.#bufferedEnd = true;
      // Waiting for a connection: stop reading downstream past the cluster's buffer limit.
      if (this.#bufferedBytes > this.#cluster!.info.bufferLimitBytes && !this.#upstreamBackedUp) this.#backedUp(true);
      return FilterDataStatus.Continue;
    }
    if (!this.#writeBody(up, data, endStream) && !this.#upstreamBackedUp) this.#backedUp(true);
    return FilterDataStatus.Continue;
  }

  /** Body bytes to the attempt; a request that ends with trailers ends with them (HTTP/2 upstreams take them). */
  #writeBody(up: UpstreamRequest, data: Buffer, endStream: boolean): boolean {
    const trailers = endStream ? this.#cb.streamInfo.requestTrailers : null;
    if (trailers === null) return up.writeBody(data, endStream);
    const ok = data.length === 0 || up.writeBody(data, false);
    up.writeTrailers(trailers);
    return ok;
  }

  /** The upstream took more than it can send (or drained): reading the request downstream stops (resumes). */
  #backedUp(above: boolean): void {
    this.#upstreamBackedUp = above;
    const stats = this.#cluster!.info.stats;
    if (above) stats.upstream_flow_control_backed_up_total.inc();
    else stats.upstream_flow_control_drained_total.inc();
    this.#cb.readDisable(above);
  }

  /**
   * The downstream holds more than its buffer limit (or drained): reading the response stops
   * (resumes), so its bytes wait in the upstream's socket or HTTP/2 window, not here.
   */
  onDownstreamWatermark(above: boolean): void {
    if (above === this.#downstreamBackedUp) return;
    this.#downstreamBackedUp = above;
    const up = this.#upstream;
    // Before the upstream stream exists, onAttemptPoolReady pauses it.
    if (up !== null && up.encoder !== null) this.#pauseResponse(up, above);
  }

  #pauseResponse(up: UpstreamRequest, pause: boolean): void {
    const stats = this.#cluster!.info.stats;
    if (pause) stats.upstream_flow_control_paused_reading_total.inc();
    else stats.upstream_flow_control_resumed_reading_total.inc();
    up.pauseResponse(pause);
  }

  onDestroy(): void {
    this.#timer?.cancel();
    this.#clearPerTryTimer();
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    this.#retryState?.release();
    const up = this.#upstream;
    if (up !== null) {
      this.#upstream = null;
      up.reset();
      this.#finishAttempt(up);
    }
    if (this.#countedRequest && this.#cluster !== null) {
      this.#countedRequest = false;
      this.#cluster.info.stats.upstream_rq_active.dec();
      // Ended without a finished try (no healthy host, downstream reset during a retry back-off).
      this.#releaseRequest();
    }
    if (this.#upstreamBackedUp) this.#backedUp(false);
  }

  // --- attempt events ---

  onAttemptPoolReady(attempt: UpstreamRequest): void {
    if (attempt !== this.#upstream) return;
    // With split_external_local_origin_errors, a connection that works resets the local-origin streak.
    this.#cluster!.resilience?.outlier?.putResult(attempt.host, 'local_origin_connect_success');
    const cb = this.#cb;
    cb.streamInfo.upstreamSsl = attempt.encoder?.transport?.ssl ?? null;
    const headers = cb.requestHeaders;
    const span = cb.streamInfo.activeSpan;
    if (span !== null) {
      // The tracer decides whether an attempt gets its own CLIENT span or reuses the stream's.
      attempt.span = span.spawnChild(
        `router ${attempt.cluster} egress`,
        attempt.startTimeMs,
        this.#config.startChildSpan,
      );
      attempt.span.injectContext(headers);
    }
    // A request that already ended with nothing buffered ends with its head (a tunnel's too:
    // the client half-closed before the upstream connected).
    const buffered = this.#buffered;
    const trailers = this.#requestEnded ? cb.streamInfo.requestTrailers : null;
    let ok = attempt.writeHead(
      headers,
      this.#requestEnded && buffered === null && trailers === null,
      cb.upgradeType !== '',
    );
    this.#buffered = null;
    this.#bufferedBytes = 0;
    if (buffered !== null) {
      const data = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered);
      ok = this.#writeBody(attempt, data, this.#bufferedEnd);
    } else if (trailers !== null) attempt.writeTrailers(trailers);
    if (ok === this.#upstreamBackedUp) this.#backedUp(!ok);
    if (this.#downstreamBackedUp) this.#pauseResponse(attempt, true);
  }

  onAttemptPoolFailure(
    attempt: UpstreamRequest,
    reason: PoolFailureReason,
    transportFailureReason: string | null,
  ): void {
    if (attempt !== this.#upstream) return;
    this.#clearPerTryTimer();
    if (reason === 'overflow') {
      this.#upstream = null;
      attempt.reset();
      attempt.responseFlags |= ResponseFlag.UpstreamOverflow;
      this.#finishAttempt(attempt);
      this.#cb.sendLocalReply(
        503,
        `${UPSTREAM_RESET_PREFIX}overflow`,
        ResponseFlag.UpstreamOverflow,
        'upstream_reset_before_response_started{overflow}',
        this.#overloadedHook(),
      );
      return;
    }
    attempt.responseFlags |= ResponseFlag.UpstreamConnectionFailure;
    if (transportFailureReason !== null) this.#cb.streamInfo.upstreamTransportFailureReason = transportFailureReason;
    attempt.host.stats.rq_error++;
    this.#cluster!.resilience?.outlier?.putResult(attempt.host, 'local_origin_connect_failed');
    if (this.#tryRetry(attempt, this.#retryState?.wouldRetryFromFailure('connect_failure') ?? false)) return;
    this.#upstream = null;
    attempt.reset();
    this.#finishAttempt(attempt);
    // Envoy names the transport's failure (a TLS handshake or verification) in the body too.
    this.#cb.sendLocalReply(
      503,
      `${UPSTREAM_RESET_PREFIX}connection failure${transportFailureReason === null ? '' : `, transport failure reason: ${transportFailureReason}`}`,
      ResponseFlag.UpstreamConnectionFailure,
      'upstream_reset_before_response_started{connection_failure}',
    );
  }

  onAttemptInformational(attempt: UpstreamRequest, status: number, headers: HeaderMap): void {
    // Envoy's upstream request drops every 1xx but 100, 102 and 103 (101 is an upgrade's final
    // response, not this); the connection manager passes those on only with proxy_100_continue.
    if (attempt !== this.#upstream || (status !== 100 && status !== 102 && status !== 103)) return;
    // What Envoy's router does with those three (onUpstream1xxHeaders): charges the code, and
    // takes the response as started, so no retry follows and the per-try timeout is off.
    this.#cluster!.info.stats.recordResponseCode(status);
    this.#retryState = null;
    this.#clearPerTryTimer();
    headers.prepend(':status', String(status));
    this.#cb.encode1xxHeaders(headers);
  }

  onAttemptHeaders(attempt: UpstreamRequest, status: number, headers: HeaderMap, endStream: boolean): void {
    if (attempt !== this.#upstream) return;
    if (
      !endStream &&
      this.#grpcRetry &&
      status === 200 &&
      this.#requestEnded &&
      this.#retryBody !== null &&
      grpcStatusOf(headers) === -1
    ) {
      this.#clearPerTryTimer();
      this.#heldHeaders = headers;
      return;
    }
    this.#forwardHeaders(attempt, status, headers, endStream);
  }

  /** Sends the held gRPC response head on (a message or non-retried trailers followed it). */
  #releaseHeldHeaders(attempt: UpstreamRequest): void {
    const held = this.#heldHeaders!;
    this.#heldHeaders = null;
    this.#forwardHeaders(attempt, 200, held, false);
  }

  #forwardHeaders(attempt: UpstreamRequest, status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.#retryOnHeaders(attempt, status, headers)) return;
    const cluster = this.#cluster!;
    const route = this.#route!;
    const cb = this.#cb;
    const info = cb.streamInfo;
    this.#responseStarted = true;
    // One clock read for the stream's first-byte time and the attempt's service time.
    const now = readTime();
    info.upstreamFirstByteMs = now - info.startMonotonic;
    info.upstreamProtocol = attempt.protocol;
    cluster.info.stats.recordResponseCode(status);
    if (status >= 500) attempt.host.stats.rq_error++;
    else attempt.host.stats.rq_success++;
    // The parsed upstream map becomes the response map: hop-by-hop headers go, :status leads.
    headers.removeIf(status === 101 ? isHopByHopResponseHeaderBut101Upgrade : isHopByHopResponseHeader);
    headers.prepend(':status', String(status));
    if (!this.#config.suppressEnvoyHeaders) setUpstreamServiceTime(headers, attempt.elapsedMs(now));
    if (this.#setCookie !== null) headers.add('set-cookie', this.#setCookie);
    if (this.#weightedIndex >= 0)
      applyHeaderMutation(route.weightedClusters![this.#weightedIndex]!.responseMutation, headers, info);
    for (const m of route.responseMutations) applyHeaderMutation(m, headers, info);
    // A head that ends the response (gRPC's trailers-only) must leave as one: a gRPC client reads
    // a head followed by an empty end as a call without status.
    if (endStream) this.#completeAttempt(attempt);
    cb.encodeHeaders(headers, endStream);
  }

  /** Outlier accounting for a response; true when it is discarded for a retry. */
  #retryOnHeaders(attempt: UpstreamRequest, status: number, headers: HeaderMap): boolean {
    this.#clearPerTryTimer();
    const cluster = this.#cluster!;
    cluster.resilience?.outlier?.putHttpResponseCode(attempt.host, status);
    const state = this.#retryState;
    const retriable =
      state !== null &&
      (state.wouldRetryFromHeaders(status, headers) ||
        (this.#grpcRetry && status === 200 && state.wouldRetryFromGrpcStatus(grpcStatusOf(headers))));
    if (retriable && this.#tryRetry(attempt, true)) {
      cluster.info.stats.recordResponseCode(status);
      attempt.host.stats.rq_error++;
      return true;
    }
    if (state !== null && !retriable) state.shouldRetry(false);
    if (this.#route!.virtualHost.includeAttemptCountInResponse)
      headers.add('x-envoy-attempt-count', String(this.#attempts));
    return false;
  }

  onAttemptData(attempt: UpstreamRequest, data: Buffer): void {
    if (attempt !== this.#upstream) return;
    if (this.#heldHeaders !== null) {
      this.#releaseHeldHeaders(attempt);
      if (attempt !== this.#upstream) return;
    }
    this.#cb.encodeData(data, false);
  }

  onAttemptComplete(attempt: UpstreamRequest, trailers: HeaderMap | null, data: Buffer): void {
    if (attempt !== this.#upstream) return;
    if (this.#heldHeaders !== null) {
      // The status came in the trailers: a retriable one discards this try's whole response.
      if (trailers !== null && this.#retryState!.wouldRetryFromGrpcStatus(grpcStatusOf(trailers))) {
        if (this.#tryRetry(attempt, true)) {
          this.#heldHeaders = null;
          this.#cluster!.resilience?.outlier?.putHttpResponseCode(attempt.host, 200);
          this.#cluster!.info.stats.recordResponseCode(200);
          attempt.host.stats.rq_error++;
          return;
        }
      }
      this.#releaseHeldHeaders(attempt);
      if (attempt !== this.#upstream) return;
    }
    // The attempt's CLIENT span, finished just below, reads the status from the trailers too.
    if (trailers !== null) this.#cb.streamInfo.responseTrailers = trailers;
    this.#completeAttempt(attempt);
    // The last body bytes leave with the end; the attempt is complete first, so the downstream
    // backing up on them pauses nothing (the connection may already serve another request).
    if (trailers === null) this.#cb.encodeData(data, true);
    else this.#cb.encodeTrailers(trailers);
  }

  /** The current attempt's response is complete: timers off, the try counted and forgotten. */
  #completeAttempt(attempt: UpstreamRequest): void {
    this.#timer?.cancel();
    this.#finishAttempt(attempt);
    this.#upstream = null;
    // The upstream answered before the request body was complete: the downstream connection
    // cannot be reused; the attempt's socket is not reusable either.
    if (!this.#requestEnded && !attempt.raw) attempt.reset();
  }

  onAttemptReset(attempt: UpstreamRequest, protocolError: boolean, refused = false): void {
    if (attempt !== this.#upstream) return;
    this.#heldHeaders = null;
    this.#clearPerTryTimer();
    const cluster = this.#cluster!;
    cluster.info.stats.upstream_rq_rx_reset.inc();
    attempt.host.stats.rq_error++;
    const flag = protocolError ? ResponseFlag.UpstreamProtocolError : ResponseFlag.UpstreamConnectionTermination;
    attempt.responseFlags |= flag;
    cluster.resilience?.outlier?.putResult(attempt.host, 'local_origin_connect_failed');
    const failure = refused ? 'refused_stream' : 'reset';
    if (!this.#responseStarted && this.#tryRetry(attempt, this.#retryState?.wouldRetryFromFailure(failure) ?? false))
      return;
    this.#upstream = null;
    this.#finishAttempt(attempt);
    if (this.#responseStarted) {
      this.#cb.streamInfo.setResponseFlag(flag);
      this.#cb.resetStream();
      return;
    }
    if (protocolError)
      this.#cb.sendLocalReply(
        502,
        'upstream protocol error',
        flag,
        'upstream_reset_before_response_started{protocol_error}',
      );
    else
      this.#cb.sendLocalReply(
        503,
        `${UPSTREAM_RESET_PREFIX}connection termination`,
        flag,
        'upstream_reset_before_response_started{connection_termination}',
      );
  }

  onAttemptDrain(attempt: UpstreamRequest): void {
    if (attempt !== this.#upstream || !this.#upstreamBackedUp) return;
    this.#backedUp(false);
  }

  #onTimeout(): void {
    this.#heldHeaders = null;
    this.#clearPerTryTimer();
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    const cluster = this.#cluster!;
    cluster.info.stats.upstream_rq_timeout.inc();
    const up = this.#upstream;
    if (up !== null) {
      this.#upstream = null;
      cluster.resilience?.outlier?.putResult(up.host, 'local_origin_timeout');
      up.host.stats.rq_timeout++;
      up.responseFlags |= ResponseFlag.UpstreamRequestTimeout;
      up.reset();
      this.#finishAttempt(up);
    }
    if (this.#responseStarted) {
      this.#cb.streamInfo.setResponseFlag(ResponseFlag.UpstreamRequestTimeout);
      this.#cb.resetStream();
      return;
    }
    this.#cb.sendLocalReply(
      504,
      'upstream request timeout',
      ResponseFlag.UpstreamRequestTimeout,
      'upstream_response_timeout',
    );
  }

  /** Gives back the max_requests slot taken in decodeHeaders. */
  #releaseRequest(): void {
    const r = this.#resources;
    if (r === null) return;
    this.#resources = null;
    r.requests--;
  }

  /** `retrying`: only this try ended; the request itself stays active for the next one. */
  #finishAttempt(attempt: UpstreamRequest, retrying = false): void {
    const cluster = this.#cluster;
    if (cluster === null) return;
    if (this.#countedRequest && !retrying) {
      this.#countedRequest = false;
      cluster.info.stats.upstream_rq_active.dec();
      this.#releaseRequest();
    }
    if (attempt.responseCode > 0) {
      cluster.info.stats.upstream_rq_completed.inc();
      cluster.info.stats.upstream_rq_time.record(attempt.elapsedMs());
    }
    if (attempt.span !== null) {
      const span = attempt.span;
      attempt.span = null;
      span.finishSpan(this.#cb.streamInfo, attempt);
    }
  }

  #directResponse(route: Route): void {
    const cb = this.#cb;
    const info = cb.streamInfo;
    const headers = new HeaderMap();
    headers.add(':status', String(route.directStatus));
    const body = route.directBody;
    headers.add('content-length', String(body?.length ?? 0));
    if (body !== null && body.length > 0) headers.add('content-type', 'text/plain');
    for (const m of route.responseMutations) applyHeaderMutation(m, headers, info);
    info.responseCodeDetails = 'direct_response';
    const end = body === null || body.length === 0;
    cb.encodeHeaders(headers, end);
    if (!end) cb.encodeData(body, true);
  }

  #redirect(route: Route, headers: HeaderMap): void {
    const cb = this.#cb;
    const info = cb.streamInfo;
    const full = headers.get(':path') ?? '/';
    const q = full.indexOf('?');
    const scheme = headers.get('x-forwarded-proto') ?? 'http';
    const location = route.redirectLocation(
      scheme,
      headers.get(':authority') ?? '',
      q === -1 ? full : full.slice(0, q),
      q === -1 ? '' : full.slice(q + 1),
    );
    const out = new HeaderMap();
    out.add(':status', String(route.redirect!.code));
    out.add('location', location);
    out.add('content-length', '0');
    for (const m of route.responseMutations) applyHeaderMutation(m, out, info);
    info.responseCodeDetails = 'direct_response';
    cb.encodeHeaders(out, true);
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}
