// Envoy's transport socket: the layer between a connection's bytes on the wire and what runs on
// it (an HTTP codec, tcp_proxy): raw TCP (`envoy.transport_sockets.raw_buffer`) or TLS
// (`envoy.transport_sockets.tls`); this is the only place that creates or wraps net/tls sockets.
//
// What it hands upward is the native stream itself (a net.Socket, or a tls.TLSSocket, which
// extends it), never a JavaScript Duplex around it: node:http2 and the HTTP/1 codec read and
// write the native handle, and a JS Duplex in between makes Node wrap it in a JSStreamSocket
// that copies every chunk through JavaScript. Codecs and pools type the stream as
// `NativeStream`, take it from a TransportSocket and never create one themselves.
import type { Socket } from 'node:net';
import type { SslConnectionInfo } from './ssl-connection-info.js';

export type { SslConnectionInfo } from './ssl-connection-info.js';

/** The stream codecs read and write: a net.Socket, or a tls.TLSSocket (a subclass). */
export type NativeStream = Socket;

/** As `filter_chain_match.transport_protocol` names it. */
export type TransportProtocol = 'raw_buffer' | 'tls';

/** A connection's addresses, read once when it is accepted or connected (Envoy's ConnectionInfoProvider). */
export interface ConnectionAddresses {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

export interface TransportSocket extends ConnectionAddresses {
  /** `raw_buffer` or `tls`. */
  readonly transportProtocol: TransportProtocol;
  /** What requests over this connection carry as `:scheme` and `x-forwarded-proto`: `https` over TLS. */
  readonly scheme: 'http' | 'https';
  /** The ALPN protocol negotiated (`h2`, `http/1.1`), '' when none was (always for raw TCP). */
  readonly applicationProtocol: string;
  /** The TLS server name (SNI) the peer asked for, '' when none. */
  readonly requestedServerName: string;
  /**
   * The TLS facts of the connection (peer identity, version, cipher), valid once `onConnected`
   * has fired; null over raw TCP. RBAC, access logs, XFCC and istio.stats read identity here.
   */
  readonly ssl: SslConnectionInfo | null;
  /** The native stream the codec reads and writes. */
  readonly stream: NativeStream;
  /**
   * Why the transport failed before it carried bytes (Envoy's transport failure reason, the TLS
   * handshake's or the peer verification's): `%DOWNSTREAM_TRANSPORT_FAILURE_REASON%`,
   * `%UPSTREAM_TRANSPORT_FAILURE_REASON%`. Null while none; raw TCP has none.
   */
  readonly failureReason?: string | null;
  /**
   * Calls `fn` once the transport carries application bytes: at once for an accepted raw
   * socket, on TCP connect for an upstream one, after the handshake for TLS.
   */
  onConnected(fn: () => void): void;
  /**
   * Hands the stream's later reads to `onRead` as views of a buffer the transport reuses, valid
   * only during the call, as the upstream factories' `onRead` does: no buffer allocated per read
   * and no readable-stream machinery between the socket and the codec. Bytes the stream already
   * holds (pushed back by a listener filter or by codec_type AUTO's preface detection) still
   * arrive as `data` events, before any later read. False, and nothing changed, where the
   * transport cannot: the codec reads `data` events.
   */
  readWith?(onRead: (data: Buffer) => void): boolean;
}

/**
 * The downstream side of a filter chain's `transport_socket`: takes over a socket the listener
 * accepted (TLS wraps it in a server-side TLSSocket). Built once per filter chain.
 */
export interface DownstreamTransportSocketFactory {
  readonly transportProtocol: TransportProtocol;
  createTransportSocket(accepted: Socket): TransportSocket;
  /** The filter chain is gone (listener removed or replaced): release what the factory holds (SDS subscriptions). */
  close?(): void;
}

/**
 * The upstream side of a cluster's `transport_socket`: opens a connection to a host. Each read
 * is handed to `onRead` as a view of a buffer the factory reuses, valid only during the call
 * (no allocation per read, no readable-stream machinery); whoever keeps bytes copies them.
 * With `onRead` null the codec reads the native stream itself (node:http2 consumes its handle).
 */
export interface UpstreamTransportSocketFactory {
  readonly transportProtocol: TransportProtocol;
  connect(address: string, port: number, onRead: ((data: Buffer) => void) | null): TransportSocket;
  /**
   * auto_sni / auto_san_validation: a factory whose connections send `name` as SNI (`sni`) and/or
   * require it as the peer's SAN (`san`). Absent on raw TCP, which has neither.
   */
  withServerName?(name: string, sni: boolean, san: boolean): UpstreamTransportSocketFactory;
}
