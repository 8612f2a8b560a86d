// Which HTTP/2 server codec a downstream connection gets, read from the layered runtime when
// the connection is created, as Envoy reads `envoy.reloadable_features.http2_use_oghttp2` to
// choose its in-house codec (oghttp2) over nghttp2: here, our own framing
// (framed-server-connection.ts) over node:http2's (server-connection.ts).
import { HTTP2_USE_OGHTTP2, HTTP2_USE_OGHTTP2_DEFAULT } from './codec-flag.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import type { ServerConnection, ServerConnectionCallbacks } from '../types.js';
import { FramedHttp2ServerConnection } from './framed-server-connection.js';
import type { Http2CodecStats } from './protocol-constraints.js';
import { type Http2Settings, Http2ServerConnection } from './server-connection.js';

export { HTTP2_USE_OGHTTP2, HTTP2_USE_OGHTTP2_DEFAULT };

export function createHttp2ServerConnection(
  transport: TransportSocket,
  callbacks: ServerConnectionCallbacks,
  settings: Http2Settings,
  stats: Http2CodecStats,
): ServerConnection {
  const own = settings.runtime?.snapshot().getBoolean(HTTP2_USE_OGHTTP2, HTTP2_USE_OGHTTP2_DEFAULT);
  return (own ?? HTTP2_USE_OGHTTP2_DEFAULT)
    ? new FramedHttp2ServerConnection(transport, callbacks, settings, stats)
    : new Http2ServerConnection(transport, callbacks, settings, stats);
}
