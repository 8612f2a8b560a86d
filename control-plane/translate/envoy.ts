// Small builders for Envoy v3 JSON shapes shared by the translators. Everything here is
// plain JSON in Envoy's proto3 JSON mapping: snake_case names, durations as "1.5s",
// enums as strings, `@type` on every typed_config.

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Objects shared by many nodes (resources, workloads) are serialized once, not once per node. */
const serializedOf = new WeakMap<object, string>();

/** An object's JSON text, computed once per object: a resource or workload is never mutated once built. */
export function serializedJson(o: object): string {
  let json = serializedOf.get(o);
  if (json === undefined) {
    json = JSON.stringify(o);
    serializedOf.set(o, json);
  }
  return json;
}

export const TYPE_URL = {
  listeners: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  clusters: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secrets: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  runtime: 'type.googleapis.com/envoy.service.runtime.v3.Runtime',
} as const;

export type ResourceKind = keyof typeof TYPE_URL;

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
export const ISTIO_STATS_TYPE = 'type.googleapis.com/stats.PluginConfig';
export const OTEL_TRACER_TYPE = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';
export const OTEL_ACCESS_LOG_TYPE =
  'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig';
export const STDOUT_ACCESS_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
export const HTTP_PROTOCOL_OPTIONS_TYPE = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Envoy's JSON form of a google.protobuf.Duration. */
export function durationJson(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${(ms / 1000).toFixed(3).replace(/0+$/, '')}s`;
}

export function socketAddress(hostPort: string): JsonObject {
  const i = hostPort.lastIndexOf(':');
  return { socket_address: { address: hostPort.slice(0, i), port_value: Number(hostPort.slice(i + 1)) } };
}

export function loopback(port: number): JsonObject {
  return { socket_address: { address: '127.0.0.1', port_value: port } };
}

export function percentFraction(percent: number): JsonObject {
  // Hundredths of a percent keep fractional percents exact (Envoy's TEN_THOUSAND denominator).
  return Number.isInteger(percent)
    ? { numerator: percent, denominator: 'HUNDRED' }
    : { numerator: Math.round(percent * 100), denominator: 'TEN_THOUSAND' };
}

/** Where a resource's dependents (RDS of a listener, EDS of a cluster) are fetched from. */
export type ConfigSourceStyle = { kind: 'ads' } | { kind: 'rest'; cluster: string; refreshDelayMs: number };

export function configSource(style: ConfigSourceStyle): JsonObject {
  if (style.kind === 'ads') return { ads: {}, resource_api_version: 'V3' };
  return {
    api_config_source: {
      api_type: 'REST',
      transport_api_version: 'V3',
      cluster_names: [style.cluster],
      refresh_delay: durationJson(style.refreshDelayMs),
    },
    resource_api_version: 'V3',
  };
}
