// HTTP/1.1 upstream connection pool, one per host per worker: a connection carries one stream
// at a time, idle keep-alive connections are reused LIFO (warm sockets first), pending streams
// wait in a bounded FIFO, and the cluster's circuit-breaker limits (max_connections /
// max_pending_requests / max_requests) bound everything; overflow is counted
// (upstream_cx_overflow, upstream_rq_pending_overflow). Connections are opened through the
// cluster's transport socket and framed by the HTTP/1.1 client codec; the pool touches neither
// sockets nor bytes.
import { Http1ClientConnection } from '../http/codec/http1/client-connection.js';
import type { ClientConnectionCallbacks, ResponseDecoder } from '../http/codec/types.js';
import type { UpstreamTransportSocketFactory } from '../network/transport-socket.js';
import { rawBufferUpstreamFactory } from '../network/raw-buffer-socket.js';
import {
  armConnectTimeout,
  type Cancellable,
  connectionClosed,
  connectionOpening,
  type ConnectionPool,
  type PoolCallbacks,
  type PoolClusterInfo,
} from './conn-pool.js';
import type { Host } from './host.js';
import { PendingQueue } from './pending-queue.js';

/** One connection of the pool (Envoy's ActiveClient): its codec and what the pool tracks about it. */
class ActiveClient implements ClientConnectionCallbacks {
  readonly codec: Http1ClientConnection;
  readonly #pool: Http1ConnPool;
  /** The transport connected (failed connects are the pool's business, not a reset). */
  connected = false;
  /** Streams this connection carried (max_requests_per_connection). */
  streams = 0;
  /** Armed until the transport connects (the cluster's connect_timeout). */
  connectTimer: NodeJS.Timeout | null = null;

  constructor(pool: Http1ConnPool, factory: UpstreamTransportSocketFactory) {
    this.#pool = pool;
    const host = pool.host.description;
    let codec: Http1ClientConnection | null = null;
    const transport = factory.connect(host.address, host.port, (data) => codec?.onRead(data));
    codec = new Http1ClientConnection(transport, this, pool.cluster.http1EnableTrailers === true);
    this.codec = codec;
  }

  onStreamComplete(): void {
    const limit = this.#pool.cluster.maxRequestsPerConnection;
    if (!this.codec.reusable || (limit > 0 && this.streams >= limit)) {
      this.codec.destroy();
      return;
    }
    this.#pool.onRelease(this);
  }

  onConnectionClose(): void {
    this.#pool.onClose(this);
  }

  onProtocolError(): void {
    this.#pool.cluster.stats.upstream_cx_protocol_error.inc();
  }
}

export class Http1ConnPool implements ConnectionPool {
  readonly protocol = 'HTTP/1.1' as const;
  readonly host: Host;
  readonly cluster: PoolClusterInfo;
  readonly #transportFactory: UpstreamTransportSocketFactory;
  readonly #idle: ActiveClient[] = [];
  readonly #pending: PendingQueue;
  #connecting = 0;
  #draining = false;
  readonly #all = new Set<ActiveClient>();

  constructor(
    host: Host,
    cluster: PoolClusterInfo,
    transportFactory: UpstreamTransportSocketFactory = rawBufferUpstreamFactory,
  ) {
    this.host = host;
    this.cluster = cluster;
    this.#transportFactory = transportFactory;
    this.#pending = new PendingQueue(cluster);
  }

  /**
   * A stream for one request: synchronously when an idle connection exists, else after a
   * connect. Returns a cancel function while the stream waits, or null when settled already.
   */
  newStream(decoder: ResponseDecoder, cb: PoolCallbacks): Cancellable | null {
    const resources = this.cluster.resources;
    const idle = this.#idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (this.cluster.idleTimeoutMs > 0) c.codec.setIdleTimeout(0);
      if (!c.codec.destroyed) {
        c.streams++;
        cb.onPoolReady(c.codec.newStream(decoder));
        return null;
      }
    }
    if (resources.pendingRequests >= resources.maxPendingRequests) {
      this.cluster.stats.upstream_rq_pending_overflow.inc();
      cb.onPoolFailure('overflow');
      return null;
    }
    if (resources.connections >= resources.maxConnections && this.#all.size > 0) {
      // At the connection limit: wait for a connection of this host to free up.
      this.cluster.stats.upstream_cx_overflow.inc();
    } else if (resources.connections >= resources.maxConnections) {
      this.cluster.stats.upstream_cx_overflow.inc();
      cb.onPoolFailure('overflow');
      return null;
    }
    const cancel = this.#pending.push(decoder, cb);
    if (this.#connecting < this.#pending.size && resources.connections < resources.maxConnections) this.#connect();
    return cancel;
  }

  #connect(): void {
    const cluster = this.cluster;
    this.#connecting++;
    connectionOpening(cluster, this.host);
    const client = new ActiveClient(this, this.#transportFactory);
    this.#all.add(client);
    client.connectTimer = armConnectTimeout(
      client,
      cluster.connectTimeoutMs,
      cluster.stats.upstream_cx_connect_timeout,
    );
    client.codec.transport.onConnected(() => {
      client.connected = true;
      clearTimeout(client.connectTimer!);
      client.connectTimer = null;
      this.#connecting--;
      this.#assign(client);
    });
  }

  /** A connect that failed (closed before connecting, or timed out). */
  #onConnectFailure(client: ActiveClient): void {
    clearTimeout(client.connectTimer!);
    client.connectTimer = null;
    this.#connecting--;
    // Requests beyond what the remaining connection attempts can serve fail now (Envoy's UF).
    while (this.#pending.size > this.#connecting) {
      const p = this.#pending.shift();
      if (p === null) break;
      p.callbacks.onPoolFailure('connection_failure', client.codec.transport.failureReason);
    }
  }

  #assign(client: ActiveClient): void {
    const p = this.#pending.shift();
    if (p === null) {
      if (this.#draining) client.codec.destroy();
      else {
        this.#idle.push(client);
        if (this.cluster.idleTimeoutMs > 0) client.codec.setIdleTimeout(this.cluster.idleTimeoutMs);
      }
      return;
    }
    client.streams++;
    p.callbacks.onPoolReady(client.codec.newStream(p.decoder));
  }

  onRelease(client: ActiveClient): void {
    this.#assign(client);
  }

  onClose(client: ActiveClient): void {
    this.#all.delete(client);
    const i = this.#idle.indexOf(client);
    if (i !== -1) this.#idle.splice(i, 1);
    connectionClosed(this.cluster, this.host, client.connected);
    if (client.connected && this.#pending.size > this.#connecting && !this.#draining) this.#connect();
    if (!client.connected) this.#onConnectFailure(client);
  }

  drain(): void {
    this.#draining = true;
    for (const c of this.#idle.splice(0)) c.codec.destroy();
  }

  destroy(): void {
    this.#draining = true;
    for (const c of [...this.#all]) c.codec.destroy();
  }
}
