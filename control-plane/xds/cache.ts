// Per-node snapshots of the compiled mesh. Each (node, config-source style) keeps its
// resources per xDS type and a version per type that is a hash of the content: equal
// versions mean equal content, across control-plane restarts too, so a reconnecting proxy
// that already holds the current version gets nothing re-pushed. Watchers learn which
// types changed for their node, so a push carries only what changed.
import { createHash } from 'node:crypto';
import type { Mesh } from '../mesh/schema.js';
import { findNode, nodeResources } from '../translate/resources.js';
import type { MeshSecurity } from '../translate/mtls.js';
import type { ConfigSourceStyle, JsonObject, ResourceKind } from '../translate/envoy.js';

const KINDS: readonly ResourceKind[] = ['clusters', 'endpoints', 'listeners', 'routes', 'secrets', 'runtime'] as const;
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

interface Entry {
  nodeId: string;
  style: ConfigSourceStyle;
  snapshot: NodeSnapshot;
  watchers: Set<Watcher>;
}

function styleKey(style: ConfigSourceStyle): string {
  return style.kind === 'ads' ? 'ads' : `rest:${style.cluster}:${style.refreshDelayMs}`;
}

const EMPTY: ReadonlyMap<string, JsonObject> = new Map();
/** Resources shared by many nodes are serialized and digested once, not once per node. */
const serializedOf = new WeakMap<JsonObject, string>();
const digestOf = new WeakMap<JsonObject, string>();

/** A resource's JSON text, computed once per resource object. */
export function serializedJson(r: JsonObject): string {
  let json = serializedOf.get(r);
  if (json === undefined) {
    json = JSON.stringify(r);
    serializedOf.set(r, json);
  }
  return json;
}

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

export class SnapshotCache {
  #mesh: Mesh;
  #entries = new Map<string, Entry>();
  /** Identical resources (same content digest) share one object across nodes, so protobuf encoding is done once per push. */
  #interned = new Map<string, JsonObject>();
  #security: CacheSecurity | undefined;

  constructor(mesh: Mesh, security?: CacheSecurity) {
    this.#mesh = mesh;
    this.#security = security;
  }

  get mesh(): Mesh {
    return this.#mesh;
  }

  #build(nodeId: string, style: ConfigSourceStyle, interned: Map<string, JsonObject>): NodeSnapshot {
    let known = true;
    try {
      findNode(this.#mesh, nodeId);
    } catch {
      known = false;
    }
    const types = {} as Record<ResourceKind, TypeSnapshot>;
    if (!known) {
      for (const k of KINDS) types[k] = { version: versionOf(EMPTY), resources: EMPTY };
      return { known, types };
    }
    const security = this.#security;
    const res = nodeResources(this.#mesh, nodeId, style, security);
    const byKind: Record<ResourceKind, ReadonlyMap<string, JsonObject>> = {
      listeners: res.listeners,
      routes: res.routes,
      clusters: res.clusters,
      endpoints: res.endpoints,
      secrets: security?.secrets(nodeId) ?? EMPTY,
      runtime: EMPTY,
    };
    for (const k of KINDS) {
      const shared = new Map<string, JsonObject>();
      for (const [name, r] of byKind[k]) {
        const key = digest(r);
        let obj = interned.get(key);
        if (obj === undefined) {
          obj = r;
          interned.set(key, r);
        }
        shared.set(name, obj);
      }
      types[k] = { version: versionOf(shared), resources: shared };
    }
    return { known, types };
  }

  snapshot(nodeId: string, style: ConfigSourceStyle): NodeSnapshot {
    return this.#entry(nodeId, style).snapshot;
  }

  #entry(nodeId: string, style: ConfigSourceStyle): Entry {
    const key = `${nodeId}\0${styleKey(style)}`;
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { nodeId, style, snapshot: this.#build(nodeId, style, this.#interned), watchers: new Set() };
      this.#entries.set(key, e);
    }
    return e;
  }

  /** Calls `fn` with the changed types each time this node's snapshot changes; returns the unsubscribe. */
  watch(nodeId: string, style: ConfigSourceStyle, fn: Watcher): () => void {
    const e = this.#entry(nodeId, style);
    e.watchers.add(fn);
    return () => {
      e.watchers.delete(fn);
    };
  }

  /**
   * Installs a new (validated) mesh — and a new CA view when the CA changed — and notifies the
   * watchers of every node whose resources changed. With the same mesh, re-reads the secrets
   * (a rotated certificate).
   */
  setMesh(mesh: Mesh, security: CacheSecurity | undefined = this.#security): void {
    this.#mesh = mesh;
    this.#security = security;
    const interned = new Map<string, JsonObject>();
    const notify: Array<[Entry, Set<ResourceKind>]> = [];
    for (const [key, e] of this.#entries) {
      const next = this.#build(e.nodeId, e.style, interned);
      if (!next.known && e.snapshot.known && e.watchers.size > 0) {
        // A workload removed from the mesh keeps its last configuration: callers stop sending
        // to it (their endpoints changed), while its own in-flight traffic finishes undisturbed.
        continue;
      }
      const changed = new Set<ResourceKind>();
      for (const k of KINDS) if (next.types[k].version !== e.snapshot.types[k].version) changed.add(k);
      e.snapshot = next;
      // Nodes nobody watches any more are dropped so the cache tracks live proxies only.
      if (e.watchers.size === 0) this.#entries.delete(key);
      else if (changed.size > 0) notify.push([e, changed]);
    }
    this.#interned = interned;
    for (const [e, changed] of notify) for (const w of [...e.watchers]) w(changed);
  }
}
