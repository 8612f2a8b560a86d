// Active health checking (envoy.config.core.v3.HealthCheck), HTTP and TCP, one session per
// host. Hosts start with `/failed_active_hc` and turn healthy on their first passing check;
// afterwards `healthy_threshold` passes or `unhealthy_threshold` network failures flip them.
// A response outside `expected_statuses` (or a TCP payload mismatch) is an active failure and
// marks the host unhealthy at once, as Envoy does. The interval is `no_traffic_interval` until
// the cluster has seen traffic, with optional jitter.
import { connect, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import type { Agent } from 'node:http';
import { durationMs } from '../../api/duration.js';
import type { HealthCheckConfig } from '../../api/health-check.js';
import type { Counter, Gauge, Scope } from '../../stats/types.js';
import { HealthFlag, type Host } from './host.js';

// node:http (its client, agent, parser and server modules: ~0.3 MB of heap for the life of the
// process) is loaded by the first HTTP health checker, not by every proxy: a configuration
// without one (TCP checks or none, as most) never needs it on the request path.
let nodeHttp: typeof import('node:http') | null = null;
const requireHttp = (): typeof import('node:http') =>
  (nodeHttp ??= createRequire(import.meta.url)('node:http') as typeof import('node:http'));

interface HealthCheckStats {
  attempt: Counter;
  success: Counter;
  failure: Counter;
  network_failure: Counter;
  verify_cluster: Counter;
  healthy: Gauge;
}

type CheckResult = 'success' | 'active_failure' | 'network_failure' | 'timeout';

interface Settings {
  timeoutMs: number;
  intervalMs: number;
  initialJitterMs: number;
  intervalJitterMs: number;
  intervalJitterPercent: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  noTrafficMs: number;
  noTrafficHealthyMs: number;
  unhealthyMs: number;
  unhealthyEdgeMs: number;
  healthyEdgeMs: number;
}

export interface HealthCheckerOptions {
  /** Envoy switches from no_traffic_interval to interval once the cluster has carried traffic. */
  hasTraffic(): boolean;
  /** Called after every check with its outcome (outlier detection may uneject on success). */
  onCheckComplete?(host: Host, healthy: boolean): void;
  /** Default `Host` header of HTTP checks: the cluster name. */
  clusterName: string;
}

class Session {
  readonly host: Host;
  readonly #checker: HealthChecker;
  #timer: NodeJS.Timeout | undefined;
  #firstCheck = true;
  numHealthy = 0;
  numUnhealthy = 0;
  #closed = false;
  #inFlight: (() => void) | undefined;

  constructor(host: Host, checker: HealthChecker) {
    this.host = host;
    this.#checker = checker;
  }

  start(initialDelayMs: number): void {
    this.#schedule(initialDelayMs);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#inFlight?.();
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#run(), ms);
    this.#timer.unref();
  }

  #run(): void {
    this.#timer = undefined;
    this.#inFlight = this.#checker.check(this.host, (result) => {
      this.#inFlight = undefined;
      if (this.#closed) return;
      const changed = this.#apply(result);
      this.#schedule(this.#checker.nextInterval(this.host, changed));
    });
  }

  /** Returns 'healthy' / 'unhealthy' when the host changed state, else null. */
  #apply(result: CheckResult): 'healthy' | 'unhealthy' | null {
    const checker = this.#checker;
    const failed = (this.host.healthFlags & HealthFlag.FailedActiveHealthCheck) !== 0;
    let changed: 'healthy' | 'unhealthy' | null = null;
    if (result === 'success') {
      this.numUnhealthy = 0;
      checker.stats.success.inc();
      if (failed && (this.#firstCheck || ++this.numHealthy >= checker.settings.healthyThreshold)) {
        this.host.setHealthFlag(HealthFlag.FailedActiveHealthCheck, false);
        this.numHealthy = 0;
        changed = 'healthy';
      }
    } else {
      this.numHealthy = 0;
      checker.stats.failure.inc();
      if (result !== 'active_failure') checker.stats.network_failure.inc();
      if (!failed && (result === 'active_failure' || ++this.numUnhealthy >= checker.settings.unhealthyThreshold)) {
        this.host.setHealthFlag(HealthFlag.FailedActiveHealthCheck, true);
        this.numUnhealthy = 0;
        changed = 'unhealthy';
      }
    }
    this.#firstCheck = false;
    checker.updateHealthyGauge();
    checker.options.onCheckComplete?.(this.host, result === 'success');
    return changed;
  }
}

function inRanges(status: number, ranges: ReadonlyArray<{ start: number; end: number }>): boolean {
  for (const r of ranges) if (status >= r.start && status < r.end) return true;
  return false;
}

/** Each receive block must appear in order, not necessarily contiguous (Envoy's fuzzy match). */
function tcpMatches(received: Buffer, blocks: readonly Buffer[]): boolean {
  let from = 0;
  for (const block of blocks) {
    const at = received.indexOf(block, from);
    if (at === -1) return false;
    from = at + block.length;
  }
  return true;
}

/** `health_check_config.port_value` when set, else the serving port. */
function checkPort(host: Host): number {
  const port = host.description.healthCheck?.port ?? 0;
  return port === 0 ? host.description.port : port;
}

export class HealthChecker {
  readonly settings: Settings;
  readonly stats: HealthCheckStats;
  readonly options: HealthCheckerOptions;
  readonly #config: HealthCheckConfig;
  readonly #sessions = new Map<Host, Session>();
  /** The HTTP checks' keep-alive agent; null for TCP checks. */
  readonly #agent: Agent | null;
  readonly #expected: ReadonlyArray<{ start: number; end: number }>;
  readonly #tcpSend: Buffer | undefined;
  readonly #tcpReceive: readonly Buffer[];
  #started = false;

  constructor(config: HealthCheckConfig, clusterScope: Scope, options: HealthCheckerOptions) {
    this.#config = config;
    this.options = options;
    const interval = durationMs(config.interval, 0);
    const noTraffic = durationMs(config.no_traffic_interval, 60_000);
    this.settings = {
      timeoutMs: durationMs(config.timeout, 0),
      intervalMs: interval,
      initialJitterMs: durationMs(config.initial_jitter, 0),
      intervalJitterMs: durationMs(config.interval_jitter, 0),
      intervalJitterPercent: config.interval_jitter_percent ?? 0,
      unhealthyThreshold: Math.max(1, config.unhealthy_threshold),
      healthyThreshold: Math.max(1, config.healthy_threshold),
      noTrafficMs: noTraffic,
      noTrafficHealthyMs: durationMs(config.no_traffic_healthy_interval, noTraffic),
      unhealthyMs: durationMs(config.unhealthy_interval, interval),
      unhealthyEdgeMs: durationMs(config.unhealthy_edge_interval, 0),
      healthyEdgeMs: durationMs(config.healthy_edge_interval, 0),
    };
    const scope = clusterScope.scope('health_check');
    this.stats = {
      attempt: scope.counter('attempt'),
      success: scope.counter('success'),
      failure: scope.counter('failure'),
      network_failure: scope.counter('network_failure'),
      verify_cluster: scope.counter('verify_cluster'),
      healthy: scope.gauge('healthy', 'never_import'),
    };
    this.#agent =
      config.http_health_check === undefined
        ? null
        : new (requireHttp().Agent)({ keepAlive: config.reuse_connection !== false, maxSockets: 1 });
    this.#expected = config.http_health_check?.expected_statuses ?? [{ start: 200, end: 201 }];
    const send = config.tcp_health_check?.send?.text;
    this.#tcpSend = send === undefined || send === '' ? undefined : Buffer.from(send, 'hex');
    this.#tcpReceive = (config.tcp_health_check?.receive ?? []).map((p) => Buffer.from(p.text, 'hex'));
  }

  /** Tracks the cluster's hosts; new hosts start failed until their first check passes. */
  setHosts(hosts: readonly Host[]): void {
    const next = new Set(hosts);
    for (const [host, session] of this.#sessions) {
      if (!next.has(host)) {
        session.close();
        this.#sessions.delete(host);
      }
    }
    for (const host of hosts) {
      if (this.#sessions.has(host) || host.description.healthCheck?.disabled === true) continue;
      host.setHealthFlag(HealthFlag.FailedActiveHealthCheck, true);
      const session = new Session(host, this);
      this.#sessions.set(host, session);
      if (this.#started) session.start(this.#initialDelay());
    }
    this.updateHealthyGauge();
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const session of this.#sessions.values()) session.start(this.#initialDelay());
  }

  close(): void {
    this.#started = false;
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
    this.#agent?.destroy();
  }

  updateHealthyGauge(): void {
    let healthy = 0;
    for (const host of this.#sessions.keys())
      if ((host.healthFlags & HealthFlag.FailedActiveHealthCheck) === 0) healthy++;
    this.stats.healthy.set(healthy);
  }

  #initialDelay(): number {
    const j = this.settings.initialJitterMs;
    return j > 0 ? Math.floor(Math.random() * j) : 0;
  }

  /** Envoy's interval choice: no-traffic, edge and unhealthy intervals, then jitter. */
  nextInterval(host: Host, changed: 'healthy' | 'unhealthy' | null): number {
    const s = this.settings;
    const healthy = (host.healthFlags & HealthFlag.FailedActiveHealthCheck) === 0;
    let base: number;
    if (!this.options.hasTraffic()) base = healthy ? s.noTrafficHealthyMs : s.noTrafficMs;
    else if (changed === 'healthy' && s.healthyEdgeMs > 0) base = s.healthyEdgeMs;
    else if (changed === 'unhealthy' && s.unhealthyEdgeMs > 0) base = s.unhealthyEdgeMs;
    else base = healthy ? s.intervalMs : s.unhealthyMs;
    let jitter = 0;
    if (s.intervalJitterPercent > 0) jitter += Math.floor(Math.random() * ((base * s.intervalJitterPercent) / 100));
    if (s.intervalJitterMs > 0) jitter += Math.floor(Math.random() * s.intervalJitterMs);
    return base + jitter;
  }

  /** Runs one check; returns a cancel function. */
  check(host: Host, done: (result: CheckResult) => void): () => void {
    this.stats.attempt.inc();
    return this.#config.http_health_check !== undefined ? this.#httpCheck(host, done) : this.#tcpCheck(host, done);
  }

  #httpCheck(host: Host, done: (result: CheckResult) => void): () => void {
    const http = this.#config.http_health_check!;
    let settled = false;
    const finish = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(result);
    };
    // Envoy's order: the endpoint's health_check_config.hostname, the checker's host, the cluster.
    const endpointHost = host.description.healthCheck?.hostname ?? '';
    const headers: Record<string, string> = {
      host:
        endpointHost !== ''
          ? endpointHost
          : http.host !== undefined && http.host !== ''
            ? http.host
            : this.options.clusterName,
      'user-agent': 'Envoy/HC',
    };
    for (const h of http.request_headers_to_add ?? []) headers[h.header.key.toLowerCase()] = h.header.value;
    for (const name of http.request_headers_to_remove ?? []) delete headers[name.toLowerCase()];
    const req = requireHttp().request(
      {
        host: host.description.address,
        port: checkPort(host),
        path: http.path,
        method: 'GET',
        headers,
        agent: this.#agent!,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => finish(inRanges(status, this.#expected) ? 'success' : 'active_failure'));
        res.on('error', () => finish('network_failure'));
      },
    );
    req.on('error', () => finish('network_failure'));
    req.end();
    const timer = setTimeout(() => {
      req.destroy();
      finish('timeout');
    }, this.settings.timeoutMs);
    return () => {
      settled = true;
      clearTimeout(timer);
      req.destroy();
    };
  }

  #tcpCheck(host: Host, done: (result: CheckResult) => void): () => void {
    let settled = false;
    let received = Buffer.alloc(0);
    const socket: Socket = connect({ host: host.description.address, port: checkPort(host) });
    const finish = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(result);
    };
    socket.on('connect', () => {
      if (this.#tcpSend !== undefined) socket.write(this.#tcpSend);
      if (this.#tcpReceive.length === 0) finish('success');
    });
    socket.on('data', (chunk: Buffer) => {
      // Bounded: nothing beyond the expected blocks' total size (plus slack) is kept.
      received = Buffer.concat([received, chunk]).subarray(-64 * 1024);
      if (tcpMatches(received, this.#tcpReceive)) finish('success');
    });
    socket.on('error', () => finish('network_failure'));
    socket.on('close', () => finish(received.length > 0 ? 'active_failure' : 'network_failure'));
    const timer = setTimeout(() => finish('timeout'), this.settings.timeoutMs);
    return () => {
      settled = true;
      clearTimeout(timer);
      socket.destroy();
    };
  }
}
