// Mesh → Envoy v3 resources for one node (a workload's sidecar or the ingress). Resources are
// built as plain JSON in Envoy's shapes; the xDS server serves them as they are and
// `render` inlines them into a static bootstrap.
import { MeshValidationError, MtlsNeedsCaError, UnknownNodeError } from '../errors.js';
import type {
  Destination,
  HttpMatch,
  Mesh,
  RouteRule,
  Service,
  ServicePort,
  Telemetry,
  Workload,
} from '../mesh/schema.js';
import { egressServices, outboundTcpTarget, resolveService, serviceKey, subsetWorkloads } from '../mesh/validate.js';
import { httpRbacFilters, networkRbacFilters } from './authorization.js';
import {
  ingressTransportSocket,
  type MeshSecurity,
  originatesMtls,
  secureInboundListener,
  serviceIdentity,
  upstreamTransportSocket,
  usesMtls,
} from './mtls.js';
import { tcpProxyListener, usesTcpProxy } from './tcp.js';
import {
  FAULT_TYPE,
  HCM_TYPE,
  HTTP_PROTOCOL_OPTIONS_TYPE,
  ISTIO_STATS_TYPE,
  OTEL_ACCESS_LOG_TYPE,
  OTEL_TRACER_TYPE,
  ROUTER_TYPE,
  STDOUT_ACCESS_LOG_TYPE,
  configSource,
  durationJson,
  loopback,
  percentFraction,
  serializedJson,
  socketAddress,
  type ConfigSourceStyle,
  type JsonObject,
} from './envoy.js';

/** One node's resources by name, per xDS type. Maps keep a stable, sorted-by-insertion order. */
export interface NodeResources {
  listeners: Map<string, JsonObject>;
  routes: Map<string, JsonObject>;
  clusters: Map<string, JsonObject>;
  endpoints: Map<string, JsonObject>;
}

/** Who a node is in the mesh. */
export type MeshNode = { kind: 'sidecar'; service: Service; workload: Workload } | { kind: 'ingress' };

const OTEL_COLLECTOR_CLUSTER = 'opentelemetry_collector';

export function nodeNames(mesh: Mesh): string[] {
  const names = mesh.services.flatMap((s) => s.workloads.filter((w) => w.sidecar !== undefined).map((w) => w.name));
  if (mesh.ingress !== undefined) names.push(mesh.ingress.name);
  return names;
}

/** The identity a node's certificate names: its service's account, or the ingress's own name. */
export function nodeIdentity(mesh: Mesh, node: MeshNode): { namespace: string; serviceAccount: string } {
  return node.kind === 'ingress'
    ? { namespace: 'default', serviceAccount: mesh.ingress!.name }
    : serviceIdentity(node.service);
}

/** Every node of the mesh with the identity its certificate names. */
export function nodeIdentities(
  mesh: Mesh,
): Array<{ nodeId: string; identity: { namespace: string; serviceAccount: string } }> {
  return nodeNames(mesh).map((nodeId) => ({ nodeId, identity: nodeIdentity(mesh, findNode(mesh, nodeId)) }));
}

// Node ids indexed once per mesh: the cache looks every connected node up on each edit, and a
// scan per lookup made an edit quadratic in the number of sidecars.
const nodesByMesh = new WeakMap<Mesh, Map<string, MeshNode>>();

export function findNode(mesh: Mesh, nodeId: string): MeshNode {
  let nodes = nodesByMesh.get(mesh);
  if (nodes === undefined) {
    nodes = new Map();
    for (const service of mesh.services)
      for (const workload of service.workloads)
        if (workload.sidecar !== undefined && !nodes.has(workload.name))
          nodes.set(workload.name, { kind: 'sidecar', service, workload });
    if (mesh.ingress !== undefined) nodes.set(mesh.ingress.name, { kind: 'ingress' });
    nodesByMesh.set(mesh, nodes);
  }
  const node = nodes.get(nodeId);
  if (node === undefined) throw new UnknownNodeError(nodeId, nodeNames(mesh));
  return node;
}

/** `outbound|8080|v1|shop/catalog`: Istio's cluster naming, without dots (Envoy's stat tag extraction splits on them). */
function outboundClusterName(svc: Service, port: ServicePort, subset: string | undefined): string {
  return `outbound|${port.port}|${subset ?? ''}|${svc.namespace}/${svc.name}`;
}

function inboundClusterName(port: ServicePort): string {
  return `inbound|${port.port}||`;
}

/** Subsets each service gets a cluster for: declared ones and every `version` label in use, so weight edits never add clusters. */
function subsetsOf(svc: Service): string[] {
  const names = new Set<string>();
  for (const s of svc.policy?.subsets ?? []) names.add(s.name);
  for (const w of svc.workloads) if (w.labels.version !== undefined) names.add(w.labels.version);
  return [...names].sort();
}

function endpointAddress(w: Workload, port: ServicePort): string {
  const inbound = w.sidecar?.inbound[port.name];
  return inbound !== undefined ? `127.0.0.1:${inbound}` : (w.endpoints[port.name] as string);
}

function loadAssignment(clusterName: string, workloads: readonly Workload[], port: ServicePort): JsonObject {
  // Envoy groups endpoints by locality; the group key keeps the mesh's order stable.
  const groups = new Map<string, { locality: JsonObject; lbEndpoints: JsonObject[] }>();
  for (const w of workloads) {
    const loc = w.locality ?? {};
    const key = `${loc.region ?? ''}/${loc.zone ?? ''}/${loc.sub_zone ?? ''}`;
    let group = groups.get(key);
    if (group === undefined) {
      const locality: JsonObject = {};
      if (loc.region !== undefined) locality.region = loc.region;
      if (loc.zone !== undefined) locality.zone = loc.zone;
      if (loc.sub_zone !== undefined) locality.sub_zone = loc.sub_zone;
      group = { locality, lbEndpoints: [] };
      groups.set(key, group);
    }
    group.lbEndpoints.push({
      endpoint: { address: socketAddress(endpointAddress(w, port)) },
      load_balancing_weight: w.weight,
    });
  }
  return {
    cluster_name: clusterName,
    endpoints: [...groups.values()].map((g) => {
      const entry: JsonObject = { lb_endpoints: g.lbEndpoints };
      if (Object.keys(g.locality).length > 0) entry.locality = g.locality;
      return entry;
    }),
  };
}

/** Istio's SNI for an outbound cluster: `outbound_.<port>_.<subset>_.<fqdn>` (a cluster name is no hostname). */
function outboundSni(svc: Service, port: ServicePort, subset: string | undefined): string {
  return `outbound_.${port.port}_.${subset ?? ''}_.${svc.name}.${svc.namespace}.svc.cluster.local`;
}

function outboundCluster(
  mesh: Mesh,
  svc: Service,
  port: ServicePort,
  subset: string | undefined,
  source: ConfigSourceStyle,
  security: MeshSecurity | undefined,
): JsonObject {
  const name = outboundClusterName(svc, port, subset);
  const policy = svc.policy;
  const cluster: JsonObject = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: configSource(source), service_name: name },
    connect_timeout: durationJson(policy?.connect_timeout ?? 1000),
    lb_policy: policy?.load_balancer ?? 'ROUND_ROBIN',
  };
  cluster.circuit_breakers = circuitBreakers(policy?.circuit_breaker);
  const od = policy?.outlier_detection;
  if (od !== undefined) {
    const outlier: JsonObject = {};
    if (od.consecutive_5xx !== undefined) outlier.consecutive_5xx = od.consecutive_5xx;
    if (od.interval !== undefined) outlier.interval = durationJson(od.interval);
    if (od.base_ejection_time !== undefined) outlier.base_ejection_time = durationJson(od.base_ejection_time);
    if (od.max_ejection_percent !== undefined) outlier.max_ejection_percent = od.max_ejection_percent;
    cluster.outlier_detection = outlier;
  }
  if (usesHttp2(port)) cluster.typed_extension_protocol_options = http2Options();
  if (originatesMtls(mesh, svc)) {
    if (security === undefined) throw new MtlsNeedsCaError(`cluster ${name}`);
    cluster.transport_socket = upstreamTransportSocket(mesh, security, svc, outboundSni(svc, port, subset), source);
  }
  return cluster;
}

// Istio's thresholds for the clusters it generates when no DestinationRule limits them
// (pilot's default circuit breaker thresholds): uint32's maximum, so a sidecar that falls behind
// queues as the application would without a mesh rather than answering UO at Envoy's defaults
// (1024 requests, 3 retries). A mesh policy's circuit_breaker fields replace them one by one.
const UNLIMITED = 4294967295;

function circuitBreakers(cb: NonNullable<Service['policy']>['circuit_breaker'] | undefined): JsonObject {
  return {
    thresholds: [
      {
        priority: 'DEFAULT',
        max_connections: cb?.max_connections ?? UNLIMITED,
        max_pending_requests: cb?.max_pending_requests ?? UNLIMITED,
        max_requests: cb?.max_requests ?? UNLIMITED,
        max_retries: cb?.max_retries ?? UNLIMITED,
      },
    ],
  };
}

function usesHttp2(port: ServicePort): boolean {
  return port.protocol === 'HTTP2' || port.protocol === 'GRPC';
}

function http2Options(): JsonObject {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': HTTP_PROTOCOL_OPTIONS_TYPE,
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
}

function telemetryCluster(t: Telemetry): JsonObject {
  return {
    name: OTEL_COLLECTOR_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: OTEL_COLLECTOR_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(t.collector) } }] }],
    },
  };
}

function tracing(t: Telemetry, serviceName: string): JsonObject {
  return {
    random_sampling: { value: t.sampling_percent },
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: {
        '@type': OTEL_TRACER_TYPE,
        service_name: serviceName,
        http_service: {
          http_uri: { uri: `http://${t.collector}/v1/traces`, cluster: OTEL_COLLECTOR_CLUSTER, timeout: '1s' },
        },
      },
    },
  };
}

function accessLogs(t: Telemetry, nodeId: string): JsonObject[] {
  if (t.access_log === 'none') return [];
  if (t.access_log === 'stdout')
    return [{ name: 'envoy.access_loggers.stdout', typed_config: { '@type': STDOUT_ACCESS_LOG_TYPE } }];
  return [
    {
      name: 'envoy.access_loggers.open_telemetry',
      typed_config: {
        '@type': OTEL_ACCESS_LOG_TYPE,
        // Current Envoy's form: log_name + http_service. The deprecated common_config would need
        // a grpc_service (its validate rules require one), which an OTLP/HTTP collector lacks.
        log_name: nodeId,
        http_service: {
          http_uri: { uri: `http://${t.collector}/v1/logs`, cluster: OTEL_COLLECTOR_CLUSTER, timeout: '1s' },
        },
      },
    },
  ];
}

interface HcmOptions {
  statPrefix: string;
  routes: { inline: JsonObject } | { rds: string; source: ConfigSourceStyle };
  /**
   * Outbound and ingress connection managers always carry the fault filter (as Istio's
   * sidecars do), so turning a fault rule on or off changes routes only, never a listener.
   */
  faults: boolean;
  telemetry: Telemetry | undefined;
  serviceName: string;
  nodeId: string;
  /** Inbound: the RBAC filters the mesh's authorization policies compile to. */
  authorization?: JsonObject[];
}

function httpConnectionManager(o: HcmOptions): JsonObject {
  const httpFilters: JsonObject[] = [];
  if (o.faults) httpFilters.push({ name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT_TYPE } });
  // Istio's standard metrics (and the peer-metadata exchange between sidecars) on every hop.
  // Optional, as Istio marks it: an Envoy built without Istio's extensions skips the filter
  // instead of refusing the listener.
  httpFilters.push({ name: 'istio.stats', is_optional: true, typed_config: { '@type': ISTIO_STATS_TYPE } });
  // After istio.stats, which reads the caller's peer metadata (Istio's metadata exchange runs
  // before its RBAC filters too): a denied request is still counted with its source workload.
  if (o.authorization !== undefined) httpFilters.push(...o.authorization);
  httpFilters.push({ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } });
  const hcm: JsonObject = {
    '@type': HCM_TYPE,
    stat_prefix: o.statPrefix,
    codec_type: 'AUTO',
    http_filters: httpFilters,
  };
  if ('inline' in o.routes) hcm.route_config = o.routes.inline;
  else hcm.rds = { route_config_name: o.routes.rds, config_source: configSource(o.routes.source) };
  if (o.telemetry !== undefined) {
    hcm.tracing = tracing(o.telemetry, o.serviceName);
    const logs = accessLogs(o.telemetry, o.nodeId);
    if (logs.length > 0) hcm.access_log = logs;
  }
  return hcm;
}

function listener(
  name: string,
  port: number,
  direction: 'INBOUND' | 'OUTBOUND' | undefined,
  hcm: JsonObject,
): JsonObject {
  const l: JsonObject = {
    name,
    address: loopback(port),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
  };
  if (direction !== undefined) l.traffic_direction = direction;
  return l;
}

function stringMatcher(m: {
  exact?: string | undefined;
  prefix?: string | undefined;
  regex?: string | undefined;
}): JsonObject {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  return { safe_regex: { regex: m.regex as string } };
}

function routeMatch(m: HttpMatch | undefined): JsonObject {
  const match: JsonObject = m?.path !== undefined ? { path: m.path } : { prefix: m?.prefix ?? '/' };
  if (m?.headers !== undefined) {
    match.headers = Object.entries(m.headers).map(([name, sm]) => ({ name, string_match: stringMatcher(sm) }));
  }
  return match;
}

function destinationCluster(mesh: Mesh, owner: Service | undefined, d: Destination): string {
  const svc = d.service !== undefined ? resolveService(mesh, d.service) : owner;
  if (svc === undefined || typeof svc === 'string') {
    // validate.ts rejects unresolvable destinations, so reaching this means a caller skipped validation.
    throw new MeshValidationError('<mesh>', [
      { path: 'route', message: typeof svc === 'string' ? svc : 'destination service required' },
    ]);
  }
  return outboundClusterName(svc, svc.ports[0] as ServicePort, d.subset);
}

/** Istio's host of a service port in operation names: `catalog.default.svc.cluster.local:8080`. */
function serviceHost(svc: Service, port: ServicePort): string {
  return `${svc.name}.${svc.namespace}.svc.cluster.local:${port.port}`;
}

/**
 * decorator.operation: what a request on the route does, so its spans say it (without one the
 * proxy names them Envoy's `ingress`/`egress`). The method and path when the match pins them
 * (`GET /checkout`, `/api/*`), else Istio's `<host>:<port>/*` of the destination.
 */
function routeOperation(match: HttpMatch | undefined, host: string): string {
  const method = match?.headers?.[':method']?.exact;
  const path = match?.path ?? (match?.prefix !== undefined && match.prefix !== '/' ? `${match.prefix}*` : undefined);
  if (path === undefined) return method === undefined ? `${host}/*` : `${method} ${host}/*`;
  return method === undefined ? path : `${method} ${path}`;
}

function destinationHost(mesh: Mesh, owner: Service | undefined, d: Destination | undefined): string {
  const svc = d?.service !== undefined ? resolveService(mesh, d.service) : owner;
  return svc === undefined || typeof svc === 'string' ? 'unknown' : serviceHost(svc, svc.ports[0] as ServicePort);
}

function routeEntry(mesh: Mesh, owner: Service | undefined, rule: RouteRule, match: HttpMatch | undefined): JsonObject {
  const action: JsonObject = {};
  const weighted = rule.route.filter((d) => d.weight === undefined || d.weight > 0);
  if (weighted.length === 1) action.cluster = destinationCluster(mesh, owner, weighted[0] as Destination);
  else {
    action.weighted_clusters = {
      clusters: weighted.map((d) => ({ name: destinationCluster(mesh, owner, d), weight: d.weight ?? 0 })),
    };
  }
  if (rule.timeout !== undefined) action.timeout = durationJson(rule.timeout);
  if (rule.prefix_rewrite !== undefined) action.prefix_rewrite = rule.prefix_rewrite;
  if (rule.retries !== undefined) {
    const retry: JsonObject = { retry_on: rule.retries.retry_on, num_retries: rule.retries.attempts };
    if (rule.retries.per_try_timeout !== undefined) retry.per_try_timeout = durationJson(rule.retries.per_try_timeout);
    action.retry_policy = retry;
  }
  if (rule.mirror !== undefined) {
    action.request_mirror_policies = [
      {
        cluster: destinationCluster(mesh, owner, rule.mirror),
        runtime_fraction: { default_value: percentFraction(rule.mirror.percent) },
      },
    ];
  }
  const entry: JsonObject = {
    match: routeMatch(match),
    route: action,
    decorator: { operation: routeOperation(match, destinationHost(mesh, owner, weighted[0])) },
  };
  if (rule.name !== undefined) entry.name = rule.name;
  if (rule.fault !== undefined) {
    const fault: JsonObject = { '@type': FAULT_TYPE };
    if (rule.fault.delay !== undefined) {
      fault.delay = {
        fixed_delay: durationJson(rule.fault.delay.fixed_delay),
        percentage: percentFraction(rule.fault.delay.percent),
      };
    }
    if (rule.fault.abort !== undefined) {
      fault.abort = {
        http_status: rule.fault.abort.http_status,
        percentage: percentFraction(rule.fault.abort.percent),
      };
    }
    entry.typed_per_filter_config = { 'envoy.filters.http.fault': fault };
  }
  return entry;
}

function ruleRoutes(mesh: Mesh, owner: Service | undefined, rules: readonly RouteRule[]): JsonObject[] {
  return rules.flatMap((rule) =>
    rule.match === undefined
      ? [routeEntry(mesh, owner, rule, undefined)]
      : rule.match.map((m) => routeEntry(mesh, owner, rule, m)),
  );
}

/** Host names a service answers to on the outbound listener; bare names only when unique in the mesh. */
function serviceDomains(mesh: Mesh, svc: Service, port: ServicePort, first: boolean): string[] {
  const fqdn = `${svc.name}.${svc.namespace}.svc.cluster.local`;
  const names = [svc.name, serviceKey(svc), fqdn];
  // A bare name resolves only when unique in the mesh (an index lookup, not a scan per service).
  const unique = typeof resolveService(mesh, svc.name) !== 'string';
  const bases = unique ? names : names.slice(1);
  const domains = bases.map((n) => `${n}:${port.port}`);
  if (first) domains.unshift(...bases);
  return domains;
}

/** A service's virtual hosts on the outbound route configuration, one per HTTP port. */
function serviceVirtualHosts(mesh: Mesh, svc: Service): JsonObject[] {
  const virtualHosts: JsonObject[] = [];
  svc.ports.forEach((port, pi) => {
    // A TCP port has no HTTP virtual host: its clients use their own outbound_tcp listener.
    if (usesTcpProxy(port)) return;
    const routes = pi === 0 ? ruleRoutes(mesh, svc, svc.routes ?? []) : [];
    const last = svc.routes?.[svc.routes.length - 1];
    if (pi !== 0 || last === undefined || last.match !== undefined) {
      routes.push({
        match: { prefix: '/' },
        route: { cluster: outboundClusterName(svc, port, undefined) },
        decorator: { operation: `${serviceHost(svc, port)}/*` },
      });
    }
    virtualHosts.push({
      name: `${serviceKey(svc)}:${port.port}`,
      domains: serviceDomains(mesh, svc, port, pi === 0),
      routes,
    });
  });
  return virtualHosts;
}

/** What of a route's destination its virtual hosts name: the cluster and host, from its name, namespace and first port. */
function destinationFacts(mesh: Mesh, ref: string): string {
  const svc = resolveService(mesh, ref);
  return typeof svc === 'string' ? `!${svc}` : `${svc.name}.${svc.namespace}:${(svc.ports[0] as ServicePort).port}`;
}

/**
 * What a service's virtual hosts read of other services: whether its bare name is unique in the
 * mesh (its domains), and each destination and mirror its routes name (their clusters and
 * hosts). With its own ports and routes unchanged, an equal string means equal virtual hosts.
 */
function virtualHostFacts(mesh: Mesh, svc: Service): string {
  let facts = typeof resolveService(mesh, svc.name) === 'string' ? 'shared' : 'unique';
  for (const rule of svc.routes ?? []) {
    for (const d of rule.route) if (d.service !== undefined) facts += `\0${destinationFacts(mesh, d.service)}`;
    if (rule.mirror?.service !== undefined) facts += `\0${destinationFacts(mesh, rule.mirror.service)}`;
  }
  return facts;
}

/** The virtual hosts per service of one mesh, with the memo that made them (they are its objects). */
const virtualHostsByMesh = new WeakMap<Mesh, { memo: VirtualHostsMemo; byService: Map<Service, JsonObject[]> }>();

/**
 * Each service's virtual hosts on the outbound route configuration, in mesh order, once per mesh
 * (they do not depend on the config-source style). A service whose ports and routes are the
 * objects they were (yaml-sections keeps an unchanged service's) and whose facts about other
 * services are unchanged keeps its previous array without building it; a rebuilt one equal in
 * JSON to the previous keeps the previous too, so scopes are compared by identity (scopedParts).
 */
function outboundVirtualHosts(mesh: Mesh, memo: VirtualHostsMemo): Map<Service, JsonObject[]> {
  const cached = virtualHostsByMesh.get(mesh);
  if (cached !== undefined && cached.memo === memo) return cached.byService;
  const byService = new Map<Service, JsonObject[]>();
  for (const svc of mesh.services) {
    const key = serviceKey(svc);
    const facts = virtualHostFacts(mesh, svc);
    const last = memo.get(key);
    if (last !== undefined && last.ports === svc.ports && last.routes === svc.routes && last.facts === facts) {
      byService.set(svc, last.hosts);
      continue;
    }
    let hosts = serviceVirtualHosts(mesh, svc);
    const json = JSON.stringify(hosts);
    if (last !== undefined && last.json === json) hosts = last.hosts;
    memo.set(key, { ports: svc.ports, routes: svc.routes, facts, json, hosts });
    byService.set(svc, hosts);
  }
  // Bounded by the services in use; a renamed or removed service's entry goes on the next clear.
  if (memo.size > 2 * mesh.services.length + 64) memo.clear();
  virtualHostsByMesh.set(mesh, { memo, byService });
  return byService;
}

function outboundRouteConfig(name: string, services: Iterable<JsonObject[]>): JsonObject {
  const virtualHosts: JsonObject[] = [];
  for (const hosts of services) virtualHosts.push(...hosts);
  return { name, virtual_hosts: virtualHosts };
}

/**
 * Every sidecar routes to the same services the same way, so they share one route configuration
 * (as Istio's sidecars share theirs per port); sidecars with an egress scope share theirs per scope.
 */
const OUTBOUND_ROUTE_CONFIG = 'outbound';

/**
 * What every node of a mesh gets alike, for one config-source style and CA root: the collector's
 * cluster, every service's outbound clusters and endpoints, and the sidecars' outbound route
 * configuration. Built once per mesh and style; the same objects go to every node.
 */
export interface SharedResources {
  clusters: Map<string, JsonObject>;
  endpoints: Map<string, JsonObject>;
  /** The sidecars' routes (the ingress has its own). */
  sidecarRoutes: Map<string, JsonObject>;
}

/**
 * What shared resources are made of, per service, for one mesh and style: a scoped sidecar's are
 * assembled from its scope's services (scopedResources), and only a node without a scope needs
 * every service's assembled (sharedResources). At 200 services in scopes, assembling the whole
 * mesh's maps on every edit was work no node used.
 */
export interface SharedParts {
  /** The collector's cluster, when the mesh has telemetry. */
  collector: JsonObject | undefined;
  byService: Map<Service, { outbound: ServiceOutbound; virtualHosts: JsonObject[] }>;
}

/**
 * One mesh's entries of a memo kept per mesh: a WeakMap keyed by the Mesh object, so an edit (a
 * new Mesh) starts empty and the old entries go with the old mesh, with no invalidation to forget.
 */
function meshMemo<K, V>(byMesh: WeakMap<Mesh, Map<K, V>>, mesh: Mesh): Map<K, V> {
  let memo = byMesh.get(mesh);
  if (memo === undefined) byMesh.set(mesh, (memo = new Map()));
  return memo;
}

const partsByMesh = new WeakMap<Mesh, Map<string, SharedParts>>();
const sharedByMesh = new WeakMap<Mesh, Map<string, SharedResources>>();

export interface ServiceOutbound {
  /** What they were built from: the service without workloads and routes, the mesh's mTLS settings, the style. */
  inputs: string;
  /** The service they were built from: an unchanged one's header fields are the same values (sameHeader). */
  service: Service;
  meshMtls: Mesh['mtls'];
  trustDomain: Mesh['trust_domain'];
  workloads: readonly Workload[];
  clusters: Map<string, JsonObject>;
  endpoints: Map<string, JsonObject>;
}

/**
 * Each service's outbound clusters and endpoints as last built, per style, kept by a control
 * plane from one mesh to the next: a one-service edit rebuilds that service's only.
 */
export type OutboundMemo = Map<string, ServiceOutbound>;

/**
 * Each service's outbound virtual hosts as last built, kept by a control plane from one mesh to
 * the next, with what they were built from: the service's ports and routes (objects), its facts
 * about other services (virtualHostFacts) and their JSON. An unchanged service's are the previous
 * array, so a scoped sidecar's routes are known unchanged by identity (scopedParts).
 */
export type VirtualHostsMemo = Map<
  string,
  { ports: Service['ports']; routes: Service['routes']; facts: string; json: string; hosts: JsonObject[] }
>;

/** Fields of a service its outbound clusters and endpoints do not read (workloads are compared apart). */
const NOT_OUTBOUND_INPUTS: ReadonlySet<string> = new Set(['workloads', 'routes', 'egress']);

/**
 * Whether two services' fields the outbound clusters read are the same values: an unchanged
 * service's are the very objects (yaml-sections keeps them), so no JSON is made per service and
 * style on each edit. Every field but NOT_OUTBOUND_INPUTS counts, so a field added to the schema
 * is an input without a change here.
 */
function sameHeader(a: Service, b: Service): boolean {
  const fa = a as unknown as Record<string, unknown>;
  const fb = b as unknown as Record<string, unknown>;
  let count = 0;
  for (const k in fa) {
    if (NOT_OUTBOUND_INPUTS.has(k)) continue;
    if (fa[k] !== fb[k]) return false;
    count++;
  }
  for (const k in fb) if (!NOT_OUTBOUND_INPUTS.has(k)) count--;
  return count === 0;
}

function sameWorkloads(a: readonly Workload[], b: readonly Workload[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

function serviceOutbound(
  mesh: Mesh,
  svc: Service,
  source: ConfigSourceStyle,
  security: MeshSecurity | undefined,
  styleKey: string,
  lastOutbound: OutboundMemo,
): ServiceOutbound {
  const memoKey = `${styleKey}\0${serviceKey(svc)}`;
  const last = lastOutbound.get(memoKey);
  const workloads = svc.workloads;
  if (last !== undefined && sameWorkloads(last.workloads, workloads)) {
    if (
      last.meshMtls === mesh.mtls &&
      last.trustDomain === mesh.trust_domain &&
      (last.service === svc || sameHeader(last.service, svc))
    )
      return last;
  }
  const { workloads: _workloads, routes: _routes, egress: _egress, ...header } = svc;
  const inputs = JSON.stringify([header, mesh.mtls, mesh.trust_domain]);
  if (last !== undefined && last.inputs === inputs && sameWorkloads(last.workloads, workloads)) {
    // Equal values in new objects (a whole-file parse): the next edit compares these by identity.
    last.service = svc;
    last.meshMtls = mesh.mtls;
    last.trustDomain = mesh.trust_domain;
    return last;
  }
  const built: ServiceOutbound = {
    inputs,
    service: svc,
    meshMtls: mesh.mtls,
    trustDomain: mesh.trust_domain,
    workloads,
    clusters: new Map(),
    endpoints: new Map(),
  };
  for (const port of svc.ports) {
    for (const subset of [undefined, ...subsetsOf(svc)]) {
      const name = outboundClusterName(svc, port, subset);
      built.clusters.set(name, outboundCluster(mesh, svc, port, subset, source, security));
      built.endpoints.set(name, loadAssignment(name, subsetWorkloads(svc, subset), port));
    }
  }
  // Bounded by the services and styles in use; a renamed or removed service's entry is replaced on a rebuild of everything.
  if (lastOutbound.size > 4 * mesh.services.length + 64) lastOutbound.clear();
  lastOutbound.set(memoKey, built);
  return built;
}

/** The key of a style and CA root in the per-mesh maps. */
function sharedKey(source: ConfigSourceStyle, security: MeshSecurity | undefined): string {
  return `${JSON.stringify(source)}\0${security?.rootCertificatePem ?? ''}`;
}

/** Each service's parts of the shared resources (and the collector's cluster), once per mesh and style. */
export function sharedParts(
  mesh: Mesh,
  source: ConfigSourceStyle,
  security: MeshSecurity | undefined,
  memo: OutboundMemo = new Map(),
  hostsMemo: VirtualHostsMemo = new Map(),
): SharedParts {
  const byStyle = meshMemo(partsByMesh, mesh);
  const key = sharedKey(source, security);
  let parts = byStyle.get(key);
  if (parts === undefined) {
    parts = {
      collector: mesh.telemetry === undefined ? undefined : telemetryCluster(mesh.telemetry),
      byService: new Map(),
    };
    const virtualHosts = outboundVirtualHosts(mesh, hostsMemo);
    for (const svc of mesh.services) {
      const outbound = serviceOutbound(mesh, svc, source, security, key, memo);
      parts.byService.set(svc, { outbound, virtualHosts: virtualHosts.get(svc) as JsonObject[] });
    }
    byStyle.set(key, parts);
  }
  return parts;
}

/** Every service's shared resources for nodes without an egress scope, once per mesh and style. */
export function sharedResources(
  mesh: Mesh,
  source: ConfigSourceStyle,
  security: MeshSecurity | undefined,
  memo: OutboundMemo = new Map(),
  hostsMemo: VirtualHostsMemo = new Map(),
): SharedResources {
  const byStyle = meshMemo(sharedByMesh, mesh);
  const key = sharedKey(source, security);
  let shared = byStyle.get(key);
  if (shared === undefined) {
    shared = assemble(sharedParts(mesh, source, security, memo, hostsMemo), mesh.services);
    byStyle.set(key, shared);
  }
  return shared;
}

/**
 * The collector's cluster, the services' outbound clusters and endpoints (the same objects as in
 * `parts`), and an `outbound` route configuration with their virtual hosts only.
 */
function assemble(parts: SharedParts, services: readonly Service[]): SharedResources {
  const out: SharedResources = { clusters: new Map(), endpoints: new Map(), sidecarRoutes: new Map() };
  if (parts.collector !== undefined) out.clusters.set(OTEL_COLLECTOR_CLUSTER, parts.collector);
  const virtualHosts: JsonObject[][] = [];
  for (const svc of services) {
    const part = parts.byService.get(svc);
    if (part === undefined) continue;
    for (const [name, c] of part.outbound.clusters) out.clusters.set(name, c);
    for (const [name, e] of part.outbound.endpoints) out.endpoints.set(name, e);
    virtualHosts.push(part.virtualHosts);
  }
  out.sidecarRoutes.set(OUTBOUND_ROUTE_CONFIG, outboundRouteConfig(OUTBOUND_ROUTE_CONFIG, virtualHosts));
  return out;
}

/** The services a sidecar's outbound side holds, named by a key equal for equal scopes. */
export interface EgressScope {
  /** The services' keys, in mesh order: sidecars of services with equal scopes share one set of resources. */
  key: string;
  services: readonly Service[];
}

const scopesByMesh = new WeakMap<Mesh, Map<Service, EgressScope | undefined>>();

/**
 * The egress scope of a node (Istio's Sidecar resource): its service's `egress.hosts` and what
 * their routes send to (egressServices), or undefined for every service (no egress declared, or
 * the ingress). Computed once per mesh and service.
 */
export function egressScope(mesh: Mesh, node: MeshNode): EgressScope | undefined {
  if (node.kind === 'ingress' || node.service.egress === undefined) return undefined;
  const scopes = meshMemo(scopesByMesh, mesh);
  if (scopes.has(node.service)) return scopes.get(node.service);
  const services = egressServices(mesh, node.service) ?? mesh.services;
  const scope = { key: services.map(serviceKey).join(','), services };
  scopes.set(node.service, scope);
  return scope;
}

/**
 * What a scope's resources (scopedResources) are made of, in order: each of its services' outbound
 * clusters and endpoints and virtual hosts (objects kept while unchanged, by the memos passed to
 * sharedParts) and the collector cluster's JSON. Equal parts, element by element, make equal
 * resources: an edit outside the scope is known to change nothing there without building it.
 */
export function scopedParts(parts: SharedParts, scope: EgressScope): ReadonlyArray<object | string> {
  const out: Array<object | string> = [parts.collector === undefined ? '' : serializedJson(parts.collector)];
  for (const svc of scope.services) {
    const part = parts.byService.get(svc);
    if (part !== undefined) out.push(part.outbound, part.virtualHosts);
  }
  return out;
}

/**
 * A scoped sidecar's shared resources: the collector's cluster, the scope's services' outbound
 * clusters and endpoints (the same objects as in `parts`), and an `outbound` route configuration
 * with their virtual hosts only. A Host outside the scope then matches no virtual host: 404 with
 * response flag NR, as in Envoy.
 */
export function scopedResources(parts: SharedParts, scope: EgressScope): SharedResources {
  return assemble(parts, scope.services);
}

const contextByMesh = new WeakMap<Mesh, string>();
/** The last context built: an equal one is this same string, so comparing keys is a pointer check. */
let lastContext = '';

/**
 * What a node's own resources (see ownResources) may read of the mesh besides its own workload:
 * everything but the ingress and the services' workloads, routes and destination policies.
 */
function ownContext(mesh: Mesh): string {
  let context = contextByMesh.get(mesh);
  if (context === undefined) {
    const { ingress: _ingress, services, ...rest } = mesh;
    context = JSON.stringify({
      ...rest,
      services: services.map(({ workloads: _w, routes: _r, policy: _p, egress: _e, ...header }) => header),
    });
    if (context === lastContext) context = lastContext;
    else lastContext = context;
    contextByMesh.set(mesh, context);
  }
  return context;
}

/**
 * The inputs of a node's own resources: two meshes giving a node equal keys (sameOwnResourcesKey)
 * give it the same ownResources (for the same style and CA root), so a control plane rebuilds,
 * after an edit, only the nodes whose inputs changed. A one-service edit of routes, policies or
 * other workloads leaves every key as it was.
 */
export interface OwnKey {
  /** The mesh-wide part: one string per mesh, the very same string while it is unchanged. */
  context: string;
  /** The node's own part: the ingress, or its workload and its service's name and namespace. */
  own:
    | { kind: 'ingress'; ingress: Mesh['ingress'] }
    | { kind: 'sidecar'; name: string; namespace: string; workload: Workload };
}

export function ownResourcesKey(mesh: Mesh, nodeId: string): OwnKey {
  const node = findNode(mesh, nodeId);
  return {
    context: ownContext(mesh),
    own:
      node.kind === 'ingress'
        ? { kind: 'ingress', ingress: mesh.ingress }
        : { kind: 'sidecar', name: node.service.name, namespace: node.service.namespace, workload: node.workload },
  };
}

/**
 * Whether two keys name the same inputs. An unchanged workload is the same object in both
 * meshes, so at a thousand sidecars an edit compares pointers, not each node's text.
 */
export function sameOwnResourcesKey(a: OwnKey, b: OwnKey): boolean {
  if (a.context !== b.context) return false;
  const x = a.own;
  const y = b.own;
  if (x.kind === 'ingress' || y.kind === 'ingress') return x.kind === y.kind && JSON.stringify(x) === JSON.stringify(y);
  return (
    x.name === y.name &&
    x.namespace === y.namespace &&
    (x.workload === y.workload || serializedJson(x.workload) === serializedJson(y.workload))
  );
}

/**
 * sameOwnResourcesKey(before, ownResourcesKey(mesh, nodeId)) without building the new key: an
 * edit checks every connected node, and at a thousand sidecars the keys were garbage per edit.
 * `node`: findNode(mesh, nodeId), when the caller already has it.
 */
export function ownResourcesKeyUnchanged(
  mesh: Mesh,
  nodeId: string,
  before: OwnKey,
  node: MeshNode = findNode(mesh, nodeId),
): boolean {
  if (before.context !== ownContext(mesh)) return false;
  const x = before.own;
  if (node.kind === 'ingress' || x.kind === 'ingress')
    return sameOwnResourcesKey(before, ownResourcesKey(mesh, nodeId));
  return (
    x.name === node.service.name &&
    x.namespace === node.service.namespace &&
    (x.workload === node.workload || serializedJson(x.workload) === serializedJson(node.workload))
  );
}

/**
 * What is a node's own: its listeners, the clusters of its local app (sidecars) and the
 * ingress's route configuration. Reads only what ownResourcesKey names.
 */
export function ownResources(
  mesh: Mesh,
  nodeId: string,
  source: ConfigSourceStyle,
  security: MeshSecurity | undefined,
): NodeResources {
  const node = findNode(mesh, nodeId);
  if (security === undefined && usesMtls(mesh)) throw new MtlsNeedsCaError(`node ${nodeId}`);
  const out: NodeResources = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map() };
  const t = mesh.telemetry;

  if (node.kind === 'ingress') {
    const ingress = mesh.ingress as NonNullable<Mesh['ingress']>;
    const routeName = `ingress|${ingress.port}`;
    out.routes.set(routeName, {
      name: routeName,
      virtual_hosts: [
        { name: 'ingress', domains: ingress.domains, routes: ruleRoutes(mesh, undefined, ingress.routes) },
      ],
    });
    const hcm = httpConnectionManager({
      statPrefix: `ingress_${ingress.port}`,
      routes: { rds: routeName, source },
      faults: true,
      telemetry: t,
      serviceName: ingress.name,
      nodeId,
    });
    out.listeners.set(routeName, listener(routeName, ingress.port, undefined, hcm));
    if (ingress.https_port !== undefined) {
      // The same routes over TLS; its own stat prefix, as Envoy's per-listener HCM stats are.
      const name = `ingress|${ingress.https_port}`;
      const https = listener(name, ingress.https_port, undefined, {
        ...hcm,
        stat_prefix: `ingress_${ingress.https_port}`,
      });
      const [chain] = https.filter_chains as JsonObject[];
      out.listeners.set(name, { ...https, filter_chains: [{ ...chain, transport_socket: ingressTransportSocket() }] });
    }
    return out;
  }

  const { service, workload } = node;
  const sidecar = workload.sidecar as NonNullable<Workload['sidecar']>;
  for (const port of service.ports) {
    const listenPort = sidecar.inbound[port.name] as number;
    const clusterName = inboundClusterName(port);
    const appCluster: JsonObject = {
      name: clusterName,
      type: 'STATIC',
      connect_timeout: '1s',
      lb_policy: 'ROUND_ROBIN',
      circuit_breakers: circuitBreakers(undefined),
      load_assignment: {
        cluster_name: clusterName,
        endpoints: [
          { lb_endpoints: [{ endpoint: { address: socketAddress(workload.endpoints[port.name] as string) } }] },
        ],
      },
    };
    if (usesHttp2(port)) appCluster.typed_extension_protocol_options = http2Options();
    out.clusters.set(clusterName, appCluster);
    const name = `inbound|${listenPort}`;
    if (usesTcpProxy(port)) {
      const logs = t === undefined ? [] : accessLogs(t, nodeId);
      const rbac = networkRbacFilters(mesh, service, port);
      const tcp = tcpProxyListener(name, listenPort, 'INBOUND', clusterName, logs, rbac);
      out.listeners.set(name, secureInboundListener(mesh, security, service, tcp, false, source));
      continue;
    }
    const hcm = httpConnectionManager({
      statPrefix: `inbound_${listenPort}`,
      routes: {
        inline: {
          name,
          virtual_hosts: [
            {
              name: 'inbound',
              domains: ['*'],
              routes: [
                {
                  match: { prefix: '/' },
                  route: { cluster: clusterName },
                  decorator: { operation: `${serviceHost(service, port)}/*` },
                },
              ],
            },
          ],
        },
      },
      faults: false,
      telemetry: t,
      serviceName: service.name,
      nodeId,
      authorization: httpRbacFilters(mesh, service, port),
    });
    out.listeners.set(
      name,
      secureInboundListener(mesh, security, service, listener(name, listenPort, 'INBOUND', hcm), true, source),
    );
  }
  const outName = `outbound|${sidecar.outbound_port}`;
  const hcm = httpConnectionManager({
    statPrefix: `outbound_${sidecar.outbound_port}`,
    routes: { rds: OUTBOUND_ROUTE_CONFIG, source },
    faults: true,
    telemetry: t,
    serviceName: service.name,
    nodeId,
  });
  out.listeners.set(outName, listener(outName, sidecar.outbound_port, 'OUTBOUND', hcm));
  for (const [key, localPort] of Object.entries(sidecar.outbound_tcp ?? {})) {
    const target = outboundTcpTarget(mesh, key);
    // validate.ts refused unresolvable keys; a string here means validation was skipped.
    if (typeof target === 'string')
      throw new MeshValidationError('<mesh>', [{ path: 'outbound_tcp', message: target }]);
    const name = `outbound|${localPort}`;
    const cluster = outboundClusterName(target.service, target.port, undefined);
    const logs = t === undefined ? [] : accessLogs(t, nodeId);
    out.listeners.set(name, tcpProxyListener(name, localPort, 'OUTBOUND', cluster, logs));
  }
  return out;
}

/**
 * Builds one node's resources; `source` says how its RDS/EDS subscriptions are fetched, and
 * `security` (the mesh CA's root) is required once the mesh uses mutual TLS.
 */
export function nodeResources(
  mesh: Mesh,
  nodeId: string,
  source: ConfigSourceStyle,
  security?: MeshSecurity,
): NodeResources {
  const own = ownResources(mesh, nodeId, source, security);
  const scope = egressScope(mesh, findNode(mesh, nodeId));
  const shared =
    scope === undefined
      ? sharedResources(mesh, source, security)
      : scopedResources(sharedParts(mesh, source, security), scope);
  return {
    listeners: own.listeners,
    routes: findNode(mesh, nodeId).kind === 'ingress' ? own.routes : new Map(shared.sidecarRoutes),
    clusters: new Map([...shared.clusters, ...own.clusters]),
    endpoints: new Map(shared.endpoints),
  };
}
