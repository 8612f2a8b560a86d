// `npm run bench:resilience`: what the resilience features cost on the request path, side by
// side in one run. wrk drives meshscope (--concurrency 1) twice against the same nginx
// upstream: plain, then with a retry policy, outlier detection, the fault filter (0% via the
// runtime) and the local rate limit (enabled, bucket never empty) — every per-request check
// runs but none fires. Then micro-benchmarks of the per-request runtime and retry functions.
// Prints JSON. Knobs: BENCH_SECONDS (default 8), BENCH_CONNECTIONS (default 50).
import { freePort, proxyBootstrap, startMeshscope, startNginxUpstream, stopAll, type Peer } from './lib/peers.js';
import { runWrk, type WrkResult } from './lib/wrk.js';
import { peakRssMb } from './lib/rss.js';
import { LayeredRuntime, parseLayeredRuntime } from '../proxy/runtime/index.js';
import { HeaderMap } from '../proxy/core/http/headers.js';
import { RetryPolicy, RetryState, finalTimeouts } from '../proxy/core/upstream/retry-policy.js';
import { retryPolicySchema } from '../proxy/api/retry-policy.js';
import { TokenBucket } from '../proxy/extensions/filters/http/local_ratelimit/token-bucket.js';
import { createStatsStore } from '../proxy/stats/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 500_000);

function resilientBootstrap(port: number, upstream: number): Record<string, unknown> {
  const on = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  const b = proxyBootstrap(port, upstream, {
    route_config: {
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/' },
              route: {
                cluster: 'up',
                retry_policy: { retry_on: '5xx,reset,connect-failure', num_retries: 2, per_try_timeout: '5s' },
              },
            },
          ],
        },
      ],
    },
    http_filters: [
      {
        name: 'envoy.filters.http.fault',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
          abort: { http_status: 503, percentage: { numerator: 0 } },
          delay: { fixed_delay: '1s', percentage: { numerator: 0 } },
        },
      },
      {
        name: 'envoy.filters.http.local_ratelimit',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
          stat_prefix: 'bench_rl',
          token_bucket: { max_tokens: 100_000_000, tokens_per_fill: 100_000_000, fill_interval: '1s' },
          filter_enabled: on,
          filter_enforced: on,
        },
      },
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
      },
    ],
  }) as { static_resources: { clusters: Array<Record<string, unknown>> } };
  b.static_resources.clusters[0]!['outlier_detection'] = {
    consecutive_5xx: 5,
    interval: '1s',
    base_ejection_time: '5s',
  };
  return b as Record<string, unknown>;
}

function measure(name: string, fn: () => void): { name: string; opsPerSecond: number; nsPerOp: number } {
  for (let i = 0; i < 20_000; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) fn();
  const ns = Number(process.hrtime.bigint() - start);
  return { name, opsPerSecond: Math.round((ITERATIONS / ns) * 1e9), nsPerOp: Math.round(ns / ITERATIONS) };
}

async function microBenchmarks(): Promise<Array<ReturnType<typeof measure>>> {
  const runtime = await LayeredRuntime.create(
    parseLayeredRuntime({
      layers: [
        { name: 's', static_layer: { fault: { http: { abort: { abort_percent: 10 } } } } },
        { name: 'a', admin_layer: {} },
      ],
    }),
  );
  const fraction = { default_value: { numerator: 50, denominator: 'HUNDRED' as const }, runtime_key: 'rl.enabled' };
  let sink = 0;
  const scope = createStatsStore().scope('cluster.b');
  const stats = {
    upstream_rq_retry: scope.counter('a'),
    upstream_rq_retry_success: scope.counter('b'),
    upstream_rq_retry_overflow: scope.counter('c'),
    upstream_rq_retry_limit_exceeded: scope.counter('d'),
    upstream_rq_retry_backoff_exponential: scope.counter('e'),
  };
  const policy = new RetryPolicy(retryPolicySchema.parse({ retry_on: '5xx', num_retries: 2 }));
  const resources = { retries: 0, retryLimit: () => 3 };
  const headers = new HeaderMap();
  for (const [k, v] of [
    [':authority', 'shop'],
    [':path', '/api'],
    [':method', 'GET'],
    ['user-agent', 'wrk'],
    ['accept', '*/*'],
    ['x-request-id', 'abc'],
  ])
    headers.add(k!, v!);
  const bucket = new TokenBucket(1_000_000_000, 1_000_000_000, 1000);
  const out = [
    measure(
      'runtime featureEnabled (key set)',
      () => void (sink += runtime.snapshot().featureEnabled('fault.http.abort.abort_percent', 0) ? 1 : 0),
    ),
    measure(
      'runtime fractionEnabled (key absent)',
      () => void (sink += runtime.snapshot().runtimeFractionEnabled(fraction) ? 1 : 0),
    ),
    measure('RetryState.create + finalTimeouts', () => {
      const s = RetryState.create(policy, headers, resources, stats);
      sink += finalTimeouts(15_000, 0, headers).globalMs + (s === null ? 0 : 1);
    }),
    measure('TokenBucket.consume', () => void (sink += bucket.consume() ? 1 : 0)),
  ];
  runtime.close();
  if (sink === -1) process.stdout.write('');
  return out;
}

interface Measured extends WrkResult {
  name: string;
  peakRssMb: number | null;
}

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const rows: Array<{ name: string; boot: (port: number) => Record<string, unknown> }> = [
    { name: 'meshscope-c1-plain', boot: (port) => proxyBootstrap(port, upstream.port) },
    { name: 'meshscope-c1-resilience', boot: (port) => resilientBootstrap(port, upstream.port) },
  ];
  const results: Measured[] = [];
  try {
    for (const row of rows) {
      const port = await freePort();
      const peer: Peer = await startMeshscope(row.name, row.boot(port), port, ['--concurrency', '1']);
      runWrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, seconds: 3 });
      const r = runWrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, seconds: SECONDS });
      results.push({ name: row.name, ...r, peakRssMb: peakRssMb(peer.pid) });
      await peer.stop();
    }
  } finally {
    await stopAll();
  }
  const [plain, resilient] = results as [Measured, Measured];
  const out = {
    benchmark: 'resilience',
    connections: CONNECTIONS,
    secondsPerRow: SECONDS,
    rows: results,
    resilienceRpsRatio: Math.round((resilient.requestsPerSecond / plain.requestsPerSecond) * 100) / 100,
    resilienceP99Ratio: Math.round((resilient.p99Ms / plain.p99Ms) * 100) / 100,
    micro: await microBenchmarks(),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`bench:resilience failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
