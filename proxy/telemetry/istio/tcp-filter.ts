// `istio.stats` as a network filter, placed before tcp_proxy in a TCP filter chain as Istio
// does: reports each connection's Istio TCP metrics every `tcp_reporting_duration` while it
// lives and once more when it closes (opened on the first report, closed on the last). Labels
// are computed at report time from the connection's StreamInfo, which tcp_proxy fills in
// (cluster, response flags); bytes are the downstream socket's, read as deltas.
import type { Socket } from 'node:net';
import { registries, type NetworkFilterContext, type NetworkReadFilter } from '../../core/extension-points.js';
import { defineExtension } from '../../core/registry.js';
import { connectionStreamInfo, type StreamInfo } from '../../core/stream-info.js';
import { durationMs } from '../../api/duration.js';
import { configSchema, TYPE_URL } from './filter.js';
import type { Reporter } from './metrics.js';
import { localIdentity } from './peer-metadata.js';
import { IstioTcpMetrics } from './tcp-metrics.js';
import { connectionSecurity } from './connection-security.js';

/** Istio's default `tcp_reporting_duration`. */
const DEFAULT_TCP_REPORTING_MS = 15_000;

class TcpConnectionReporter {
  readonly #metrics: IstioTcpMetrics;
  readonly #socket: Socket;
  readonly #info: StreamInfo;
  #sent = 0;
  #received = 0;
  #opened = false;
  readonly #timer: NodeJS.Timeout;

  constructor(metrics: IstioTcpMetrics, socket: Socket, info: StreamInfo, intervalMs: number) {
    this.#metrics = metrics;
    this.#socket = socket;
    this.#info = info;
    this.#timer = setInterval(() => this.#report(false), intervalMs);
    this.#timer.unref();
    socket.once('close', () => {
      clearInterval(this.#timer);
      this.#report(true);
    });
  }

  #report(final: boolean): void {
    const h = this.#metrics.handles(
      this.#info.upstreamCluster ?? '',
      this.#info.responseFlags,
      connectionSecurity(this.#metrics.reporter, this.#info),
    );
    const sent = this.#socket.bytesWritten;
    const received = this.#socket.bytesRead;
    if (h === null) return;
    if (!this.#opened) {
      this.#opened = true;
      h.opened.inc();
    }
    if (sent > this.#sent) h.sent.add(sent - this.#sent);
    if (received > this.#received) h.received.add(received - this.#received);
    this.#sent = sent;
    this.#received = received;
    if (final) h.closed.inc();
  }
}

registries.networkFilters.register(
  defineExtension({
    name: 'istio.stats',
    typeUrls: [TYPE_URL],
    configSchema,
    terminal: false,
    create(config, context: NetworkFilterContext): NetworkReadFilter {
      const direction = context.trafficDirection ?? 'UNSPECIFIED';
      const reporter: Reporter =
        direction === 'INBOUND' || config.reporter === 'SERVER_GATEWAY' ? 'destination' : 'source';
      const metrics = new IstioTcpMetrics(context.stats, reporter, localIdentity(context.node));
      const configured = durationMs(config.tcp_reporting_duration, DEFAULT_TCP_REPORTING_MS);
      const intervalMs = configured > 0 ? configured : DEFAULT_TCP_REPORTING_MS;
      return {
        terminal: false,
        onNewConnection(transport, listener) {
          new TcpConnectionReporter(
            metrics,
            transport.stream,
            connectionStreamInfo(transport, listener.name),
            intervalMs,
          );
          return 'continue';
        },
      };
    },
  }),
);
