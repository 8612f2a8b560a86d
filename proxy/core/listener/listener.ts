// A listener on one worker: a net.Server bound to the configured address (shared with the
// other workers' listeners on the same port through node:cluster), handing every accepted
// socket to the filter chain's network filter, tracking connections so it can drain them.
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../../config/schema.js';
import type { Counter, Gauge, Scope } from '../../stats/types.js';
import type { DownstreamConnection, ListenerInfo, NetworkFilter } from '../extension-points.js';
import { ListenerBindError } from '../../errors.js';
import { rawBufferDownstreamFactory } from '../network/raw-buffer-socket.js';

/** How long an idle connection of a replaced listener may still be reused (getting `connection: close`). */
const LISTENER_UPDATE_IDLE_GRACE_MS = 1000;

export function listenerName(cfg: ListenerConfig): string {
  const a = cfg.address.socket_address;
  return cfg.name ?? `${a.address}_${a.port_value}`;
}

export class ActiveListener {
  readonly name: string;
  readonly config: ListenerConfig;
  readonly info: ListenerInfo;
  readonly #filter: NetworkFilter;
  #server: Server;
  readonly #connections = new Set<DownstreamConnection>();
  #statsScope: Scope;
  #cxTotal: Counter | null = null;
  #cxActive: Gauge | null = null;
  #port: number;
  #draining = false;
  #listening = false;

  constructor(cfg: ListenerConfig, filter: NetworkFilter, stats: Scope) {
    this.name = listenerName(cfg);
    this.config = cfg;
    this.#filter = filter;
    this.#statsScope = stats;
    this.#port = cfg.address.socket_address.port_value;
    this.info = { name: this.name, port: this.#port, direction: cfg.traffic_direction ?? 'UNSPECIFIED' };
    // Half-open: a client that shuts down its sending side after a complete request still
    // gets its response (the HCM closes after it), and tunnels pass each direction's end on.
    this.#server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#onConnection(socket));
  }

  /** The network filter (the HCM) accepted connections are handed to. */
  get filter(): NetworkFilter {
    return this.#filter;
  }

  get port(): number {
    return this.#port;
  }

  get address(): string {
    return `${this.config.address.socket_address.address}:${this.#port}`;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  listen(): Promise<number> {
    const a = this.config.address.socket_address;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) =>
        reject(new ListenerBindError(this.name, `${a.address}:${a.port_value}`, err.message));
      this.#server.once('error', onError);
      this.#server.listen({ host: a.address, port: a.port_value, backlog: 1024 }, () => {
        this.#server.off('error', onError);
        this.#listening = true;
        const bound = this.#server.address();
        if (bound !== null && typeof bound === 'object') this.#port = bound.port;
        this.#onBound();
        resolve(this.#port);
      });
    });
  }

  #onBound(): void {
    (this.info as { port: number }).port = this.#port;
    // Envoy names listener stats after the bound address: listener.127.0.0.1_10000.*
    const a = this.config.address.socket_address;
    const scope = this.#statsScope.scope(`listener.${this.config.stat_prefix ?? `${a.address}_${this.#port}`}`);
    this.#cxTotal = scope.counter('downstream_cx_total');
    this.#cxActive = scope.gauge('downstream_cx_active');
  }

  /**
   * A listener update on the same address: this listener takes over `previous`'s bound
   * socket, so new connections land here at once and the port is never closed, while
   * `previous`'s connections finish their streams and close (Envoy's listener drain).
   */
  adopt(previous: ActiveListener): void {
    const server = previous.#server;
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
    this.#server = server;
    this.#listening = previous.#listening;
    this.#port = previous.#port;
    this.#onBound();
    previous.#listening = false;
    previous.#draining = true;
    for (const c of previous.#connections) c.drain(LISTENER_UPDATE_IDLE_GRACE_MS);
  }

  #onConnection(socket: Socket): void {
    if (this.#draining) {
      socket.destroy();
      return;
    }
    this.#cxTotal?.inc();
    this.#cxActive?.inc();
    const conn = this.#filter.onNewConnection(rawBufferDownstreamFactory.createTransportSocket(socket), this.info);
    this.#connections.add(conn);
    conn.onClose(() => {
      this.#connections.delete(conn);
      this.#cxActive?.dec();
    });
  }

  /** Stops accepting new connections. */
  stopListening(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** Stops accepting and asks every connection to finish its stream and close. */
  async drain(): Promise<void> {
    this.#draining = true;
    const closing = this.stopListening();
    for (const c of this.#connections) c.drain();
    await closing;
  }

  /** Resolves when every connection is closed, or after `timeoutMs` (then closes the rest). */
  async waitForConnections(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const c of this.#connections) c.destroy();
  }
}
