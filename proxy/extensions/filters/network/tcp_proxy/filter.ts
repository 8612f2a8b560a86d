// One tcp_proxy connection (Envoy's TcpProxy::Filter): picks the cluster and a host, connects
// (again, up to max_connect_attempts, when a connect fails), then relays bytes both ways.
//
// Flow control: a write the peer's socket cannot take yet (above its high watermark) pauses the
// side that produced it until the peer drains, so neither direction ever buffers more than one
// read beyond the watermark. While connecting, downstream reading stops after the first read.
// Half-close: a FIN from one side ends the other side's write half; the connection is done when
// both sockets are closed. Then the access loggers get one line with the connection's facts.
// Node reads nothing from a paused socket, so a client that leaves while paused is noticed when
// reading resumes (its host drained) or at idle_timeout, not at once as Envoy's epoll would.
import { Socket } from 'node:net';
import type { TransportSocket } from '../../../../core/network/transport-socket.js';
import type { AccessLogger, DownstreamConnection, ListenerInfo } from '../../../../core/extension-points.js';
import { connectionStreamInfo, ResponseFlag, type StreamInfo } from '../../../../core/stream-info.js';
import type { ClusterManager } from '../../../../core/upstream/cluster-manager.js';
import type { Cluster } from '../../../../core/upstream/cluster.js';
import type { Host } from '../../../../core/upstream/host.js';
import { hashString } from '../../../../core/upstream/load-balancer.js';
import type { TcpProxyStats } from './stats.js';
import { connectUpstream } from './upstream.js';

/** What every connection of one tcp_proxy filter shares, built once by the factory. */
export interface TcpProxyConfig {
  readonly pickCluster: () => string;
  readonly clusterManager: ClusterManager;
  /** 0 disables it. */
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  /** `max_downstream_connection_duration`; 0 means none. */
  readonly maxConnectionDurationMs: number;
  /** `hash_policy: [{source_ip: {}}]`: the load balancer's hash key is the client's address. */
  readonly hashSourceIp: boolean;
  readonly stats: TcpProxyStats;
  readonly loggers: readonly AccessLogger[];
}

const ignoreError = (): void => {
  // 'close' follows every socket error; the close handlers do the bookkeeping.
};

export class TcpProxySession implements DownstreamConnection {
  readonly info: StreamInfo;
  readonly #config: TcpProxyConfig;
  readonly #downstream: Socket;
  #cluster: Cluster | null = null;
  #host: Host | null = null;
  #upstream: Socket | null = null;
  #attempts = 0;
  #connected = false;
  #connectTimedOut = false;
  #connectTimer: NodeJS.Timeout | null = null;
  #durationTimer: NodeJS.Timeout | null = null;
  /** Downstream bytes read while the upstream connection was being made. */
  #held: Buffer[] = [];
  #downstreamEnded = false;
  #downstreamClosed = false;
  /** No upstream socket is open (none yet, or the last one closed). */
  #upstreamClosed = true;
  /** Reading downstream is paused because the upstream socket is above its watermark. */
  #downstreamBlocked = false;
  /** Reading upstream is paused because the downstream socket is above its watermark. */
  #upstreamBlocked = false;
  /** The proxy closes both sides without flushing (idle timeout, duration limit, destroy). */
  #aborting = false;
  #flushing = false;
  #finished = false;

  readonly #onDownstreamData = (chunk: Buffer): void => {
    const n = chunk.length;
    this.#config.stats.downstream_cx_rx_bytes_total.add(n);
    this.info.bytesReceived += n;
    if (!this.#connected) {
      this.#held.push(chunk);
      this.#downstream.pause();
      return;
    }
    this.#cluster!.info.stats.upstream_cx_tx_bytes_total.add(n);
    if (!this.#upstream!.write(chunk)) this.#blockDownstream();
  };

  readonly #onUpstreamData = (chunk: Buffer): void => {
    const n = chunk.length;
    this.#cluster!.info.stats.upstream_cx_rx_bytes_total.add(n);
    if (this.#downstreamClosed) return;
    this.#config.stats.downstream_cx_tx_bytes_total.add(n);
    this.info.bytesSent += n;
    if (!this.#downstream.write(chunk) && !this.#upstreamBlocked) {
      this.#upstreamBlocked = true;
      this.#upstream!.pause();
    }
  };

  readonly #onUpstreamDrain = (): void => {
    if (!this.#downstreamBlocked) return;
    this.#downstreamBlocked = false;
    this.#config.stats.downstream_flow_control_resumed_reading_total.inc();
    this.#downstream.resume();
  };

  readonly #onDownstreamDrain = (): void => {
    if (!this.#upstreamBlocked) return;
    this.#upstreamBlocked = false;
    this.#upstream?.resume();
  };

  readonly #onDownstreamEnd = (): void => {
    this.#downstreamEnded = true;
    if (this.#connected && !this.#upstreamClosed) this.#upstream!.end();
  };

  readonly #onUpstreamEnd = (): void => {
    if (!this.#downstreamClosed) this.#downstream.end();
  };

  readonly #onUpstreamConnect = (): void => {
    clearTimeout(this.#connectTimer!);
    this.#connected = true;
    this.#cluster!.resilience?.outlier?.putResult(this.#host!, 'local_origin_connect_success');
    const up = this.#upstream!;
    let writable = true;
    for (const chunk of this.#held) {
      this.#cluster!.info.stats.upstream_cx_tx_bytes_total.add(chunk.length);
      writable = up.write(chunk);
    }
    this.#held = [];
    if (this.#downstreamEnded) up.end();
    if (!writable) this.#blockDownstream();
    else this.#downstream.resume();
    if (this.#config.idleTimeoutMs > 0) {
      // Every byte either way is a read or a write on the downstream socket, so its own
      // inactivity timer is exactly Envoy's idle timeout.
      this.#downstream.setTimeout(this.#config.idleTimeoutMs);
      this.#downstream.on('timeout', this.#onIdleTimeout);
    }
  };

  readonly #onConnectTimeout = (): void => {
    const cluster = this.#cluster!;
    cluster.info.stats.upstream_cx_connect_timeout.inc();
    cluster.resilience?.outlier?.putResult(this.#host!, 'local_origin_timeout');
    this.#connectTimedOut = true;
    this.#upstream!.destroy();
  };

  readonly #onIdleTimeout = (): void => {
    this.#config.stats.idle_timeout.inc();
    this.info.connectionTerminationDetails = 'idle_timeout';
    this.#abort();
  };

  readonly #onDurationLimit = (): void => {
    this.#config.stats.max_downstream_connection_duration.inc();
    this.info.connectionTerminationDetails = 'max_downstream_connection_duration';
    this.#abort();
  };

  readonly #onDownstreamClose = (): void => {
    this.#downstreamClosed = true;
    if (this.#durationTimer !== null) clearTimeout(this.#durationTimer);
    const up = this.#upstream;
    if (up !== null && !this.#upstreamClosed) {
      if (this.#connected && !this.#aborting && up.writableLength > 0) {
        // Envoy's upstream flush: what the client sent before closing still reaches the host.
        this.#flushing = true;
        this.#config.stats.upstream_flush_total.inc();
        this.#config.stats.upstream_flush_active.inc();
        if (!up.writableEnded) up.end();
        up.once('finish', () => up.destroy());
        if (this.#config.idleTimeoutMs > 0) up.setTimeout(this.#config.idleTimeoutMs, () => up.destroy());
      } else {
        up.destroy();
      }
    }
    this.#maybeFinish();
  };

  /** `connection`: the chain's transport socket (its StreamInfo is the connection's), or a bare socket. */
  constructor(config: TcpProxyConfig, connection: Socket | TransportSocket, listener: ListenerInfo) {
    const downstream = connection instanceof Socket ? connection : connection.stream;
    this.#config = config;
    this.#downstream = downstream;
    this.info = connectionStreamInfo(connection, listener.name);
    config.stats.downstream_cx_total.inc();
    downstream.on('data', this.#onDownstreamData);
    downstream.on('end', this.#onDownstreamEnd);
    downstream.on('drain', this.#onDownstreamDrain);
    downstream.on('close', this.#onDownstreamClose);
    downstream.on('error', ignoreError);
    if (config.maxConnectionDurationMs > 0)
      this.#durationTimer = setTimeout(this.#onDurationLimit, config.maxConnectionDurationMs);
    const name = config.pickCluster();
    this.info.upstreamCluster = name;
    const cluster = config.clusterManager.get(name);
    if (cluster === undefined) {
      config.stats.downstream_cx_no_route.inc();
      this.#refuse(ResponseFlag.NoClusterFound);
      return;
    }
    this.#cluster = cluster;
    if (connection instanceof Socket) this.#connect();
    // Over TLS the chain's read filters before this one (network rbac) decide once the handshake
    // names the peer; they registered first, so they have run when this does, and a connection
    // one refused is already destroyed: it never opens an upstream connection. Raw TCP is
    // connected at accept, so this runs at once.
    else connection.onConnected(this.#connectIfOpen);
  }

  readonly #connectIfOpen = (): void => {
    if (!this.#downstream.destroyed) this.#connect();
  };

  /** One connect attempt to a host the cluster's load balancer picks. */
  #connect(): void {
    const cluster = this.#cluster!;
    const clusterStats = cluster.info.stats;
    const resources = cluster.info.resources;
    if (resources.connections >= resources.maxConnections) {
      clusterStats.upstream_cx_overflow.inc();
      this.#refuse(ResponseFlag.UpstreamOverflow);
      return;
    }
    const host = cluster.chooseHost(this.#config.hashSourceIp ? hashString(this.info.downstreamRemoteAddress) : -1);
    if (host === null) {
      clusterStats.upstream_cx_none_healthy.inc();
      this.#refuse(ResponseFlag.NoHealthyUpstream);
      return;
    }
    this.#attempts++;
    this.info.attemptCount = this.#attempts;
    this.#host = host;
    this.info.upstreamHost = host.addressString;
    resources.connections++;
    clusterStats.upstream_cx_total.inc();
    clusterStats.upstream_cx_active.inc();
    host.stats.cx_total++;
    host.stats.cx_active++;
    this.#connectTimedOut = false;
    this.#upstreamClosed = false;
    const connection = connectUpstream(host, cluster);
    const up = connection.stream;
    this.#upstream = up;
    connection.onConnected(this.#onUpstreamConnect);
    up.on('data', this.#onUpstreamData);
    up.on('end', this.#onUpstreamEnd);
    up.on('drain', this.#onUpstreamDrain);
    up.on('error', ignoreError);
    up.once('close', () => this.#onUpstreamClose(host));
    this.#connectTimer = setTimeout(this.#onConnectTimeout, cluster.info.connectTimeoutMs);
  }

  #onUpstreamClose(host: Host): void {
    const cluster = this.#cluster!;
    const clusterStats = cluster.info.stats;
    cluster.info.resources.connections--;
    clusterStats.upstream_cx_active.dec();
    host.stats.cx_active--;
    this.#upstreamClosed = true;
    if (this.#flushing) {
      this.#flushing = false;
      this.#config.stats.upstream_flush_active.dec();
    }
    if (!this.#connected) {
      clearTimeout(this.#connectTimer!);
      // A connect the proxy cancelled because the client left is not the host's failure.
      const cancelled = this.#downstreamClosed && !this.#connectTimedOut;
      if (!cancelled) {
        clusterStats.upstream_cx_connect_fail.inc();
        host.stats.cx_connect_fail++;
        if (!this.#connectTimedOut) cluster.resilience?.outlier?.putResult(host, 'local_origin_connect_failed');
      }
      if (!this.#downstreamClosed) {
        if (this.#attempts < this.#config.maxConnectAttempts) {
          this.#connect();
          return;
        }
        clusterStats.upstream_cx_connect_attempts_exceeded.inc();
        this.#refuse(ResponseFlag.UpstreamConnectionFailure);
      }
    } else if (!this.#downstreamClosed) {
      // The host closed: what it sent still reaches the client, then the client is closed.
      const ds = this.#downstream;
      if (this.#aborting) ds.destroy();
      else if (ds.writableFinished) ds.destroy();
      else {
        if (!ds.writableEnded) ds.end();
        ds.once('finish', () => ds.destroy());
      }
    }
    this.#maybeFinish();
  }

  #blockDownstream(): void {
    if (this.#downstreamBlocked) return;
    this.#downstreamBlocked = true;
    this.#config.stats.downstream_flow_control_paused_reading_total.inc();
    this.#downstream.pause();
  }

  /** Closes the client without reaching a host (no cluster, overflow, no healthy host, connect failure). */
  #refuse(flag: number): void {
    this.info.setResponseFlag(flag);
    this.#downstream.destroy();
  }

  /** Closes both sides at once, dropping what is buffered. */
  #abort(): void {
    this.#aborting = true;
    this.#downstream.destroy();
    this.#upstream?.destroy();
  }

  #maybeFinish(): void {
    if (this.#finished || !this.#downstreamClosed || !this.#upstreamClosed) return;
    this.#finished = true;
    const info = this.info;
    info.durationMs = info.elapsedMs();
    for (const logger of this.#config.loggers) logger.log(info);
  }

  drain(): void {
    // A TCP connection has no request boundary to stop at: it lives until a side closes it,
    // or until the listener's drain wait ends and destroy() is called.
  }

  destroy(): void {
    this.#abort();
  }

  onClose(fn: () => void): void {
    if (this.#downstream.destroyed) fn();
    else this.#downstream.once('close', fn);
  }
}

/**
 * A connection a filter before tcp_proxy refused (network rbac): never relayed, but logged once
 * it closes, as Envoy's tcp_proxy (created for every connection of its chain) logs it, with the
 * cluster it would have used and the refusing filter's CONNECTION_TERMINATION_DETAILS.
 */
export function logRefusedConnection(
  config: TcpProxyConfig,
  connection: TransportSocket,
  listener: ListenerInfo,
): void {
  if (config.loggers.length === 0) return;
  const info = connectionStreamInfo(connection, listener.name);
  info.upstreamCluster = config.pickCluster();
  const log = (): void => {
    info.durationMs = info.elapsedMs();
    for (const logger of config.loggers) logger.log(info);
  };
  if (connection.stream.destroyed) queueMicrotask(log);
  else connection.stream.once('close', log);
}
