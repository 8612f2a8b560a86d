// Listeners for a mesh's `protocol: TCP` ports: tcp_proxy instead of an HTTP connection manager,
// with istio.stats before it (Istio's TCP metrics) and the node's access loggers on it. Inbound,
// the sidecar relays to the local application; outbound, each TCP destination the workload
// calls gets its own local port (`sidecar.outbound_tcp`), as there is no Host to route by.
import { ISTIO_STATS_TYPE, loopback, type JsonObject } from './envoy.js';

export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export function usesTcpProxy(port: { protocol: string }): boolean {
  return port.protocol === 'TCP';
}

/**
 * A listener whose one filter chain is [network RBAC →] istio.stats → tcp_proxy to `cluster`
 * (also its stat_prefix, as Istio's); `rbac` are the authorization policies' filters, inbound.
 */
export function tcpProxyListener(
  name: string,
  port: number,
  direction: 'INBOUND' | 'OUTBOUND',
  cluster: string,
  accessLogs: JsonObject[],
  rbac: JsonObject[] = [],
): JsonObject {
  const tcpProxy: JsonObject = { '@type': TCP_PROXY_TYPE, stat_prefix: cluster, cluster };
  if (accessLogs.length > 0) tcpProxy.access_log = accessLogs;
  return {
    name,
    address: loopback(port),
    traffic_direction: direction,
    filter_chains: [
      {
        filters: [
          ...rbac,
          { name: 'istio.stats', typed_config: { '@type': ISTIO_STATS_TYPE } },
          { name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy },
        ],
      },
    ],
  };
}
