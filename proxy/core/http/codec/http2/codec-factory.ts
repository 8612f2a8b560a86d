// Which HTTP/2 server codec a downstream connection gets, read from the layered runtime when
// the connection is created, as Envoy reads `envoy.reloadable_features.http2_use_oghttp2` to
// choose its in-house codec (oghttp2) over nghttp2: here, our own framing
// (framed-server-connection.ts) over node:http2's (server-connection.ts). Each codec's module is
// imported when the first connection that wants it arrives: node:http2 (and node:tls, about
// 5 MB of RSS) stays unloaded in a proxy that serves HTTP/1.1 only, or HTTP/2 with our codec.
import type { TransportSocket } from '../../../network/transport-socket.js';
import type { ServerConnection, ServerConnectionCallbacks } from '../types.js';
import { type Http2CodecKind, http2CodecKind } from './codec-flag.js';
import type { Http2CodecStats } from './protocol-constraints.js';
import type { Http2Settings } from './server-connection.js';

export type Http2ServerCodec = new (
  transport: TransportSocket,
  callbacks: ServerConnectionCallbacks,
  settings: Http2Settings,
  stats: Http2CodecStats,
) => ServerConnection;

const codecs: Record<Http2CodecKind, Http2ServerCodec | null> = { own: null, nghttp2: null };
const loading: Record<Http2CodecKind, Promise<Http2ServerCodec> | null> = { own: null, nghttp2: null };

function load(kind: Http2CodecKind): Promise<Http2ServerCodec> {
  loading[kind] ??= (
    kind === 'own'
      ? import('./framed-server-connection.js').then((m) => m.FramedHttp2ServerConnection)
      : import('./server-connection.js').then((m) => m.Http2ServerConnection)
  ).then((codec) => {
    codecs[kind] = codec;
    return codec;
  });
  return loading[kind];
}

/** Starts loading the codec `settings` choose now (an HCM that speaks HTTP/2 only, at configuration). */
export function preloadHttp2ServerCodec(settings: Http2Settings): void {
  void load(http2CodecKind(settings.runtime));
}

/**
 * The codec class for a new connection: at once when its module is loaded, else a promise the
 * connection waits on (with its socket paused) the first time.
 */
export function http2ServerCodec(settings: Http2Settings): Http2ServerCodec | Promise<Http2ServerCodec> {
  const kind = http2CodecKind(settings.runtime);
  return codecs[kind] ?? load(kind);
}
