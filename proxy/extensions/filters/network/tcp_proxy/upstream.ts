// The one place tcp_proxy opens a connection to an upstream host: through the cluster's
// transport socket (raw TCP, or TLS when the cluster or its transport_socket_matches say so).
// Raw TCP stays a plain half-open socket, so each direction's FIN is passed on by itself.
import { connect, type Socket } from 'node:net';
import type { Cluster } from '../../../../core/upstream/cluster.js';
import type { Host } from '../../../../core/upstream/host.js';

export interface UpstreamConnection {
  /** The native stream tcp_proxy reads and writes (a TLSSocket over TLS). */
  readonly stream: Socket;
  /** Calls `fn` when bytes may flow: on TCP connect, or once the TLS handshake verified the peer. */
  onConnected(fn: () => void): void;
}

export function connectUpstream(host: Host, cluster: Cluster): UpstreamConnection {
  const d = host.description;
  const factory = cluster.info.transportSockets.factoryFor(d.transportSocketMatch, 'tcp');
  if (factory.transportProtocol === 'tls') return factory.connect(d.address, d.port, null);
  const stream = connect({ host: d.address, port: d.port, allowHalfOpen: true, noDelay: true });
  return { stream, onConnected: (fn) => stream.once('connect', fn) };
}
