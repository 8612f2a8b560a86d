// What the xDS client exchanges with a transport (gRPC ADS stream, REST polling, file):
// DiscoveryRequest/Response in Envoy's JSON shape, resources already decoded to JSON.
import type { JsonMap } from '../proto/codec.js';

export interface DiscoveryRequestJson {
  version_info: string;
  node?: JsonMap;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code: number; message: string };
}

export interface DiscoveryResponseJson {
  version_info: string;
  resources: JsonMap[];
  type_url: string;
  nonce: string;
}

export interface TransportHandler {
  onResponse(response: DiscoveryResponseJson): void;
  /** A new stream was opened: the client (re)sends its subscriptions on it. */
  onStreamStart(): void;
  /** The management server answered (headers or a response): connected_state goes to 1. */
  onConnected(): void;
  onDisconnected(reason: string): void;
}

export interface Transport {
  /** The next request for one type: a new subscription, an ACK/NACK, or changed resource names. */
  send(request: DiscoveryRequestJson): void;
  /** True when requests need no re-sending after a reconnect (polling keeps its own last request). */
  readonly keepsRequests: boolean;
  close(): void;
}

/** Exponential backoff with full jitter, as Envoy's xDS retry (base 500ms, max 30s, capped lower here). */
export class Backoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  #attempt = 0;

  constructor(baseMs: number, maxMs: number) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
  }

  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** this.#attempt);
    this.#attempt += 1;
    return Math.max(this.#baseMs / 2, Math.random() * ceiling);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
