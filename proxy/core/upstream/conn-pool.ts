// HTTP/1.1 upstream connection pool, one per host per worker: idle keep-alive connections are
// reused LIFO (warm sockets first), pending requests wait in a bounded FIFO, and the cluster's
// circuit-breaker limits (max_connections / max_pending_requests / max_requests) bound
// everything; overflow is counted (upstream_cx_overflow, upstream_rq_pending_overflow).
import { Http1Parser, type CodecError, type MessageHead, type ParserHandler } from '../http/codec/http1/parser.js';
import { DeferredWriter } from '../http/deferred-writer.js';
import type { Host } from './host.js';
import type { ClusterInfo } from './cluster.js';
import type { NativeStream, TransportSocket } from '../network/transport-socket.js';
import { rawBufferUpstreamFactory } from '../network/raw-buffer-socket.js';

export type PoolFailureReason = 'overflow' | 'connection_failure' | 'timeout';

export interface PoolCallbacks {
  onPoolReady(connection: UpstreamConnection): void;
  onPoolFailure(reason: PoolFailureReason): void;
}

/** Receives one response; the router's upstream request implements it. */
export interface UpstreamResponseHandler {
  onUpstreamInformational(head: MessageHead): void;
  onUpstreamHeaders(head: MessageHead): void;
  onUpstreamData(data: Buffer): void;
  onUpstreamComplete(): void;
  /** The connection failed mid-request: closed early, reset, or sent a malformed response. */
  onUpstreamReset(protocolError: boolean): void;
  /** The upstream socket's write buffer drained (flow control). */
  onUpstreamDrain(): void;
}

const PARSER_LIMITS = { maxHeaderBytes: 96 * 1024, maxHeaders: 200 };

export class UpstreamConnection implements ParserHandler {
  readonly transport: TransportSocket;
  readonly socket: NativeStream;
  readonly parser: Http1Parser;
  readonly #pool: Http1ConnPool;
  handler: UpstreamResponseHandler | null = null;
  #requestDone = false;
  #responseDone = false;
  #closed = false;
  #requests = 0;
  /** Writes of one event-loop turn (typically the whole request head) leave in one syscall (see DeferredWriter). */
  readonly #writer: DeferredWriter;
  /** Upgraded (WebSocket): the socket is a raw tunnel now and never returns to the pool. */
  tunneled = false;
  /** The TCP connect completed (failed connects are the pool's business, not a reset). */
  connected = false;

  /** Connects to `host` through the cluster's transport socket; reads go to `onRead`. */
  static connect(host: Host, pool: Http1ConnPool): UpstreamConnection {
    let conn: UpstreamConnection | null = null;
    const transport = rawBufferUpstreamFactory.connect(host.description.address, host.description.port, (data) =>
      conn?.onRead(data),
    );
    conn = new UpstreamConnection(transport, pool);
    return conn;
  }

  private constructor(transport: TransportSocket, pool: Http1ConnPool) {
    const socket = transport.stream;
    this.transport = transport;
    this.socket = socket;
    this.#pool = pool;
    this.parser = new Http1Parser(false, this, PARSER_LIMITS);
    this.#writer = new DeferredWriter(socket);
    socket.on('drain', () => this.handler?.onUpstreamDrain());
    // Only armed while the connection sits idle in the pool (cluster idle_timeout).
    socket.on('timeout', () => socket.destroy());
    socket.on('close', () => this.#onClose());
    socket.on('error', () => {
      // 'close' follows and carries the consequence.
    });
    socket.on('end', () => {
      if (this.parser.finishOnClose()) return;
      socket.destroy();
    });
  }

  /** `data` views the transport's shared read buffer (valid during this call only). */
  onRead(data: Buffer): void {
    // Bytes while no request is bound (the connection idles in the pool) belong to no
    // stream: an unsolicited or premature response. The connection cannot be trusted any
    // more and is closed, as Envoy does; it must never be released to the pool twice.
    if (this.handler === null && !this.tunneled) {
      this.socket.destroy();
      return;
    }
    this.parser.execute(data);
  }

  get host(): Host {
    return this.#pool.host;
  }

  /** Binds the next request; the caller writes the head with write(). */
  attach(handler: UpstreamResponseHandler, headRequest: boolean): void {
    this.handler = handler;
    this.#requestDone = false;
    this.#responseDone = false;
    this.parser.expectNoBody = headRequest;
    this.#requests++;
  }

  write(data: Buffer | string): boolean {
    // A tunnel's bytes are never held back: its end() comes from the router directly on the socket.
    return this.#writer.write(data, !this.tunneled);
  }

  /** The whole request (head and body) was written. */
  requestComplete(): void {
    this.#requestDone = true;
    if (this.#responseDone) this.#release();
  }

  /** The router gives up on this request (timeout, downstream reset): the socket is not reusable. */
  abandon(): void {
    this.handler = null;
    this.socket.destroy();
  }

  onHead(head: MessageHead): void {
    if (head.status === 101) {
      this.tunneled = true;
      this.parser.setRaw();
    }
    this.handler?.onUpstreamHeaders(head);
  }

  onInformational(head: MessageHead): void {
    this.handler?.onUpstreamInformational(head);
  }

  onBody(data: Buffer): void {
    // `data` views the shared read buffer; whoever forwards it may hold it past this read.
    this.handler?.onUpstreamData(Buffer.from(data));
  }

  onMessageComplete(): boolean {
    const h = this.handler;
    if (h === null) {
      // A further response in the same read as the previous one, with no request for it.
      this.socket.destroy();
      return false;
    }
    this.#responseDone = true;
    if (this.#requestDone) this.#release();
    h.onUpstreamComplete();
    return true;
  }

  onError(_error: CodecError): void {
    const h = this.handler;
    this.handler = null;
    this.socket.destroy();
    h?.onUpstreamReset(true);
  }

  #release(): void {
    this.handler = null;
    const limit = this.#pool.cluster.maxRequestsPerConnection;
    if (this.parser.lastMessage || this.tunneled || this.#closed || (limit > 0 && this.#requests >= limit)) {
      this.socket.destroy();
      return;
    }
    this.#pool.onRelease(this);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.onClose(this);
    const h = this.handler;
    this.handler = null;
    if (h !== null) {
      if (this.tunneled) h.onUpstreamComplete();
      else if (!this.#responseDone) h.onUpstreamReset(false);
    }
  }
}

/** FIFO of waiting requests without shifting arrays. */
class PendingQueue {
  #items: Array<PoolCallbacks | null> = [];
  #head = 0;
  size = 0;

  push(cb: PoolCallbacks): void {
    this.#items.push(cb);
    this.size++;
  }

  shift(): PoolCallbacks | null {
    while (this.#head < this.#items.length) {
      const cb = this.#items[this.#head]!;
      this.#items[this.#head++] = null;
      if (this.#head > 64 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      if (cb !== null) {
        this.size--;
        return cb;
      }
    }
    return null;
  }

  remove(cb: PoolCallbacks): boolean {
    const i = this.#items.indexOf(cb, this.#head);
    if (i === -1) return false;
    this.#items[i] = null;
    this.size--;
    return true;
  }
}

export class Http1ConnPool {
  readonly host: Host;
  readonly cluster: ClusterInfo;
  readonly #idle: UpstreamConnection[] = [];
  readonly #pending = new PendingQueue();
  #connecting = 0;
  #draining = false;
  readonly #all = new Set<UpstreamConnection>();

  constructor(host: Host, cluster: ClusterInfo) {
    this.host = host;
    this.cluster = cluster;
  }

  /**
   * Gets a connection for one request: synchronously when an idle one exists, else after a
   * connect. Returns a cancel function while the request waits, or null when settled already.
   */
  newStream(cb: PoolCallbacks): (() => void) | null {
    const resources = this.cluster.resources;
    const idle = this.#idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (this.cluster.idleTimeoutMs > 0) c.socket.setTimeout(0);
      if (!c.socket.destroyed) {
        cb.onPoolReady(c);
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
    this.#pending.push(cb);
    resources.pendingRequests++;
    this.cluster.stats.upstream_rq_pending_active.inc();
    this.cluster.stats.upstream_rq_pending_total.inc();
    if (this.#connecting < this.#pending.size && resources.connections < resources.maxConnections) this.#connect();
    return () => {
      if (this.#pending.remove(cb)) {
        resources.pendingRequests--;
        this.cluster.stats.upstream_rq_pending_active.dec();
      }
    };
  }

  #connect(): void {
    const cluster = this.cluster;
    const host = this.host;
    this.#connecting++;
    cluster.resources.connections++;
    cluster.stats.upstream_cx_total.inc();
    cluster.stats.upstream_cx_active.inc();
    host.stats.cx_total++;
    host.stats.cx_active++;
    const conn = UpstreamConnection.connect(host, this);
    const socket = conn.socket;
    this.#all.add(conn);
    let connected = false;
    const timer = setTimeout(() => {
      cluster.stats.upstream_cx_connect_timeout.inc();
      socket.destroy();
    }, cluster.connectTimeoutMs);
    conn.transport.onConnected(() => {
      connected = true;
      conn.connected = true;
      clearTimeout(timer);
      this.#connecting--;
      this.#assign(conn);
    });
    socket.once('close', () => {
      if (connected) return;
      clearTimeout(timer);
      this.#connecting--;
      cluster.stats.upstream_cx_connect_fail.inc();
      host.stats.cx_connect_fail++;
      // Requests beyond what the remaining connection attempts can serve fail now (Envoy's UF).
      while (this.#pending.size > this.#connecting) {
        const cb = this.#pending.shift();
        if (cb === null) break;
        cluster.resources.pendingRequests--;
        cluster.stats.upstream_rq_pending_active.dec();
        cb.onPoolFailure('connection_failure');
      }
    });
  }

  #assign(conn: UpstreamConnection): void {
    const cb = this.#pending.shift();
    if (cb === null) {
      if (this.#draining) conn.socket.destroy();
      else {
        this.#idle.push(conn);
        if (this.cluster.idleTimeoutMs > 0) conn.socket.setTimeout(this.cluster.idleTimeoutMs);
      }
      return;
    }
    this.cluster.resources.pendingRequests--;
    this.cluster.stats.upstream_rq_pending_active.dec();
    cb.onPoolReady(conn);
  }

  onRelease(conn: UpstreamConnection): void {
    this.#assign(conn);
  }

  onClose(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    this.cluster.resources.connections--;
    this.cluster.stats.upstream_cx_active.dec();
    this.host.stats.cx_active--;
    if (conn.connected && this.#pending.size > this.#connecting && !this.#draining) this.#connect();
  }

  /** Closes idle connections now and busy ones as they finish (host removed, shutdown). */
  drain(): void {
    this.#draining = true;
    for (const c of this.#idle.splice(0)) c.socket.destroy();
  }

  /** Closes everything now. */
  destroy(): void {
    this.#draining = true;
    for (const c of [...this.#all]) c.socket.destroy();
  }
}
