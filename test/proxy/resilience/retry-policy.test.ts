import { describe, expect, it } from 'vitest';
import { HeaderMap } from '../../../proxy/core/http/headers.js';
import {
  RetryPolicy,
  RetryState,
  finalTimeouts,
  type RetryResources,
  type RetryStats,
} from '../../../proxy/core/upstream/retry-policy.js';
import { retryPolicySchema } from '../../../proxy/api/retry-policy.js';
import { createStatsStore } from '../../../proxy/stats/index.js';

function headers(entries: Record<string, string> = {}): HeaderMap {
  const h = new HeaderMap();
  for (const [k, v] of Object.entries(entries)) h.add(k, v);
  return h;
}

function env(maxRetries = 3) {
  const store = createStatsStore();
  const scope = store.scope('cluster.c');
  const stats: RetryStats = {
    upstream_rq_retry: scope.counter('upstream_rq_retry'),
    upstream_rq_retry_success: scope.counter('upstream_rq_retry_success'),
    upstream_rq_retry_overflow: scope.counter('upstream_rq_retry_overflow'),
    upstream_rq_retry_limit_exceeded: scope.counter('upstream_rq_retry_limit_exceeded'),
    upstream_rq_retry_backoff_exponential: scope.counter('upstream_rq_retry_backoff_exponential'),
  };
  const resources: RetryResources = { retries: 0, retryLimit: () => maxRetries };
  return { stats, resources };
}

describe('retry policy', () => {
  it('rejects unknown retry_on conditions and foreign host predicates', () => {
    const r = retryPolicySchema.safeParse({
      retry_on: '5xx,bogus',
      retry_host_predicate: [{ name: 'envoy.retry_host_predicates.omit_canary_hosts' }],
    });
    expect(r.success).toBe(false);
    const messages = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages.some((m) => m.startsWith('retry_on: unknown retry condition(s): bogus'))).toBe(true);
    expect(messages.some((m) => m.startsWith('retry_host_predicate.0.name'))).toBe(true);
  });

  it('classifies responses and failures per retry_on', () => {
    const { stats, resources } = env();
    const gw = RetryState.create(
      new RetryPolicy(retryPolicySchema.parse({ retry_on: 'gateway-error' })),
      headers(),
      resources,
      stats,
    )!;
    expect(gw.wouldRetryFromHeaders(503, headers())).toBe(true);
    expect(gw.wouldRetryFromHeaders(500, headers())).toBe(false);
    expect(gw.wouldRetryFromHeaders(503, headers({ 'x-envoy-overloaded': 'true' }))).toBe(false);
    expect(gw.wouldRetryFromFailure('reset')).toBe(true);
    expect(gw.wouldRetryFromFailure('overflow')).toBe(false);

    const cf = RetryState.create(
      new RetryPolicy(retryPolicySchema.parse({ retry_on: 'connect-failure' })),
      headers(),
      resources,
      stats,
    )!;
    expect(cf.wouldRetryFromFailure('connect_failure')).toBe(true);
    expect(cf.wouldRetryFromFailure('reset')).toBe(false);
    expect(cf.wouldRetryFromHeaders(503, headers())).toBe(false);

    const codes = RetryState.create(
      new RetryPolicy(
        retryPolicySchema.parse({ retry_on: 'retriable-status-codes,retriable-4xx', retriable_status_codes: [418] }),
      ),
      headers({ 'x-envoy-retriable-status-codes': '429' }),
      resources,
      stats,
    )!;
    expect([418, 429, 409, 404].map((s) => codes.wouldRetryFromHeaders(s, headers()))).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('honours request headers, the retry limit and the retry circuit breaker', () => {
    const { stats, resources } = env(1);
    expect(RetryState.create(null, headers(), resources, stats)).toBeNull();
    const state = RetryState.create(
      null,
      headers({ 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '2' }),
      resources,
      stats,
    )!;
    expect(state.shouldRetry(true)).toBe('retry');
    expect(resources.retries).toBe(1);
    const other = RetryState.create(null, headers({ 'x-envoy-retry-on': '5xx' }), resources, stats)!;
    expect(other.shouldRetry(true)).toBe('overflow');
    expect(stats.upstream_rq_retry_overflow.value()).toBe(1);
    expect(state.shouldRetry(true)).toBe('retry');
    expect(state.shouldRetry(true)).toBe('limit_exceeded');
    expect(resources.retries).toBe(0);
    expect(stats.upstream_rq_retry.value()).toBe(2);
    expect(stats.upstream_rq_retry_limit_exceeded.value()).toBe(1);

    const ok = RetryState.create(null, headers({ 'x-envoy-retry-on': '5xx' }), resources, stats)!;
    expect(ok.shouldRetry(true)).toBe('retry');
    expect(ok.shouldRetry(false)).toBe('no');
    expect(stats.upstream_rq_retry_success.value()).toBe(1);
    expect(resources.retries).toBe(0);
  });

  it('backs off with full jitter below a doubling interval capped at max_interval', () => {
    const { stats, resources } = env();
    const state = RetryState.create(
      new RetryPolicy(
        retryPolicySchema.parse({ retry_on: '5xx', retry_back_off: { base_interval: '0.01s', max_interval: '0.03s' } }),
      ),
      headers(),
      resources,
      stats,
    )!;
    const caps = [10, 20, 30, 30, 30];
    for (const cap of caps) {
      const b = state.nextBackoffMs();
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(cap);
    }
  });

  it('previous_hosts rejects hosts already tried', () => {
    const { stats, resources } = env();
    const state = RetryState.create(
      new RetryPolicy(
        retryPolicySchema.parse({
          retry_on: '5xx',
          retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
          host_selection_retry_max_attempts: 3,
        }),
      ),
      headers(),
      resources,
      stats,
    )!;
    state.onHostAttempted('a');
    expect(state.shouldSelectAnotherHost('a')).toBe(true);
    expect(state.shouldSelectAnotherHost('b')).toBe(false);
    expect(state.hostSelectionMaxAttempts).toBe(3);
  });

  it('computes final timeouts from the route and the x-envoy headers', () => {
    const h = headers({ 'x-envoy-upstream-rq-timeout-ms': '500', 'x-envoy-upstream-rq-per-try-timeout-ms': '100' });
    expect(finalTimeouts(15000, 0, h)).toEqual({ globalMs: 500, perTryMs: 100 });
    expect(h.has('x-envoy-upstream-rq-timeout-ms')).toBe(false);
    expect(finalTimeouts(200, 300, headers())).toEqual({ globalMs: 200, perTryMs: 0 });
    expect(finalTimeouts(200, 300, headers({ 'x-envoy-upstream-rq-timeout-ms': '0' }))).toEqual({
      globalMs: 0,
      perTryMs: 300,
    });
  });
});

describe('retry budget', () => {
  it('allows max(min_retry_concurrency, budget_percent × (active + pending)) retries instead of max_retries', async () => {
    const { ResourceManager } = await import('../../../proxy/core/upstream/cluster.js');
    const { clusterSchema } = await import('../../../proxy/api/schema.js');
    const cfg = (thresholds: unknown[]) =>
      clusterSchema.parse({
        name: 'c',
        type: 'STATIC',
        load_assignment: { cluster_name: 'c', endpoints: [] },
        circuit_breakers: { thresholds },
      });
    const plain = new ResourceManager(cfg([{ max_retries: 7 }]));
    expect(plain.retryLimit()).toBe(7);
    const budget = new ResourceManager(
      cfg([{ max_retries: 7, retry_budget: { budget_percent: { value: 25 }, min_retry_concurrency: 2 } }]),
    );
    expect(budget.retryLimit()).toBe(2);
    budget.requests = 30;
    budget.pendingRequests = 10;
    expect(budget.retryLimit()).toBe(10);
    const high = new ResourceManager(cfg([{ max_retries: 1 }, { priority: 'HIGH', max_retries: 9 }]), 'HIGH');
    expect(high.retryLimit()).toBe(9);
  });
});
