// Envoy's runtime key choosing its in-house HTTP/2 codec (oghttp2) over nghttp2, both ways: here,
// our own framing (framed-server-connection.ts, framed-client-connection.ts) over node:http2's.
// Its own module so that an upstream pool reads it without loading either server codec.
import type { Runtime } from '../../../../runtime/index.js';

export const HTTP2_USE_OGHTTP2 = 'envoy.reloadable_features.http2_use_oghttp2';
/**
 * The runtime key's default: our own codecs, which pass every HTTP/2 test node:http2 passes.
 * Downstream ours costs about a third of node:http2's CPU per h2c request (bench:proxy-cpu with
 * BENCH_H2=1); both ways, two sidecars spend about 30% of node:http2's CPU per gRPC call
 * (bench:proxy's gRPC rows).
 */
export const HTTP2_USE_OGHTTP2_DEFAULT = true;

/** The two HTTP/2 codecs the runtime key chooses between. */
export type Http2CodecKind = 'own' | 'nghttp2';

/** Which codec a new connection gets, read when it is made (server and client side alike). */
export function http2CodecKind(runtime: Runtime | undefined): Http2CodecKind {
  const own = runtime?.snapshot().getBoolean(HTTP2_USE_OGHTTP2, HTTP2_USE_OGHTTP2_DEFAULT);
  return (own ?? HTTP2_USE_OGHTTP2_DEFAULT) ? 'own' : 'nghttp2';
}
