// envoy.transport_sockets.tls: the accepted (or connected) TCP socket wrapped by node:tls into a
// TLSSocket, which is what the codecs get: a native TLSWrap over the TCP handle, so HTTP/1 and
// node:http2 read decrypted bytes straight from it and nothing in JavaScript sits in between.
// The peer is verified once the handshake is done (peer-verification.ts: the chain against the
// trusted CA and CRLs, the SAN matchers, the pins), before any application byte is handed up;
// a context that staples answers node:tls' OCSP request (ocsp-responder.ts).
import type { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { nodeTls } from './node-tls.js';
import { TlsSocketConnectionInfo } from '../ssl-connection-info.js';
import type {
  DownstreamTransportSocketFactory,
  TransportSocket,
  UpstreamTransportSocketFactory,
} from '../transport-socket.js';
import { ocspResponder } from './ocsp-responder.js';
import { handshakeFailure, verifyPeer } from './peer-verification.js';
import { type ClientTlsContext, type SanCheck, sanOverrideCheck, type ServerTlsContext } from './tls-context.js';
import type { TlsStats } from './tls-stats.js';
import { readIntoBuffer, sharedBufferViews } from '../user-buffer-reads.js';

export { TlsStats } from './tls-stats.js';

/**
 * Every TLS connection of this worker whose codec reads through `onRead`/`readWith` gets its
 * decrypted bytes in this one buffer (no allocation per read, no readable stream): safe because
 * a read is consumed synchronously and the HTTP/1 codecs copy what outlives it. Apart from the
 * plaintext sockets' buffer, so no TLS record decrypted while a plaintext read is being parsed
 * can overwrite it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const readView = sharedBufferViews(READ_BUFFER);

interface VerifyHandle {
  verifyError(): (Error & { code?: string }) | null | undefined;
}

export class TlsSocket implements TransportSocket {
  readonly transportProtocol = 'tls' as const;
  readonly scheme = 'https' as const;
  readonly stream: TLSSocket;
  readonly ssl: TlsSocketConnectionInfo;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  #connected = false;
  #waiting: Array<() => void> | null = null;
  /** The first reason the handshake or the peer's verification failed (Envoy's TLS_error:|...:TLS_error_end). */
  failureReason: string | null = null;

  /** Records why the transport failed; the first reason wins (a close that follows says nothing new). */
  fail(reason: string): void {
    this.failureReason ??= `TLS_error:|${reason}:TLS_error_end`;
  }

  constructor(stream: TLSSocket, remote: { address: string; port: number }, local: Socket | null) {
    this.stream = stream;
    this.ssl = new TlsSocketConnectionInfo(stream);
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.localAddress = local?.localAddress ?? '';
    this.localPort = local?.localPort ?? 0;
  }

  get applicationProtocol(): string {
    const p = this.stream.alpnProtocol;
    return typeof p === 'string' ? p : '';
  }

  get requestedServerName(): string {
    return this.ssl.sni;
  }

  readWith(onRead: (data: Buffer) => void): boolean {
    return readIntoBuffer(this.stream, READ_BUFFER, onRead);
  }

  /** The handshake finished and the peer passed verification. */
  get isEstablished(): boolean {
    return this.#connected;
  }

  onConnected(fn: () => void): void {
    if (this.#connected) fn();
    else (this.#waiting ??= []).push(fn);
  }

  /** The handshake is done and the peer accepted: application bytes may flow. */
  established(): void {
    this.#connected = true;
    this.localAddress = this.stream.localAddress ?? this.localAddress;
    this.localPort = this.stream.localPort ?? this.localPort;
    const waiting = this.#waiting;
    this.#waiting = null;
    if (waiting !== null) for (const fn of waiting) fn();
  }
}

export class TlsDownstreamFactory implements DownstreamTransportSocketFactory {
  readonly transportProtocol = 'tls' as const;
  readonly context: ServerTlsContext;
  readonly #stats: TlsStats;
  /** The OCSP responder of each SecureContext that staples (or must). */
  readonly #ocsp = new WeakMap<SecureContext, EventEmitter>();

  /**
   * Only a context with a staple (or a must-staple certificate) gets a responder: asking OpenSSL
   * for the certificate callback costs every handshake a trip into JavaScript.
   */
  #ocspServer(secureContext: SecureContext): EventEmitter | undefined {
    const cert = this.context.activeCertificate;
    if (cert === null || (cert.ocspStaple === null && !cert.mustStaple)) return undefined;
    let server = this.#ocsp.get(secureContext);
    if (server === undefined) {
      server = ocspResponder(secureContext, cert, this.context.ocspStaplePolicy, this.#stats);
      this.#ocsp.set(secureContext, server);
    }
    return server;
  }

  constructor(context: ServerTlsContext, stats: TlsStats) {
    this.context = context;
    this.#stats = stats;
  }

  close(): void {
    this.context.close();
  }

  createTransportSocket(accepted: Socket): TransportSocket {
    const ctx = this.context;
    const secureContext = ctx.secureContext;
    const remote = { address: accepted.remoteAddress ?? '', port: accepted.remotePort ?? 0 };
    // Bytes a listener filter (tls_inspector) read and pushed back sit in the socket's JS buffer,
    // which the native TLS layer never sees: take them out and feed them to it below.
    const peeked = accepted.readableLength > 0 ? (accepted.read() as Buffer | null) : null;
    const ocspServer = secureContext === null ? undefined : this.#ocspServer(secureContext);
    const stream = new (nodeTls().TLSSocket)(accepted, {
      isServer: true,
      ...(secureContext === null ? {} : { secureContext }),
      ...(ocspServer === undefined ? {} : { server: ocspServer as unknown as Server }),
      requestCert: ctx.requestClientCertificate,
      // Only makes OpenSSL fail a handshake without a client certificate; chains are checked below.
      rejectUnauthorized: ctx.requireClientCertificate,
      ...(ctx.alpn === undefined ? {} : { ALPNProtocols: ctx.alpn }),
    });
    if (peeked !== null) (stream as unknown as { _handle: { receive(b: Buffer): void } })._handle.receive(peeked);
    const t = new TlsSocket(stream, remote, accepted);
    const stats = this.#stats;
    let counted = false;
    stream.on('error', (err: Error & { code?: string }) => {
      if (!t.isEstablished) t.fail(handshakeFailure(err));
      // OpenSSL itself refuses a handshake without the required client certificate.
      if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') {
        counted = true;
        stats.failVerifyNoCert.inc();
      }
    });
    if (secureContext === null) {
      // The SDS secret has not arrived: Envoy's listener would still be warming.
      stats.connectionError.inc();
      t.fail('no certificate to serve: the SDS secret has not arrived');
      stream.destroy();
      return t;
    }
    let secured = false;
    stream.once('secure', () => {
      secured = true;
      // A bare server-side TLSSocket (no tls.Server) keeps this true; node:http2 would then wait
      // for a 'secureConnect' that never comes before it reads the session's first bytes.
      (stream as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      const err = ctx.requestClientCertificate
        ? ((stream as unknown as { _handle: VerifyHandle | null })._handle?.verifyError() ?? null)
        : null;
      const chainError = err === null ? null : (err.code ?? err.message);
      if (!verifyPeer(t, ctx, stats, ctx.requireClientCertificate, chainError, ctx.sanCheck)) {
        stream.destroy();
        return;
      }
      stats.handshake.inc();
      // A server that asks for no client certificate gets none: no need to ask OpenSSL.
      if (!ctx.requestClientCertificate || !t.ssl.peerCertificatePresented) stats.noCertificate.inc();
      if (stream.isSessionReused()) stats.sessionReused.inc();
      t.established();
    });
    stream.once('close', () => {
      // Plaintext to a TLS port, a refused protocol version, a peer that hung up mid-handshake.
      if (!secured && !counted) stats.connectionError.inc();
      if (!secured) t.fail('connection closed during the handshake');
    });
    return t;
  }
}

export class TlsUpstreamFactory implements UpstreamTransportSocketFactory {
  readonly transportProtocol = 'tls' as const;
  readonly context: ClientTlsContext;
  readonly #stats: TlsStats;
  readonly #alpn: string[];
  /** The newest sessions the upstream gave (TLS tickets), reused to resume: max_session_keys of them. */
  readonly #sessions: Buffer[] = [];
  /** The verified peer each session was issued over, for the connections that resume it. */
  readonly #sessionPeers = new WeakMap<Buffer, PeerCertificate>();

  /** auto_sni: the SNI sent instead of the context's `sni`; null keeps it. */
  readonly #serverName: string | null;
  /** auto_san_validation: the SAN required instead of match_typed_subject_alt_names; null keeps them. */
  readonly #sanOverride: SanCheck | null;

  /** `defaultAlpn`: what the cluster's protocol offers when alpn_protocols is not configured. */
  constructor(
    context: ClientTlsContext,
    stats: TlsStats,
    defaultAlpn: readonly string[],
    serverName: string | null = null,
    sanOverride: SanCheck | null = null,
  ) {
    this.context = context;
    this.#stats = stats;
    this.#alpn = [...(context.alpnProtocols.length > 0 ? context.alpnProtocols : defaultAlpn)];
    this.#serverName = serverName;
    this.#sanOverride = sanOverride;
  }

  /**
   * The same context for connections made for one request host (auto_sni / auto_san_validation):
   * its own session cache, as a session is bound to the server name it was made for.
   */
  withServerName(name: string, sni: boolean, san: boolean): UpstreamTransportSocketFactory {
    return new TlsUpstreamFactory(
      this.context,
      this.#stats,
      this.#alpn,
      sni ? name : this.#serverName,
      san ? sanOverrideCheck(name) : this.#sanOverride,
    );
  }

  connect(address: string, port: number, onRead: ((data: Buffer) => void) | null): TransportSocket {
    const ctx = this.context;
    const secureContext = ctx.secureContext;
    const session = this.#sessions.length > 0 ? this.#sessions[this.#sessions.length - 1] : undefined;
    const serverName = this.#serverName ?? ctx.sni;
    const stream = nodeTls().connect({
      host: address,
      port,
      ...(session === undefined ? {} : { session }),
      ...(secureContext === null ? {} : { secureContext }),
      ...(serverName === '' ? {} : { servername: serverName }),
      ALPNProtocols: this.#alpn,
      // Envoy checks the chain against trusted_ca and names against the SAN matchers, never
      // the host name by itself: both are done below, on 'secureConnect'.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      // tls.connect's own `onread`: decrypted bytes straight into the shared buffer.
      ...(onRead === null
        ? {}
        : {
            onread: {
              buffer: READ_BUFFER,
              callback: (nread: number): boolean => {
                onRead(readView(nread));
                return true;
              },
            },
          }),
    });
    stream.setNoDelay(true);
    stream.disableRenegotiation();
    const t = new TlsSocket(stream, { address, port }, null);
    // Only a session issued over a verified peer is kept: a resumption is not verified again.
    let verified = false;
    if (ctx.maxSessionKeys > 0)
      stream.on('session', (s: Buffer) => {
        const peer = t.ssl.peerCertificate;
        if (!verified || (ctx.validatesPeer && peer === null)) return;
        if (peer !== null) this.#sessionPeers.set(s, peer);
        this.#sessions.push(s);
        if (this.#sessions.length > ctx.maxSessionKeys) this.#sessions.shift();
      });
    const stats = this.#stats;
    stream.on('error', (err: Error) => {
      if (!t.isEstablished) t.fail(handshakeFailure(err));
    });
    stream.once('secureConnect', () => {
      let chainError = stream.authorized ? null : String(stream.authorizationError ?? 'unverified');
      const resumedPeer =
        session !== undefined && stream.isSessionReused() ? this.#sessionPeers.get(session) : undefined;
      if (resumedPeer !== undefined && !t.ssl.peerCertificatePresented) {
        t.ssl.resumedWith(resumedPeer);
        chainError = null;
      }
      if (!verifyPeer(t, ctx, stats, ctx.validatesPeer, chainError, this.#sanOverride ?? ctx.sanCheck)) {
        stream.destroy(new Error(`upstream TLS peer verification failed (${chainError ?? 'SAN mismatch'})`));
        return;
      }
      verified = true;
      stats.handshake.inc();
      if (!t.ssl.peerCertificatePresented) stats.noCertificate.inc();
      if (session !== undefined && stream.isSessionReused()) stats.sessionReused.inc();
      t.established();
    });
    if (secureContext === null) {
      stats.connectionError.inc();
      t.fail('no client certificate: the SDS secret has not arrived');
      stream.destroy(new Error('the upstream TLS context has no certificate yet (SDS)'));
    }
    return t;
  }
}
