// Incremental (delta) ADS over gRPC: DeltaAggregatedResources. The transport keeps the
// resources each type currently has and presents them to the client as state-of-the-world
// responses, so warming, validation and apply are the same as for SotW; the client's
// ACK/NACK and subscription changes become delta requests (response_nonce/error_detail,
// resource_names_subscribe/unsubscribe). A new stream announces what is held through
// initial_resource_versions, so the server resends only what changed meanwhile.
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../proto/codec.js';
import { GrpcAdsStream } from './grpc-stream.js';
import type { DiscoveryRequestJson, Transport, TransportHandler } from './types.js';

const METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

interface DeltaRequest {
  node?: JsonMap;
  type_url: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code: number; message: string };
}

interface DeltaResponse {
  system_version_info?: string;
  resources?: Array<{ name?: string; version?: string; resource?: JsonMap }>;
  removed_resources?: string[];
  type_url?: string;
  nonce?: string;
}

interface TypeState {
  resources: Map<string, { version: string; resource: JsonMap }>;
  /** Names as the client subscribes them; empty means everything (wildcard). */
  names: string[];
  /** Set once this stream carried the type's first request. */
  opened: boolean;
  answered: Set<string>;
}

const serialize = (m: DeltaRequest): Buffer =>
  Buffer.from(encodeMessage('envoy.service.discovery.v3.DeltaDiscoveryRequest', m as unknown as JsonValue));
const deserialize = (b: Buffer): DeltaResponse =>
  decodeMessage('envoy.service.discovery.v3.DeltaDiscoveryResponse', b) as DeltaResponse;

export class DeltaGrpcAdsTransport implements Transport {
  readonly keepsRequests = false;
  readonly #handler: TransportHandler;
  readonly #types = new Map<string, TypeState>();
  readonly #stream: GrpcAdsStream<DeltaRequest, DeltaResponse>;

  constructor(target: string, node: JsonMap, handler: TransportHandler) {
    this.#handler = handler;
    this.#stream = new GrpcAdsStream({
      target,
      method: METHOD,
      serialize,
      deserialize,
      node,
      handler,
      onResponse: (r) => this.#onResponse(r),
      // Each type's first request on a new stream announces what is held.
      onOpen: () => {
        for (const st of this.#types.values()) st.opened = false;
      },
    });
  }

  #state(typeUrl: string): TypeState {
    let st = this.#types.get(typeUrl);
    if (st === undefined) {
      st = { resources: new Map(), names: [], opened: false, answered: new Set() };
      this.#types.set(typeUrl, st);
    }
    return st;
  }

  #onResponse(r: DeltaResponse): void {
    const typeUrl = r.type_url ?? '';
    const st = this.#state(typeUrl);
    for (const res of r.resources ?? []) {
      if (res.name === undefined || res.resource === undefined) continue;
      st.resources.set(res.name, { version: res.version ?? '', resource: res.resource });
    }
    for (const name of r.removed_resources ?? []) st.resources.delete(name);
    // Presented as a state-of-the-world response: every resource the type now has.
    const want = st.names.length > 0 ? new Set(st.names) : undefined;
    const resources = [...st.resources.entries()]
      .filter(([n]) => want === undefined || want.has(n))
      .map(([, v]) => v.resource);
    this.#handler.onResponse({
      version_info: r.system_version_info ?? '',
      resources,
      type_url: typeUrl,
      nonce: r.nonce ?? '',
    });
  }

  send(request: DiscoveryRequestJson): void {
    if (!this.#stream.open) return;
    const st = this.#state(request.type_url);
    const out: DeltaRequest = { type_url: request.type_url };
    if (!st.opened) {
      st.opened = true;
      st.names = [...request.resource_names];
      if (st.names.length > 0) out.resource_names_subscribe = st.names;
      if (st.resources.size > 0)
        out.initial_resource_versions = Object.fromEntries([...st.resources].map(([n, v]) => [n, v.version]));
      this.#stream.write(out);
      return;
    }
    const before = new Set(st.names);
    const after = new Set(request.resource_names);
    const subscribe = [...after].filter((n) => !before.has(n));
    const unsubscribe = [...before].filter((n) => !after.has(n));
    st.names = [...request.resource_names];
    if (subscribe.length > 0) out.resource_names_subscribe = subscribe;
    if (unsubscribe.length > 0) {
      out.resource_names_unsubscribe = unsubscribe;
      for (const n of unsubscribe) st.resources.delete(n);
    }
    // A nonce is (N)ACKed once; the client repeats its last nonce on plain subscription changes.
    const nonce = request.response_nonce;
    if (nonce !== '' && !st.answered.has(nonce)) {
      st.answered.add(nonce);
      if (st.answered.size > 64) st.answered.delete(st.answered.values().next().value as string);
      out.response_nonce = nonce;
      if (request.error_detail !== undefined) out.error_detail = request.error_detail;
    }
    if (out.response_nonce !== undefined || subscribe.length > 0 || unsubscribe.length > 0) this.#stream.write(out);
  }

  close(): void {
    this.#stream.close();
  }
}
