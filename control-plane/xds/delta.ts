// One incremental (delta) ADS session: per type it tracks what the client subscribed to
// (wildcard or names) and the version it holds of each resource, and sends only resources
// whose version differs plus the names that disappeared. Per-resource versions are hashes of
// the resource, so a reconnecting client's initial_resource_versions spare it a resend.
import { createHash } from 'node:crypto';
import type { ConfigSourceStyle, JsonObject, ResourceKind } from '../translate/envoy.js';
import { TYPE_URL } from '../translate/envoy.js';
import type { XdsEvents } from './ads.js';
import { type NodeSnapshot, PUSH_ORDER, serializedJson, type SnapshotCache } from './cache.js';
import { PushHold } from './push-hold.js';
import { kindOf, nextNonce, withType, type NodeJson } from './protocol.js';

export interface DeltaDiscoveryRequest {
  node?: NodeJson;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: Array<{ name: string; version: string; resource: JsonObject }>;
  removed_resources: string[];
  type_url: string;
  nonce: string;
}

interface DeltaTypeState {
  wildcard: boolean;
  subscribed: Set<string>;
  /** Version of each resource the client holds (or was last sent). */
  known: Map<string, string>;
  sentNonce: string | undefined;
  sentNames: string[];
}

const ADS: ConfigSourceStyle = { kind: 'ads' };
const versions = new WeakMap<JsonObject, string>();

function resourceVersion(r: JsonObject): string {
  let v = versions.get(r);
  if (v === undefined) {
    v = createHash('sha256').update(serializedJson(r)).digest('hex').slice(0, 16);
    versions.set(r, v);
  }
  return v;
}

export class DeltaAdsSession {
  readonly #cache: SnapshotCache;
  readonly #send: (r: DeltaDiscoveryResponse) => void;
  readonly #events: XdsEvents;
  #nodeId: string | undefined;
  #view: { readonly snapshot: NodeSnapshot } | undefined;
  #unwatch: (() => void) | undefined;
  #types = new Map<ResourceKind, DeltaTypeState>();
  /** Types whose mesh pushes wait while the stream's write buffer is full (see holdPushes). */
  readonly #hold = new PushHold();

  constructor(cache: SnapshotCache, send: (r: DeltaDiscoveryResponse) => void, events: XdsEvents) {
    this.#cache = cache;
    this.#send = send;
    this.#events = events;
  }

  get nodeId(): string | undefined {
    return this.#nodeId;
  }

  /** Returns an error message for a request the stream must be closed over. */
  onRequest(req: DeltaDiscoveryRequest): string | undefined {
    if (this.#nodeId === undefined) {
      const id = req.node?.id;
      if (typeof id !== 'string' || id === '') return 'the first DeltaDiscoveryRequest on a stream must carry node.id';
      this.#nodeId = id;
      const { view, unwatch } = this.#cache.watchView(id, ADS, (changed) => this.#onChange(changed));
      this.#view = view;
      this.#unwatch = unwatch;
    }
    const typeUrl = req.type_url ?? '';
    const kind = kindOf(typeUrl);
    if (kind === undefined) return `unknown type_url '${typeUrl}'`;
    const subscribe = req.resource_names_subscribe ?? [];
    let st = this.#types.get(kind);
    if (st === undefined) {
      // A first request naming nothing (or '*') subscribes to everything, as Envoy does for LDS/CDS.
      st = {
        wildcard: subscribe.length === 0 || subscribe.includes('*'),
        subscribed: new Set(),
        known: new Map(),
        sentNonce: undefined,
        sentNames: [],
      };
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) st.known.set(name, version);
      this.#types.set(kind, st);
    }
    const nonce = req.response_nonce ?? '';
    if (nonce !== '' && nonce === st.sentNonce) {
      if (req.error_detail !== undefined && req.error_detail !== null) {
        const message = req.error_detail.message ?? '';
        this.#events.log(`NACK (delta) from ${this.#nodeId} for ${typeUrl} (${st.sentNames.join(', ')}): ${message}`);
        this.#events.nack?.(
          this.#nodeId,
          typeUrl,
          st.sentNames.map((n) => `${n}@${st!.known.get(n) ?? ''}`).join(','),
          message,
        );
      } else {
        this.#events.ack?.(
          this.#nodeId,
          typeUrl,
          (this.#view as { snapshot: NodeSnapshot }).snapshot.types[kind].version,
        );
      }
    }
    for (const name of subscribe) {
      if (name === '*') st.wildcard = true;
      else {
        st.subscribed.add(name);
        // A (re)subscribed name is always answered, even if the client seems to hold it.
        if (req.initial_resource_versions?.[name] === undefined) st.known.delete(name);
      }
    }
    for (const name of req.resource_names_unsubscribe ?? []) {
      if (name === '*') st.wildcard = false;
      else {
        st.subscribed.delete(name);
        st.known.delete(name);
      }
    }
    this.#push(kind);
    return undefined;
  }

  /** As AdsSession.holdPushes: held changes become one push per type of what differs on release. */
  holdPushes(hold: boolean): void {
    const released = this.#hold.set(hold);
    if (released !== null) this.#onChange(released);
  }

  #onChange(changed: ReadonlySet<ResourceKind>): void {
    if (this.#hold.absorb(changed)) return;
    for (const kind of PUSH_ORDER) if (changed.has(kind) && this.#types.has(kind)) this.#push(kind);
  }

  #push(kind: ResourceKind): void {
    const st = this.#types.get(kind) as DeltaTypeState;
    const snap = (this.#view as { snapshot: NodeSnapshot }).snapshot.types[kind];
    const resources: DeltaDiscoveryResponse['resources'] = [];
    const typeUrl = TYPE_URL[kind];
    for (const [name, r] of snap.resources) {
      if (!st.wildcard && !st.subscribed.has(name)) continue;
      const version = resourceVersion(r);
      if (st.known.get(name) === version) continue;
      st.known.set(name, version);
      resources.push({ name, version, resource: withType(typeUrl, [r], undefined)[0] as JsonObject });
    }
    const removed: string[] = [];
    for (const name of [...st.known.keys()]) {
      if (snap.resources.has(name)) continue;
      st.known.delete(name);
      removed.push(name);
    }
    if (resources.length === 0 && removed.length === 0) return;
    const nonce = nextNonce();
    st.sentNonce = nonce;
    st.sentNames = resources.map((r) => r.name);
    this.#send({ system_version_info: snap.version, resources, removed_resources: removed, type_url: typeUrl, nonce });
  }

  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}
