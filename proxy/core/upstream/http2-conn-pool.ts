// HTTP/2 upstream connection pool, one per host per worker (Envoy's Http2::ConnPoolImpl):
// streams are multiplexed over as few connections as the peer's concurrent-stream limit allows;
// a new connection opens only when every open one is full. Pending streams wait in a bounded
// FIFO; the cluster's circuit breakers (max_connections, max_pending_requests) and
// max_requests_per_connection bound everything, as for HTTP/1.1. Connections are opened through
// the cluster's transport socket and framed by the HTTP/2 client codec.
import type {
  Http2ClientSettings,
  Http2PoolConnection,
  Http2PoolConnectionClass,
} from '../http/codec/http2/client-settings.js';
import { type Http2CodecKind, http2CodecKind } from '../http/codec/http2/codec-flag.js';
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

/**
 * The two HTTP/2 client codecs, each imported by the first pool that wants it (built with its
 * cluster's configuration, so before any request): ours (framed-client-connection.ts), or
 * node:http2's, which brings node:http2 and node:tls, about 5 MB of RSS that a proxy with
 * only HTTP/1.1 upstreams, or only our codec, never needs.
 */
const codecs: { own: Http2PoolConnectionClass | null; nghttp2: Http2PoolConnectionClass | null } = {
  own: null,
  nghttp2: null,
};
const loading: { own: Promise<unknown> | null; nghttp2: Promise<unknown> | null } = { own: null, nghttp2: null };

function loadCodec(kind: Http2CodecKind): Promise<unknown> {
  if (kind === 'own') {
    loading.own ??= import('../http/codec/http2/framed-client-connection.js').then((m) => {
      codecs.own = m.FramedHttp2ClientConnection;
    });
    return loading.own;
  }
  loading.nghttp2 ??= import('../http/codec/http2/client-connection.js').then((m) => {
    codecs.nghttp2 = m.Http2ClientConnection;
  });
  return loading.nghttp2;
}

/** One connection of the pool and the streams it carried. */
class ActiveClient implements ClientConnectionCallbacks {
  readonly codec: Http2PoolConnection;
  readonly #pool: Http2ConnPool;
  connected = false;
  /** Streams this connection carried (max_requests_per_connection). */
  streams = 0;
  connectTimer: NodeJS.Timeout | null = null;
  /** Armed while the connection carries no stream (the cluster's idle_timeout). */
  idleTimer: NodeJS.Timeout | null = null;

  constructor(
    pool: Http2ConnPool,
    Codec: Http2PoolConnectionClass,
    factory: UpstreamTransportSocketFactory,
    settings: Http2ClientSettings,
  ) {
    this.#pool = pool;
    const host = pool.host.description;
    // Both codecs read the socket themselves: no per-read callback.
    const transport = factory.connect(host.address, host.port, null);
    this.codec = new Codec(transport, this, settings);
  }

  onStreamComplete(): void {
    this.#pool.onStreamComplete(this);
  }

  onConnectionClose(): void {
    this.#pool.onClose(this);
  }

  onProtocolError(): void {
    this.#pool.cluster.stats.upstream_cx_protocol_error.inc();
  }
}

export class Http2ConnPool implements ConnectionPool {
  readonly protocol = 'HTTP/2' as const;
  readonly host: Host;
  readonly cluster: PoolClusterInfo;
  readonly #settings: Http2ClientSettings;
  readonly #transportFactory: UpstreamTransportSocketFactory;
  readonly #clients = new Set<ActiveClient>();
  /** Bounded by the cluster's max_pending_requests. */
  readonly #pending: PendingQueue;
  #draining = false;
  #awaitingCodec = false;

  constructor(
    host: Host,
    cluster: PoolClusterInfo,
    settings: Http2ClientSettings,
    transportFactory: UpstreamTransportSocketFactory = rawBufferUpstreamFactory,
  ) {
    this.host = host;
    this.cluster = cluster;
    this.#settings = settings;
    this.#transportFactory = transportFactory;
    this.#pending = new PendingQueue(cluster);
    // Loads the codec now, before any request.
    this.#codec();
  }

  /**
   * The codec a new connection gets, null while it loads (at first, or after a runtime change to
   * the other one); streams asked for meanwhile wait as pending ones and connect once it is in.
   */
  #codec(): Http2PoolConnectionClass | null {
    const kind = http2CodecKind(this.#settings.runtime);
    const codec = codecs[kind];
    if (codec === null && !this.#awaitingCodec) {
      this.#awaitingCodec = true;
      loadCodec(kind).then(() => {
        this.#awaitingCodec = false;
        if (!this.#draining) this.#assignPending();
      });
    }
    return codec;
  }

  newStream(decoder: ResponseDecoder, cb: PoolCallbacks): Cancellable | null {
    for (const c of this.#clients) {
      if (c.connected && this.#usable(c)) {
        this.#attach(c, decoder, cb);
        return null;
      }
    }
    const resources = this.cluster.resources;
    const stats = this.cluster.stats;
    if (resources.pendingRequests >= resources.maxPendingRequests) {
      stats.upstream_rq_pending_overflow.inc();
      cb.onPoolFailure('overflow');
      return null;
    }
    // A connection still connecting takes as many streams as the peer will likely allow.
    let room = 0;
    for (const c of this.#clients) if (!c.connected) room += c.codec.maxConcurrentStreams;
    // While the codec is still loading (see the constructor) the stream waits with the pending ones.
    const codec = this.#codec();
    if (codec !== null && room <= this.#pending.size) {
      if (resources.connections < resources.maxConnections) this.#connect(codec);
      else if (this.#clients.size === 0) {
        stats.upstream_cx_overflow.inc();
        cb.onPoolFailure('overflow');
        return null;
      } else stats.upstream_cx_overflow.inc();
    }
    return this.#pending.push(decoder, cb);
  }

  #usable(c: ActiveClient): boolean {
    const limit = this.cluster.maxRequestsPerConnection;
    return c.codec.hasCapacity && (limit === 0 || c.streams < limit);
  }

  #attach(c: ActiveClient, decoder: ResponseDecoder, cb: PoolCallbacks): void {
    if (c.idleTimer !== null) {
      clearTimeout(c.idleTimer);
      c.idleTimer = null;
    }
    c.streams++;
    const limit = this.cluster.maxRequestsPerConnection;
    // Its last stream: no other starts on it, and it closes (GOAWAY) once the streams finish.
    if (limit > 0 && c.streams >= limit) c.codec.goingAway = true;
    cb.onPoolReady(c.codec.newStream(decoder));
  }

  #connect(Codec: Http2PoolConnectionClass): void {
    const cluster = this.cluster;
    connectionOpening(cluster, this.host);
    const client = new ActiveClient(this, Codec, this.#transportFactory, this.#settings);
    this.#clients.add(client);
    client.connectTimer = armConnectTimeout(
      client,
      cluster.connectTimeoutMs,
      cluster.stats.upstream_cx_connect_timeout,
    );
    client.codec.transport.onConnected(() => {
      client.connected = true;
      clearTimeout(client.connectTimer!);
      client.connectTimer = null;
      this.#assignPending();
      if (client.codec.activeStreams === 0) this.#armIdleTimer(client);
    });
  }

  /** An idle connection closes after the cluster's idle_timeout (GOAWAY), unless a stream comes first. */
  #armIdleTimer(client: ActiveClient): void {
    const ms = this.cluster.idleTimeoutMs;
    if (ms <= 0 || client.idleTimer !== null) return;
    client.idleTimer = setTimeout(() => {
      client.idleTimer = null;
      if (client.codec.activeStreams === 0) client.codec.close();
    }, ms);
    client.idleTimer.unref();
  }

  #assignPending(): void {
    const resources = this.cluster.resources;
    for (const c of this.#clients) {
      while (this.#pending.size > 0 && c.connected && this.#usable(c)) {
        const p = this.#pending.shift()!;
        this.#attach(c, p.decoder, p.callbacks);
      }
    }
    // Full connections and streams still waiting: open another if the breakers allow.
    const codec = this.#pending.size > 0 && !this.#draining ? this.#codec() : null;
    if (codec !== null) {
      let room = 0;
      for (const c of this.#clients) if (!c.connected) room += c.codec.maxConcurrentStreams;
      if (room < this.#pending.size && resources.connections < resources.maxConnections) this.#connect(codec);
    }
  }

  onStreamComplete(client: ActiveClient): void {
    if (client.codec.activeStreams === 0 && (client.codec.goingAway || this.#draining)) {
      client.codec.close();
      return;
    }
    this.#assignPending();
    if (client.codec.activeStreams === 0) this.#armIdleTimer(client);
  }

  onClose(client: ActiveClient): void {
    this.#clients.delete(client);
    connectionClosed(this.cluster, this.host, client.connected);
    if (client.connectTimer !== null) {
      clearTimeout(client.connectTimer);
      client.connectTimer = null;
    }
    if (client.idleTimer !== null) {
      clearTimeout(client.idleTimer);
      client.idleTimer = null;
    }
    if (!client.connected) {
      // Streams no remaining connection attempt can carry fail now (Envoy's UF).
      let room = 0;
      for (const c of this.#clients) room += c.connected ? 0 : c.codec.maxConcurrentStreams;
      while (this.#pending.size > room) {
        const p = this.#pending.pop()!;
        p.callbacks.onPoolFailure('connection_failure', client.codec.transport.failureReason);
      }
      return;
    }
    if (!this.#draining) this.#assignPending();
  }

  drain(): void {
    this.#draining = true;
    for (const c of this.#clients) if (c.codec.activeStreams === 0) c.codec.close();
  }

  destroy(): void {
    this.#draining = true;
    for (const c of [...this.#clients]) c.codec.destroy();
  }
}
