// A state-of-the-world ADS stream of @grpc/grpc-js for control-plane tests: requests are
// written as JSON DiscoveryRequests, responses collected decoded.
import * as grpc from '@grpc/grpc-js';
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../../proxy/xds/index.js';

export interface Resp {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: JsonMap[];
}

export class AdsClient {
  readonly responses: Resp[] = [];
  readonly status: Promise<grpc.StatusObject>;
  readonly #client: grpc.Client;
  readonly #call: grpc.ClientDuplexStream<JsonMap, Resp>;

  constructor(port: number) {
    this.#client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    this.#call = this.#client.makeBidiStreamRequest<JsonMap, Resp>(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      (m) => Buffer.from(encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', m as JsonValue)),
      (b) => decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', b) as unknown as Resp,
    );
    this.#call.on('data', (r: Resp) => this.responses.push(r));
    this.#call.on('error', () => undefined);
    this.status = new Promise((resolve) => this.#call.on('status', resolve));
  }

  send(m: JsonMap): void {
    this.#call.write(m);
  }

  of(typeUrl: string): Resp[] {
    return this.responses.filter((r) => r.type_url === typeUrl);
  }

  close(): void {
    this.#call.end();
    this.#client.close();
  }
}
