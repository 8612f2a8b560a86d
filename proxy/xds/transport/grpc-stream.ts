// One ADS stream over gRPC with @grpc/grpc-js, for both ADS flavours (state of the world and
// delta): opens the bidirectional stream, puts the node on the first request of each stream,
// and when the stream fails reconnects with backoff; the client keeps serving its last
// configuration meanwhile and re-subscribes on the new stream (TransportHandler.onStreamStart).
import * as grpc from '@grpc/grpc-js';
import type { JsonMap } from '../proto/codec.js';
import { Backoff, type TransportHandler } from './types.js';

export interface GrpcAdsStreamOptions<Req, Res> {
  readonly target: string;
  /** The full method path, e.g. `/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`. */
  readonly method: string;
  readonly serialize: (request: Req) => Buffer;
  readonly deserialize: (bytes: Buffer) => Res;
  readonly node: JsonMap;
  readonly handler: TransportHandler;
  /** Each response, in order. */
  readonly onResponse: (response: Res) => void;
  /** A new stream is about to announce itself (before the handler's onStreamStart). */
  readonly onOpen?: () => void;
}

export class GrpcAdsStream<Req extends { node?: JsonMap }, Res> {
  readonly #options: GrpcAdsStreamOptions<Req, Res>;
  readonly #client: grpc.Client;
  readonly #backoff = new Backoff(250, 5000);
  #call: grpc.ClientDuplexStream<Req, Res> | undefined;
  #nodeSent = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: GrpcAdsStreamOptions<Req, Res>) {
    this.#options = options;
    this.#client = new grpc.Client(options.target, grpc.credentials.createInsecure(), {
      // Reconnects are paced by this transport's own backoff, so a dead control plane is probed promptly.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      // One connection per client, as each sidecar has its own: grpc-js would otherwise share one
      // HTTP/2 connection among every client of a process (the bench's hundreds of clients).
      'grpc.use_local_subchannel_pool': 1,
    });
    this.#open();
  }

  /** True while a stream is up (requests sent meanwhile would be lost). */
  get open(): boolean {
    return this.#call !== undefined;
  }

  #open(): void {
    if (this.#closed) return;
    const { method, serialize, deserialize, handler, onResponse } = this.#options;
    const call = this.#client.makeBidiStreamRequest<Req, Res>(method, serialize, deserialize);
    this.#call = call;
    this.#nodeSent = false;
    this.#options.onOpen?.();
    let ended = false;
    const fail = (reason: string): void => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      if (this.#closed) return;
      handler.onDisconnected(reason);
      this.#timer = setTimeout(() => this.#open(), this.#backoff.next());
    };
    call.on('metadata', () => handler.onConnected());
    call.on('data', (r: Res) => {
      this.#backoff.reset();
      onResponse(r);
    });
    call.on('error', (err: Error) => fail(err.message));
    call.on('end', () => fail('stream ended by the management server'));
    handler.onStreamStart();
  }

  /** Writes one request on the live stream; the first of each stream carries the node. */
  write(request: Req): void {
    const call = this.#call;
    if (call === undefined) return;
    const message = this.#nodeSent ? request : { ...request, node: this.#options.node };
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
