// `/config_dump` as Envoy prints it (envoy.admin.v3.ConfigDump): one dump per config type in
// Envoy's order (bootstrap, clusters, endpoints with `?include_eds`, listeners, routes,
// secrets), static parts with `last_updated`, inline HCM route configs as static route
// configs; `?resource=<repeated field>` answers that field's elements only, each typed.
import type { Bootstrap } from '../api/schema.js';

type Json = Record<string, unknown>;

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';
const BOOTSTRAP_DUMP = `${ADMIN}BootstrapConfigDump`;
const CLUSTERS_DUMP = `${ADMIN}ClustersConfigDump`;
const ENDPOINTS_DUMP = `${ADMIN}EndpointsConfigDump`;
const LISTENERS_DUMP = `${ADMIN}ListenersConfigDump`;
const ROUTES_DUMP = `${ADMIN}RoutesConfigDump`;
const SECRETS_DUMP = `${ADMIN}SecretsConfigDump`;
const DUMP_ORDER = [BOOTSTRAP_DUMP, CLUSTERS_DUMP, ENDPOINTS_DUMP, LISTENERS_DUMP, ROUTES_DUMP, SECRETS_DUMP];

const HCM_NAME = 'envoy.filters.network.http_connection_manager';
const TYPE = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
};

/** `?resource=` field name → the message type of its elements (envoy/admin/v3/config_dump_shared.proto). */
const RESOURCE_TYPES: Readonly<Record<string, string>> = {
  static_clusters: 'ClustersConfigDump.StaticCluster',
  dynamic_active_clusters: 'ClustersConfigDump.DynamicCluster',
  dynamic_warming_clusters: 'ClustersConfigDump.DynamicCluster',
  static_endpoint_configs: 'EndpointsConfigDump.StaticEndpointConfig',
  dynamic_endpoint_configs: 'EndpointsConfigDump.DynamicEndpointConfig',
  static_listeners: 'ListenersConfigDump.StaticListener',
  dynamic_listeners: 'ListenersConfigDump.DynamicListener',
  static_route_configs: 'RoutesConfigDump.StaticRouteConfig',
  dynamic_route_configs: 'RoutesConfigDump.DynamicRouteConfig',
  static_secrets: 'SecretsConfigDump.StaticSecret',
  dynamic_active_secrets: 'SecretsConfigDump.DynamicSecret',
  dynamic_warming_secrets: 'SecretsConfigDump.DynamicSecret',
};

/** The static parts of the dump, from the bootstrap as loaded at `lastUpdated` (RFC 3339). */
export function staticConfigDump(b: Bootstrap, lastUpdated: string): { configs: Json[] } {
  const listeners = b.static_resources?.listeners ?? [];
  const routeConfigs: Json[] = [];
  for (const l of listeners)
    for (const chain of l.filter_chains ?? [])
      for (const f of chain.filters ?? []) {
        const rc = f.name === HCM_NAME ? (f.typed_config as Json | undefined)?.route_config : undefined;
        if (rc !== undefined)
          routeConfigs.push({ route_config: { '@type': TYPE.routes, ...(rc as Json) }, last_updated: lastUpdated });
      }
  const clusters = b.static_resources?.clusters ?? [];
  const secrets = ((b.static_resources as Json | undefined)?.secrets ?? []) as Json[];
  return {
    configs: [
      { '@type': BOOTSTRAP_DUMP, bootstrap: b, last_updated: lastUpdated },
      {
        '@type': CLUSTERS_DUMP,
        static_clusters: clusters.map((c) => ({ cluster: { '@type': TYPE.cluster, ...c }, last_updated: lastUpdated })),
      },
      {
        '@type': ENDPOINTS_DUMP,
        static_endpoint_configs: clusters
          .filter((c) => c.load_assignment !== undefined)
          .map((c) => ({
            endpoint_config: { '@type': TYPE.endpoints, ...c.load_assignment },
            last_updated: lastUpdated,
          })),
      },
      {
        '@type': LISTENERS_DUMP,
        static_listeners: listeners.map((l) => ({
          listener: { '@type': TYPE.listener, ...l },
          last_updated: lastUpdated,
        })),
      },
      { '@type': ROUTES_DUMP, static_route_configs: routeConfigs },
      {
        '@type': SECRETS_DUMP,
        static_secrets: secrets.map((s) => ({
          name: s.name,
          last_updated: lastUpdated,
          secret: { '@type': TYPE.secret, ...s },
        })),
      },
    ],
  };
}

export interface ConfigDumpQuery {
  /** `?include_eds`: the EndpointsConfigDump is left out unless asked for, as in Envoy. */
  readonly includeEds: boolean;
  /** `?resource=`: one repeated field of the dumps, each element typed; null for the whole dump. */
  readonly resource: string | null;
}

/** The dump Envoy answers for `query`, or a 404 message for an unknown `resource`. */
export function selectConfigDump(
  dump: { configs: ReadonlyArray<Json> },
  query: ConfigDumpQuery,
): { ok: true; body: { configs: Json[] } } | { ok: false; message: string } {
  const rank = (c: Json) => {
    const i = DUMP_ORDER.indexOf(String(c['@type']));
    return i === -1 ? DUMP_ORDER.length : i;
  };
  const configs = dump.configs
    .filter((c) => query.includeEds || c['@type'] !== ENDPOINTS_DUMP)
    .slice()
    .sort((a, b) => rank(a) - rank(b));
  if (query.resource === null) return { ok: true, body: { configs } };
  const elementType = RESOURCE_TYPES[query.resource];
  if (elementType === undefined)
    return {
      ok: false,
      message: `resource '${query.resource}' is not a repeated field of the config dump; one of: ${Object.keys(RESOURCE_TYPES).join(', ')}`,
    };
  const out: Json[] = [];
  for (const c of configs) {
    const items = c[query.resource];
    if (Array.isArray(items))
      for (const item of items) out.push({ '@type': `${ADMIN}${elementType}`, ...(item as Json) });
  }
  return { ok: true, body: { configs: out } };
}
