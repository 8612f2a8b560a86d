// Per-node snapshots of the compiled mesh. Each (node, config-source style) keeps its
// resources per xDS type and a version per type that is a hash of the content: equal
// versions mean equal content, across control-plane restarts too, so a reconnecting proxy
// that already holds the current version gets nothing re-pushed. Watchers learn which
// types changed for their node, so a push carries only what changed.
//
// An edit costs what it changed, not the number of nodes: what every node gets alike (outbound
// clusters, endpoints and routes) is built once per style and shared as one object, whose
// unchanged resources keep their previous objects (and encodings); a node's own resources
// (listeners, its app's clusters) are rebuilt only when their inputs (ownResourcesKey) changed.
// A node's type whose parts are the same objects as before keeps its snapshot as it was.
// Sidecars of a service with an egress scope (Istio's Sidecar) share the scope's resources: an
// edit outside the scope leaves them the same objects, so those sidecars are not pushed at all.
import { createHash } from 'node:crypto';
import type { Mesh } from '../mesh/schema.js';
import {
  type NodeResources,
  type OutboundMemo,
  type OwnKey,
  type EgressScope,
  type SharedResources,
  type VirtualHostsMemo,
  egressScope,
  findNode,
  ownResources,
  ownResourcesKey,
  ownResourcesKeyUnchanged,
  scopedParts,
  scopedResources,
  sharedParts,
  sharedResources,
} from '../translate/resources.js';
import type { MeshSecurity } from '../translate/mtls.js';
import { type ConfigSourceStyle, type JsonObject, type ResourceKind, serializedJson } from '../translate/envoy.js';

export { serializedJson };

const KINDS: readonly ResourceKind[] = ['clusters', 'endpoints', 'listeners', 'routes', 'secrets', 'runtime'] as const;
/** Each kind's bit in a mask over KINDS (changedKinds). */
const KIND_BIT = Object.fromEntries(KINDS.map((k, i) => [k, 1 << i])) as Record<ResourceKind, number>;
/** Make before break: certificates, then clusters and their endpoints, exist before listeners and routes point at them. */
export const PUSH_ORDER: readonly ResourceKind[] = ['secrets', 'clusters', 'endpoints', 'listeners', 'routes'];

export interface TypeSnapshot {
  version: string;
  resources: ReadonlyMap<string, JsonObject>;
}

export interface NodeSnapshot {
  /** False when the mesh has no sidecar or ingress with this node id (it then gets empty sets). */
  known: boolean;
  types: Record<ResourceKind, TypeSnapshot>;
}

type Watcher = (changed: ReadonlySet<ResourceKind>) => void;

/** The mesh CA as the cache sees it: the root the resources trust and each node's SDS secrets. */
export interface CacheSecurity extends MeshSecurity {
  secrets(nodeId: string): ReadonlyMap<string, JsonObject>;
}

/** A node's own resources and the inputs they were built from. */
interface Own {
  key: OwnKey;
  root: string | undefined;
  listeners: TypeSnapshot;
  clusters: TypeSnapshot;
  routes: TypeSnapshot;
}

interface Entry {
  nodeId: string;
  style: ConfigSourceStyle;
  /** styleKey(style), made once: every edit looks each node's shared resources up by it. */
  styleKey: string;
  snapshot: NodeSnapshot;
  /**
   * Replaced, never changed in place, when a watcher comes or goes: a notification walks the
   * array it starts with, with no copy per node and edit.
   */
  watchers: readonly Watcher[];
  own: Own | undefined;
  /** The node's clusters: the shared and own parts they were merged from. */
  clusters: { shared: TypeSnapshot; own: TypeSnapshot; merged: TypeSnapshot } | undefined;
  secrets: { from: ReadonlyMap<string, JsonObject>; snapshot: TypeSnapshot } | undefined;
}

/**
 * Shared resources by style key, then by egress scope key ('*' for none): two lookups by strings
 * made once, where one key per node and edit was a new string to build and hash.
 */
type SharedByStyle = Map<string, Map<string, Shared>>;

/** The shared resources of one style as type snapshots, each kept as the same object while unchanged. */
interface Shared {
  clusters: TypeSnapshot;
  endpoints: TypeSnapshot;
  sidecarRoutes: TypeSnapshot;
  /** An egress scope's: what its resources were made of (scopedParts). */
  parts?: ReadonlyArray<object | string>;
}

function sameParts(a: ReadonlyArray<object | string>, b: ReadonlyArray<object | string>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function styleKey(style: ConfigSourceStyle): string {
  return style.kind === 'ads' ? 'ads' : `rest:${style.cluster}:${style.refreshDelayMs}`;
}

const EMPTY: ReadonlyMap<string, JsonObject> = new Map();
/** Resources shared by many nodes are digested once, not once per node. */
const digestOf = new WeakMap<JsonObject, string>();

function digest(r: JsonObject): string {
  let d = digestOf.get(r);
  if (d === undefined) {
    d = createHash('sha256').update(serializedJson(r)).digest('hex').slice(0, 32);
    digestOf.set(r, d);
  }
  return d;
}

/**
 * A type's version: a hash over its resources' names and content digests, in name order. Each
 * digest is computed once per resource object, so a node whose resources are mostly shared
 * (outbound clusters, endpoints, routes) costs a few map lookups, not a hash of the whole mesh:
 * at a thousand sidecars, hashing every node's full content made each edit quadratic.
 */
function versionOf(resources: ReadonlyMap<string, JsonObject>): string {
  const names = [...resources.keys()].sort();
  const h = createHash('sha256');
  for (const name of names) {
    h.update(name);
    h.update('\0');
    h.update(digest(resources.get(name) as JsonObject));
  }
  return h.digest('hex').slice(0, 16);
}

const EMPTY_TYPE: TypeSnapshot = { version: versionOf(EMPTY), resources: EMPTY };

/** The set of changed kinds per bit mask over KINDS: nodes that changed alike share one (read-only) set. */
const changedByMask = new Map<number, ReadonlySet<ResourceKind>>();

function changedKinds(mask: number): ReadonlySet<ResourceKind> {
  let set = changedByMask.get(mask);
  if (set === undefined) {
    set = new Set(KINDS.filter((_, i) => (mask & (1 << i)) !== 0));
    changedByMask.set(mask, set);
  }
  return set;
}

function typeSnapshot(resources: ReadonlyMap<string, JsonObject>): TypeSnapshot {
  return resources.size === 0 ? EMPTY_TYPE : { version: versionOf(resources), resources };
}

/**
 * `next` as a snapshot whose resources equal to `previous`'s keep their previous objects; when
 * all of them do (and no name came or went) it is `previous` itself.
 */
function reuse(previous: TypeSnapshot | undefined, next: ReadonlyMap<string, JsonObject>): TypeSnapshot {
  if (previous === undefined) return typeSnapshot(next);
  const out = new Map<string, JsonObject>();
  let same = previous.resources.size === next.size;
  for (const [name, r] of next) {
    const before = previous.resources.get(name);
    if (before !== undefined && (before === r || serializedJson(before) === serializedJson(r))) out.set(name, before);
    else {
      out.set(name, r);
      same = false;
    }
  }
  return same ? previous : typeSnapshot(out);
}

/** The union of two disjoint snapshots (a node's shared and own clusters). */
function merged(a: TypeSnapshot, b: TypeSnapshot): TypeSnapshot {
  if (b.resources.size === 0) return a;
  if (a.resources.size === 0) return b;
  const resources = new Map(a.resources);
  for (const [name, r] of b.resources) resources.set(name, r);
  return {
    version: createHash('sha256').update(`${a.version}\0${b.version}`).digest('hex').slice(0, 16),
    resources,
  };
}

function addWatcher(e: Entry, fn: Watcher): void {
  if (!e.watchers.includes(fn)) e.watchers = [...e.watchers, fn];
}

function removeWatcher(e: Entry, fn: Watcher): void {
  if (e.watchers.includes(fn)) e.watchers = e.watchers.filter((w) => w !== fn);
}

export class SnapshotCache {
  #mesh: Mesh;
  #entries = new Map<string, Entry>();
  /** The shared resources per style and scope, for the current mesh. */
  #shared: SharedByStyle = new Map();
  #security: CacheSecurity | undefined;
  readonly #outboundMemo: OutboundMemo = new Map();
  readonly #hostsMemo: VirtualHostsMemo = new Map();

  constructor(mesh: Mesh, security?: CacheSecurity) {
    this.#mesh = mesh;
    this.#security = security;
  }

  get mesh(): Mesh {
    return this.#mesh;
  }

  /**
   * The shared resources of a style, or of one egress scope within it: scoped sidecars share one
   * set per scope, whose unchanged resources (and so snapshots) stay the same objects, so an edit
   * of a service outside the scope leaves their snapshots as they were and pushes them nothing.
   */
  #sharedFor(e: Pick<Entry, 'style' | 'styleKey'>, scope: EgressScope | undefined, previous: SharedByStyle): Shared {
    const style = e.style;
    // '*' is no scope's key (those are lists of `name.namespace`): the nodes without a scope.
    const key = scope === undefined ? '*' : scope.key;
    let byScope = this.#shared.get(e.styleKey);
    if (byScope === undefined) this.#shared.set(e.styleKey, (byScope = new Map()));
    let shared = byScope.get(key);
    if (shared === undefined) {
      const before = previous.get(e.styleKey)?.get(key);
      let built: SharedResources;
      let parts: ReadonlyArray<object | string> | undefined;
      if (scope === undefined)
        built = sharedResources(this.#mesh, style, this.#security, this.#outboundMemo, this.#hostsMemo);
      else {
        const all = sharedParts(this.#mesh, style, this.#security, this.#outboundMemo, this.#hostsMemo);
        parts = scopedParts(all, scope);
        if (before?.parts !== undefined && sameParts(before.parts, parts)) {
          // Nothing the scope is made of changed: its snapshots stay as they were, unbuilt.
          byScope.set(key, before);
          return before;
        }
        built = scopedResources(all, scope);
      }
      shared = {
        clusters: reuse(before?.clusters, built.clusters),
        endpoints: reuse(before?.endpoints, built.endpoints),
        sidecarRoutes: reuse(before?.sidecarRoutes, built.sidecarRoutes),
      };
      if (parts !== undefined) shared.parts = parts;
      byScope.set(key, shared);
    }
    return shared;
  }

  #own(e: Pick<Entry, 'nodeId' | 'style' | 'own'>, node: ReturnType<typeof findNode>): Own {
    const root = this.#security?.rootCertificatePem;
    const before = e.own;
    if (
      before !== undefined &&
      before.root === root &&
      ownResourcesKeyUnchanged(this.#mesh, e.nodeId, before.key, node)
    )
      return before;
    const key = ownResourcesKey(this.#mesh, e.nodeId);
    const res: NodeResources = ownResources(this.#mesh, e.nodeId, e.style, this.#security);
    return {
      key,
      root,
      listeners: reuse(e.own?.listeners, res.listeners),
      clusters: reuse(e.own?.clusters, res.clusters),
      routes: reuse(e.own?.routes, res.routes),
    };
  }

  /** Brings `e` up to the current mesh: its snapshot, and the parts it was built from. */
  #build(e: Entry, previousShared: SharedByStyle): NodeSnapshot {
    let node: ReturnType<typeof findNode>;
    try {
      node = findNode(this.#mesh, e.nodeId);
    } catch {
      const types = {} as Record<ResourceKind, TypeSnapshot>;
      for (const k of KINDS) types[k] = EMPTY_TYPE;
      return { known: false, types };
    }
    const shared = this.#sharedFor(e, egressScope(this.#mesh, node), previousShared);
    const own = this.#own(e, node);
    e.own = own;
    const c = e.clusters;
    if (c === undefined || c.shared !== shared.clusters || c.own !== own.clusters)
      e.clusters = { shared: shared.clusters, own: own.clusters, merged: merged(shared.clusters, own.clusters) };
    const secrets = this.#security?.secrets(e.nodeId) ?? EMPTY;
    if (e.secrets === undefined || e.secrets.from !== secrets)
      e.secrets = { from: secrets, snapshot: reuse(e.secrets?.snapshot, secrets) };
    const routes = node.kind === 'ingress' ? own.routes : shared.sidecarRoutes;
    const clusters = (e.clusters as NonNullable<Entry['clusters']>).merged;
    const secretsType = e.secrets.snapshot;
    // Parts that are the same objects as before make the same snapshot: an edit leaves most
    // nodes' snapshots as they were, and their sessions are not called at all.
    const t = e.snapshot?.known === true ? e.snapshot.types : undefined;
    if (
      t !== undefined &&
      t.listeners === own.listeners &&
      t.routes === routes &&
      t.clusters === clusters &&
      t.endpoints === shared.endpoints &&
      t.secrets === secretsType
    )
      return e.snapshot;
    return {
      known: true,
      types: {
        listeners: own.listeners,
        routes,
        clusters,
        endpoints: shared.endpoints,
        secrets: secretsType,
        runtime: EMPTY_TYPE,
      },
    };
  }

  snapshot(nodeId: string, style: ConfigSourceStyle): NodeSnapshot {
    return this.#entry(nodeId, style).snapshot;
  }

  /**
   * Watches a node like watch(), and returns with the unsubscribe a view whose `snapshot` is
   * always the node's current one: a session reads it per request and per push without looking
   * the node up by name.
   */
  watchView(
    nodeId: string,
    style: ConfigSourceStyle,
    fn: Watcher,
  ): { view: { readonly snapshot: NodeSnapshot }; unwatch: () => void } {
    const e = this.#entry(nodeId, style);
    addWatcher(e, fn);
    return {
      view: e,
      unwatch: () => removeWatcher(e, fn),
    };
  }

  #entry(nodeId: string, style: ConfigSourceStyle): Entry {
    const sk = styleKey(style);
    const key = `${nodeId}\0${sk}`;
    let e = this.#entries.get(key);
    if (e === undefined) {
      const fresh: Entry = {
        nodeId,
        style,
        styleKey: sk,
        snapshot: undefined as unknown as NodeSnapshot,
        watchers: [],
        own: undefined,
        clusters: undefined,
        secrets: undefined,
      };
      fresh.snapshot = this.#build(fresh, this.#shared);
      this.#entries.set(key, fresh);
      e = fresh;
    }
    return e;
  }

  /** Calls `fn` with the changed types each time this node's snapshot changes; returns the unsubscribe. */
  watch(nodeId: string, style: ConfigSourceStyle, fn: Watcher): () => void {
    const e = this.#entry(nodeId, style);
    addWatcher(e, fn);
    return () => removeWatcher(e, fn);
  }

  /**
   * Installs a new (validated) mesh — and a new CA view when the CA changed — and notifies the
   * watchers of every node whose resources changed. With the same mesh, re-reads the secrets
   * (a rotated certificate).
   */
  setMesh(mesh: Mesh, security: CacheSecurity | undefined = this.#security): void {
    this.#mesh = mesh;
    this.#security = security;
    const previousShared = this.#shared;
    this.#shared = new Map();
    // Nodes to notify and what changed for each, side by side (no pair per node).
    const notify: Entry[] = [];
    const notifyChanged: Array<ReadonlySet<ResourceKind>> = [];
    for (const [key, e] of this.#entries) {
      const next = this.#build(e, previousShared);
      if (next === e.snapshot) {
        if (e.watchers.length === 0) this.#entries.delete(key);
        continue;
      }
      if (!next.known && e.snapshot.known && e.watchers.length > 0) {
        // A workload removed from the mesh keeps its last configuration: callers stop sending
        // to it (their endpoints changed), while its own in-flight traffic finishes undisturbed.
        continue;
      }
      // A type that is the same object is the same version: most of a node's types after an
      // edit, whose snapshots (a node's own are its alone) are then not read at all.
      const a = next.types;
      const b = e.snapshot.types;
      let mask = 0;
      if (a.clusters !== b.clusters && a.clusters.version !== b.clusters.version) mask |= KIND_BIT.clusters;
      if (a.endpoints !== b.endpoints && a.endpoints.version !== b.endpoints.version) mask |= KIND_BIT.endpoints;
      if (a.listeners !== b.listeners && a.listeners.version !== b.listeners.version) mask |= KIND_BIT.listeners;
      if (a.routes !== b.routes && a.routes.version !== b.routes.version) mask |= KIND_BIT.routes;
      if (a.secrets !== b.secrets && a.secrets.version !== b.secrets.version) mask |= KIND_BIT.secrets;
      if (a.runtime !== b.runtime && a.runtime.version !== b.runtime.version) mask |= KIND_BIT.runtime;
      e.snapshot = next;
      // Nodes nobody watches any more are dropped so the cache tracks live proxies only.
      if (e.watchers.length === 0) this.#entries.delete(key);
      else if (mask !== 0) {
        notify.push(e);
        notifyChanged.push(changedKinds(mask));
      }
    }
    for (let i = 0; i < notify.length; i++) {
      const watchers = (notify[i] as Entry).watchers;
      const changed = notifyChanged[i] as ReadonlySet<ResourceKind>;
      for (let j = 0; j < watchers.length; j++) (watchers[j] as Watcher)(changed);
    }
  }
}
