// A listener on one worker: a net.Server bound to the configured address (shared with the
// other workers' listeners on the same port through node:cluster). Every accepted socket runs
// the listener filters (when configured), gets its filter chain by `filter_chain_match`, and is
// handed to that chain's network filters; connections are tracked so they can be drained.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { type ListenerConfig, unwrap } from '../../api/schema.js';
import type { Counter, Gauge, Scope } from '../../stats/types.js';
import type { AccessLogger, DownstreamConnection, ListenerInfo } from '../extension-points.js';
import { connectionStreamInfo, ResponseFlag } from '../stream-info.js';
import { ListenerBindError } from '../../errors.js';
import type { FilterChain } from './filter-chain.js';
import type { FilterChainMatcher, InspectedConnection } from './filter-chain-matcher.js';
import { ActiveTcpSocket, type ListenerFilterSettings } from './active-tcp-socket.js';

/** A listener's filter chains and listener filters, built for one worker. */
export interface ListenerFilterChains {
  /** The listener's stats scope, renamed after the bound address once it listens (TLS counters read it then). */
  readonly statsScope: { current: Scope };
  /** The listener's `access_log` (the chains log their connections; the listener those no chain took). */
  readonly accessLoggers: readonly AccessLogger[];
  readonly chains: readonly FilterChain[];
  readonly matcher: FilterChainMatcher<FilterChain>;
  readonly listenerFilters: ListenerFilterSettings;
}

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
  readonly #filterChains: ListenerFilterChains;
  #server: Server;
  readonly #connections = new Set<DownstreamConnection>();
  /** Connections still in their listener filters. */
  readonly #pending = new Set<ActiveTcpSocket>();
  #statsScope: Scope;
  #cxTotal: Counter | null = null;
  #cxActive: Gauge | null = null;
  #preCxActive: Gauge | null = null;
  #preCxTimeout: Counter | null = null;
  #noFilterChainMatch: Counter | null = null;
  #port: number;
  #draining = false;
  #listening = false;

  constructor(cfg: ListenerConfig, filterChains: ListenerFilterChains, stats: Scope) {
    this.name = listenerName(cfg);
    this.config = cfg;
    this.#filterChains = filterChains;
    this.#statsScope = stats;
    this.#port = cfg.address.socket_address.port_value;
    this.info = { name: this.name, port: this.#port, direction: cfg.traffic_direction ?? 'UNSPECIFIED' };
    // Half-open: a client that shuts down its sending side after a complete request still
    // gets its response (the HCM closes after it), and tunnels pass each direction's end on.
    this.#server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#onConnection(socket));
  }

  /** The filter chains (with `default_filter_chain` last), e.g. for RDS to reach their HCMs. */
  get filterChains(): readonly FilterChain[] {
    return this.#filterChains.chains;
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
      const backlog = unwrap(this.config.tcp_backlog_size, kernelListenBacklog());
      this.#server.listen({ host: a.address, port: a.port_value, backlog }, () => {
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
    this.#filterChains.statsScope.current = scope;
    this.#cxTotal = scope.counter('downstream_cx_total');
    this.#cxActive = scope.gauge('downstream_cx_active');
    this.#noFilterChainMatch = scope.counter('no_filter_chain_match');
    if (this.#filterChains.listenerFilters.filters.length > 0) {
      this.#preCxActive = scope.gauge('downstream_pre_cx_active');
      this.#preCxTimeout = scope.counter('downstream_pre_cx_timeout');
    }
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
    previous.#releaseTransportSockets();
    for (const c of previous.#connections) c.drain(LISTENER_UPDATE_IDLE_GRACE_MS);
    // Connections still in the old listener's filters finish there, under its chains.
  }

  #onConnection(socket: Socket): void {
    if (this.#draining) {
      socket.destroy();
      return;
    }
    const settings = this.#filterChains.listenerFilters;
    if (settings.filters.length === 0) {
      this.#onAccepted(socket, NO_INSPECTION);
      return;
    }
    this.#preCxActive?.inc();
    const pending = new ActiveTcpSocket(
      socket,
      settings,
      this.#preCxTimeout,
      (accepted) => {
        this.#pending.delete(accepted);
        this.#preCxActive?.dec();
        this.#onAccepted(accepted.socket, accepted);
      },
      (gone) => {
        this.#pending.delete(gone);
        this.#preCxActive?.dec();
      },
    );
    this.#pending.add(pending);
  }

  /** The listener filters are done: choose the filter chain and hand the connection to it. */
  #onAccepted(socket: Socket, inspected: InspectedConnection): void {
    const chain = this.#filterChains.matcher.select(socket, inspected);
    if (chain === null) {
      this.#noFilterChainMatch?.inc();
      const loggers = this.#filterChains.accessLoggers;
      if (loggers.length > 0) {
        // Envoy's listener access log line for it: flag NR, no filter chain found.
        const info = connectionStreamInfo(socket, this.name);
        info.setResponseFlag(ResponseFlag.NoRouteFound);
        info.responseCodeDetails = 'filter_chain_not_found';
        info.durationMs = info.elapsedMs();
        for (const l of loggers) l.log(info);
      }
      socket.destroy();
      return;
    }
    this.#cxTotal?.inc();
    this.#cxActive?.inc();
    const conn = chain.newConnection(socket, this.info);
    this.#connections.add(conn);
    conn.onClose(() => {
      this.#connections.delete(conn);
      this.#cxActive?.dec();
    });
    // Finished its listener filters after a listener update replaced this listener: serve what
    // the client already sent, then close.
    if (this.#draining) conn.drain(LISTENER_UPDATE_IDLE_GRACE_MS);
  }

  /** Open connections keep their TLS sockets; the chains' SDS subscriptions end with the listener. */
  #releaseTransportSockets(): void {
    for (const chain of this.#filterChains.chains) chain.transportSocketFactory.close?.();
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
    this.#releaseTransportSockets();
    const closing = this.stopListening();
    for (const p of this.#pending) p.close();
    for (const c of this.#connections) c.drain();
    await closing;
  }

  /** Resolves when every connection is closed, or after `timeoutMs` (then closes the rest). */
  async waitForConnections(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const p of this.#pending) p.close();
    for (const c of this.#connections) c.destroy();
  }
}

/** What a listener without listener filters knows of a connection before choosing its chain. */
const NO_INSPECTION: InspectedConnection = {
  detectedTransportProtocol: '',
  requestedServerName: '',
  requestedApplicationProtocols: [],
};

let somaxconn: number | undefined;

/**
 * Envoy's default tcp_backlog_size: the kernel's net.core.somaxconn on Linux (the most listen(2)
 * takes anyway), 128 elsewhere. A short queue turns a burst of connects into handshakes the
 * kernel drops and later resets.
 */
function kernelListenBacklog(): number {
  if (somaxconn === undefined) {
    try {
      somaxconn = Number.parseInt(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'), 10) || 128;
    } catch {
      somaxconn = 128;
    }
  }
  return somaxconn;
}
