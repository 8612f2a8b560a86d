// ADS over gRPC: one bidirectional StreamAggregatedResources stream carrying every type
// (GrpcAdsStream does the stream, node and reconnect handling).
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../proto/codec.js';
import { GrpcAdsStream } from './grpc-stream.js';
import type { DiscoveryRequestJson, DiscoveryResponseJson, Transport, TransportHandler } from './types.js';

const METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

const serialize = (m: DiscoveryRequestJson): Buffer =>
  Buffer.from(encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', m as unknown as JsonValue));
const deserialize = (b: Buffer): DiscoveryResponseJson =>
  decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', b) as unknown as DiscoveryResponseJson;

export class GrpcAdsTransport implements Transport {
  readonly keepsRequests = false;
  readonly #stream: GrpcAdsStream<DiscoveryRequestJson, DiscoveryResponseJson>;

  constructor(target: string, node: JsonMap, handler: TransportHandler) {
    this.#stream = new GrpcAdsStream({
      target,
      method: METHOD,
      serialize,
      deserialize,
      node,
      handler,
      onResponse: (r) =>
        handler.onResponse({
          version_info: r.version_info ?? '',
          resources: r.resources ?? [],
          type_url: r.type_url ?? '',
          nonce: r.nonce ?? '',
        }),
    });
  }

  send(request: DiscoveryRequestJson): void {
    this.#stream.write(request);
  }

  close(): void {
    this.#stream.close();
  }
}
