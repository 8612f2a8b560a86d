// Envoy's outlier detection for one cluster (as seen by one worker): consecutive 5xx, gateway
// and local-origin failures eject a host at once; success-rate and failure-percentage ejection
// run on the interval timer over the last interval's traffic. An ejected host carries
// `/failed_outlier_check` until `base_ejection_time × backoff` (≤ max_ejection_time) has passed,
// checked on each interval; the backoff grows with each ejection and shrinks while healthy.
import { durationMs } from '../../api/duration.js';
import type { OutlierDetectionConfigInput } from '../../api/outlier-detection.js';
import type { Counter, Gauge, Scope } from '../../stats/types.js';
import type { Runtime } from '../../runtime/index.js';
import { HealthFlag, type Host } from './host.js';

/** How one attempt against a host ended, in Envoy's Outlier::Result terms. */
export type OutlierResult =
  | 'local_origin_connect_failed'
  | 'local_origin_timeout'
  | 'local_origin_connect_success'
  | 'local_origin_connect_success_final'
  | 'ext_origin_request_failed'
  | 'ext_origin_request_success';

type EjectionType =
  | 'consecutive_5xx'
  | 'consecutive_gateway_failure'
  | 'consecutive_local_origin_failure'
  | 'success_rate'
  | 'local_origin_success_rate'
  | 'failure_percentage'
  | 'local_origin_failure_percentage';

const ENFORCING_KEY: Record<EjectionType, string> = {
  consecutive_5xx: 'enforcing_consecutive_5xx',
  consecutive_gateway_failure: 'enforcing_consecutive_gateway_failure',
  consecutive_local_origin_failure: 'enforcing_consecutive_local_origin_failure',
  success_rate: 'enforcing_success_rate',
  local_origin_success_rate: 'enforcing_local_origin_success_rate',
  failure_percentage: 'enforcing_failure_percentage',
  local_origin_failure_percentage: 'enforcing_failure_percentage_local_origin',
};

interface Settings {
  consecutive_5xx: number;
  consecutive_gateway_failure: number;
  consecutive_local_origin_failure: number;
  interval_ms: number;
  base_ejection_time_ms: number;
  max_ejection_time_ms: number;
  max_ejection_time_jitter_ms: number;
  max_ejection_percent: number;
  success_rate_minimum_hosts: number;
  success_rate_request_volume: number;
  success_rate_stdev_factor: number;
  failure_percentage_threshold: number;
  failure_percentage_minimum_hosts: number;
  failure_percentage_request_volume: number;
  enforcing: Record<string, number>;
}

function settings(c: OutlierDetectionConfigInput): Settings {
  const base = durationMs(c.base_ejection_time, 30_000);
  return {
    consecutive_5xx: c.consecutive_5xx ?? 5,
    consecutive_gateway_failure: c.consecutive_gateway_failure ?? 5,
    consecutive_local_origin_failure: c.consecutive_local_origin_failure ?? 5,
    interval_ms: durationMs(c.interval, 10_000),
    base_ejection_time_ms: base,
    max_ejection_time_ms: durationMs(c.max_ejection_time, Math.max(300_000, base)),
    max_ejection_time_jitter_ms: durationMs(c.max_ejection_time_jitter, 0),
    max_ejection_percent: c.max_ejection_percent ?? 10,
    success_rate_minimum_hosts: c.success_rate_minimum_hosts ?? 5,
    success_rate_request_volume: c.success_rate_request_volume ?? 100,
    success_rate_stdev_factor: c.success_rate_stdev_factor ?? 1900,
    failure_percentage_threshold: c.failure_percentage_threshold ?? 85,
    failure_percentage_minimum_hosts: c.failure_percentage_minimum_hosts ?? 5,
    failure_percentage_request_volume: c.failure_percentage_request_volume ?? 50,
    enforcing: {
      enforcing_consecutive_5xx: c.enforcing_consecutive_5xx ?? 100,
      enforcing_consecutive_gateway_failure: c.enforcing_consecutive_gateway_failure ?? 0,
      enforcing_consecutive_local_origin_failure: c.enforcing_consecutive_local_origin_failure ?? 100,
      enforcing_success_rate: c.enforcing_success_rate ?? 100,
      enforcing_local_origin_success_rate: c.enforcing_local_origin_success_rate ?? 100,
      enforcing_failure_percentage: c.enforcing_failure_percentage ?? 0,
      enforcing_failure_percentage_local_origin: c.enforcing_failure_percentage_local_origin ?? 0,
    },
  };
}

/** Success/total counts for the interval being written and the last complete one. */
class SuccessRateBuckets {
  total = 0;
  success = 0;
  lastTotal = 0;
  lastSuccess = 0;
  rotate(): void {
    this.lastTotal = this.total;
    this.lastSuccess = this.success;
    this.total = 0;
    this.success = 0;
  }
  /** Percent of successes in the last interval, or -1 with no traffic. */
  lastRate(): number {
    return this.lastTotal === 0 ? -1 : (this.lastSuccess * 100) / this.lastTotal;
  }
}

class HostMonitor {
  readonly host: Host;
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  numEjections = 0;
  ejectTimeBackoff = 0;
  lastEjectionTime = -1;
  lastUnejectionTime = -1;
  jitterMs = 0;
  readonly external = new SuccessRateBuckets();
  readonly localOrigin = new SuccessRateBuckets();
  constructor(host: Host) {
    this.host = host;
  }
  get ejected(): boolean {
    return (this.host.healthFlags & HealthFlag.FailedOutlierCheck) !== 0;
  }
}

interface DetectorStats {
  ejectionsActive: Gauge;
  ejectionsOverflow: Counter;
  ejectionsEnforcedTotal: Counter;
  ejectionsTotal: Counter;
  detected: Record<EjectionType, Counter>;
  enforced: Record<EjectionType, Counter>;
}

const EJECTION_TYPES: EjectionType[] = [
  'consecutive_5xx',
  'consecutive_gateway_failure',
  'consecutive_local_origin_failure',
  'success_rate',
  'local_origin_success_rate',
  'failure_percentage',
  'local_origin_failure_percentage',
];

function isGatewayError(code: number): boolean {
  return code === 502 || code === 503 || code === 504;
}

export class OutlierDetector {
  readonly #settings: Settings;
  readonly #split: boolean;
  readonly #alwaysEjectOne: boolean;
  readonly #runtime: Runtime;
  readonly #stats: DetectorStats;
  readonly #monitors = new Map<Host, HostMonitor>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** External-origin success-rate mean and ejection threshold from the last interval (-1: none). */
  successRateAverage = -1;
  successRateEjectionThreshold = -1;
  readonly successfulActiveHealthCheckUnejectHost: boolean;

  constructor(
    config: OutlierDetectionConfigInput,
    clusterScope: Scope,
    runtime: Runtime,
    now: () => number = () => performance.now(),
  ) {
    this.#settings = settings(config);
    this.#split = config.split_external_local_origin_errors === true;
    this.#alwaysEjectOne = config.always_eject_one_host === true;
    this.successfulActiveHealthCheckUnejectHost = config.successful_active_health_check_uneject_host !== false;
    this.#runtime = runtime;
    this.#now = now;
    const scope = clusterScope.scope('outlier_detection');
    const byType = (prefix: string): Record<EjectionType, Counter> =>
      Object.fromEntries(EJECTION_TYPES.map((t) => [t, scope.counter(`${prefix}_${t}`)])) as Record<
        EjectionType,
        Counter
      >;
    this.#stats = {
      ejectionsActive: scope.gauge('ejections_active', 'accumulate'),
      ejectionsOverflow: scope.counter('ejections_overflow'),
      ejectionsEnforcedTotal: scope.counter('ejections_enforced_total'),
      ejectionsTotal: scope.counter('ejections_total'),
      detected: byType('ejections_detected'),
      enforced: byType('ejections_enforced'),
    };
  }

  /** Replaces the monitored host set (cluster membership change), keeping existing monitors. */
  setHosts(hosts: readonly Host[]): void {
    const next = new Set(hosts);
    for (const [host, monitor] of this.#monitors) {
      if (next.has(host)) continue;
      if (monitor.ejected) this.#stats.ejectionsActive.dec();
      this.#monitors.delete(host);
    }
    for (const host of hosts) if (!this.#monitors.has(host)) this.#monitors.set(host, new HostMonitor(host));
  }

  /** Starts the interval timer; it does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    const arm = (): void => {
      this.#timer = setTimeout(() => {
        this.onIntervalTimer();
        arm();
      }, this.#get('interval_ms'));
      this.#timer.unref();
    };
    arm();
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** An HTTP response from the host (or a local-origin result already mapped to a code). */
  putHttpResponseCode(host: Host, code: number): void {
    const m = this.#monitors.get(host);
    if (m === undefined) return;
    m.external.total++;
    if (code >= 500 && code < 600) {
      if (isGatewayError(code)) {
        if (++m.consecutiveGatewayFailure === this.#get('consecutive_gateway_failure'))
          this.#onConsecutiveError(m, 'consecutive_gateway_failure');
      } else {
        m.consecutiveGatewayFailure = 0;
      }
      if (++m.consecutive5xx === this.#get('consecutive_5xx')) this.#onConsecutiveError(m, 'consecutive_5xx');
    } else {
      m.external.success++;
      m.consecutive5xx = 0;
      m.consecutiveGatewayFailure = 0;
    }
  }

  /** A connection-level or non-HTTP result; without the split, mapped onto HTTP codes as Envoy does. */
  putResult(host: Host, result: OutlierResult): void {
    const m = this.#monitors.get(host);
    if (m === undefined) return;
    if (!this.#split) {
      const code =
        result === 'local_origin_timeout'
          ? 504
          : result === 'local_origin_connect_failed'
            ? 503
            : result === 'ext_origin_request_failed'
              ? 500
              : result === 'local_origin_connect_success'
                ? undefined
                : 200;
      if (code !== undefined) this.putHttpResponseCode(host, code);
      return;
    }
    switch (result) {
      case 'local_origin_connect_success':
      case 'local_origin_connect_success_final':
        this.#localOriginSuccess(m);
        return;
      case 'local_origin_timeout':
      case 'local_origin_connect_failed':
        m.localOrigin.total++;
        if (++m.consecutiveLocalOriginFailure === this.#get('consecutive_local_origin_failure')) {
          this.#onConsecutiveError(m, 'consecutive_local_origin_failure');
        }
        return;
      case 'ext_origin_request_failed':
        this.putHttpResponseCode(host, 503);
        return;
      case 'ext_origin_request_success':
        this.putHttpResponseCode(host, 200);
        this.#localOriginSuccess(m);
        return;
    }
  }

  /** A passing active health check clears an outlier ejection (successful_active_health_check_uneject_host). */
  onActiveHealthCheckSuccess(host: Host): void {
    const m = this.#monitors.get(host);
    if (m === undefined || !this.successfulActiveHealthCheckUnejectHost) return;
    if (m.ejected && (host.healthFlags & HealthFlag.FailedActiveHealthCheck) === 0) this.#uneject(m);
  }

  /** The periodic sweep: uneject hosts whose time is up, then success-rate and failure-percentage ejection. */
  onIntervalTimer(): void {
    const now = this.#now();
    for (const m of this.#monitors.values()) {
      this.#checkUneject(m, now);
      m.external.rotate();
      m.localOrigin.rotate();
    }
    this.#processSuccessRate('external');
    if (this.#split) this.#processSuccessRate('local');
    const interval = this.#get('interval_ms');
    for (const m of this.#monitors.values()) {
      if (!m.ejected && m.lastUnejectionTime >= 0 && now - m.lastUnejectionTime >= interval && m.ejectTimeBackoff > 0)
        m.ejectTimeBackoff--;
    }
  }

  #localOriginSuccess(m: HostMonitor): void {
    m.localOrigin.total++;
    m.localOrigin.success++;
    m.consecutiveLocalOriginFailure = 0;
  }

  #get(key: Exclude<keyof Settings, 'enforcing'>): number {
    return this.#runtime.snapshot().getInteger(`outlier_detection.${key}`, this.#settings[key]);
  }

  #onConsecutiveError(m: HostMonitor, type: EjectionType): void {
    if (m.ejected) return;
    this.#stats.detected[type].inc();
    this.#eject(m, type);
    if (type === 'consecutive_5xx') m.consecutive5xx = 0;
    else if (type === 'consecutive_gateway_failure') m.consecutiveGatewayFailure = 0;
    else m.consecutiveLocalOriginFailure = 0;
  }

  #eject(m: HostMonitor, type: EjectionType): void {
    const maxPercent = Math.min(100, this.#get('max_ejection_percent'));
    const active = this.#stats.ejectionsActive.value();
    let shouldEject = (100 * (active + 1)) / this.#monitors.size <= maxPercent;
    if (this.#alwaysEjectOne) shouldEject ||= active === 0;
    if (!shouldEject) {
      this.#stats.ejectionsOverflow.inc();
      return;
    }
    if (type === 'consecutive_5xx' || type === 'success_rate') this.#stats.ejectionsTotal.inc();
    const key = ENFORCING_KEY[type];
    if (!this.#runtime.snapshot().featureEnabled(`outlier_detection.${key}`, this.#settings.enforcing[key]!)) return;
    this.#stats.ejectionsActive.inc();
    this.#stats.ejectionsEnforcedTotal.inc();
    this.#stats.enforced[type].inc();
    m.numEjections++;
    m.lastEjectionTime = this.#now();
    const jitterMax = this.#get('max_ejection_time_jitter_ms');
    m.jitterMs = jitterMax > 0 ? Math.floor(Math.random() * (jitterMax + 1)) : 0;
    const base = this.#get('base_ejection_time_ms');
    if (m.ejectTimeBackoff * base < this.#get('max_ejection_time_ms') + base) m.ejectTimeBackoff++;
    m.host.setHealthFlag(HealthFlag.FailedOutlierCheck, true);
  }

  #checkUneject(m: HostMonitor, now: number): void {
    if (!m.ejected) return;
    const ejectFor =
      Math.min(this.#get('base_ejection_time_ms') * m.ejectTimeBackoff, this.#get('max_ejection_time_ms')) + m.jitterMs;
    if (now - m.lastEjectionTime >= ejectFor) this.#uneject(m);
  }

  #uneject(m: HostMonitor): void {
    this.#stats.ejectionsActive.dec();
    m.consecutive5xx = 0;
    m.consecutiveGatewayFailure = 0;
    m.consecutiveLocalOriginFailure = 0;
    m.lastUnejectionTime = this.#now();
    m.host.setHealthFlag(HealthFlag.FailedOutlierCheck, false);
  }

  #processSuccessRate(origin: 'external' | 'local'): void {
    const srMinHosts = this.#get('success_rate_minimum_hosts');
    const srVolume = this.#get('success_rate_request_volume');
    const fpMinHosts = this.#get('failure_percentage_minimum_hosts');
    const fpVolume = this.#get('failure_percentage_request_volume');
    if (origin === 'external') {
      this.successRateAverage = -1;
      this.successRateEjectionThreshold = -1;
    }
    if (this.#monitors.size < srMinHosts && this.#monitors.size < fpMinHosts) return;
    const srHosts: Array<[HostMonitor, number]> = [];
    const fpHosts: Array<[HostMonitor, number]> = [];
    let sum = 0;
    for (const m of this.#monitors.values()) {
      if (m.ejected) continue;
      const buckets = origin === 'external' ? m.external : m.localOrigin;
      const rate = buckets.lastRate();
      if (rate < 0) continue;
      if (buckets.lastTotal >= srVolume) {
        srHosts.push([m, rate]);
        sum += rate;
      }
      if (buckets.lastTotal >= fpVolume) fpHosts.push([m, rate]);
    }
    if (srHosts.length > 0 && srHosts.length >= srMinHosts) {
      const mean = sum / srHosts.length;
      let variance = 0;
      for (const [, rate] of srHosts) variance += (rate - mean) ** 2;
      const stdev = Math.sqrt(variance / srHosts.length);
      const threshold = mean - (this.#get('success_rate_stdev_factor') / 1000) * stdev;
      if (origin === 'external') {
        this.successRateAverage = mean;
        this.successRateEjectionThreshold = threshold;
      }
      const type: EjectionType = origin === 'external' ? 'success_rate' : 'local_origin_success_rate';
      for (const [m, rate] of srHosts) {
        if (rate < threshold && !m.ejected) {
          this.#stats.detected[type].inc();
          this.#eject(m, type);
        }
      }
    }
    if (fpHosts.length > 0 && fpHosts.length >= fpMinHosts) {
      const threshold = this.#get('failure_percentage_threshold');
      const type: EjectionType = origin === 'external' ? 'failure_percentage' : 'local_origin_failure_percentage';
      for (const [m, rate] of fpHosts) {
        if (100 - rate >= threshold && !m.ejected) {
          this.#stats.detected[type].inc();
          this.#eject(m, type);
        }
      }
    }
  }
}
