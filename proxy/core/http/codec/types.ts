// The codec interfaces, in the shape of Envoy's envoy/http/codec.h: a codec turns a transport's
// bytes into streams and back. A ServerConnection (downstream) calls
// ServerConnectionCallbacks.newStream with a ResponseEncoder for each request and feeds the
// returned RequestDecoder; a ClientConnection (upstream) gets a ResponseDecoder per request and
// returns the RequestEncoder to write it with. Framing (HTTP/1.1 today, HTTP/2 next) lives behind
// these interfaces only; the connection manager, filters, router and pools see header maps with
// pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`, `:status`) and body slices.
import type { HeaderMap } from '../headers.js';
import type { TransportSocket } from '../../network/transport-socket.js';
import type { HttpProtocol } from '../../stream-info.js';

/** Why a codec refused a message; `status` is what a downstream client gets. */
export interface CodecError {
  readonly status: 400 | 413 | 431 | 501 | 502;
  /** Envoy-style response code details, e.g. `http1.invalid_transfer_encoding`. */
  readonly details: string;
}

/**
 * Why a stream was reset, where it changes what may follow: `refused_stream` is a stream the
 * upstream refused unprocessed (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream id)
 * or that never left the proxy, which Envoy's `retry_on: refused-stream` retries.
 */
export type StreamResetReason = 'reset' | 'refused_stream';

/** Stream events every decoder gets (Envoy's StreamCallbacks). */
export interface StreamCallbacks {
  /** The peer went away (or the codec reset the stream) before the stream finished. */
  onResetStream(reason?: StreamResetReason): void;
  /** The connection's write buffer went above (true) or back below (false) its limit. */
  onWriteBufferWatermark(above: boolean): void;
}

/** Writes one stream's outgoing half; shared by both directions. */
export interface StreamEncoder {
  /** Writes body bytes (`data` may be empty to end the stream); false when the write buffer is above its limit. */
  encodeData(data: Buffer, endStream: boolean): boolean;
  /** Stops (true) or resumes (false) reading this stream's incoming half; counted, calls must pair. */
  readDisable(disable: boolean): void;
}

/** The server side of a stream: writes the response (Envoy's ResponseEncoder). */
export interface ResponseEncoder extends StreamEncoder {
  readonly protocol: HttpProtocol;
  /** The request's upgrade (lower-case, e.g. `websocket`), '' when none; h2c is never offered. */
  readonly upgradeType: string;
  /** True once response headers went out. */
  readonly responseStarted: boolean;
  /** True once a 101 was written: the stream is a raw tunnel both ways. */
  readonly upgraded: boolean;
  /** Set with the headers: the response carries no body bytes (HEAD, 204, 304, ended with its headers, a tunnel). */
  readonly bodyless: boolean;
  /**
   * Set before the headers: trailers may end the response whatever its headers say (an HTTP/2
   * upstream's; an HTTP/1.1 response with a content-length cannot have any). A codec that must
   * decide with the headers whether the stream can end with trailers (node:http2) reads it.
   */
  trailersMayFollow?: boolean;
  /** An interim (1xx) response. */
  encode1xxHeaders(headers: HeaderMap): void;
  /** The response headers; `:status` first. */
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  /** The response's trailers, which end it (HTTP/2 trailing HEADERS; HTTP/1.1 chunked trailers). */
  encodeTrailers(trailers: HeaderMap): void;
  /**
   * No further request may follow this response on the connection (HTTP/1: `connection: close`
   * and a close once written; an HTTP/2 stream has nothing to do).
   */
  closeConnectionAfterResponse(): void;
  /** True when the connection will close after this response. */
  readonly closingConnection: boolean;
  /** Aborts the stream where it is (HTTP/1: the connection is closed). */
  resetStream(): void;
}

/** The server side of a stream: receives the request (Envoy's RequestDecoder). */
export interface RequestDecoder extends StreamCallbacks {
  decodeHeaders(headers: HeaderMap, endStream: boolean): void;
  decodeData(data: Buffer, endStream: boolean): void;
  /**
   * The request's trailers (HTTP/2 trailing HEADERS; HTTP/1.1 chunked trailers with
   * enable_trailers), which end it. Optional: a decoder without it gets the end as decodeData(empty, true).
   */
  decodeTrailers?(trailers: HeaderMap): void;
  /**
   * The codec refuses the request it began (a version it does not accept, a malformed target
   * or Host): the stream answers locally, logs and counts it like any other.
   */
  sendLocalReply(status: number, body: string, responseFlag: number, details: string): void;
}

/** What a server codec asks of the connection manager (Envoy's ServerConnectionCallbacks). */
export interface ServerConnectionCallbacks {
  /** A new request began; the manager returns the decoder the codec feeds. */
  newStream(encoder: ResponseEncoder): RequestDecoder;
  /** `bytes` arrived from downstream (stats, request-header timeout). */
  onRead(bytes: number): void;
  /** A message the codec cannot accept (counted); the codec then answers it through a stream and closes. */
  onCodecError(error: CodecError): void;
  /** The downstream connection closed (either side); active streams are reset. */
  onConnectionClose(): void;
}

/** A downstream connection's codec (Envoy's ServerConnection). */
export interface ServerConnection {
  readonly protocol: HttpProtocol;
  /** True when no stream is active and nothing of a next request is buffered. */
  readonly idle: boolean;
  /** Stops (true) or resumes (false) reading; counted, calls must pair. */
  readDisable(disable: boolean): void;
  /** The connection is draining: HTTP/1 answers with `connection: close` from now on (HTTP/2: GOAWAY). */
  shutdownNotice(): void;
  /**
   * The connection manager is done with a stream. True when the connection closes now (HTTP/1:
   * the response asked for it); otherwise the codec reads the next request.
   */
  onStreamComplete(): boolean;
  /**
   * Answers the request being read, or a new stream when none is, with `status` and closes (the
   * request-header timeout, a malformed message); resets a stream whose response began.
   */
  sendProtocolError(status: number, details: string, responseFlag: number): void;
  /** Writes what is queued, then closes the connection. */
  close(): void;
  /** Closes the connection at once. */
  destroy(): void;
}

/** The client side of a stream: receives the response (Envoy's ResponseDecoder). */
export interface ResponseDecoder extends StreamCallbacks {
  /** An interim 1xx response other than 101. */
  decode1xxHeaders(status: number, headers: HeaderMap): void;
  /** The response head: `status` apart, the map holds no pseudo-headers. */
  decodeHeaders(status: number, headers: HeaderMap, endStream: boolean): void;
  decodeData(data: Buffer, endStream: boolean): void;
  /** The response's trailers (gRPC's status), which end it. */
  decodeTrailers(trailers: HeaderMap): void;
  /** The response could not be read (a malformed response): the stream is reset. */
  onProtocolError(): void;
}

/** The client side of a stream: writes the request (Envoy's RequestEncoder). */
export interface RequestEncoder extends StreamEncoder {
  /** The upstream connection the request goes out on (its TLS facts become %UPSTREAM_TLS_VERSION%...). */
  readonly transport?: TransportSocket;
  /**
   * The request head from `:method`, `:path`, `:authority` and the other headers; an `upgrade`
   * header makes the body a raw tunnel. Returns false when the write buffer is above its limit.
   */
  encodeHeaders(headers: HeaderMap, endStream: boolean): boolean;
  /**
   * The request's trailers, which end it: HTTP/2 trailing HEADERS; an HTTP/1.1 upstream ends a
   * chunked body with them when the cluster's http_protocol_options.enable_trailers, else without
   * them (Envoy's default).
   */
  encodeTrailers(trailers: HeaderMap): void;
  /** Abandons the request: the connection is closed, never reused. */
  resetStream(): void;
}

/** What a client codec tells the connection's owner (a connection pool). */
export interface ClientConnectionCallbacks {
  /** The stream finished both ways and its decoder is unbound: the connection may take another. */
  onStreamComplete(): void;
  /** The connection closed (either side); a bound stream is reset after this. */
  onConnectionClose(): void;
  /**
   * The peer broke the protocol and the connection ends (Envoy's codec exception): counted once as
   * `upstream_cx_protocol_error` however many streams it carried; each stream still gets onProtocolError.
   */
  onProtocolError?(): void;
}

/** An upstream connection's codec (Envoy's ClientConnection). */
export interface ClientConnection {
  readonly protocol: HttpProtocol;
  /** Starts a request whose response goes to `decoder`; returns the encoder to write it with. */
  newStream(decoder: ResponseDecoder): RequestEncoder;
}
