import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  createStatsStore,
  DEFAULT_HISTOGRAM_BOUNDS,
  extractTags,
  mergeSnapshots,
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  compileStatsFilter,
  StatsHistogramBoundsMismatchError,
  StatsInvalidBoundsError,
  StatsInvalidFilterError,
} from '../../../proxy/stats/index.js';

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

// promtool's linter flags names that Envoy and Istio define themselves (Envoy counters
// without `_total`, Istio's `_milliseconds`); everything else must be clean.
const INHERENT_LINTS = [
  /counter metrics should have "_total" suffix/,
  /use base unit "seconds" instead of "milliseconds"/,
];

function expectPromtoolClean(text: string): void {
  const { status, output } = promtool(text);
  expect(status === 0 || status === 3, output).toBe(true);
  const problems = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !INHERENT_LINTS.some((re) => re.test(l)));
  expect(problems).toEqual([]);
}

describe('stats store', () => {
  it('caches handles by name and tags and records by field update', () => {
    const store = createStatsStore();
    const a = store.scope('cluster.backend').counter('upstream_rq_total');
    const b = store.counter('cluster.backend.upstream_rq_total');
    expect(a).toBe(b);
    a.inc();
    b.add(4);
    expect(a.value()).toBe(5);
    const t1 = store.counter('istio_requests_total', [['reporter', 'source']]);
    const t2 = store.counter('istio_requests_total', [['reporter', 'destination']]);
    expect(t1).not.toBe(t2);
    expect(store.counter('istio_requests_total', [['reporter', 'source']])).toBe(t1);
    expect(store.scope('http.ingress.').prefix).toBe('http.ingress');
  });

  it('buckets histograms with Envoy default bounds and tracks sum, count, min, max', () => {
    const store = createStatsStore();
    const h = store.histogram('cluster.x.upstream_rq_time', 'milliseconds');
    for (const v of [0.2, 0.5, 3, 3, 7, 1_000_000_000]) h.record(v);
    const snap = store.snapshot().histograms[0]!;
    expect(snap.bounds).toEqual([...DEFAULT_HISTOGRAM_BOUNDS]);
    expect(snap.counts[0]).toBe(2); // 0.2 and 0.5 (<= 0.5)
    expect(snap.counts[2]).toBe(2); // 3, 3 in (1, 5]
    expect(snap.counts[3]).toBe(1); // 7 in (5, 10]
    expect(snap.counts[DEFAULT_HISTOGRAM_BOUNDS.length]).toBe(1); // overflow
    expect(snap.count).toBe(6);
    expect(snap.min).toBe(0.2);
    expect(snap.max).toBe(1_000_000_000);
  });

  it('refuses bounds that are not strictly increasing', () => {
    const store = createStatsStore();
    expect(() => store.histogram('h', 'bytes', [], [1, 1])).toThrow(StatsInvalidBoundsError);
    expect(() => store.histogram('h2', 'bytes', [], [])).toThrow(/at least one bound/);
  });

  it('resets counters only', () => {
    const store = createStatsStore();
    store.counter('c').add(3);
    store.gauge('g').set(7);
    store.histogram('h').record(2);
    store.resetCounters();
    const snap = store.snapshot();
    expect(snap.counters[0]!.value).toBe(0);
    expect(snap.counters[0]!.used).toBe(true);
    expect(snap.gauges[0]!.value).toBe(7);
    expect(snap.histograms[0]!.count).toBe(1);
  });

  it('merges worker snapshots: counters sum, gauges by import mode, histograms bucket-add', () => {
    const main = createStatsStore();
    const w1 = createStatsStore();
    const w2 = createStatsStore();
    main.gauge('server.uptime', 'never_import').set(100);
    w1.gauge('server.uptime', 'never_import').set(5);
    for (const [w, n] of [
      [w1, 2],
      [w2, 3],
    ] as const) {
      w.counter('cluster.a.upstream_rq_total').add(n);
      w.gauge('http.in.downstream_cx_active').set(n);
      w.histogram('http.in.downstream_rq_time', 'milliseconds').record(n);
    }
    const merged = mergeSnapshots([main.snapshot(), w1.snapshot(), w2.snapshot()]);
    expect(merged.counters.find((c) => c.name === 'cluster.a.upstream_rq_total')!.value).toBe(5);
    expect(merged.gauges.find((g) => g.name === 'http.in.downstream_cx_active')!.value).toBe(5);
    expect(merged.gauges.find((g) => g.name === 'server.uptime')!.value).toBe(100);
    const h = merged.histograms[0]!;
    expect(h.count).toBe(2);
    expect(h.sum).toBe(5);
    expect(h.counts[2]).toBe(2);
    expect(h.min).toBe(2);
    expect(h.max).toBe(3);

    const odd = createStatsStore();
    odd.histogram('http.in.downstream_rq_time', 'milliseconds', [], [1, 2]).record(1);
    expect(() => mergeSnapshots([w1.snapshot(), odd.snapshot()])).toThrow(StatsHistogramBoundsMismatchError);
  });
});

describe('Envoy tag extraction', () => {
  it.each([
    [
      'cluster.backend.upstream_rq_200',
      'cluster.upstream_rq',
      [
        ['envoy.response_code', '200'],
        ['envoy.cluster_name', 'backend'],
      ],
    ],
    [
      'cluster.backend.upstream_rq_2xx',
      'cluster.upstream_rq_xx',
      [
        ['envoy.response_code_class', '2'],
        ['envoy.cluster_name', 'backend'],
      ],
    ],
    ['cluster.backend.upstream_rq_total', 'cluster.upstream_rq_total', [['envoy.cluster_name', 'backend']]],
    [
      'http.ingress_http.downstream_rq_5xx',
      'http.downstream_rq_xx',
      [
        ['envoy.response_code_class', '5'],
        ['envoy.http_conn_manager_prefix', 'ingress_http'],
      ],
    ],
    [
      'listener.127.0.0.1_10000.downstream_cx_total',
      'listener.downstream_cx_total',
      [['envoy.listener_address', '127.0.0.1_10000']],
    ],
    [
      'listener.127.0.0.1_10000.http.ingress.downstream_rq_2xx',
      'listener.http.downstream_rq_xx',
      [
        ['envoy.response_code_class', '2'],
        ['envoy.http_conn_manager_prefix', 'ingress'],
        ['envoy.listener_address', '127.0.0.1_10000'],
      ],
    ],
    [
      'cluster.outbound|80||app1.default.svc.cluster.local.upstream_rq_total',
      'cluster.upstream_rq_total',
      [['envoy.cluster_name', 'outbound|80||app1.default.svc.cluster.local']],
    ],
    ['server.live', 'server.live', []],
  ])('%s', (name, extracted, tags) => {
    const e = extractTags(name);
    expect(e.name).toBe(extracted);
    expect(e.tags).toEqual(tags);
  });
});

describe('renderers', () => {
  function sample() {
    const store = createStatsStore();
    const cluster = store.scope('cluster.backend');
    cluster.counter('upstream_rq_total').add(3);
    cluster.counter('upstream_rq_200').add(2);
    cluster.counter('upstream_rq_503').add(1);
    cluster.counter('upstream_rq_2xx').add(2);
    cluster.counter('upstream_cx_connect_fail');
    cluster.gauge('upstream_cx_active').set(1);
    const t = cluster.histogram('upstream_rq_time', 'milliseconds');
    for (let i = 1; i <= 100; i++) t.record(i);
    store.histogram('http.ingress.downstream_rq_time', 'milliseconds');
    const tags: Array<[string, string]> = [
      ['reporter', 'destination'],
      ['source_workload', 'front "proxy"\\x'],
      ['response_code', '200'],
    ];
    store.counter('istio_requests_total', tags).add(3);
    store.histogram('istio_request_duration_milliseconds', 'milliseconds', tags, [1, 5, 10]).record(4);
    return store.snapshot();
  }

  it('prints Envoy text form, sorted, with quantile lines and empty histograms', () => {
    const text = renderStatsText(sample());
    const lines = text.trimEnd().split('\n');
    expect(lines).toContain('cluster.backend.upstream_rq_total: 3');
    expect(lines).toContain('cluster.backend.upstream_cx_active: 1');
    expect(lines).toContain('http.ingress.downstream_rq_time: No recorded values');
    const rqTime = lines.find((l) => l.startsWith('cluster.backend.upstream_rq_time: '))!;
    expect(rqTime).toMatch(
      /^cluster\.backend\.upstream_rq_time: P0\(nan,1\) P25\(nan,[\d.]+\) P50\(nan,[\d.]+\) P75\(nan,[\d.]+\) P90\(nan,[\d.]+\) P95\(nan,[\d.]+\) P99\(nan,[\d.]+\) P99\.5\(nan,[\d.]+\) P99\.9\(nan,[\d.]+\) P100\(nan,100\)$/,
    );
    const p50 = Number(/P50\(nan,([\d.]+)\)/.exec(rqTime)![1]);
    expect(p50).toBeGreaterThanOrEqual(25);
    expect(p50).toBeLessThanOrEqual(100);
    const scalars = lines.filter((l) => !/P0\(|No recorded/.test(l)).map((l) => l.split(':')[0]!);
    expect(scalars).toEqual([...scalars].sort());
    expect(lines.indexOf('http.ingress.downstream_rq_time: No recorded values')).toBeGreaterThan(
      lines.indexOf('cluster.backend.upstream_rq_total: 3'),
    );
  });

  it('filters by regex and used-only', () => {
    const snap = sample();
    const filtered = renderStatsText(snap, { filter: compileStatsFilter('upstream_rq_\\d') });
    expect(filtered.trimEnd().split('\n').sort()).toEqual([
      'cluster.backend.upstream_rq_200: 2',
      'cluster.backend.upstream_rq_2xx: 2',
      'cluster.backend.upstream_rq_503: 1',
    ]);
    const used = renderStatsText(snap, { usedOnly: true });
    expect(used).not.toContain('upstream_cx_connect_fail');
    expect(used).not.toContain('No recorded values');
    expect(renderStatsText(snap)).toContain('cluster.backend.upstream_cx_connect_fail: 0');
    expect(() => compileStatsFilter('(')).toThrow(StatsInvalidFilterError);
  });

  it('prints Envoy JSON form', () => {
    const json = JSON.parse(renderStatsJson(sample(), { filter: /cluster\.backend\.upstream_rq_(total|time)/ })) as {
      stats: unknown[];
    };
    expect(json.stats[0]).toEqual({ name: 'cluster.backend.upstream_rq_total', value: 3 });
    const h = json.stats[1] as {
      histograms: {
        supported_quantiles: number[];
        computed_quantiles: Array<{ name: string; values: Array<{ interval: null; cumulative: number }> }>;
      };
    };
    expect(h.histograms.supported_quantiles).toEqual([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
    expect(h.histograms.computed_quantiles[0]!.name).toBe('cluster.backend.upstream_rq_time');
    expect(h.histograms.computed_quantiles[0]!.values[0]).toEqual({ interval: null, cumulative: 1 });
    expect(h.histograms.computed_quantiles[0]!.values[9]).toEqual({ interval: null, cumulative: 100 });
  });

  it('prints Prometheus with Envoy tag extraction, Istio names as-is, and passes promtool', () => {
    const text = renderPrometheus(sample());
    expect(text).toContain(
      '# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 3\n',
    );
    expect(text).toContain('envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 2\n');
    expect(text).toContain('envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="backend"} 1\n');
    expect(text).toContain(
      'envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="backend"} 2\n',
    );
    expect(text).toContain('# TYPE envoy_cluster_upstream_cx_active gauge\n');
    expect(text).toContain('# TYPE envoy_cluster_upstream_rq_time histogram\n');
    expect(text).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="0.5"} 0\n');
    expect(text).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="50"} 50\n');
    expect(text).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"} 100\n');
    expect(text).toContain('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"} 5050\n');
    expect(text).toContain('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"} 100\n');
    expect(text).toContain(
      '# TYPE istio_requests_total counter\nistio_requests_total{reporter="destination",source_workload="front \\"proxy\\"\\\\x",response_code="200"} 3\n',
    );
    expect(text).toContain(
      'istio_request_duration_milliseconds_bucket{reporter="destination",source_workload="front \\"proxy\\"\\\\x",response_code="200",le="5"} 1\n',
    );
    expect(text).not.toContain('envoy_istio');
    const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(typeLines).size).toBe(typeLines.length);
    expectPromtoolClean(text);
  });

  it('promtool rejects a broken exposition (the check can fail)', () => {
    const broken = renderPrometheus(sample()).replace('envoy_cluster_upstream_rq_total{', 'envoy cluster{');
    expect(promtool(broken).status).toBe(1);
  });
});
