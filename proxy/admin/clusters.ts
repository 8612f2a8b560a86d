// `/clusters` in Envoy's text form (`cluster::host:port::stat::value`) and JSON form
// (envoy.admin.v3.Clusters).
import type { ClusterStatus, HostStatus } from './types.js';

/** Per-host stats Envoy reports as gauges; the rest are counters. */
const HOST_GAUGES = new Set(['cx_active', 'rq_active']);

/** The stats every host line set carries, in Envoy's order, even when the target omits them. */
const HOST_STAT_NAMES = [
  'cx_active',
  'cx_connect_fail',
  'cx_total',
  'rq_active',
  'rq_error',
  'rq_success',
  'rq_timeout',
  'rq_total',
];

function healthFlagsText(flags: string[]): string {
  return flags.length === 0 ? 'healthy' : flags.join('');
}

function hostStatNames(host: HostStatus): string[] {
  const extra = Object.keys(host.stats)
    .filter((k) => !HOST_STAT_NAMES.includes(k))
    .sort();
  return [...HOST_STAT_NAMES, ...extra];
}

export function renderClustersText(clusters: ClusterStatus[]): string {
  let out = '';
  for (const c of clusters) {
    const n = c.name;
    out += `${n}::observability_name::${n}\n`;
    if (c.outlierSuccessRateAverage !== undefined) {
      out += `${n}::outlier::success_rate_average::${c.outlierSuccessRateAverage}\n`;
    }
    if (c.outlierSuccessRateEjectionThreshold !== undefined) {
      out += `${n}::outlier::success_rate_ejection_threshold::${c.outlierSuccessRateEjectionThreshold}\n`;
    }
    for (const cb of c.circuitBreakers) {
      const p = `${n}::${cb.priority}_priority`;
      out += `${p}::max_connections::${cb.maxConnections}\n`;
      out += `${p}::max_pending_requests::${cb.maxPendingRequests}\n`;
      out += `${p}::max_requests::${cb.maxRequests}\n`;
      out += `${p}::max_retries::${cb.maxRetries}\n`;
    }
    out += `${n}::added_via_api::${c.addedViaApi}\n`;
    for (const h of c.hosts) {
      const p = `${n}::${h.address}`;
      for (const stat of hostStatNames(h)) out += `${p}::${stat}::${h.stats[stat] ?? 0}\n`;
      out += `${p}::hostname::${h.hostname ?? ''}\n`;
      out += `${p}::health_flags::${healthFlagsText(h.healthFlags)}\n`;
      out += `${p}::weight::${h.weight}\n`;
      out += `${p}::region::${h.region}\n`;
      out += `${p}::zone::${h.zone}\n`;
      out += `${p}::sub_zone::${h.subZone}\n`;
      out += `${p}::canary::false\n`;
      out += `${p}::priority::${h.priority}\n`;
      out += `${p}::success_rate::-1\n`;
      out += `${p}::local_origin_success_rate::-1\n`;
    }
  }
  return out;
}

function socketAddress(address: string): { address: string; port_value: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  return { address: host, port_value: Number(address.slice(i + 1)) };
}

function healthStatus(flags: string[]): Record<string, unknown> {
  const status: Record<string, unknown> = {};
  for (const f of flags) {
    if (f === '/failed_active_hc') status['failed_active_health_check'] = true;
    else if (f === '/failed_outlier_check') status['failed_outlier_check'] = true;
    else if (f === '/failed_eds_health') status['eds_health_status'] = 'UNHEALTHY';
    else if (f === '/pending_dynamic_removal') status['pending_dynamic_removal'] = true;
    else if (f === '/pending_active_hc') status['pending_active_hc'] = true;
  }
  if (status['eds_health_status'] === undefined) status['eds_health_status'] = 'HEALTHY';
  return status;
}

export function renderClustersJson(clusters: ClusterStatus[]): string {
  const cluster_statuses = clusters.map((c) => {
    const status: Record<string, unknown> = {
      name: c.name,
      added_via_api: c.addedViaApi,
      host_statuses: c.hosts.map((h) => ({
        address: { socket_address: socketAddress(h.address) },
        ...(h.hostname ? { hostname: h.hostname } : {}),
        stats: hostStatNames(h).map((stat) =>
          HOST_GAUGES.has(stat)
            ? { type: 'GAUGE', name: stat, value: String(h.stats[stat] ?? 0) }
            : { name: stat, value: String(h.stats[stat] ?? 0) },
        ),
        health_status: healthStatus(h.healthFlags),
        weight: h.weight,
        priority: h.priority,
        locality: { region: h.region, zone: h.zone, sub_zone: h.subZone },
      })),
      circuit_breakers: {
        thresholds: c.circuitBreakers.map((cb) => ({
          priority: cb.priority === 'high' ? 'HIGH' : 'DEFAULT',
          max_connections: cb.maxConnections,
          max_pending_requests: cb.maxPendingRequests,
          max_requests: cb.maxRequests,
          max_retries: cb.maxRetries,
        })),
      },
      observability_name: c.name,
    };
    if (c.outlierSuccessRateAverage !== undefined) {
      status['success_rate_ejection_threshold'] = { value: c.outlierSuccessRateEjectionThreshold ?? -1 };
    }
    return status;
  });
  return JSON.stringify({ cluster_statuses }, null, 1);
}

export function renderListenersText(listeners: Array<{ name: string; localAddress: string }>): string {
  return listeners.map((l) => `${l.name}::${l.localAddress}\n`).join('');
}

export function renderListenersJson(listeners: Array<{ name: string; localAddress: string }>): string {
  return JSON.stringify(
    {
      listener_statuses: listeners.map((l) => ({
        name: l.name,
        local_address: { socket_address: socketAddress(l.localAddress) },
      })),
    },
    null,
    1,
  );
}
