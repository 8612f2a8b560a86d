// A listener's filter chain as built for one worker: its network filters in config order, the
// non-terminal ones first and the terminal one (the HCM, direct_response) last. The chain's
// `filter_chain_match` lives in the listener's FilterChainMatcher, not here.
import type { Socket } from 'node:net';
import type {
  AccessLogger,
  DownstreamConnection,
  ListenerInfo,
  NetworkFilter,
  NetworkReadFilter,
} from '../extension-points.js';
import { connectionStreamInfo } from '../stream-info.js';
import type { DownstreamTransportSocketFactory } from '../network/transport-socket.js';
import { rawBufferDownstreamFactory } from '../network/raw-buffer-socket.js';

export class FilterChain {
  /** `name` from the config, or `filter_chains[i]` / `default_filter_chain`. */
  readonly name: string;
  readonly readFilters: readonly NetworkReadFilter[];
  readonly terminal: NetworkFilter;
  /** The chain's `transport_socket`: raw TCP, or TLS. */
  readonly transportSocketFactory: DownstreamTransportSocketFactory;

  /** The listener's `access_log`: a line per connection of the chain when it closes. */
  readonly #accessLoggers: readonly AccessLogger[];

  constructor(
    name: string,
    readFilters: readonly NetworkReadFilter[],
    terminal: NetworkFilter,
    transportSocketFactory: DownstreamTransportSocketFactory = rawBufferDownstreamFactory,
    accessLoggers: readonly AccessLogger[] = [],
  ) {
    this.name = name;
    this.readFilters = readFilters;
    this.terminal = terminal;
    this.transportSocketFactory = transportSocketFactory;
    this.#accessLoggers = accessLoggers;
  }

  /**
   * Runs a new connection through the chain's network filters in order. The handoff to the
   * terminal filter is the seam between the listener and the HTTP connection manager.
   */
  newConnection(socket: Socket, listener: ListenerInfo): DownstreamConnection {
    const transport = this.transportSocketFactory.createTransportSocket(socket);
    if (this.#accessLoggers.length > 0) {
      // The connection's own StreamInfo, which its filters (rbac, tcp_proxy) write into.
      const info = connectionStreamInfo(transport, listener.name);
      const loggers = this.#accessLoggers;
      transport.stream.once('close', () => {
        info.durationMs = info.elapsedMs();
        info.downstreamTransportFailureReason = transport.failureReason ?? null;
        for (const l of loggers) l.log(info);
      });
    }
    for (const filter of this.readFilters) {
      if (filter.onNewConnection(transport, listener) === 'stop') {
        this.terminal.onRefusedConnection?.(transport, listener);
        return new RefusedConnection(transport.stream);
      }
    }
    return this.terminal.onNewConnection(transport, listener);
  }
}

/** A connection a non-terminal filter stopped: the filter closes it; the listener still tracks it until then. */
class RefusedConnection implements DownstreamConnection {
  readonly #socket: Socket;
  constructor(socket: Socket) {
    this.#socket = socket;
  }
  drain(): void {
    this.#socket.destroy();
  }
  destroy(): void {
    this.#socket.destroy();
  }
  onClose(fn: () => void): void {
    if (this.#socket.destroyed) fn();
    else this.#socket.once('close', fn);
  }
}
