// A cluster on one worker: its immutable settings (ClusterInfo: limits, timeouts, stats
// handles, LB settings), its hosts (kept across updates so pools and health state survive a
// DNS refresh or an EDS push), and the load balancer rebuilt whenever membership or health
// changes.
import type { ClusterConfig } from '../../api/schema.js';
import { HTTP_PROTOCOL_OPTIONS_NAME, unwrap } from '../../api/schema.js';
import { durationMs } from '../../api/duration.js';
import type { Counter, Gauge, Histogram, Scope } from '../../stats/types.js';
import type { ClusterDiscovery } from './cluster-discovery.js';
import { Host, type HostDescription, type HostPools } from './host.js';
import { Http1ConnPool } from './http1-conn-pool.js';
import { Http2ConnPool } from './http2-conn-pool.js';
import type { Http2ClientSettings } from '../http/codec/http2/client-settings.js';
import { LoadBalancer, type LbSettings } from './load-balancer.js';
import type { ClusterResilience } from './cluster-resilience.js';
import { ZoneRoutingPlan, type ZoneAwareContext } from './zone-aware.js';
import type { SecretManager } from '../network/tls/secret-manager.js';
import type { Runtime } from '../../runtime/index.js';
import { UpstreamTransportSockets } from '../network/transport-socket-factories.js';
import type { UpstreamTransportSocketFactory } from '../network/transport-socket.js';

export class ClusterStats {
  readonly upstream_rq_total: Counter;
  readonly upstream_rq_completed: Counter;
  readonly upstream_rq_active: Gauge;
  readonly upstream_rq_pending_total: Counter;
  readonly upstream_rq_pending_active: Gauge;
  readonly upstream_rq_pending_overflow: Counter;
  readonly upstream_rq_timeout: Counter;
  readonly upstream_rq_rx_reset: Counter;
  readonly upstream_rq_time: Histogram;
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_none_healthy: Counter;
  readonly upstream_cx_protocol_error: Counter;
  /** Counted by tcp_proxy, which sees every upstream byte. */
  readonly upstream_cx_rx_bytes_total: Counter;
  readonly upstream_cx_tx_bytes_total: Counter;
  /** tcp_proxy: connections refused after max_connect_attempts consecutive connect failures. */
  readonly upstream_cx_connect_attempts_exceeded: Counter;
  readonly upstream_rq_retry: Counter;
  readonly upstream_rq_retry_success: Counter;
  readonly upstream_rq_retry_overflow: Counter;
  readonly upstream_rq_retry_limit_exceeded: Counter;
  readonly upstream_rq_retry_backoff_exponential: Counter;
  readonly upstream_rq_per_try_timeout: Counter;
  /** The router stopped (resumed) reading a response because the downstream was backed up (drained). */
  readonly upstream_flow_control_paused_reading_total: Counter;
  readonly upstream_flow_control_resumed_reading_total: Counter;
  /** The upstream was backed up (drained) and the router stopped (resumed) reading the request downstream. */
  readonly upstream_flow_control_backed_up_total: Counter;
  readonly upstream_flow_control_drained_total: Counter;
  readonly membership_total: Gauge;
  readonly membership_healthy: Gauge;
  readonly #scope: Scope;
  readonly #byCode: Array<Counter | undefined> = [];
  readonly #byClass: Counter[];

  constructor(scope: Scope) {
    this.#scope = scope;
    this.upstream_rq_total = scope.counter('upstream_rq_total');
    this.upstream_rq_completed = scope.counter('upstream_rq_completed');
    this.upstream_rq_active = scope.gauge('upstream_rq_active');
    this.upstream_rq_pending_total = scope.counter('upstream_rq_pending_total');
    this.upstream_rq_pending_active = scope.gauge('upstream_rq_pending_active');
    this.upstream_rq_pending_overflow = scope.counter('upstream_rq_pending_overflow');
    this.upstream_rq_timeout = scope.counter('upstream_rq_timeout');
    this.upstream_rq_rx_reset = scope.counter('upstream_rq_rx_reset');
    this.upstream_rq_time = scope.histogram('upstream_rq_time', 'milliseconds');
    this.upstream_cx_total = scope.counter('upstream_cx_total');
    this.upstream_cx_active = scope.gauge('upstream_cx_active');
    this.upstream_cx_connect_fail = scope.counter('upstream_cx_connect_fail');
    this.upstream_cx_connect_timeout = scope.counter('upstream_cx_connect_timeout');
    this.upstream_cx_overflow = scope.counter('upstream_cx_overflow');
    this.upstream_cx_none_healthy = scope.counter('upstream_cx_none_healthy');
    this.upstream_cx_protocol_error = scope.counter('upstream_cx_protocol_error');
    this.upstream_cx_rx_bytes_total = scope.counter('upstream_cx_rx_bytes_total');
    this.upstream_cx_tx_bytes_total = scope.counter('upstream_cx_tx_bytes_total');
    this.upstream_cx_connect_attempts_exceeded = scope.counter('upstream_cx_connect_attempts_exceeded');
    this.membership_total = scope.gauge('membership_total', 'never_import');
    this.membership_healthy = scope.gauge('membership_healthy', 'never_import');
    this.#byClass = [1, 2, 3, 4, 5].map((c) => scope.counter(`upstream_rq_${c}xx`));
    this.upstream_rq_retry = scope.counter('upstream_rq_retry');
    this.upstream_rq_retry_success = scope.counter('upstream_rq_retry_success');
    this.upstream_rq_retry_overflow = scope.counter('upstream_rq_retry_overflow');
    this.upstream_rq_retry_limit_exceeded = scope.counter('upstream_rq_retry_limit_exceeded');
    this.upstream_rq_retry_backoff_exponential = scope.counter('upstream_rq_retry_backoff_exponential');
    this.upstream_rq_per_try_timeout = scope.counter('upstream_rq_per_try_timeout');
    this.upstream_flow_control_paused_reading_total = scope.counter('upstream_flow_control_paused_reading_total');
    this.upstream_flow_control_resumed_reading_total = scope.counter('upstream_flow_control_resumed_reading_total');
    this.upstream_flow_control_backed_up_total = scope.counter('upstream_flow_control_backed_up_total');
    this.upstream_flow_control_drained_total = scope.counter('upstream_flow_control_drained_total');
  }

  /** `upstream_rq_<code>` and `upstream_rq_<N>xx`; handles created on first use per code. */
  recordResponseCode(code: number): void {
    let c = this.#byCode[code];
    if (c === undefined) c = this.#byCode[code] = this.#scope.counter(`upstream_rq_${code}`);
    c.inc();
    const cls = (code / 100) | 0;
    if (cls >= 1 && cls <= 5) this.#byClass[cls - 1]!.inc();
  }
}

/** Circuit-breaker limits (DEFAULT priority) and their live counts on this worker. */
export class ResourceManager {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  connections = 0;
  pendingRequests = 0;
  requests = 0;
  retries = 0;
  /** `retry_budget`: retries allowed as a share of active + pending requests, replacing max_retries. */
  readonly #budget: { percent: number; minConcurrency: number } | null;

  constructor(cfg: ClusterConfig, priority: 'DEFAULT' | 'HIGH' = 'DEFAULT') {
    const t = cfg.circuit_breakers?.thresholds?.find((x) => (x.priority ?? 'DEFAULT') === priority);
    this.maxConnections = unwrap(t?.max_connections, 1024);
    this.maxPendingRequests = unwrap(t?.max_pending_requests, 1024);
    this.maxRequests = unwrap(t?.max_requests, 1024);
    this.maxRetries = unwrap(t?.max_retries, 3);
    const b = t?.retry_budget;
    this.#budget =
      b === undefined
        ? null
        : { percent: b.budget_percent?.value ?? 20, minConcurrency: unwrap(b.min_retry_concurrency, 3) };
  }

  /** How many retries may be in flight now (RetryState's circuit breaker). */
  retryLimit(): number {
    const b = this.#budget;
    if (b === null) return this.maxRetries;
    return Math.max(b.minConcurrency, Math.floor(((this.requests + this.pendingRequests) * b.percent) / 100));
  }
}

/** Where auto_sni / auto_san_validation take the upstream server name from, and what they do with it. */
export interface AutoServerName {
  readonly sni: boolean;
  readonly san: boolean;
  /** `:authority`, or override_auto_sni_header (lower-cased). */
  readonly header: string;
}

export class ClusterInfo {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly resources: ResourceManager;
  /** HIGH-priority routes' request and retry limits (connections and pending requests share the pool's). */
  readonly highResources: ResourceManager;
  readonly connectTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  /** Idle upstream connections close after this long; 0 keeps them until the peer closes. */
  readonly idleTimeoutMs: number;
  /** Request bytes the router buffers (while connecting) before it stops reading downstream. */
  readonly bufferLimitBytes: number;
  readonly lb: LbSettings;
  readonly addedViaApi: boolean;
  /**
   * HTTP/2 to the hosts (HttpProtocolOptions' http2_protocol_options); null is HTTP/1.1. With
   * useDownstreamProtocol, only requests that arrived over HTTP/2 use it.
   */
  readonly http2: Http2ClientSettings | null;
  /** use_downstream_protocol_config: upstream requests keep the downstream's protocol. */
  readonly useDownstreamProtocol: boolean;
  /** http_protocol_options.enable_trailers: HTTP/1.1 connections carry chunked trailers both ways. */
  readonly http1EnableTrailers: boolean;
  /** upstream_http_protocol_options' auto_sni / auto_san_validation; null when neither is on. */
  readonly autoServerName: AutoServerName | null;

  /** The cluster's transport sockets (raw TCP, or TLS per transport_socket / transport_socket_matches). */
  readonly transportSockets: UpstreamTransportSockets;

  constructor(cfg: ClusterConfig, stats: Scope, addedViaApi: boolean, secrets?: SecretManager, runtime?: Runtime) {
    this.name = cfg.name;
    this.config = cfg;
    this.addedViaApi = addedViaApi;
    const scope = stats.scope(`cluster.${cfg.name}`);
    this.stats = new ClusterStats(scope);
    this.transportSockets = new UpstreamTransportSockets(
      cfg.transport_socket,
      cfg.transport_socket_matches,
      `cluster '${cfg.name}'`,
      secrets,
      scope,
    );
    this.resources = new ResourceManager(cfg);
    this.highResources = new ResourceManager(cfg, 'HIGH');
    this.connectTimeoutMs = durationMs(cfg.connect_timeout, 5000);
    const protocolOptions = cfg.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS_NAME];
    const common = protocolOptions?.common_http_protocol_options ?? cfg.common_http_protocol_options;
    this.maxRequestsPerConnection = unwrap(common?.max_requests_per_connection ?? cfg.max_requests_per_connection, 0);
    this.idleTimeoutMs = durationMs(common?.idle_timeout, 0);
    const downstream = protocolOptions?.use_downstream_protocol_config;
    this.useDownstreamProtocol = downstream !== undefined;
    const explicitOrDownstream = downstream ?? protocolOptions?.explicit_http_config;
    this.http1EnableTrailers = explicitOrDownstream?.http_protocol_options?.enable_trailers === true;
    const h2 = explicitOrDownstream?.http2_protocol_options;
    this.http2 =
      h2 === undefined
        ? null
        : {
            // Envoy's defaults: 2^31-1 streams (the peer's SETTINGS lower it), 256 MiB windows.
            maxConcurrentStreams: unwrap(h2.max_concurrent_streams, 2147483647),
            initialStreamWindowSize: unwrap(h2.initial_stream_window_size, 268435456),
            initialConnectionWindowSize: unwrap(h2.initial_connection_window_size, 268435456),
            runtime,
          };
    const upstreamOptions = protocolOptions?.upstream_http_protocol_options;
    this.autoServerName =
      upstreamOptions?.auto_sni === true || upstreamOptions?.auto_san_validation === true
        ? {
            sni: upstreamOptions.auto_sni === true,
            san: upstreamOptions.auto_san_validation === true,
            header: upstreamOptions.override_auto_sni_header?.toLowerCase() ?? ':authority',
          }
        : null;
    this.bufferLimitBytes = unwrap(cfg.per_connection_buffer_limit_bytes, 1024 * 1024);
    this.lb = {
      policy: cfg.lb_policy ?? 'ROUND_ROBIN',
      choiceCount: unwrap(cfg.least_request_lb_config?.choice_count, 2),
      minRingSize: unwrap(cfg.ring_hash_lb_config?.minimum_ring_size, 1024),
      maxRingSize: unwrap(cfg.ring_hash_lb_config?.maximum_ring_size, 8 * 1024 * 1024),
      maglevTableSize: unwrap(cfg.maglev_lb_config?.table_size, 65537),
      panicThreshold: cfg.common_lb_config?.healthy_panic_threshold?.value ?? 50,
      localityWeighted: cfg.common_lb_config?.locality_weighted_lb_config !== undefined,
      overprovisioningFactor: unwrap(cfg.load_assignment?.policy?.overprovisioning_factor, 140) / 100,
    };
  }
}

function hostKey(d: HostDescription): string {
  return `${d.address}:${d.port}:${d.priority}:${d.weight}:${d.locality.region}/${d.locality.zone}/${d.locality.subZone}:${d.localityWeight}:${d.healthStatus}`;
}

export class Cluster {
  readonly info: ClusterInfo;
  readonly #discovery: ClusterDiscovery;
  #hosts: Host[] = [];
  #lb: LoadBalancer | null = null;
  #initialized = false;
  readonly #waiting: Array<() => void> = [];
  /** Listeners on membership/health changes (health checkers, outlier detection, admin). */
  readonly #membershipListeners: Array<(hosts: readonly Host[]) => void> = [];
  /** Outlier detection and active health checking, when the cluster configures them. */
  resilience: ClusterResilience | null = null;
  /** Zone-aware routing inputs, set when the bootstrap names a local cluster and the node a locality. */
  zoneAware: ZoneAwareContext | null = null;

  constructor(info: ClusterInfo, discovery: ClusterDiscovery) {
    this.info = info;
    this.#discovery = discovery;
  }

  get name(): string {
    return this.info.name;
  }

  get hosts(): readonly Host[] {
    return this.#hosts;
  }

  get initialized(): boolean {
    return this.#initialized;
  }

  start(): void {
    this.#discovery.start((descriptions) => this.updateHosts(descriptions));
  }

  /** Resolves once the first host list arrived (Envoy's cluster warming). */
  whenInitialized(): Promise<void> {
    if (this.#initialized) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  onMembershipChange(fn: (hosts: readonly Host[]) => void): void {
    this.#membershipListeners.push(fn);
  }

  /** Replaces the host list, keeping Host objects (pools, health) for unchanged endpoints. */
  updateHosts(descriptions: readonly HostDescription[]): void {
    const old = new Map(this.#hosts.map((h) => [hostKey(h.description), h]));
    const next: Host[] = [];
    for (const d of descriptions) {
      const key = hostKey(d);
      const existing = old.get(key);
      if (existing !== undefined) {
        old.delete(key);
        next.push(existing);
        continue;
      }
      const host = new Host(d, () => this.#rebuild());
      const h2 = this.info.http2;
      const sockets = this.info.transportSockets;
      const match = d.transportSocketMatch;
      const h1Factory = sockets.factoryFor(match, 'h1');
      const h2Factory = sockets.factoryFor(match, 'h2');
      const pools = (h1: UpstreamTransportSocketFactory, h2f: UpstreamTransportSocketFactory): HostPools => ({
        pool:
          h2 === null || this.info.useDownstreamProtocol
            ? new Http1ConnPool(host, this.info, h1)
            : new Http2ConnPool(host, this.info, h2, h2f),
        http2Pool: h2 !== null && this.info.useDownstreamProtocol ? new Http2ConnPool(host, this.info, h2, h2f) : null,
      });
      const main = pools(h1Factory, h2Factory);
      host.pool = main.pool;
      host.http2Pool = main.http2Pool;
      // auto_sni / auto_san_validation: connections are made per request host, as Envoy keys its
      // pools by the transport socket options (raw TCP has no server name: one pool serves all).
      const auto = this.info.autoServerName;
      if (auto !== null && h1Factory.withServerName !== undefined && h2Factory.withServerName !== undefined) {
        const w1 = h1Factory.withServerName.bind(h1Factory);
        const w2 = h2Factory.withServerName.bind(h2Factory);
        host.poolsForServerName = (name) => pools(w1(name, auto.sni, auto.san), w2(name, auto.sni, auto.san));
      }
      next.push(host);
    }
    for (const removed of old.values()) removed.drainPools();
    this.#hosts = next;
    this.#rebuild();
    if (!this.#initialized) {
      this.#initialized = true;
      for (const w of this.#waiting.splice(0)) w();
    }
  }

  #rebuild(): void {
    const byPriority: Host[][] = [];
    for (const h of this.#hosts) (byPriority[h.description.priority] ??= []).push(h);
    for (let i = 0; i < byPriority.length; i++) byPriority[i] ??= [];
    const zone =
      this.zoneAware === null || this.info.lb.localityWeighted
        ? null
        : ZoneRoutingPlan.build(
            (byPriority[0] ?? []).filter((h) => h.healthy()),
            this.zoneAware,
          );
    this.#lb = new LoadBalancer(byPriority, this.info.lb, zone);
    this.info.stats.membership_total.set(this.#hosts.length);
    this.info.stats.membership_healthy.set(this.#hosts.filter((h) => h.healthy()).length);
    for (const fn of this.#membershipListeners) fn(this.#hosts);
  }

  /** Rebuilds the load balancer, e.g. after the local cluster (zone-aware routing input) changed. */
  refreshLoadBalancer(): void {
    if (this.#hosts.length > 0) this.#rebuild();
  }

  /** Null when no healthy host is available (Envoy's UH). */
  chooseHost(hashKey: number): Host | null {
    return this.#lb === null ? null : this.#lb.chooseHost(hashKey);
  }

  /** Stops discovery; idle connections close now, busy ones when their request ends. */
  drain(): void {
    this.#discovery.stop();
    this.resilience?.close();
    // Open connections keep their TLS sockets; only the SDS subscriptions end.
    this.info.transportSockets.close();
    for (const h of this.#hosts) h.drainPools();
  }

  destroy(): void {
    this.#discovery.stop();
    this.resilience?.close();
    this.info.transportSockets.close();
    for (const h of this.#hosts) h.destroyPools();
  }
}
