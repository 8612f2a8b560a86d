// One state-of-the-world ADS session (one gRPC stream): per type URL it remembers what was
// sent (version, nonce), what the client ACKed or NACKed, and which names it subscribes to.
// Pushes happen only when a type's version changed for this node or its subscription did,
// in make-before-break order; a NACKed version is not re-sent until the mesh changes again.
import type { ConfigSourceStyle, ResourceKind } from '../translate/envoy.js';
import { TYPE_URL } from '../translate/envoy.js';
import { PUSH_ORDER, serializedJson, type SnapshotCache } from './cache.js';
import { kindOf, nextNonce, withType, type DiscoveryRequest, type DiscoveryResponse } from './protocol.js';

export interface XdsEvents {
  log(line: string): void;
  ack?(nodeId: string, typeUrl: string, version: string): void;
  nack?(nodeId: string, typeUrl: string, version: string, message: string): void;
}

interface TypeState {
  names: string[];
  /** What the client was last sent of each named resource (RDS/EDS pushes carry only changes). */
  sentJson: Map<string, string>;
  sentVersion: string | undefined;
  sentNonce: string | undefined;
  nackedVersion: string | undefined;
}

const ADS: ConfigSourceStyle = { kind: 'ads' };

export class AdsSession {
  readonly #cache: SnapshotCache;
  readonly #send: (r: DiscoveryResponse) => void;
  readonly #events: XdsEvents;
  #nodeId: string | undefined;
  #unwatch: (() => void) | undefined;
  #types = new Map<ResourceKind, TypeState>();

  constructor(cache: SnapshotCache, send: (r: DiscoveryResponse) => void, events: XdsEvents) {
    this.#cache = cache;
    this.#send = send;
    this.#events = events;
  }

  get nodeId(): string | undefined {
    return this.#nodeId;
  }

  /** Returns an error message for a request the stream must be closed over. */
  onRequest(req: DiscoveryRequest): string | undefined {
    if (this.#nodeId === undefined) {
      const id = req.node?.id;
      if (typeof id !== 'string' || id === '') return 'the first DiscoveryRequest on a stream must carry node.id';
      this.#nodeId = id;
      if (!this.#cache.snapshot(id, ADS).known)
        this.#events.log(`node '${id}' is not in the mesh: serving it empty resource sets`);
      this.#unwatch = this.#cache.watch(id, ADS, (changed) => this.#onChange(changed));
    }
    const typeUrl = req.type_url ?? '';
    const kind = kindOf(typeUrl);
    if (kind === undefined) return `unknown type_url '${typeUrl}'`;
    let st = this.#types.get(kind);
    const first = st === undefined;
    if (st === undefined) {
      st = { names: [], sentJson: new Map(), sentVersion: undefined, sentNonce: undefined, nackedVersion: undefined };
      this.#types.set(kind, st);
    }
    const nonce = req.response_nonce ?? '';
    // A request answering an older response than the last one sent is stale: the client will
    // answer the newest one too, so acting on this one would only cause a redundant push.
    if (nonce !== '' && nonce !== st.sentNonce) return undefined;
    if (req.error_detail !== undefined && req.error_detail !== null) {
      st.nackedVersion = st.sentVersion;
      const message = req.error_detail.message ?? '';
      this.#events.log(`NACK from ${this.#nodeId} for ${typeUrl} version ${st.sentVersion ?? '?'}: ${message}`);
      this.#events.nack?.(this.#nodeId, typeUrl, st.sentVersion ?? '', message);
    } else if (nonce !== '') {
      this.#events.ack?.(this.#nodeId, typeUrl, req.version_info ?? '');
    }
    const names = [...(req.resource_names ?? [])].sort();
    const namesChanged = names.length !== st.names.length || names.some((n, i) => n !== st.names[i]);
    st.names = names;
    const current = this.#cache.snapshot(this.#nodeId, ADS).types[kind].version;
    if (first && req.version_info === current && !namesChanged) {
      // A reconnecting client that already holds this version: nothing to send until it changes.
      st.sentVersion = current;
      return undefined;
    }
    this.#maybeSend(kind, first || namesChanged);
    return undefined;
  }

  #onChange(changed: ReadonlySet<ResourceKind>): void {
    for (const kind of PUSH_ORDER) if (changed.has(kind) && this.#types.has(kind)) this.#maybeSend(kind, false);
  }

  #maybeSend(kind: ResourceKind, force: boolean): void {
    const st = this.#types.get(kind) as TypeState;
    const snap = this.#cache.snapshot(this.#nodeId as string, ADS).types[kind];
    if (!force && (snap.version === st.sentVersion || snap.version === st.nackedVersion)) return;
    const want = st.names.length > 0 ? new Set(st.names) : undefined;
    // LDS and CDS responses are the full set (absent means removed); RDS and EDS responses
    // may carry only what changed, so a push after a mesh edit sends just those.
    const incremental = !force && (kind === 'endpoints' || kind === 'routes');
    const selected = [];
    for (const [name, r] of snap.resources) {
      if (want !== undefined && !want.has(name)) continue;
      const json = serializedJson(r);
      if (incremental && st.sentJson.get(name) === json) continue;
      st.sentJson.set(name, json);
      selected.push(r);
    }
    st.sentVersion = snap.version;
    if (incremental && selected.length === 0) return;
    const nonce = nextNonce();
    st.sentNonce = nonce;
    const typeUrl = TYPE_URL[kind];
    this.#send({
      version_info: snap.version,
      resources: withType(typeUrl, selected, undefined),
      type_url: typeUrl,
      nonce,
    });
  }

  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}
