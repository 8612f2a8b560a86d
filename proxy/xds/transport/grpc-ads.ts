// ADS over gRPC with @grpc/grpc-js: one bidirectional StreamAggregatedResources stream
// carrying every type. The node is sent on the first request of each stream. When the
// stream fails the transport reconnects with backoff; the client keeps serving its last
// configuration meanwhile and re-subscribes with the versions it holds.
import * as grpc from '@grpc/grpc-js';
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../proto/codec.js';
import { Backoff, type DiscoveryRequestJson, type DiscoveryResponseJson, type Transport, type TransportHandler } from './types.js';

const METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

const serialize = (m: DiscoveryRequestJson): Buffer =>
  Buffer.from(encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', m as unknown as JsonValue));
const deserialize = (b: Buffer): DiscoveryResponseJson =>
  decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', b) as unknown as DiscoveryResponseJson;

export class GrpcAdsTransport implements Transport {
  readonly keepsRequests = false;
  readonly #client: grpc.Client;
  readonly #node: JsonMap;
  readonly #handler: TransportHandler;
  readonly #backoff = new Backoff(250, 5000);
  #call: grpc.ClientDuplexStream<DiscoveryRequestJson, DiscoveryResponseJson> | undefined;
  #nodeSent = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(target: string, node: JsonMap, handler: TransportHandler) {
    this.#client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      // Reconnects are paced by this transport's own backoff, so a dead control plane is probed promptly.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
    this.#node = node;
    this.#handler = handler;
    this.#open();
  }

  #open(): void {
    if (this.#closed) return;
    const call = this.#client.makeBidiStreamRequest<DiscoveryRequestJson, DiscoveryResponseJson>(METHOD, serialize, deserialize);
    this.#call = call;
    this.#nodeSent = false;
    let ended = false;
    const fail = (reason: string): void => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      if (this.#closed) return;
      this.#handler.onDisconnected(reason);
      this.#timer = setTimeout(() => this.#open(), this.#backoff.next());
    };
    call.on('metadata', () => this.#handler.onConnected());
    call.on('data', (r: DiscoveryResponseJson) => {
      this.#backoff.reset();
      this.#handler.onResponse({ version_info: r.version_info ?? '', resources: r.resources ?? [], type_url: r.type_url ?? '', nonce: r.nonce ?? '' });
    });
    call.on('error', (err: Error) => fail(err.message));
    call.on('end', () => fail('stream ended by the management server'));
    this.#handler.onStreamStart();
  }

  send(request: DiscoveryRequestJson): void {
    const call = this.#call;
    if (call === undefined) return;
    const message = this.#nodeSent ? request : { ...request, node: this.#node };
    this.#nodeSent = true;
    call.write(message);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#call?.cancel();
    this.#call = undefined;
    this.#client.close();
  }
}
