// Host descriptions from a ClusterLoadAssignment (static and DNS clusters share it).
import type { ClusterLoadAssignment } from '../../api/schema.js';
import { unwrap } from '../../api/schema.js';
import type { HostDescription } from './host.js';

export interface EndpointSpec {
  readonly address: string;
  readonly port: number;
  /** `endpoint.hostname`, used by auto_host_rewrite. */
  readonly hostname: string;
  readonly base: Omit<HostDescription, 'address' | 'port' | 'hostname'>;
}

/** Flattens localities and lb_endpoints into one spec per endpoint, with defaults applied. */
export function endpointSpecs(la: ClusterLoadAssignment | undefined): EndpointSpec[] {
  const out: EndpointSpec[] = [];
  for (const group of la?.endpoints ?? []) {
    const locality = {
      region: group.locality?.region ?? '',
      zone: group.locality?.zone ?? '',
      subZone: group.locality?.sub_zone ?? '',
    };
    for (const e of group.lb_endpoints ?? []) {
      const hc = e.endpoint.health_check_config;
      out.push({
        address: e.endpoint.address.socket_address.address,
        port: e.endpoint.address.socket_address.port_value,
        hostname: e.endpoint.hostname ?? '',
        base: {
          weight: unwrap(e.load_balancing_weight, 1),
          priority: group.priority ?? 0,
          locality,
          localityWeight: unwrap(group.load_balancing_weight, 1),
          healthStatus: e.health_status ?? 'UNKNOWN',
          transportSocketMatch: e.metadata?.filter_metadata?.['envoy.transport_socket_match'],
          healthCheck:
            hc === undefined
              ? undefined
              : {
                  port: hc.port_value ?? 0,
                  hostname: hc.hostname ?? '',
                  disabled: hc.disable_active_health_check === true,
                },
        },
      });
    }
  }
  return out;
}
