// An upstream host as one worker sees it: address, weight, priority, locality, Envoy's health
// flags (set by health checking and outlier detection) and per-host counters that `/clusters`
// prints. Counters are plain fields: the hot path increments them, admin reads them on demand.
import type { ConnectionPool } from './conn-pool.js';

export interface HostDescription {
  readonly address: string;
  readonly port: number;
  /** The DNS name the address came from (strict/logical DNS), or ''. */
  readonly hostname: string;
  readonly weight: number;
  readonly priority: number;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly localityWeight: number;
  /** EDS-style health status from the config. */
  readonly healthStatus: 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';
  /** The endpoint's `envoy.transport_socket_match` metadata: which of the cluster's transport_socket_matches it takes. */
  readonly transportSocketMatch?: Readonly<Record<string, unknown>>;
  /** `endpoint.health_check_config`: another port (0: the serving one), a Host header, or none at all. */
  readonly healthCheck?: { readonly port: number; readonly hostname: string; readonly disabled: boolean };
}

/** Envoy's host health flags, as `/clusters` prints them. */
export const HealthFlag = {
  FailedActiveHealthCheck: 1 << 0,
  FailedOutlierCheck: 1 << 1,
  FailedEdsHealth: 1 << 2,
  DegradedActiveHealthCheck: 1 << 3,
  DegradedEdsHealth: 1 << 4,
  PendingDynamicRemoval: 1 << 5,
  PendingActiveHealthCheck: 1 << 6,
  ActiveHealthCheckTimeout: 1 << 7,
} as const;

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [HealthFlag.FailedActiveHealthCheck, '/failed_active_hc'],
  [HealthFlag.FailedOutlierCheck, '/failed_outlier_check'],
  [HealthFlag.FailedEdsHealth, '/failed_eds_health'],
  [HealthFlag.DegradedActiveHealthCheck, '/degraded_active_hc'],
  [HealthFlag.DegradedEdsHealth, '/degraded_eds_health'],
  [HealthFlag.PendingDynamicRemoval, '/pending_dynamic_removal'],
  [HealthFlag.PendingActiveHealthCheck, '/pending_active_hc'],
  [HealthFlag.ActiveHealthCheckTimeout, '/active_hc_timeout'],
];

/** Flags that make a host unusable for load balancing. */
const UNHEALTHY_MASK =
  HealthFlag.FailedActiveHealthCheck |
  HealthFlag.FailedOutlierCheck |
  HealthFlag.FailedEdsHealth |
  HealthFlag.ActiveHealthCheckTimeout;

export class HostStats {
  cx_active = 0;
  cx_connect_fail = 0;
  cx_total = 0;
  rq_active = 0;
  rq_error = 0;
  rq_success = 0;
  rq_timeout = 0;
  rq_total = 0;
}

/** A host's connection pools for one set of transport socket options. */
export interface HostPools {
  readonly pool: ConnectionPool;
  readonly http2Pool: ConnectionPool | null;
}

/**
 * Request hosts a host keeps auto_sni pools for: the request's Host header picks them, so
 * without a bound any client could make the proxy hold a pool (and its connections) per name it sends.
 */
const MAX_SERVER_NAME_POOLS = 64;

export class Host {
  readonly description: HostDescription;
  /** `ip:port`, precomputed for logs and headers. */
  readonly addressString: string;
  readonly stats = new HostStats();
  #healthFlags = 0;
  #onHealthChange: (host: Host) => void;
  /** Set by the cluster once the pool exists. */
  pool!: ConnectionPool;
  /**
   * use_downstream_protocol_config: the HTTP/2 pool HTTP/2 downstream requests take (`pool`
   * is then the HTTP/1.1 one); null otherwise.
   */
  http2Pool: ConnectionPool | null = null;

  /**
   * auto_sni / auto_san_validation: builds the pools for connections made for one request host
   * (set by the cluster when its TLS transport socket takes a server name); null otherwise.
   */
  poolsForServerName: ((name: string) => HostPools) | null = null;
  /** Those pools by server name, least recently used first; at most MAX_SERVER_NAME_POOLS. */
  #byServerName: Map<string, HostPools> | null = null;

  /** The pools for requests to `name` (auto_sni): made on first use, the least recently used drained past the bound. */
  poolsFor(name: string): HostPools {
    const byName = (this.#byServerName ??= new Map());
    let pools = byName.get(name);
    if (pools !== undefined) {
      byName.delete(name);
      byName.set(name, pools);
      return pools;
    }
    pools = this.poolsForServerName!(name);
    byName.set(name, pools);
    if (byName.size > MAX_SERVER_NAME_POOLS) {
      const [oldest, old] = byName.entries().next().value as [string, HostPools];
      byName.delete(oldest);
      old.pool.drain();
      old.http2Pool?.drain();
    }
    return pools;
  }

  /** Drains every pool of the host (removed, or its cluster drains). */
  drainPools(): void {
    this.pool.drain();
    this.http2Pool?.drain();
    if (this.#byServerName !== null)
      for (const p of this.#byServerName.values()) {
        p.pool.drain();
        p.http2Pool?.drain();
      }
  }

  destroyPools(): void {
    this.pool.destroy();
    this.http2Pool?.destroy();
    if (this.#byServerName !== null)
      for (const p of this.#byServerName.values()) {
        p.pool.destroy();
        p.http2Pool?.destroy();
      }
  }

  constructor(description: HostDescription, onHealthChange: (host: Host) => void) {
    this.description = description;
    this.addressString = description.address.includes(':')
      ? `[${description.address}]:${description.port}`
      : `${description.address}:${description.port}`;
    this.#onHealthChange = onHealthChange;
    if (
      description.healthStatus === 'UNHEALTHY' ||
      description.healthStatus === 'DRAINING' ||
      description.healthStatus === 'TIMEOUT'
    ) {
      this.#healthFlags |= HealthFlag.FailedEdsHealth;
    } else if (description.healthStatus === 'DEGRADED') {
      this.#healthFlags |= HealthFlag.DegradedEdsHealth;
    }
  }

  get healthFlags(): number {
    return this.#healthFlags;
  }

  healthy(): boolean {
    return (this.#healthFlags & UNHEALTHY_MASK) === 0;
  }

  /** Health checkers and outlier detection flip flags here; the cluster rebuilds its LB view. */
  setHealthFlag(flag: number, on: boolean): void {
    const next = on ? this.#healthFlags | flag : this.#healthFlags & ~flag;
    if (next === this.#healthFlags) return;
    this.#healthFlags = next;
    this.#onHealthChange(this);
  }

  healthFlagNames(): string[] {
    if (this.#healthFlags === 0) return ['healthy'];
    return FLAG_NAMES.filter(([bit]) => (this.#healthFlags & bit) !== 0).map(([, name]) => name);
  }
}
