// What the HTTP/2 connection pool needs of an upstream HTTP/2 codec, whichever frames it: node:http2's
// (client-connection.ts) or our own (framed-client-connection.ts), chosen per connection by
// Envoy's runtime key envoy.reloadable_features.http2_use_oghttp2 as on the server side.
import type { Runtime } from '../../../../runtime/index.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import type { ClientConnection, ClientConnectionCallbacks } from '../types.js';

/** Envoy's Http2ProtocolOptions for an upstream connection. */
export interface Http2ClientSettings {
  readonly maxConcurrentStreams: number;
  readonly initialStreamWindowSize: number;
  readonly initialConnectionWindowSize: number;
  /** The layered runtime, read when a connection is made for the codec's choice. */
  readonly runtime?: Runtime;
}

/** An upstream HTTP/2 connection as the pool drives it. */
export interface Http2PoolConnection extends ClientConnection {
  readonly transport: TransportSocket;
  /** Streams the peer allows at once (its SETTINGS_MAX_CONCURRENT_STREAMS, capped by ours). */
  readonly maxConcurrentStreams: number;
  readonly activeStreams: number;
  /** The peer sent GOAWAY, or the connection is closing: no new stream may start on it. */
  goingAway: boolean;
  /** True while another stream may start on this connection. */
  readonly hasCapacity: boolean;
  /** The connection closed (or is being destroyed). */
  readonly destroyed: boolean;
  /** Sends GOAWAY; streams under way finish first. */
  close(): void;
  destroy(): void;
}

/** Constructs an upstream HTTP/2 codec on a transport socket. */
export type Http2PoolConnectionClass = new (
  transport: TransportSocket,
  callbacks: ClientConnectionCallbacks,
  settings: Http2ClientSettings,
) => Http2PoolConnection;
