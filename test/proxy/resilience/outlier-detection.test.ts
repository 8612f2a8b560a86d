import { describe, expect, it } from 'vitest';
import { createStatsStore } from '../../../proxy/stats/index.js';
import { HealthFlag, type Host } from '../../../proxy/core/upstream/host.js';
import { testHost } from './harness.js';
import { OutlierDetector } from '../../../proxy/core/upstream/outlier-detection.js';
import { outlierDetectionSchema } from '../../../proxy/api/outlier-detection.js';
import { LayeredRuntime, parseLayeredRuntime } from '../../../proxy/runtime/index.js';

async function setup(config: Record<string, unknown>, hostCount = 3) {
  const store = createStatsStore();
  const runtime = await LayeredRuntime.create(parseLayeredRuntime(undefined));
  let now = 0;
  const detector = new OutlierDetector(
    outlierDetectionSchema.parse(config),
    store.scope('cluster.backend'),
    runtime,
    () => now,
  );
  const hosts = Array.from({ length: hostCount }, (_, i) => testHost(9000 + i));
  detector.setHosts(hosts);
  const stat = (name: string): number => {
    const snap = store.snapshot();
    const entry = [...snap.counters, ...snap.gauges].find(
      (c) => c.name === `cluster.backend.outlier_detection.${name}`,
    );
    return entry?.value ?? 0;
  };
  return { detector, hosts, runtime, stat, advance: (ms: number) => (now += ms) };
}

const ejected = (h: Host): boolean => (h.healthFlags & HealthFlag.FailedOutlierCheck) !== 0;

describe('outlier detection', () => {
  it('ejects after consecutive 5xx, grows the ejection time with each ejection and unejects on the interval', async () => {
    const { detector, hosts, stat, advance, runtime } = await setup({
      consecutive_5xx: 3,
      base_ejection_time: '1s',
      interval: '0.5s',
      max_ejection_percent: 50,
    });
    const [a] = hosts;
    detector.putHttpResponseCode(a!, 503);
    detector.putHttpResponseCode(a!, 500);
    detector.putHttpResponseCode(a!, 200); // resets the streak
    detector.putHttpResponseCode(a!, 503);
    detector.putHttpResponseCode(a!, 503);
    expect(ejected(a!)).toBe(false);
    detector.putHttpResponseCode(a!, 502);
    expect(ejected(a!)).toBe(true);
    expect(a!.healthFlagNames()).toEqual(['/failed_outlier_check']);
    expect(stat('ejections_active')).toBe(1);
    expect(stat('ejections_enforced_total')).toBe(1);
    expect(stat('ejections_detected_consecutive_5xx')).toBe(1);
    expect(stat('ejections_enforced_consecutive_5xx')).toBe(1);

    advance(500);
    detector.onIntervalTimer();
    expect(ejected(a!)).toBe(true);
    advance(500);
    detector.onIntervalTimer();
    expect(ejected(a!)).toBe(false);
    expect(stat('ejections_active')).toBe(0);

    // Second ejection right away: twice the base time.
    for (let i = 0; i < 3; i++) detector.putHttpResponseCode(a!, 500);
    expect(ejected(a!)).toBe(true);
    advance(1000);
    detector.onIntervalTimer();
    expect(ejected(a!)).toBe(true);
    advance(1000);
    detector.onIntervalTimer();
    expect(ejected(a!)).toBe(false);
    runtime.close();
  });

  it('respects max_ejection_percent and counts the overflow', async () => {
    const { detector, hosts, stat, runtime } = await setup({ consecutive_5xx: 1, max_ejection_percent: 40 });
    detector.putHttpResponseCode(hosts[0]!, 500);
    detector.putHttpResponseCode(hosts[1]!, 500);
    expect(ejected(hosts[0]!)).toBe(true);
    expect(ejected(hosts[1]!)).toBe(false);
    expect(stat('ejections_overflow')).toBe(1);
    runtime.close();
  });

  it('counts gateway failures only when enforced, and local-origin failures separately when split', async () => {
    const { detector, hosts, stat, runtime } = await setup({
      consecutive_5xx: 100,
      consecutive_gateway_failure: 2,
      enforcing_consecutive_gateway_failure: 100,
      consecutive_local_origin_failure: 2,
      split_external_local_origin_errors: true,
      max_ejection_percent: 100,
    });
    detector.putHttpResponseCode(hosts[0]!, 504);
    detector.putHttpResponseCode(hosts[0]!, 502);
    expect(ejected(hosts[0]!)).toBe(true);
    expect(stat('ejections_enforced_consecutive_gateway_failure')).toBe(1);

    // With the split, connect failures do not count as 5xx; two in a row eject.
    detector.putResult(hosts[1]!, 'local_origin_connect_failed');
    detector.putResult(hosts[1]!, 'local_origin_connect_success');
    detector.putResult(hosts[1]!, 'local_origin_connect_failed');
    expect(ejected(hosts[1]!)).toBe(false);
    detector.putResult(hosts[1]!, 'local_origin_timeout');
    expect(ejected(hosts[1]!)).toBe(true);
    expect(stat('ejections_enforced_consecutive_local_origin_failure')).toBe(1);
    runtime.close();
  });

  it('without the split, connect failures count as 503 toward consecutive 5xx', async () => {
    const { detector, hosts, runtime } = await setup({ consecutive_5xx: 2, max_ejection_percent: 100 });
    detector.putResult(hosts[0]!, 'local_origin_connect_failed');
    detector.putResult(hosts[0]!, 'local_origin_timeout');
    expect(ejected(hosts[0]!)).toBe(true);
    runtime.close();
  });

  it('ejects a host whose success rate is far below the others, and by failure percentage', async () => {
    const { detector, hosts, stat, runtime } = await setup(
      {
        consecutive_5xx: 1000,
        success_rate_minimum_hosts: 5,
        success_rate_request_volume: 10,
        max_ejection_percent: 100,
      },
      5,
    );
    for (const [i, h] of hosts.entries()) {
      for (let n = 0; n < 20; n++) detector.putHttpResponseCode(h, i === 4 && n % 2 === 0 ? 500 : 200);
    }
    detector.onIntervalTimer();
    expect(hosts.map(ejected)).toEqual([false, false, false, false, true]);
    expect(stat('ejections_enforced_success_rate')).toBe(1);
    expect(detector.successRateAverage).toBe(90);
    runtime.close();

    const fp = await setup({
      consecutive_5xx: 1000,
      enforcing_success_rate: 0,
      enforcing_failure_percentage: 100,
      failure_percentage_minimum_hosts: 3,
      failure_percentage_request_volume: 10,
      failure_percentage_threshold: 50,
      max_ejection_percent: 100,
    });
    for (const [i, h] of fp.hosts.entries())
      for (let n = 0; n < 10; n++) fp.detector.putHttpResponseCode(h, i === 1 && n < 6 ? 503 : 200);
    fp.detector.onIntervalTimer();
    expect(fp.hosts.map(ejected)).toEqual([false, true, false]);
    expect(fp.stat('ejections_enforced_failure_percentage')).toBe(1);
    fp.runtime.close();
  });

  it('reads thresholds through the runtime', async () => {
    const { detector, hosts, runtime } = await setup({ consecutive_5xx: 5, max_ejection_percent: 100 });
    runtime.mergeValues([['outlier_detection.consecutive_5xx', '1']]);
    detector.putHttpResponseCode(hosts[2]!, 500);
    expect(ejected(hosts[2]!)).toBe(true);
    runtime.close();
  });

  it('rejects max_ejection_time below base_ejection_time with the field path', () => {
    const r = outlierDetectionSchema.safeParse({ base_ejection_time: '10s', max_ejection_time: '1s', bogus: 1 });
    expect(r.success).toBe(false);
    const issues = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.code}`);
    expect(issues).toEqual(expect.arrayContaining(['max_ejection_time: custom', ': unrecognized_keys']));
  });
});
