// The proxy's xDS client. Subscribes to clusters and listeners (wildcard), and through them
// to endpoints (EDS) and route configurations (RDS); validates every received resource
// with the proxy's own config schemas; warms new clusters until their endpoints arrive and
// new listeners until their routes arrive; hands complete, consistent changes to an
// applier in make-before-break order (clusters → endpoints → listeners → routes, stale
// clusters last); ACKs what was applied and NACKs what was refused, keeping the last good
// configuration. Transports: gRPC ADS (state of the world or delta), REST-JSON polling,
// watched files.
import type { Counter, Gauge, Scope } from '../stats/types.js';
import { configSourceSchema, durationMs, type ConfigSource, type DynamicResources } from '../api/config-source.js';
import { XdsBootstrapError } from './errors.js';
import type { JsonMap } from './proto/codec.js';
import { DeltaGrpcAdsTransport } from './transport/delta-grpc-ads.js';
import { GrpcAdsTransport } from './transport/grpc-ads.js';
import { PathTransport } from './transport/path.js';
import { RestTransport } from './transport/rest.js';
import {
  Backoff,
  type DiscoveryRequestJson,
  type DiscoveryResponseJson,
  type Transport,
  type TransportHandler,
} from './transport/types.js';

export const TYPE_URLS = {
  listeners: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  clusters: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secrets: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type XdsKind = keyof typeof TYPE_URLS;

const HCM_NAME = 'envoy.filters.network.http_connection_manager';
const DEFAULT_INITIAL_FETCH_MS = 15_000;
/** How long a cluster dropped from CDS keeps serving if no route update follows (make before break). */
const STALE_CLUSTER_GRACE_MS = 5_000;

/** Validates resources with the proxy's static-config schemas; each returns problems as `path: message`. */
export interface ResourceValidator {
  /** A cluster in static form (EDS clusters arrive here as STATIC with their load_assignment). */
  cluster(staticForm: JsonMap): string[];
  assignment(cla: JsonMap): string[];
  /** A listener with its RDS reference replaced by an inline route_config. */
  listener(inlinedForm: JsonMap): string[];
  routeConfiguration(rc: JsonMap): string[];
  /** An SDS Secret: its schema and its material (certificate and key load and match, CA parses). */
  secret?(s: JsonMap): string[];
}

/** Receives complete, validated, warmed changes. A thrown error rejects the update (NACK). */
export interface XdsApplier {
  applyClusters(upserts: JsonMap[], removals: string[]): Promise<void>;
  applyEndpoints(assignments: JsonMap[]): Promise<void>;
  /** Listeners in inlined form (route_config instead of rds). */
  applyListeners(upserts: JsonMap[], removals: string[]): Promise<void>;
  /** A route configuration changed for listeners already active. */
  applyRoutes(updates: Array<{ listenerName: string; routeConfig: JsonMap }>): Promise<void>;
  /** SDS secrets (already checked) for the TLS contexts that subscribed to them over ADS. */
  applySecrets?(secrets: JsonMap[]): Promise<void>;
}

export interface XdsClientOptions {
  node: JsonMap;
  dynamicResources: DynamicResources;
  /** Static clusters of the bootstrap, to find the management server's address by cluster name. */
  staticClusters: readonly JsonMap[];
  validator: ResourceValidator;
  applier: XdsApplier;
  stats: Scope;
  /** Rejections come at 'warn' (Envoy logs them at warning), everything else at 'info'. */
  log?: (line: string, level?: 'info' | 'warn') => void;
}

interface Active {
  raw: JsonMap;
  /** `raw` serialized once, to tell changed resources from unchanged ones cheaply. */
  json: string;
  version: string;
  lastUpdated: string;
}

interface ErrorState {
  version: string;
  details: string;
  at: string;
  failed: JsonMap[];
}

interface Pending {
  version: string;
  nonce: string;
  resources: Map<string, JsonMap>;
  json: Map<string, string>;
  waitingFor: Set<string>;
  timer: NodeJS.Timeout | undefined;
  /** Some resources of the response were refused (already NACKed): no ACK when the rest is applied. */
  nacked: boolean;
}

interface PendingListeners extends Pending {
  /** Listeners of this update already active: each warms on its own, as in Envoy. */
  applied: Set<string>;
  removalsApplied: boolean;
  /** Some listener of this update was added, changed or removed (stale clusters may go then). */
  changed: boolean;
}

interface KindState {
  transport: Transport | undefined;
  sourceKey: string;
  subscribed: boolean;
  names: string[];
  acceptedVersion: string;
  lastNonce: string;
  error: ErrorState | undefined;
  attempt: Counter;
  success: Counter;
  rejected: Counter;
  failure: Counter;
}

interface ListenerInfo {
  routeName: string | undefined;
  statPrefix: string;
}

function isObject(v: unknown): v is JsonMap {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function now(): string {
  return new Date().toISOString();
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Validates each resource of a response on its own, as Envoy's per-resource watches do for EDS, RDS
 * and SDS: the valid ones go ahead, the refused ones are NACKed with every problem, each starting
 * with the resource's name.
 */
function splitValid(
  all: Map<string, JsonMap>,
  validate: (resource: JsonMap) => string[],
): { resources: Map<string, JsonMap>; refused: JsonMap[]; problems: string[] } {
  const problems: string[] = [];
  const resources = new Map<string, JsonMap>();
  const refused: JsonMap[] = [];
  for (const [name, res] of all) {
    const errs = validate(res);
    for (const e of errs) problems.push(`${name}: ${e}`);
    if (errs.length > 0) refused.push(res);
    else resources.set(name, res);
  }
  return { resources, refused, problems };
}

/**
 * Records accepted EDS or RDS resources as the active ones (what config_dump shows) and returns
 * the names whose content changed, to update only the clusters or listeners that use them.
 */
function recordActive(active: Map<string, Active>, resources: Map<string, JsonMap>, version: string): Set<string> {
  const changed = new Set<string>();
  const at = now();
  for (const [name, res] of resources) {
    const json = JSON.stringify(res);
    const prev = active.get(name);
    if (prev === undefined || prev.json !== json) changed.add(name);
    active.set(name, { raw: res, json, version, lastUpdated: at });
  }
  return changed;
}

/**
 * A CDS or LDS update held while it warms: it waits for the dependent resources (EDS assignments,
 * RDS route configurations) it names that are not active yet, as Envoy's cluster and listener
 * warming do. The listener form adds its per-listener progress to this.
 */
function warmingUpdate(
  r: DiscoveryResponseJson,
  resources: Map<string, JsonMap>,
  needed: Set<string>,
  dependents: Map<string, Active>,
  refused: Set<string>,
): Pending {
  return {
    version: r.version_info,
    nonce: r.nonce,
    resources,
    json: serialized(resources),
    waitingFor: new Set([...needed].filter((n) => !dependents.has(n))),
    timer: undefined,
    nacked: refused.size > 0,
  };
}

function serialized(resources: Map<string, JsonMap>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, r] of resources) out.set(name, JSON.stringify(r));
  return out;
}

/**
 * `*_sds_secret_config` entries served by the management server (`sds_config.ads`, or a REST
 * `api_config_source`), anywhere in a resource: name → its config source.
 */
function collectXdsSecretRefs(v: unknown, out: Map<string, ConfigSource>): void {
  if (Array.isArray(v)) {
    for (const x of v) collectXdsSecretRefs(x, out);
    return;
  }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'tls_certificate_sds_secret_configs' && Array.isArray(x)) {
      for (const ref of x) if (isObject(ref)) addXdsRef(ref, out);
    } else if (k === 'validation_context_sds_secret_config' && isObject(x)) addXdsRef(x, out);
    else collectXdsSecretRefs(x, out);
  }
}

function addXdsRef(ref: JsonMap, out: Map<string, ConfigSource>): void {
  const sds = ref.sds_config;
  if (typeof ref.name !== 'string' || !isObject(sds)) return;
  if (sds.ads !== undefined || sds.api_config_source !== undefined) out.set(ref.name, sds as ConfigSource);
}

function withoutType(r: JsonMap): JsonMap {
  const { '@type': _t, ...rest } = r;
  return rest;
}

function sourceKeyOf(s: ConfigSource): string {
  if (s.ads !== undefined) return 'ads';
  if (s.api_config_source !== undefined) return `rest:${s.api_config_source.cluster_names?.[0] ?? ''}`;
  return `path:${s.path_config_source?.path ?? s.path ?? ''}`;
}

/**
 * Checks the config source a cluster names for its EDS or a listener names for its RDS (Envoy's
 * dependent subscriptions: one per type, so every resource must name the same source, and not a
 * file). Problems go to `problems` under `field`; returns the source to subscribe with: `first`,
 * or this one when it is the first valid one.
 */
function dependentSource(
  name: string,
  field: string,
  value: unknown,
  api: 'EDS' | 'RDS',
  first: ConfigSource | undefined,
  problems: string[],
): ConfigSource | undefined {
  const parsed = configSourceSchema.safeParse(value);
  if (!parsed.success) {
    for (const i of parsed.error.issues)
      problems.push(`${name}: ${field}${i.path.length ? `.${zodPath(i.path)}` : ''}: ${i.message}`);
  } else if (parsed.data.path_config_source !== undefined || parsed.data.path !== undefined) {
    problems.push(`${name}: ${field}: file-based ${api} is not supported; use ads or api_config_source`);
  } else if (first === undefined) return parsed.data;
  else if (sourceKeyOf(first) !== sourceKeyOf(parsed.data))
    problems.push(
      `${name}: ${field}: ${api === 'EDS' ? 'every EDS cluster must use the same config source' : 'every listener must use the same RDS config source'}`,
    );
  return first;
}

function zodPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? String(seg) : `.${String(seg)}`;
  return out;
}

export class XdsClient {
  readonly #o: XdsClientOptions;
  readonly #log: (line: string, level?: 'info' | 'warn') => void;
  readonly #kinds: Record<XdsKind, KindState>;
  readonly #connected: Gauge;
  readonly #pending: Gauge;
  readonly #transports = new Map<string, Transport>();
  readonly #clusters = new Map<string, Active>();
  readonly #assignments = new Map<string, Active>();
  readonly #listeners = new Map<string, Active & ListenerInfo>();
  readonly #routes = new Map<string, Active>();
  #pendingCds: Pending | undefined;
  readonly #listenerRetry = new Backoff(500, 10_000);
  #pendingLds: PendingListeners | undefined;
  #stale = new Set<string>();
  #staleTimer: NodeJS.Timeout | undefined;
  /** Updates are applied one at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  #initialized = false;
  #resolveInitialized: () => void = () => undefined;
  readonly initialized: Promise<void>;
  #closed = false;

  constructor(o: XdsClientOptions) {
    this.#o = o;
    this.#log = o.log ?? ((line, level) => process.stderr.write(`[xds] ${level ?? 'info'}: ${line}\n`));
    this.initialized = new Promise((r) => (this.#resolveInitialized = r));
    this.#connected = o.stats.gauge('control_plane.connected_state', 'never_import');
    this.#pending = o.stats.gauge('control_plane.pending_updates', 'never_import');
    const kindState = (prefix: string): KindState => {
      const s = o.stats.scope(prefix);
      return {
        transport: undefined,
        sourceKey: '',
        subscribed: false,
        names: [],
        acceptedVersion: '',
        lastNonce: '',
        error: undefined,
        attempt: s.counter('update_attempt'),
        success: s.counter('update_success'),
        rejected: s.counter('update_rejected'),
        failure: s.counter('update_failure'),
      };
    };
    // CDS and LDS count under Envoy's manager scopes; EDS and RDS also per resource below
    // (`cluster.<name>.update_*`, `http.<stat_prefix>.rds.<route>.update_*`).
    this.#kinds = {
      clusters: kindState('cluster_manager.cds'),
      endpoints: kindState('cluster_manager.eds'),
      listeners: kindState('listener_manager.lds'),
      routes: kindState('listener_manager.rds'),
      secrets: kindState('sds'),
    };
  }

  /** Opens the CDS and LDS subscriptions (and through them EDS and RDS). */
  start(): void {
    const d = this.#o.dynamicResources;
    // As Envoy's init manager does, listeners are requested once clusters are initialised, so
    // no listener serves before the clusters its routes name exist.
    if (d.cds_config !== undefined) this.#subscribe('clusters', d.cds_config, []);
    else this.#subscribeListeners();
    if (d.cds_config === undefined && d.lds_config === undefined) this.#markInitialized();
  }

  #subscribeListeners(): void {
    const lds = this.#o.dynamicResources.lds_config;
    if (lds !== undefined && !this.#kinds.listeners.subscribed) this.#subscribe('listeners', lds, []);
  }

  #markInitialized(): void {
    if (this.#initialized) return;
    const cdsDone =
      this.#o.dynamicResources.cds_config === undefined ||
      this.#kinds.clusters.acceptedVersion !== '' ||
      this.#kinds.clusters.error !== undefined;
    const ldsDone =
      this.#o.dynamicResources.lds_config === undefined ||
      this.#kinds.listeners.acceptedVersion !== '' ||
      this.#kinds.listeners.error !== undefined;
    if (cdsDone && ldsDone) {
      this.#initialized = true;
      this.#resolveInitialized();
    }
  }

  #clusterAddress(name: string): string {
    const c = this.#o.staticClusters.find((x) => x.name === name);
    const la = c?.load_assignment;
    const first = isObject(la) && Array.isArray(la.endpoints) ? la.endpoints[0] : undefined;
    const lb = isObject(first) && Array.isArray(first.lb_endpoints) ? first.lb_endpoints[0] : undefined;
    const sa =
      isObject(lb) && isObject(lb.endpoint) && isObject(lb.endpoint.address)
        ? lb.endpoint.address.socket_address
        : undefined;
    if (!isObject(sa) || typeof sa.address !== 'string' || typeof sa.port_value !== 'number') {
      throw new XdsBootstrapError(
        `xDS cluster '${name}' must be a static cluster with one endpoint in static_resources.clusters`,
      );
    }
    return `${sa.address}:${sa.port_value}`;
  }

  #transportFor(kind: XdsKind, source: ConfigSource): Transport {
    const key = sourceKeyOf(source);
    if (key.startsWith('path:')) {
      const path = key.slice(5);
      const pkey = `${key}:${kind}`;
      let t = this.#transports.get(pkey);
      if (t === undefined) {
        t = new PathTransport(path, TYPE_URLS[kind], this.#handler(pkey));
        this.#transports.set(pkey, t);
      }
      return t;
    }
    let t = this.#transports.get(key);
    if (t !== undefined) return t;
    if (key === 'ads') {
      const ads = this.#o.dynamicResources.ads_config;
      const cluster = ads?.grpc_services?.[0]?.envoy_grpc.cluster_name;
      if (cluster === undefined)
        throw new XdsBootstrapError(
          'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name is required for ads',
        );
      const delta = ads?.api_type === 'DELTA_GRPC' || ads?.api_type === 'AGGREGATED_DELTA_GRPC';
      t = delta
        ? new DeltaGrpcAdsTransport(this.#clusterAddress(cluster), this.#o.node, this.#handler(key))
        : new GrpcAdsTransport(this.#clusterAddress(cluster), this.#o.node, this.#handler(key));
    } else {
      const api = source.api_config_source!;
      t = new RestTransport(
        {
          baseUrl: `http://${this.#clusterAddress(api.cluster_names![0]!)}`,
          refreshDelayMs: durationMs(api.refresh_delay, 1000),
          requestTimeoutMs: durationMs(api.request_timeout, 1000),
        },
        this.#o.node,
        this.#handler(key),
      );
    }
    this.#transports.set(key, t);
    return t;
  }

  #handler(key: string): TransportHandler {
    return {
      onResponse: (r) => this.#enqueue(() => this.#onResponse(r)),
      onStreamStart: () => {
        for (const kind of ['clusters', 'endpoints', 'listeners', 'routes', 'secrets'] as const) {
          const st = this.#kinds[kind];
          if (!st.subscribed || st.transport !== this.#transports.get(key)) continue;
          // Nonces belong to a stream: a new stream starts with none, and the version held.
          st.lastNonce = '';
          this.#request(kind, undefined);
        }
      },
      onConnected: () => {
        this.#connected.set(1);
      },
      onDisconnected: (reason) => {
        if (this.#connected.value() !== 0)
          this.#log(`management server unreachable (${reason}); serving the last configuration, reconnecting`);
        this.#connected.set(0);
        for (const st of Object.values(this.#kinds)) if (st.transport === this.#transports.get(key)) st.failure.inc();
      },
    };
  }

  /**
   * Envoy's updateResourceInterest for the dependent subscription of a warming update (EDS under
   * CDS, RDS under LDS): it asks for exactly the names the update needs, and only when they changed,
   * so an unchanged CDS/LDS push does not re-send the EDS/RDS request.
   */
  #updateResourceInterest(kind: 'endpoints' | 'routes', source: ConfigSource | undefined, needed: Set<string>): void {
    if (source === undefined) return;
    const names = [...needed].sort();
    const st = this.#kinds[kind];
    if (!st.subscribed || !same(names, st.names)) this.#subscribe(kind, source, names);
  }

  #subscribe(kind: XdsKind, source: ConfigSource, names: string[]): void {
    const st = this.#kinds[kind];
    st.transport = this.#transportFor(kind, source);
    st.sourceKey = sourceKeyOf(source);
    st.subscribed = true;
    st.names = names;
    this.#request(kind, undefined);
  }

  /** Sends the current state of one subscription; with `ack`, it (N)ACKs a response. */
  #request(kind: XdsKind, ack: { nonce: string; error?: string } | undefined): void {
    const st = this.#kinds[kind];
    if (st.transport === undefined || this.#closed) return;
    const req: DiscoveryRequestJson = {
      version_info: st.acceptedVersion,
      resource_names: st.names,
      type_url: TYPE_URLS[kind],
      response_nonce: ack?.nonce ?? st.lastNonce,
    };
    if (ack?.error !== undefined) req.error_detail = { code: 3, message: ack.error };
    st.transport.send(req);
  }

  #enqueue(fn: () => Promise<void>): void {
    // Responses are applied strictly in order (an RDS/EDS push may carry only changes, so none
    // can be skipped); the depth is visible as a gauge rather than growing unseen.
    this.#pending.inc();
    this.#queue = this.#queue
      .then(fn)
      .catch((err: unknown) => this.#log(`xDS update failed: ${(err as Error).stack ?? String(err)}`))
      .finally(() => this.#pending.dec());
  }

  async #onResponse(r: DiscoveryResponseJson): Promise<void> {
    if (this.#closed) return;
    const kind = (Object.keys(TYPE_URLS) as XdsKind[]).find((k) => TYPE_URLS[k] === r.type_url);
    if (kind === undefined) {
      this.#log(`ignoring a response for unsubscribed type ${r.type_url}`);
      return;
    }
    const st = this.#kinds[kind];
    st.attempt.inc();
    st.lastNonce = r.nonce;
    const parsed = this.#parse(kind, r);
    if (typeof parsed === 'string') return this.#nack(kind, r, parsed, r.resources);
    if (kind === 'secrets') return this.#onSecrets(r, parsed);
    if (kind === 'clusters' || kind === 'listeners') this.#subscribeSecrets(kind, parsed);
    if (kind === 'clusters') return this.#onClusters(r, parsed);
    if (kind === 'endpoints') return this.#onEndpoints(r, parsed);
    if (kind === 'listeners') return this.#onListeners(r, parsed);
    return this.#onRoutes(r, parsed);
  }

  /** Checks type URLs and names; returns resources by name or every problem in one message. */
  #parse(kind: XdsKind, r: DiscoveryResponseJson): Map<string, JsonMap> | string {
    const out = new Map<string, JsonMap>();
    const problems: string[] = [];
    r.resources.forEach((res, i) => {
      if (!isObject(res) || res['@type'] !== TYPE_URLS[kind]) {
        problems.push(
          `resources[${i}]: @type ${String(isObject(res) ? (res.error ?? res['@type']) : res)} is not ${TYPE_URLS[kind]}`,
        );
        return;
      }
      const body = withoutType(res);
      const name = kind === 'endpoints' ? body.cluster_name : body.name;
      if (typeof name !== 'string' || name === '') {
        problems.push(`resources[${i}]: ${kind === 'endpoints' ? 'cluster_name' : 'name'} is required`);
        return;
      }
      if (out.has(name)) problems.push(`resources[${i}]: duplicate name '${name}'`);
      out.set(name, body);
    });
    return problems.length > 0 ? problems.join('; ') : out;
  }

  #nack(kind: XdsKind, r: DiscoveryResponseJson, details: string, failed: JsonMap[]): void {
    const st = this.#kinds[kind];
    st.rejected.inc();
    st.error = { version: r.version_info, details, at: now(), failed };
    // Each problem starts with the resource's name, then the field's path.
    this.#log(`rejected ${kind} version ${r.version_info}: ${details}`, 'warn');
    this.#request(kind, { nonce: r.nonce, error: details });
    if (kind === 'clusters') this.#subscribeListeners();
    this.#markInitialized();
  }

  #ack(kind: XdsKind, version: string, nonce: string): void {
    const st = this.#kinds[kind];
    st.acceptedVersion = version;
    st.error = undefined;
    st.success.inc();
    this.#request(kind, { nonce });
  }

  // ---- SDS --------------------------------------------------------------------------

  /** Management-server secrets each of the latest LDS and CDS responses refers to, with their config sources. */
  readonly #secretRefs = { clusters: new Map<string, ConfigSource>(), listeners: new Map<string, ConfigSource>() };

  /**
   * Subscribes to the secrets listeners and clusters name with `sds_config: { ads: {} }` or a
   * REST `api_config_source` (as Envoy's SDS subscriptions follow the TLS contexts that use
   * them). One SDS subscription per proxy: ADS when the bootstrap has ads_config, else the REST
   * source the references name (a REST sidecar's secrets come by polls of /v3/discovery:secrets).
   * Not part of warming: a TLS context without its secret refuses connections until it arrives.
   */
  #subscribeSecrets(kind: 'clusters' | 'listeners', resources: Map<string, JsonMap>): void {
    const refs = new Map<string, ConfigSource>();
    for (const r of resources.values()) collectXdsSecretRefs(r, refs);
    this.#secretRefs[kind] = refs;
    const sources = new Map([...this.#secretRefs.clusters, ...this.#secretRefs.listeners]);
    const hasAds = this.#o.dynamicResources.ads_config !== undefined;
    const source = hasAds ? ({ ads: {} } as ConfigSource) : [...sources.values()].find((s) => s.ads === undefined);
    if (source === undefined) return;
    const key = sourceKeyOf(source);
    const all = [...sources]
      .filter(([, s]) => sourceKeyOf(s) === key)
      .map(([name]) => name)
      .sort();
    const st = this.#kinds.secrets;
    if (all.length === 0 && !st.subscribed) return;
    if (st.subscribed && st.sourceKey === key && same(all, st.names)) return;
    this.#subscribe('secrets', source, all);
  }

  async #onSecrets(r: DiscoveryResponseJson, all: Map<string, JsonMap>): Promise<void> {
    const { resources, refused, problems } = splitValid(all, (s) => this.#o.validator.secret?.(s) ?? []);
    const good = [...resources.values()];
    try {
      if (good.length > 0) await this.#o.applier.applySecrets?.(good);
    } catch (err) {
      return this.#nack('secrets', r, (err as Error).message, good);
    }
    // A refused secret is NACKed with what is wrong; its last good version stays in use.
    if (refused.length > 0) this.#nack('secrets', r, problems.join('; '), refused);
    else this.#ack('secrets', r.version_info, r.nonce);
  }

  // ---- CDS / EDS --------------------------------------------------------------------

  /** The EDS service name of an EDS cluster, or undefined for other cluster types. */
  #edsName(c: JsonMap): string | undefined {
    if (c.type !== 'EDS') return undefined;
    const eds = isObject(c.eds_cluster_config) ? c.eds_cluster_config : {};
    return typeof eds.service_name === 'string' && eds.service_name !== '' ? eds.service_name : (c.name as string);
  }

  /** Static form of a cluster: what the proxy's cluster manager builds. */
  #staticCluster(c: JsonMap, cla: JsonMap | undefined): JsonMap {
    if (c.type !== 'EDS') return c;
    const { eds_cluster_config: _e, ...rest } = c;
    const assignment: JsonMap =
      cla !== undefined
        ? { ...cla, cluster_name: c.name as string }
        : { cluster_name: c.name as string, endpoints: [] };
    return { ...rest, type: 'STATIC', load_assignment: assignment };
  }

  async #onClusters(r: DiscoveryResponseJson, all: Map<string, JsonMap>): Promise<void> {
    const problems: string[] = [];
    const refused = new Set<string>();
    let edsSource: ConfigSource | undefined;
    for (const [name, c] of all) {
      const before = problems.length;
      if (c.type === 'EDS') {
        const eds = isObject(c.eds_cluster_config) ? c.eds_cluster_config : undefined;
        edsSource = dependentSource(name, 'eds_cluster_config.eds_config', eds?.eds_config, 'EDS', edsSource, problems);
      }
      const errs = this.#o.validator.cluster(this.#staticCluster(c, undefined));
      for (const e of errs) problems.push(`${name}: ${e}`);
      if (problems.length > before) refused.add(name);
    }
    // As Envoy's CDS does, the valid clusters go ahead and the refused ones are NACKed.
    const resources = this.#acceptValid('clusters', r, all, refused, problems, this.#clusters);
    if (resources === null) return;

    const needed = new Set<string>();
    for (const c of resources.values()) {
      const n = this.#edsName(c);
      if (n !== undefined) needed.add(n);
    }
    if (this.#pendingCds !== undefined) clearTimeout(this.#pendingCds.timer);
    const pending = warmingUpdate(r, resources, needed, this.#assignments, refused);
    this.#pendingCds = pending;
    this.#updateResourceInterest('endpoints', edsSource, needed);
    if (pending.waitingFor.size === 0) return this.#commitClusters();
    this.#armInitialFetchTimeout('clusters', pending, edsSource);
  }

  async #onEndpoints(r: DiscoveryResponseJson, all: Map<string, JsonMap>): Promise<void> {
    const { resources, refused, problems } = splitValid(all, (cla) => this.#o.validator.assignment(cla));
    // A refused ClusterLoadAssignment is NACKed without holding back the others (per-resource watches).
    if (resources.size === 0 && refused.length > 0) return this.#nack('endpoints', r, problems.join('; '), refused);
    const changed = recordActive(this.#assignments, resources, r.version_info);
    // Endpoint changes for active clusters are applied in place; clusters still warming get theirs on commit.
    const updates: JsonMap[] = [];
    for (const [clusterName, active] of this.#clusters) {
      const svc = this.#edsName(active.raw);
      if (svc !== undefined && changed.has(svc))
        updates.push({ ...(this.#assignments.get(svc) as Active).raw, cluster_name: clusterName });
    }
    try {
      if (updates.length > 0) await this.#o.applier.applyEndpoints(updates);
    } catch (err) {
      return this.#nack('endpoints', r, (err as Error).message, updates);
    }
    if (refused.length > 0) this.#nack('endpoints', r, problems.join('; '), refused);
    else this.#ack('endpoints', r.version_info, r.nonce);
    for (const [clusterName, active] of this.#clusters) {
      const svc = this.#edsName(active.raw);
      if (svc !== undefined && resources.has(svc))
        this.#o.stats.scope(`cluster.${clusterName}`).counter('update_success').inc();
    }
    const pending = this.#pendingCds;
    if (pending !== undefined) {
      for (const n of resources.keys()) pending.waitingFor.delete(n);
      if (pending.waitingFor.size === 0) await this.#commitClusters();
    }
  }

  async #commitClusters(): Promise<void> {
    const pending = this.#pendingCds;
    if (pending === undefined || pending.waitingFor.size > 0) return;
    clearTimeout(pending.timer);
    this.#pendingCds = undefined;
    const upserts: JsonMap[] = [];
    for (const [name, c] of pending.resources) {
      if (this.#clusters.get(name)?.json === pending.json.get(name)) continue;
      const svc = this.#edsName(c);
      upserts.push(this.#staticCluster(c, svc === undefined ? undefined : this.#assignments.get(svc)?.raw));
    }
    const removed = [...this.#clusters.keys()].filter((n) => !pending.resources.has(n));
    const fakeResponse = {
      version_info: pending.version,
      nonce: pending.nonce,
      resources: [],
      type_url: TYPE_URLS.clusters,
    };
    try {
      if (upserts.length > 0) await this.#o.applier.applyClusters(upserts, []);
    } catch (err) {
      return this.#nack('clusters', fakeResponse, (err as Error).message, upserts);
    }
    const at = now();
    for (const [name, c] of pending.resources) {
      const json = pending.json.get(name) as string;
      if (this.#clusters.get(name)?.json !== json)
        this.#clusters.set(name, { raw: c, json, version: pending.version, lastUpdated: at });
    }
    for (const n of removed) {
      this.#clusters.delete(n);
      this.#stale.add(n);
    }
    if (!pending.nacked) this.#ack('clusters', pending.version, pending.nonce);
    this.#subscribeListeners();
    if (this.#stale.size > 0) {
      // Dropped clusters keep serving until the routes that may still name them are updated.
      clearTimeout(this.#staleTimer);
      this.#staleTimer = setTimeout(() => this.#enqueue(() => this.#removeStaleClusters()), STALE_CLUSTER_GRACE_MS);
      this.#staleTimer.unref();
    }
    this.#markInitialized();
  }

  async #removeStaleClusters(): Promise<void> {
    clearTimeout(this.#staleTimer);
    const stale = [...this.#stale].filter((n) => !this.#clusters.has(n));
    this.#stale.clear();
    if (stale.length > 0) await this.#o.applier.applyClusters([], stale);
  }

  // ---- LDS / RDS --------------------------------------------------------------------

  /** The HCM of a listener and its RDS reference, if it uses one. */
  #hcmOf(l: JsonMap): JsonMap | undefined {
    const chains = [...(Array.isArray(l.filter_chains) ? l.filter_chains : []), l.default_filter_chain];
    for (const chain of chains) {
      const filters = isObject(chain) && Array.isArray(chain.filters) ? chain.filters : [];
      for (const f of filters)
        if (isObject(f) && f.name === HCM_NAME && isObject(f.typed_config)) return f.typed_config;
    }
    return undefined;
  }

  /** The listener with `rds` replaced by `route_config` (the routes, or an empty placeholder). */
  #inlined(l: JsonMap, routes: JsonMap | undefined): JsonMap {
    const hcm = this.#hcmOf(l);
    if (hcm === undefined || !isObject(hcm.rds)) return l;
    const routeName = hcm.rds.route_config_name as string;
    const inline = (chain: JsonMap): JsonMap => ({
      ...chain,
      filters: (chain.filters as JsonMap[]).map((f) => {
        if (f.name !== HCM_NAME || !isObject(f.typed_config)) return f;
        const { rds: _r, ...rest } = f.typed_config;
        return { ...f, typed_config: { ...rest, route_config: routes ?? { name: routeName } } };
      }),
    });
    const out: JsonMap = { ...l };
    if (Array.isArray(l.filter_chains)) out.filter_chains = (l.filter_chains as JsonMap[]).map(inline);
    if (isObject(l.default_filter_chain)) out.default_filter_chain = inline(l.default_filter_chain);
    return out;
  }

  async #onListeners(r: DiscoveryResponseJson, all: Map<string, JsonMap>): Promise<void> {
    const problems: string[] = [];
    const refused = new Set<string>();
    let rdsSource: ConfigSource | undefined;
    const neededBy = new Map<string, string>();
    for (const [name, l] of all) {
      const before = problems.length;
      const hcm = this.#hcmOf(l);
      if (hcm !== undefined && hcm.rds !== undefined) {
        const rds = isObject(hcm.rds) ? hcm.rds : {};
        if (typeof rds.route_config_name !== 'string' || rds.route_config_name === '')
          problems.push(`${name}: ...typed_config.rds.route_config_name: required`);
        else neededBy.set(name, rds.route_config_name);
        rdsSource = dependentSource(
          name,
          '...typed_config.rds.config_source',
          rds.config_source,
          'RDS',
          rdsSource,
          problems,
        );
        for (const key of Object.keys(rds)) {
          if (key !== 'route_config_name' && key !== 'config_source')
            problems.push(`${name}: ...typed_config.rds.${key}: unknown field`);
        }
      }
      for (const e of this.#o.validator.listener(this.#inlined(l, undefined))) problems.push(`${name}: ${e}`);
      if (problems.length > before) refused.add(name);
    }
    // As Envoy's LDS does, the valid listeners go ahead and the refused ones are NACKed.
    const resources = this.#acceptValid('listeners', r, all, refused, problems, this.#listeners);
    if (resources === null) return;
    const needed = new Set<string>();
    for (const name of resources.keys()) {
      const routeName = refused.has(name) ? this.#routeNameOf(resources.get(name) as JsonMap) : neededBy.get(name);
      if (routeName !== undefined) needed.add(routeName);
    }
    if (this.#pendingLds !== undefined) clearTimeout(this.#pendingLds.timer);
    const pending: PendingListeners = {
      ...warmingUpdate(r, resources, needed, this.#routes, refused),
      applied: new Set(),
      removalsApplied: false,
      changed: false,
    };
    this.#pendingLds = pending;
    this.#updateResourceInterest('routes', rdsSource, needed);
    // Listeners whose routes are here (or that need none) start now; the rest warm on their own.
    await this.#commitListeners();
    if (this.#pendingLds !== pending) return;
    this.#armInitialFetchTimeout('listeners', pending, rdsSource);
  }

  async #onRoutes(r: DiscoveryResponseJson, all: Map<string, JsonMap>): Promise<void> {
    const { resources, refused, problems } = splitValid(all, (rc) => this.#o.validator.routeConfiguration(rc));
    // One refused RouteConfiguration is NACKed without holding back the others: the listeners
    // using them warm (or update) on their own, as Envoy's per-resource RDS watches do.
    if (resources.size === 0 && refused.length > 0) return this.#nack('routes', r, problems.join('; '), refused);
    const changed = recordActive(this.#routes, resources, r.version_info);
    const updates: Array<{ listenerName: string; routeConfig: JsonMap }> = [];
    for (const [listenerName, l] of this.#listeners) {
      if (l.routeName !== undefined && changed.has(l.routeName))
        updates.push({ listenerName, routeConfig: (this.#routes.get(l.routeName) as Active).raw });
    }
    try {
      if (updates.length > 0) await this.#o.applier.applyRoutes(updates);
    } catch (err) {
      return this.#nack(
        'routes',
        r,
        (err as Error).message,
        updates.map((u) => u.routeConfig),
      );
    }
    if (refused.length > 0) this.#nack('routes', r, problems.join('; '), refused);
    else this.#ack('routes', r.version_info, r.nonce);
    for (const name of resources.keys()) {
      for (const l of this.#listeners.values()) {
        if (l.routeName === name)
          this.#o.stats.scope(`http.${l.statPrefix}.rds.${name}`).counter('update_success').inc();
      }
    }
    const pending = this.#pendingLds;
    if (pending !== undefined) {
      for (const n of resources.keys()) pending.waitingFor.delete(n);
      await this.#commitListeners();
    }
    if (updates.length > 0 && this.#stale.size > 0) await this.#removeStaleClusters();
  }

  /**
   * Activates the listeners of the pending LDS update whose routes have arrived (or that need
   * none): each listener warms on its own. The update is ACKed once every listener is active.
   */
  async #commitListeners(): Promise<void> {
    const pending = this.#pendingLds;
    if (pending === undefined) return;
    const ready: string[] = [];
    for (const [name, l] of pending.resources) {
      if (pending.applied.has(name)) continue;
      const routeName = this.#routeNameOf(l);
      if (routeName === undefined || !pending.waitingFor.has(routeName)) ready.push(name);
    }
    const done = pending.applied.size + ready.length === pending.resources.size;
    const upserts: JsonMap[] = [];
    for (const name of ready) {
      const l = pending.resources.get(name) as JsonMap;
      if (this.#listeners.get(name)?.json === pending.json.get(name)) continue;
      const routeName = this.#routeNameOf(l);
      upserts.push(this.#inlined(l, routeName === undefined ? undefined : this.#routes.get(routeName)?.raw));
    }
    const removals = pending.removalsApplied
      ? []
      : [...this.#listeners.keys()].filter((n) => !pending.resources.has(n));
    if (!done && upserts.length === 0 && removals.length === 0) return;
    if (done) {
      clearTimeout(pending.timer);
      this.#pendingLds = undefined;
    }
    try {
      if (upserts.length > 0 || removals.length > 0) await this.#o.applier.applyListeners(upserts, removals);
    } catch (err) {
      this.#nack(
        'listeners',
        { version_info: pending.version, nonce: pending.nonce, resources: [], type_url: TYPE_URLS.listeners },
        (err as Error).message,
        upserts,
      );
      // The resources were valid; applying failed (a port still in use): retry with backoff
      // until it works or a newer version supersedes it, as the server will not resend this one.
      const delay = this.#listenerRetry.next();
      setTimeout(() => {
        this.#enqueue(async () => {
          if (this.#closed || this.#kinds.listeners.error?.version !== pending.version) return;
          if (this.#pendingLds === undefined) this.#pendingLds = pending;
          if (this.#pendingLds !== pending) return;
          await this.#commitListeners();
        });
      }, delay).unref();
      return;
    }
    this.#listenerRetry.reset();
    const at = now();
    for (const name of ready) {
      pending.applied.add(name);
      const l = pending.resources.get(name) as JsonMap;
      const json = pending.json.get(name) as string;
      if (this.#listeners.get(name)?.json === json) continue;
      const hcm = this.#hcmOf(l);
      this.#listeners.set(name, {
        raw: l,
        json,
        version: pending.version,
        lastUpdated: at,
        routeName: this.#routeNameOf(l),
        statPrefix: String(hcm?.stat_prefix ?? ''),
      });
    }
    for (const n of removals) this.#listeners.delete(n);
    pending.removalsApplied = true;
    if (upserts.length > 0 || removals.length > 0) pending.changed = true;
    if (!done) return;
    if (!pending.nacked) this.#ack('listeners', pending.version, pending.nonce);
    if (pending.changed && this.#stale.size > 0) await this.#removeStaleClusters();
    this.#markInitialized();
  }

  /** The response's valid resources, plus the active version of each refused one (kept, not removed). */
  /**
   * A state-of-the-world update with some resources refused: NACKs the refused ones (all of them:
   * the update is NACKed whole and null returned) and returns the set to apply, in which a
   * refused resource that is active keeps its last good version rather than being removed.
   */
  #acceptValid(
    kind: XdsKind,
    r: DiscoveryResponseJson,
    all: Map<string, JsonMap>,
    refused: Set<string>,
    problems: string[],
    active: Map<string, Active>,
  ): Map<string, JsonMap> | null {
    if (refused.size > 0 && refused.size === all.size) {
      this.#nack(kind, r, problems.join('; '), [...all.values()]);
      return null;
    }
    const resources = this.#withLastGood(all, refused, active);
    if (refused.size > 0)
      this.#nack(
        kind,
        r,
        problems.join('; '),
        [...refused].map((n) => all.get(n) as JsonMap),
      );
    return resources;
  }

  #withLastGood(all: Map<string, JsonMap>, refused: Set<string>, active: Map<string, Active>): Map<string, JsonMap> {
    const out = new Map<string, JsonMap>();
    for (const [name, res] of all) {
      if (!refused.has(name)) out.set(name, res);
      else {
        const last = active.get(name);
        if (last !== undefined) out.set(name, last.raw);
      }
    }
    return out;
  }

  /**
   * Envoy's initial_fetch_timeout of the dependent subscription (EDS under a CDS update, RDS under
   * an LDS one): when it passes, the clusters or listeners of the update still waiting activate
   * without it (no hosts, empty routes) instead of holding the update back for ever.
   */
  #armInitialFetchTimeout(parent: 'clusters' | 'listeners', pending: Pending, source: ConfigSource | undefined): void {
    const timeoutMs = durationMs(source?.initial_fetch_timeout, DEFAULT_INITIAL_FETCH_MS);
    const cds = parent === 'clusters';
    pending.timer = setTimeout(() => {
      if ((cds ? this.#pendingCds : this.#pendingLds) !== pending) return;
      const waiting = [...pending.waitingFor].join(', ');
      this.#log(
        cds
          ? `endpoints for ${waiting} did not arrive within ${timeoutMs}ms; activating those clusters without hosts`
          : `route configurations ${waiting} did not arrive within ${timeoutMs}ms; activating listeners with empty routes`,
      );
      pending.waitingFor.clear();
      this.#enqueue(() => (cds ? this.#commitClusters() : this.#commitListeners()));
    }, timeoutMs);
    pending.timer.unref();
  }

  #routeNameOf(l: JsonMap): string | undefined {
    const hcm = this.#hcmOf(l);
    return hcm !== undefined && isObject(hcm.rds) && typeof hcm.rds.route_config_name === 'string'
      ? hcm.rds.route_config_name
      : undefined;
  }

  // ---- introspection ------------------------------------------------------------------

  /** Accepted version per type ('' before the first accepted response). */
  versions(): Record<XdsKind, string> {
    return {
      clusters: this.#kinds.clusters.acceptedVersion,
      endpoints: this.#kinds.endpoints.acceptedVersion,
      listeners: this.#kinds.listeners.acceptedVersion,
      routes: this.#kinds.routes.acceptedVersion,
      secrets: this.#kinds.secrets.acceptedVersion,
    };
  }

  /**
   * ListenersConfigDump.dynamic_listeners as Envoy writes them: each listener with its active
   * state, and a refused one with its own error_state (the failed configuration, the attempt's
   * time and version, and the problems that name it), beside its last good state if it has one.
   */
  #dynamicListeners(error: ErrorState | undefined): JsonMap[] {
    const failedByName = new Map<string, JsonMap>();
    for (const f of error?.failed ?? []) if (typeof f.name === 'string') failedByName.set(f.name, f);
    const names = new Set([...this.#listeners.keys(), ...failedByName.keys()]);
    return [...names].map((name) => {
      const entry: JsonMap = { name };
      const l = this.#listeners.get(name);
      if (l !== undefined)
        entry.active_state = {
          version_info: l.version,
          listener: { '@type': TYPE_URLS.listeners, ...l.raw },
          last_updated: l.lastUpdated,
        };
      const failed = failedByName.get(name);
      if (failed !== undefined && error !== undefined) {
        const own = error.details.split('; ').filter((p) => p.startsWith(`${name}:`) || p.startsWith(`${name} `));
        entry.error_state = {
          failed_configuration: { '@type': TYPE_URLS.listeners, ...failed },
          last_update_attempt: error.at,
          details: own.length > 0 ? own.join('; ') : error.details,
          version_info: error.version,
        };
      }
      return entry;
    });
  }

  /** Envoy's dynamic parts of `/config_dump`: one entry per dump type, with versions and error states. */
  configDump(): JsonMap[] {
    const errorState = (e: ErrorState | undefined): JsonMap | undefined =>
      e === undefined
        ? undefined
        : { failed_configuration: e.failed[0] ?? {}, last_update_attempt: e.at, details: e.details };
    const withError = (obj: JsonMap, e: ErrorState | undefined): JsonMap => {
      const es = errorState(e);
      return es === undefined ? obj : { ...obj, error_state: es };
    };
    const k = this.#kinds;
    return [
      withError(
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
          version_info: k.clusters.acceptedVersion,
          dynamic_active_clusters: [...this.#clusters.values()].map((c) => ({
            version_info: c.version,
            cluster: { '@type': TYPE_URLS.clusters, ...c.raw },
            last_updated: c.lastUpdated,
          })),
          dynamic_warming_clusters:
            this.#pendingCds === undefined
              ? []
              : [...this.#pendingCds.resources.values()]
                  .filter((c) => !this.#clusters.has(c.name as string))
                  .map((c) => ({
                    version_info: this.#pendingCds!.version,
                    cluster: { '@type': TYPE_URLS.clusters, ...c },
                    last_updated: now(),
                  })),
        },
        k.clusters.error,
      ),
      withError(
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
          dynamic_endpoint_configs: [...this.#assignments.values()].map((a) => ({
            version_info: a.version,
            endpoint_config: { '@type': TYPE_URLS.endpoints, ...a.raw },
            last_updated: a.lastUpdated,
          })),
        },
        k.endpoints.error,
      ),
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        version_info: k.listeners.acceptedVersion,
        dynamic_listeners: this.#dynamicListeners(k.listeners.error),
      },
      withError(
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
          dynamic_route_configs: [...this.#routes.values()].map((rc) => ({
            version_info: rc.version,
            route_config: { '@type': TYPE_URLS.routes, ...rc.raw },
            last_updated: rc.lastUpdated,
          })),
        },
        k.routes.error,
      ),
    ];
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#staleTimer);
    if (this.#pendingCds !== undefined) clearTimeout(this.#pendingCds.timer);
    if (this.#pendingLds !== undefined) clearTimeout(this.#pendingLds.timer);
    for (const t of this.#transports.values()) t.close();
    this.#transports.clear();
    this.#connected.set(0);
  }
}
