// One state-of-the-world ADS session (one gRPC stream): per type URL it remembers what was
// sent (version, nonce), what the client ACKed or NACKed, and which names it subscribes to.
// Pushes happen only when a type's version changed for this node or its subscription did,
// in make-before-break order; a NACKed version is not re-sent until the mesh changes again.
import type { ConfigSourceStyle, JsonObject, ResourceKind } from '../translate/envoy.js';
import { TYPE_URL } from '../translate/envoy.js';
import { type NodeSnapshot, PUSH_ORDER, serializedJson, type SnapshotCache } from './cache.js';
import { PushHold } from './push-hold.js';
import { kindOf, nextNonce, withType, type DiscoveryRequest, type DiscoveryResponse } from './protocol.js';

export interface XdsEvents {
  log(line: string): void;
  ack?(nodeId: string, typeUrl: string, version: string): void;
  nack?(nodeId: string, typeUrl: string, version: string, message: string): void;
}

interface TypeState {
  names: string[];
  /** The subscription as last requested (unsorted): an ACK repeating it is not re-read. */
  requested: readonly string[] | undefined;
  /** `names` as a set; undefined for a wildcard subscription. */
  want: Set<string> | undefined;
  /** What the client was last sent of each named resource (RDS/EDS pushes carry only changes). */
  sentJson: Map<string, string>;
  sentVersion: string | undefined;
  sentNonce: string | undefined;
  nackedVersion: string | undefined;
}

const ADS: ConfigSourceStyle = { kind: 'ads' };

/**
 * The last response built per type. A push after an edit sends the same version and resources
 * to every node sharing them, so they get the same response object — nonce included, as a nonce
 * only has to tell a stream's responses apart — and the server encodes its frame once.
 */
const lastResponse = new Map<ResourceKind, { resources: JsonObject[]; response: DiscoveryResponse }>();

function sharedResponse(kind: ResourceKind, version: string, resources: JsonObject[]): DiscoveryResponse {
  const last = lastResponse.get(kind);
  if (
    last !== undefined &&
    last.response.version_info === version &&
    last.resources.length === resources.length &&
    last.resources.every((r, i) => r === resources[i])
  )
    return last.response;
  const typeUrl = TYPE_URL[kind];
  const response: DiscoveryResponse = {
    version_info: version,
    resources: withType(typeUrl, resources, undefined),
    type_url: typeUrl,
    nonce: nextNonce(),
  };
  lastResponse.set(kind, { resources, response });
  return response;
}

export class AdsSession {
  readonly #cache: SnapshotCache;
  readonly #send: (r: DiscoveryResponse) => void;
  readonly #events: XdsEvents;
  #nodeId: string | undefined;
  #view: { readonly snapshot: NodeSnapshot } | undefined;
  #unwatch: (() => void) | undefined;
  #types = new Map<ResourceKind, TypeState>();
  /** Types whose mesh pushes wait while the stream's write buffer is full (see holdPushes). */
  readonly #hold = new PushHold();

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
      const { view, unwatch } = this.#cache.watchView(id, ADS, (changed) => this.#onChange(changed));
      this.#view = view;
      this.#unwatch = unwatch;
      if (!view.snapshot.known) this.#events.log(`node '${id}' is not in the mesh: serving it empty resource sets`);
    }
    const typeUrl = req.type_url ?? '';
    const kind = kindOf(typeUrl);
    if (kind === undefined) return `unknown type_url '${typeUrl}'`;
    let st = this.#types.get(kind);
    const first = st === undefined;
    if (st === undefined) {
      st = {
        names: [],
        requested: undefined,
        want: undefined,
        sentJson: new Map(),
        sentVersion: undefined,
        sentNonce: undefined,
        nackedVersion: undefined,
      };
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
    let namesChanged = false;
    const requested = req.resource_names ?? [];
    if (requested !== st.requested) {
      const names = [...requested].sort();
      namesChanged = names.length !== st.names.length || names.some((n, i) => n !== st.names[i]);
      st.names = names;
      st.want = names.length > 0 ? new Set(names) : undefined;
      // The reader hands a repeated subscription back as the same frozen array.
      st.requested = Object.isFrozen(requested) ? requested : undefined;
    }
    const current = (this.#view as { snapshot: NodeSnapshot }).snapshot.types[kind].version;
    if (first && req.version_info === current && !namesChanged) {
      // A reconnecting client that already holds this version: nothing to send until it changes.
      st.sentVersion = current;
      return undefined;
    }
    this.#maybeSend(kind, first || namesChanged);
    return undefined;
  }

  /**
   * While held, mesh changes only mark their types; on release each marked type gets one push of
   * its current state, diffed against what was last sent: a client that fell behind gets the
   * newest version, not every one in between.
   */
  holdPushes(hold: boolean): void {
    const released = this.#hold.set(hold);
    if (released !== null) this.#onChange(released);
  }

  #onChange(changed: ReadonlySet<ResourceKind>): void {
    if (this.#hold.absorb(changed)) return;
    for (const kind of PUSH_ORDER) if (changed.has(kind) && this.#types.has(kind)) this.#maybeSend(kind, false);
  }

  #maybeSend(kind: ResourceKind, force: boolean): void {
    const st = this.#types.get(kind) as TypeState;
    const snap = (this.#view as { snapshot: NodeSnapshot }).snapshot.types[kind];
    if (!force && (snap.version === st.sentVersion || snap.version === st.nackedVersion)) return;
    const want = st.want;
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
    const response = sharedResponse(kind, snap.version, selected);
    st.sentNonce = response.nonce;
    this.#send(response);
  }

  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}
