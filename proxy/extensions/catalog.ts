// The built-in extensions, declared by Envoy name and config type URL; each one's module (its
// schema, its factory and what they import) loads when a configuration first names it, as
// Envoy registers every factory but instantiates only the ones a config uses. A proxy that
// serves plain HTTP/1.1 routes then never carries RBAC, ext_authz, gRPC or telemetry filters
// in its heap (about 1.3 MB of old space; see the commit that introduced this file).
//
// Adding an extension means adding an entry here, never editing the core. Its module still
// registers itself on import; the entry only says which names and type URLs it registers.
import { registries } from '../core/extension-points.js';
// The core needs a cluster factory for every cluster; `type: STATIC` names none by string.
import './clusters/static/index.js';
import './clusters/strict_dns/index.js';
import './clusters/logical_dns/index.js';

type Category = 'listenerFilters' | 'networkFilters' | 'httpFilters' | 'accessLoggers' | 'tracers';

export interface CatalogEntry {
  readonly category: Category;
  readonly name: string;
  readonly typeUrls: readonly string[];
  readonly load: () => Promise<unknown>;
}

const T = 'type.googleapis.com/';
const NF = `${T}envoy.extensions.filters.network.`;
const LF = `${T}envoy.extensions.filters.listener.`;
const HF = `${T}envoy.extensions.filters.http.`;
const AL = `${T}envoy.extensions.access_loggers.`;

export const CATALOG: readonly CatalogEntry[] = [
  {
    category: 'networkFilters',
    name: 'envoy.filters.network.http_connection_manager',
    typeUrls: [`${NF}http_connection_manager.v3.HttpConnectionManager`],
    load: () => import('./filters/network/http_connection_manager/index.js'),
  },
  {
    category: 'networkFilters',
    name: 'envoy.filters.network.connection_limit',
    typeUrls: [`${NF}connection_limit.v3.ConnectionLimit`],
    load: () => import('./filters/network/connection_limit/index.js'),
  },
  {
    category: 'networkFilters',
    name: 'envoy.filters.network.direct_response',
    typeUrls: [`${NF}direct_response.v3.Config`],
    load: () => import('./filters/network/direct_response/index.js'),
  },
  {
    category: 'networkFilters',
    name: 'envoy.filters.network.tcp_proxy',
    typeUrls: [`${NF}tcp_proxy.v3.TcpProxy`],
    load: () => import('./filters/network/tcp_proxy/config.js'),
  },
  {
    category: 'networkFilters',
    name: 'envoy.filters.network.rbac',
    typeUrls: [`${NF}rbac.v3.RBAC`],
    load: () => import('./filters/network/rbac/index.js'),
  },
  {
    category: 'listenerFilters',
    name: 'envoy.filters.listener.tls_inspector',
    typeUrls: [`${LF}tls_inspector.v3.TlsInspector`],
    load: () => import('./filters/listener/tls_inspector/index.js'),
  },
  {
    category: 'listenerFilters',
    name: 'envoy.filters.listener.http_inspector',
    typeUrls: [`${LF}http_inspector.v3.HttpInspector`],
    load: () => import('./filters/listener/http_inspector/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.router',
    typeUrls: [`${HF}router.v3.Router`],
    load: () => import('./filters/http/router/config.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.health_check',
    typeUrls: [`${HF}health_check.v3.HealthCheck`],
    load: () => import('./filters/http/health_check/config.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.fault',
    typeUrls: [`${HF}fault.v3.HTTPFault`],
    load: () => import('./filters/http/fault/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.local_ratelimit',
    typeUrls: [`${HF}local_ratelimit.v3.LocalRateLimit`],
    load: () => import('./filters/http/local_ratelimit/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.rbac',
    typeUrls: [`${HF}rbac.v3.RBAC`, `${HF}rbac.v3.RBACPerRoute`],
    load: () => import('./filters/http/rbac/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.grpc_stats',
    typeUrls: [`${HF}grpc_stats.v3.FilterConfig`],
    load: () => import('./filters/http/grpc_stats/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.grpc_web',
    typeUrls: [`${HF}grpc_web.v3.GrpcWeb`],
    load: () => import('./filters/http/grpc_web/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'envoy.filters.http.ext_authz',
    typeUrls: [`${HF}ext_authz.v3.ExtAuthz`, `${HF}ext_authz.v3.ExtAuthzPerRoute`],
    load: () => import('./filters/http/ext_authz/index.js'),
  },
  {
    category: 'accessLoggers',
    name: 'envoy.access_loggers.file',
    typeUrls: [`${AL}file.v3.FileAccessLog`],
    load: () => import('./access_loggers/file/index.js'),
  },
  {
    category: 'accessLoggers',
    name: 'envoy.access_loggers.stdout',
    typeUrls: [`${AL}stream.v3.StdoutAccessLog`],
    load: () => import('./access_loggers/stream/index.js'),
  },
  {
    category: 'accessLoggers',
    name: 'envoy.access_loggers.stderr',
    typeUrls: [`${AL}stream.v3.StderrAccessLog`],
    load: () => import('./access_loggers/stream/index.js'),
  },
  {
    category: 'accessLoggers',
    name: 'envoy.access_loggers.open_telemetry',
    typeUrls: [`${AL}open_telemetry.v3.OpenTelemetryAccessLogConfig`],
    load: () => import('./access_loggers/open_telemetry/index.js'),
  },
  {
    category: 'tracers',
    name: 'envoy.tracers.opentelemetry',
    typeUrls: [`${T}envoy.config.trace.v3.OpenTelemetryConfig`],
    load: () => import('./tracers/opentelemetry/index.js'),
  },
  {
    category: 'tracers',
    name: 'envoy.tracers.zipkin',
    typeUrls: [`${T}envoy.config.trace.v3.ZipkinConfig`],
    load: () => import('./tracers/zipkin/index.js'),
  },
  {
    category: 'httpFilters',
    name: 'istio.stats',
    typeUrls: [`${T}stats.PluginConfig`],
    load: () => import('../telemetry/istio/filter.js'),
  },
  {
    category: 'networkFilters',
    name: 'istio.stats',
    typeUrls: [`${T}stats.PluginConfig`],
    load: () => import('../telemetry/istio/tcp-filter.js'),
  },
];

for (const entry of CATALOG) registries[entry.category].declare(entry.name, entry.typeUrls);

/** Every string in a configuration, keys included: the names and type URLs it may refer to. */
function collectStrings(value: unknown, out: Set<string>, depth = 0): void {
  if (depth > 64) return;
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, out, depth + 1);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      collectStrings(v, out, depth + 1);
    }
  }
}

function isDynamic(config: unknown): boolean {
  if (config === null || typeof config !== 'object') return false;
  return 'dynamic_resources' in config || 'dynamicResources' in config;
}

/**
 * Loads the modules of the extensions a raw (not yet validated) configuration names, by name
 * or type URL anywhere in it; call it before validating or building the configuration. A
 * configuration with `dynamic_resources` may be sent any extension later by its control plane
 * and loads them all.
 */
export async function loadExtensionsFor(config: unknown): Promise<void> {
  if (isDynamic(config)) return loadAllExtensions();
  const named = new Set<string>();
  collectStrings(config, named);
  const wanted = CATALOG.filter((e) => named.has(e.name) || e.typeUrls.some((u) => named.has(u)));
  await Promise.all(wanted.map((e) => e.load()));
}

/** Loads every built-in extension (tests, tools that validate arbitrary configurations). */
export async function loadAllExtensions(): Promise<void> {
  for (const entry of CATALOG) await entry.load();
}
