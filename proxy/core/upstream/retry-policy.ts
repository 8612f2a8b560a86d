// Route retry policy (envoy.config.route.v3.RetryPolicy) compiled at load, and the per-request
// RetryState the router consults after each failed try: it merges `x-envoy-retry-on` /
// `x-envoy-max-retries` / `x-envoy-retriable-status-codes`, decides whether a response or
// reset is retriable, enforces num_retries and the cluster's retry circuit breaker (or retry
// budget), and computes Envoy's fully jittered exponential back-off.
import { durationMs } from '../../api/duration.js';
import { parseRetryOn, RETRY_ON_GRPC, RetryOn, type RetryPolicyConfig } from '../../api/retry-policy.js';
import type { HeaderMap } from '../http/headers.js';
import type { Counter } from '../../stats/types.js';

/** A route's retry policy, built once at load. */
export class RetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  /** 0 = none (the route timeout bounds every try). */
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly previousHosts: boolean;
  readonly hostSelectionMaxAttempts: number;

  constructor(config: RetryPolicyConfig | undefined) {
    this.retryOn = config?.retry_on === undefined ? 0 : parseRetryOn(config.retry_on).flags;
    this.numRetries = config?.num_retries ?? 1;
    this.perTryTimeoutMs = durationMs(config?.per_try_timeout, 0);
    this.baseIntervalMs =
      config?.retry_back_off === undefined ? 25 : durationMs(config.retry_back_off.base_interval, 25);
    this.maxIntervalMs =
      config?.retry_back_off?.max_interval === undefined
        ? this.baseIntervalMs * 10
        : durationMs(config.retry_back_off.max_interval, 0);
    this.retriableStatusCodes = new Set(config?.retriable_status_codes ?? []);
    this.previousHosts = (config?.retry_host_predicate ?? []).length > 0;
    this.hostSelectionMaxAttempts = config?.host_selection_retry_max_attempts ?? 1;
  }
}

/** A route without retry_policy still honours `x-envoy-retry-on`, with Envoy's defaults. */
export const DEFAULT_RETRY_POLICY = new RetryPolicy(undefined);

/** Why an upstream try ended without a usable response. */
export type UpstreamFailure = 'connect_failure' | 'reset' | 'refused_stream' | 'per_try_timeout' | 'overflow';

export type RetryStatus = 'retry' | 'no' | 'limit_exceeded' | 'overflow';

/** The cluster's retry circuit breaker (max_retries or retry_budget), counted per worker. */
export interface RetryResources {
  /** Retries in flight on this cluster. */
  retries: number;
  retryLimit(): number;
}

export interface RetryStats {
  readonly upstream_rq_retry: Counter;
  readonly upstream_rq_retry_success: Counter;
  readonly upstream_rq_retry_overflow: Counter;
  readonly upstream_rq_retry_limit_exceeded: Counter;
  readonly upstream_rq_retry_backoff_exponential: Counter;
}

function parseUint(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

export class RetryState {
  readonly #policy: RetryPolicy;
  readonly #retryOn: number;
  readonly #statusCodes: ReadonlySet<number>;
  readonly #resources: RetryResources;
  readonly #stats: RetryStats;
  #remaining: number;
  #nextIntervalMs: number;
  /** A retry was granted and holds a slot in the retry circuit breaker. */
  #holdingRetry = false;
  readonly #attemptedHosts: unknown[] = [];

  private constructor(
    policy: RetryPolicy,
    retryOn: number,
    statusCodes: ReadonlySet<number>,
    remaining: number,
    resources: RetryResources,
    stats: RetryStats,
  ) {
    this.#policy = policy;
    this.#retryOn = retryOn;
    this.#statusCodes = statusCodes;
    this.#remaining = remaining;
    this.#resources = resources;
    this.#stats = stats;
    this.#nextIntervalMs = policy.baseIntervalMs;
  }

  /** Null when neither the route nor the request asks for retries. */
  static create(
    policy: RetryPolicy | null,
    headers: HeaderMap,
    resources: RetryResources,
    stats: RetryStats,
  ): RetryState | null {
    const p = policy ?? DEFAULT_RETRY_POLICY;
    let retryOn = p.retryOn;
    const headerOn = headers.get('x-envoy-retry-on');
    if (headerOn !== undefined) retryOn |= parseRetryOn(headerOn).flags;
    const headerGrpcOn = headers.get('x-envoy-retry-grpc-on');
    if (headerGrpcOn !== undefined) retryOn |= parseRetryOn(headerGrpcOn).flags & RETRY_ON_GRPC;
    if (retryOn === 0) return null;
    let remaining = p.numRetries;
    const headerMax = parseUint(headers.get('x-envoy-max-retries'));
    if (headerMax !== undefined) remaining = headerMax;
    let codes = p.retriableStatusCodes;
    const headerCodes = headers.get('x-envoy-retriable-status-codes');
    if (headerCodes !== undefined) {
      const merged = new Set(codes);
      for (const c of headerCodes.split(',')) {
        const n = parseUint(c);
        if (n !== undefined) merged.add(n);
      }
      codes = merged;
    }
    return new RetryState(p, retryOn, codes, remaining, resources, stats);
  }

  get policy(): RetryPolicy {
    return this.#policy;
  }

  /** Whether a response with this status (and headers) is one the policy retries. */
  wouldRetryFromHeaders(status: number, headers: HeaderMap): boolean {
    // An upstream Envoy that shed load asks not to be retried.
    if (headers.has('x-envoy-overloaded')) return false;
    const on = this.#retryOn;
    if ((on & RetryOn.FiveXx) !== 0 && status >= 500 && status < 600) return true;
    if ((on & RetryOn.GatewayError) !== 0 && (status === 502 || status === 503 || status === 504)) return true;
    if ((on & RetryOn.Retriable4xx) !== 0 && status === 409) return true;
    if ((on & RetryOn.RetriableStatusCodes) !== 0 && this.#statusCodes.has(status)) return true;
    if ((on & RetryOn.EnvoyRateLimited) !== 0 && headers.has('x-envoy-ratelimited')) return true;
    return false;
  }

  /** Whether the policy names any gRPC status (the router then reads grpc-status). */
  get retriesGrpc(): boolean {
    return (this.#retryOn & RETRY_ON_GRPC) !== 0;
  }

  /** Whether a gRPC status (from a trailers-only head or the trailers) is one the policy retries. */
  wouldRetryFromGrpcStatus(status: number): boolean {
    const on = this.#retryOn;
    switch (status) {
      case 1:
        return (on & RetryOn.GrpcCancelled) !== 0;
      case 4:
        return (on & RetryOn.GrpcDeadlineExceeded) !== 0;
      case 8:
        return (on & RetryOn.GrpcResourceExhausted) !== 0;
      case 13:
        return (on & RetryOn.GrpcInternal) !== 0;
      case 14:
        return (on & RetryOn.GrpcUnavailable) !== 0;
      default:
        return false;
    }
  }

  /** Whether a try that ended without a response is retriable. */
  wouldRetryFromFailure(failure: UpstreamFailure): boolean {
    const on = this.#retryOn;
    if (failure === 'overflow') return false;
    if (failure === 'connect_failure' && (on & RetryOn.ConnectFailure) !== 0) return true;
    if ((on & (RetryOn.FiveXx | RetryOn.GatewayError | RetryOn.Reset)) !== 0) return true;
    return failure === 'refused_stream' && (on & RetryOn.RefusedStream) !== 0;
  }

  /**
   * Envoy's shouldRetry: after a retriable outcome, spends one retry if the limit and the
   * circuit breaker allow; after a non-retriable one following a retry, counts the success.
   */
  shouldRetry(retriable: boolean): RetryStatus {
    if (!retriable) {
      if (this.#holdingRetry) this.#stats.upstream_rq_retry_success.inc();
      this.release();
      return 'no';
    }
    this.release();
    if (this.#remaining === 0) {
      this.#stats.upstream_rq_retry_limit_exceeded.inc();
      return 'limit_exceeded';
    }
    this.#remaining--;
    if (this.#resources.retries >= this.#resources.retryLimit()) {
      this.#stats.upstream_rq_retry_overflow.inc();
      return 'overflow';
    }
    this.#resources.retries++;
    this.#holdingRetry = true;
    this.#stats.upstream_rq_retry.inc();
    return 'retry';
  }

  /** Frees the retry circuit-breaker slot (the request finished or is being retried again). */
  release(): void {
    if (!this.#holdingRetry) return;
    this.#holdingRetry = false;
    this.#resources.retries--;
  }

  /** Full jitter: uniform in [0, interval), the interval doubling up to max_interval. */
  nextBackoffMs(): number {
    const interval = this.#nextIntervalMs;
    this.#nextIntervalMs = interval < this.#policy.maxIntervalMs / 2 ? interval * 2 : this.#policy.maxIntervalMs;
    this.#stats.upstream_rq_retry_backoff_exponential.inc();
    return Math.min(Math.floor(Math.random() * interval), this.#policy.maxIntervalMs);
  }

  onHostAttempted(host: unknown): void {
    if (this.#policy.previousHosts) this.#attemptedHosts.push(host);
  }

  /** previous_hosts: reject a host already tried, up to host_selection_retry_max_attempts picks. */
  shouldSelectAnotherHost(host: unknown): boolean {
    return this.#policy.previousHosts && this.#attemptedHosts.includes(host);
  }

  get hostSelectionMaxAttempts(): number {
    return this.#policy.hostSelectionMaxAttempts;
  }
}

/**
 * The route timeout and per-try timeout for one request: `x-envoy-upstream-rq-timeout-ms` and
 * `x-envoy-upstream-rq-per-try-timeout-ms` override the route's; 0 disables; a per-try timeout
 * not shorter than the global one is ignored. The headers are consumed (removed).
 */
export function finalTimeouts(
  routeTimeoutMs: number,
  perTryTimeoutMs: number,
  headers: HeaderMap,
): { globalMs: number; perTryMs: number } {
  let globalMs = routeTimeoutMs;
  const headerGlobal = parseUint(headers.get('x-envoy-upstream-rq-timeout-ms'));
  if (headerGlobal !== undefined) globalMs = headerGlobal;
  let perTryMs = perTryTimeoutMs;
  const headerPerTry = parseUint(headers.get('x-envoy-upstream-rq-per-try-timeout-ms'));
  if (headerPerTry !== undefined) perTryMs = headerPerTry;
  headers.remove('x-envoy-upstream-rq-timeout-ms');
  headers.remove('x-envoy-upstream-rq-per-try-timeout-ms');
  if (globalMs > 0 && perTryMs >= globalMs) perTryMs = 0;
  return { globalMs, perTryMs };
}
