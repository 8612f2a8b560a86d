// REST-JSON polling (`POST /v3/discovery:<type>`), one poll loop per type. The ACK/NACK of
// a response is the next poll's version_info/error_detail, so after a 200 the loop waits
// for the client's next request; after a 304 (or an unchanged version) it polls again.
// Polls are spaced by refresh_delay measured from the previous poll's start, so a server
// that holds polls open (long poll) is re-polled at once and one that answers at once is
// polled every refresh_delay.
import {
  Backoff,
  type DiscoveryRequestJson,
  type DiscoveryResponseJson,
  type Transport,
  type TransportHandler,
} from './types.js';
import type { JsonMap } from '../proto/codec.js';

const PATH_BY_TYPE: Record<string, string> = {
  'type.googleapis.com/envoy.config.listener.v3.Listener': '/v3/discovery:listeners',
  'type.googleapis.com/envoy.config.route.v3.RouteConfiguration': '/v3/discovery:routes',
  'type.googleapis.com/envoy.config.cluster.v3.Cluster': '/v3/discovery:clusters',
  'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment': '/v3/discovery:endpoints',
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret': '/v3/discovery:secrets',
};

interface Poller {
  request: DiscoveryRequestJson;
  /** Set while a poll is out; aborting it lets a changed request go out at once. */
  inFlight: AbortController | undefined;
  timer: NodeJS.Timeout | undefined;
  lastStart: number;
  awaitingClient: boolean;
}

export interface RestOptions {
  baseUrl: string;
  refreshDelayMs: number;
  requestTimeoutMs: number;
}

export class RestTransport implements Transport {
  readonly keepsRequests = true;
  readonly #o: RestOptions;
  readonly #node: JsonMap;
  readonly #handler: TransportHandler;
  readonly #pollers = new Map<string, Poller>();
  readonly #backoff = new Backoff(250, 5000);
  #connected = false;
  #closed = false;

  constructor(o: RestOptions, node: JsonMap, handler: TransportHandler) {
    this.#o = o;
    this.#node = node;
    this.#handler = handler;
    queueMicrotask(() => handler.onStreamStart());
  }

  send(request: DiscoveryRequestJson): void {
    if (this.#closed) return;
    let p = this.#pollers.get(request.type_url);
    if (p === undefined) {
      p = { request, inFlight: undefined, timer: undefined, lastStart: 0, awaitingClient: false };
      this.#pollers.set(request.type_url, p);
    }
    p.request = request;
    p.awaitingClient = false;
    p.inFlight?.abort();
    clearTimeout(p.timer);
    this.#schedule(p, Math.max(0, this.#o.refreshDelayMs - (Date.now() - p.lastStart)));
  }

  #schedule(p: Poller, delayMs: number): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => void this.#poll(p), delayMs);
  }

  async #poll(p: Poller): Promise<void> {
    if (this.#closed) return;
    const path = PATH_BY_TYPE[p.request.type_url];
    if (path === undefined) return;
    const controller = new AbortController();
    p.inFlight = controller;
    p.lastStart = Date.now();
    const sent = p.request;
    const timeout = setTimeout(() => controller.abort(), this.#o.requestTimeoutMs);
    try {
      const res = await fetch(this.#o.baseUrl + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...sent, node: this.#node }),
        signal: controller.signal,
      });
      const text = await res.text();
      if (p.request !== sent) return;
      this.#markConnected();
      if (res.status === 304) {
        this.#schedule(p, Math.max(0, this.#o.refreshDelayMs - (Date.now() - p.lastStart)));
        return;
      }
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${text.slice(0, 200)}`);
      const body = JSON.parse(text) as DiscoveryResponseJson;
      if (body.version_info === sent.version_info && sent.error_detail === undefined) {
        // Nothing new (a server that does not long-poll): poll again after refresh_delay.
        this.#schedule(p, Math.max(0, this.#o.refreshDelayMs - (Date.now() - p.lastStart)));
        return;
      }
      p.awaitingClient = true;
      this.#handler.onResponse({
        version_info: body.version_info ?? '',
        resources: body.resources ?? [],
        type_url: body.type_url ?? sent.type_url,
        nonce: body.nonce ?? '',
      });
    } catch (err) {
      if (p.request !== sent || this.#closed) return;
      if (controller.signal.aborted && Date.now() - p.lastStart >= this.#o.requestTimeoutMs) {
        // A long poll that outlived request_timeout: the server is there, poll again.
        this.#schedule(p, 0);
        return;
      }
      if (this.#connected) {
        this.#connected = false;
        this.#handler.onDisconnected((err as Error).message);
      }
      this.#schedule(p, this.#backoff.next());
    } finally {
      clearTimeout(timeout);
      if (p.inFlight === controller) p.inFlight = undefined;
    }
  }

  #markConnected(): void {
    this.#backoff.reset();
    if (!this.#connected) {
      this.#connected = true;
      this.#handler.onConnected();
    }
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#pollers.values()) {
      clearTimeout(p.timer);
      p.inFlight?.abort();
    }
  }
}
