// The one place tcp_proxy opens a connection to an upstream host: a raw TCP socket today, the
// cluster's upstream transport socket (proxy/core/network/transport-socket.ts) once clusters
// carry one. Half-open, so each direction's FIN is passed on by itself.
import { connect, type Socket } from 'node:net';
import type { Host } from '../../../../core/upstream/host.js';

export function connectUpstream(host: Host): Socket {
  return connect({
    host: host.description.address,
    port: host.description.port,
    allowHalfOpen: true,
    noDelay: true,
  });
}
