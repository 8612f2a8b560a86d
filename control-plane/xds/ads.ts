// One state-of-the-world ADS session (one gRPC stream): per type URL it remembers what was
// sent (version, nonce), what the client ACKed or NACKed, and which names it subscribes to.
// Pushes happen only when a type's version changed for this node or its subscription did,
// in make-before-break order; a NACKed version is not re-sent until the mesh changes again.
import type { ConfigSourceStyle, JsonObject, ResourceKind } from '../translate/envoy.js';
import { TYPE_URL } from '../translate/envoy.js';
import { type NodeSnapshot, PUSH_ORDER, serializedJson, type SnapshotCache, type TypeSnapshot } from './cache.js';
import { PushHold } from './push-hold.js';
import { kindOf, nextNonce, withType, type DiscoveryRequest, type DiscoveryResponse } from './protocol.js';

export interface XdsEvents {
  log(line: string): void;
  ack?(nodeId: string, typeUrl: string, version: string): void;
  nack?(nodeId: string, typeUrl: string, version: string, message: string): void;
}

/**
 * A subscription (the sorted resource names of a type, or none for a wildcard) interned: streams
 * asking for the same names share one object, whose id keys the pushes they share.
 */
interface Subscription {
  readonly id: number;
  readonly names: readonly string[];
  /** `names` as a set; undefined for a wildcard subscription. */
  readonly want: ReadonlySet<string> | undefined;
}

/** Interned subscriptions; cleared past the bound (streams keep theirs, later ones get new ids). */
const subscriptions = new Map<string, Subscription>();
const MAX_SUBSCRIPTIONS = 4096;
let nextSubscriptionId = 0;

function subscription(sorted: readonly string[]): Subscription {
  const key = sorted.join('\0');
  let sub = subscriptions.get(key);
  if (sub === undefined) {
    if (subscriptions.size >= MAX_SUBSCRIPTIONS) subscriptions.clear();
    sub = { id: nextSubscriptionId++, names: sorted, want: sorted.length > 0 ? new Set(sorted) : undefined };
    subscriptions.set(key, sub);
  }
  return sub;
}

const WILDCARD = subscription([]);

interface TypeState {
  readonly kind: ResourceKind;
  /** The kind's place in PUSH_ORDER; -1 for a kind a mesh change does not push (runtime). */
  readonly pushRank: number;
  sub: Subscription;
  /** The subscription as last requested (unsorted): an ACK repeating it is not re-read. */
  requested: readonly string[] | undefined;
  /** The snapshot the client was last sent (in full, or the changes from the one before). */
  sent: TypeSnapshot | undefined;
  sentVersion: string | undefined;
  sentNonce: string | undefined;
  nackedVersion: string | undefined;
  /** The last request's resource_names fields as the client encoded them (request-decode.ts), if known. */
  names: Buffer | undefined;
  /**
   * The ACK of the last push, byte for byte as the client will send it (its version, the
   * subscription as last requested, the type URL and the push's nonce), and that version: an
   * ACK equal to it is handled without decoding (AdsSession.ackIfExpected).
   */
  expectedAck: Buffer | undefined;
  expectedVersion: string;
}

const ADS: ConfigSourceStyle = { kind: 'ads' };

/**
 * The responses built per snapshot: after an edit every node holding the same version and
 * subscription moves to the same snapshot, so the first node's push — which resources, the
 * response object, its nonce (a nonce only tells one stream's responses apart) and the frame
 * the server encodes once — serves them all, and a node's push costs a lookup. Keyed by type,
 * the version the client held ('' for a full push) and the subscription; null when nothing changed.
 */
const pushes = new WeakMap<TypeSnapshot, Map<string, DiscoveryResponse | null>>();
/** Distinct (type, from, subscription) keys kept per snapshot; nodes rarely hold more than a few. */
const MAX_PUSHES_PER_SNAPSHOT = 256;

interface LastPush {
  from: string;
  snap: TypeSnapshot;
  sub: Subscription;
  response: DiscoveryResponse | null;
}

/** The last push per type: the nodes of one fan-out ask for the same one back to back. */
const lastPush = new Map<ResourceKind, LastPush>();

/**
 * What a client holding `from` (undefined: nothing, the push is full) with subscription `sub`
 * is sent of `snap`: RDS and EDS pushes may carry only the resources that changed.
 */
function push(
  kind: ResourceKind,
  from: TypeSnapshot | undefined,
  snap: TypeSnapshot,
  sub: Subscription,
): DiscoveryResponse | null {
  const fromVersion = from?.version ?? '';
  const last = lastPush.get(kind);
  if (last !== undefined && last.snap === snap && last.sub === sub && last.from === fromVersion) return last.response;
  let byKey = pushes.get(snap);
  if (byKey === undefined) pushes.set(snap, (byKey = new Map()));
  const key = `${kind}\0${fromVersion}\0${sub.id}`;
  let response = byKey.get(key);
  if (response === undefined) {
    response = diff(kind, from, snap, sub);
    if (byKey.size >= MAX_PUSHES_PER_SNAPSHOT) byKey.clear();
    byKey.set(key, response);
  }
  lastPush.set(kind, { from: fromVersion, snap, sub, response });
  return response;
}

function diff(
  kind: ResourceKind,
  from: TypeSnapshot | undefined,
  snap: TypeSnapshot,
  sub: Subscription,
): DiscoveryResponse | null {
  const want = sub.want;
  const selected: JsonObject[] = [];
  for (const [name, r] of snap.resources) {
    if (want !== undefined && !want.has(name)) continue;
    const before = from?.resources.get(name);
    if (before !== undefined && (before === r || serializedJson(before) === serializedJson(r))) continue;
    selected.push(r);
  }
  if (from !== undefined && selected.length === 0) return null;
  const typeUrl = TYPE_URL[kind];
  return {
    version_info: snap.version,
    resources: withType(typeUrl, selected, undefined),
    type_url: typeUrl,
    nonce: nextNonce(),
  };
}

/** The last ACK bytes built per type: a fan-out's nodes ask for the same ones back to back. */
const lastAck = new Map<ResourceKind, { response: DiscoveryResponse; names: Buffer; bytes: Buffer }>();

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

function putString(out: Buffer, pos: number, key: number, s: string): number {
  const length = Buffer.byteLength(s, 'utf8');
  if (length === 0) return pos;
  out[pos++] = key;
  let n = length;
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos + out.write(s, pos, 'utf8');
}

/**
 * The DiscoveryRequest a client ACKs `response` with while subscribed with `names` (its
 * resource_names fields as it encodes them): version_info (1), resource_names (3), type_url (4),
 * response_nonce (5), in field order as protobuf encoders write them. The nodes of one fan-out
 * share the response and, subscribing alike, the interned names: built once per push.
 */
function ackBytes(kind: ResourceKind, response: DiscoveryResponse, names: Buffer): Buffer {
  const last = lastAck.get(kind);
  if (last !== undefined && last.response === response && last.names === names) return last.bytes;
  let size = names.length;
  for (const s of [response.version_info, response.type_url, response.nonce]) {
    const length = Buffer.byteLength(s, 'utf8');
    if (length > 0) size += 1 + varintLength(length) + length;
  }
  const bytes = Buffer.allocUnsafe(size);
  let pos = putString(bytes, 0, (1 << 3) | 2, response.version_info);
  pos += names.copy(bytes, pos);
  pos = putString(bytes, pos, (4 << 3) | 2, response.type_url);
  putString(bytes, pos, (5 << 3) | 2, response.nonce);
  lastAck.set(kind, { response, names, bytes });
  return bytes;
}

function pushRankOf(st: TypeState): number {
  return st.pushRank === -1 ? PUSH_ORDER.length : st.pushRank;
}

export class AdsSession {
  readonly #cache: SnapshotCache;
  readonly #send: (r: DiscoveryResponse) => void;
  readonly #events: XdsEvents;
  #nodeId: string | undefined;
  #view: { readonly snapshot: NodeSnapshot } | undefined;
  #unwatch: (() => void) | undefined;
  #types = new Map<ResourceKind, TypeState>();
  /**
   * The same states as a list in PUSH_ORDER (kinds it lacks last): a mesh change and an ACK walk
   * it without a lookup per kind.
   */
  readonly #states: TypeState[] = [];
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

  /**
   * Handles `message` and returns true when it is, byte for byte, the ACK the last push of one
   * of the stream's types asks for (see ackBytes): what onRequest does with that request — the
   * ack event, then a push only if the type changed since — without decoding it. After an edit
   * every sidecar sends one, and one comparison replaces reading its fields. False for anything
   * else (the caller decodes it and calls onRequest).
   */
  ackIfExpected(message: Buffer): boolean {
    const nodeId = this.#nodeId;
    if (nodeId === undefined) return false;
    const states = this.#states;
    for (let i = 0; i < states.length; i++) {
      const st = states[i] as TypeState;
      const expected = st.expectedAck;
      if (expected === undefined || expected.length !== message.length || !expected.equals(message)) continue;
      this.#events.ack?.(nodeId, TYPE_URL[st.kind], st.expectedVersion);
      this.#maybeSend(st, false);
      return true;
    }
    return false;
  }

  /**
   * Returns an error message for a request the stream must be closed over. `names`: its
   * resource_names fields as encoded (request-decode.ts's lastNames), when known.
   */
  onRequest(req: DiscoveryRequest, names?: Buffer): string | undefined {
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
        kind,
        pushRank: PUSH_ORDER.indexOf(kind),
        sub: WILDCARD,
        requested: undefined,
        sent: undefined,
        sentVersion: undefined,
        sentNonce: undefined,
        nackedVersion: undefined,
        names: undefined,
        expectedAck: undefined,
        expectedVersion: '',
      };
      this.#types.set(kind, st);
      const rank = st.pushRank === -1 ? PUSH_ORDER.length : st.pushRank;
      let at = this.#states.length;
      while (at > 0 && rank < pushRankOf(this.#states[at - 1] as TypeState)) at--;
      this.#states.splice(at, 0, st);
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
    // An ACK repeats these, so the ACK of the next push is known before it comes.
    st.names = names;
    let namesChanged = false;
    const requested = req.resource_names ?? [];
    if (requested !== st.requested) {
      const sub = subscription([...requested].sort());
      namesChanged = sub !== st.sub;
      st.sub = sub;
      // The reader hands a repeated subscription back as the same frozen array.
      st.requested = Object.isFrozen(requested) ? requested : undefined;
    }
    const current = (this.#view as { snapshot: NodeSnapshot }).snapshot.types[kind];
    if (first && req.version_info === current.version && !namesChanged) {
      // A reconnecting client that already holds this version: nothing to send until it changes.
      st.sent = current;
      st.sentVersion = current.version;
      return undefined;
    }
    this.#maybeSend(st, first || namesChanged);
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
    const states = this.#states;
    for (let i = 0; i < states.length; i++) {
      const st = states[i] as TypeState;
      if (st.pushRank !== -1 && changed.has(st.kind)) this.#maybeSend(st, false);
    }
  }

  #maybeSend(st: TypeState, force: boolean): void {
    const kind = st.kind;
    const snap = (this.#view as { snapshot: NodeSnapshot }).snapshot.types[kind];
    if (!force && (snap.version === st.sentVersion || snap.version === st.nackedVersion)) return;
    // LDS and CDS responses are the full set (absent means removed); RDS and EDS responses
    // may carry only what changed, so a push after a mesh edit sends just those.
    const incremental = !force && (kind === 'endpoints' || kind === 'routes');
    const response = push(kind, incremental ? st.sent : undefined, snap, st.sub);
    st.sent = snap;
    st.sentVersion = snap.version;
    if (response === null) return;
    st.sentNonce = response.nonce;
    if (st.names === undefined) st.expectedAck = undefined;
    else {
      st.expectedAck = ackBytes(kind, response, st.names);
      st.expectedVersion = response.version_info;
    }
    this.#send(response);
  }

  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}
