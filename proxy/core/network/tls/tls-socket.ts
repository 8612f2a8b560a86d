// envoy.transport_sockets.tls: the accepted (or connected) TCP socket wrapped by node:tls into a
// TLSSocket, which is what the codecs get: a native TLSWrap over the TCP handle, so HTTP/1 and
// node:http2 read decrypted bytes straight from it and nothing in JavaScript sits in between.
// The peer is verified once the handshake is done (chain against the trusted CA, then
// match_typed_subject_alt_names), before any application byte is handed up.
import { createHash, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';
import type { DetailedPeerCertificate, PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import type { OcspStaplePolicy } from '../../../api/tls.js';
import { nodeTls } from './node-tls.js';
import type { Counter, Scope } from '../../../stats/types.js';
import { TlsSocketConnectionInfo } from '../ssl-connection-info.js';
import type {
  DownstreamTransportSocketFactory,
  TransportSocket,
  UpstreamTransportSocketFactory,
} from '../transport-socket.js';
import { checkLeafCrl } from './crl.js';
import type { CertificateMaterial, ValidationMaterial } from './material.js';
import {
  type ClientTlsContext,
  ocspStapleAction,
  type SanCheck,
  sanOverrideCheck,
  type ServerTlsContext,
} from './tls-context.js';

const SSL_COUNTERS = [
  'handshake',
  'connection_error',
  'fail_verify_error',
  'fail_verify_san',
  'fail_verify_cert_hash',
  'no_certificate',
  'fail_verify_no_cert',
  'session_reused',
  'ocsp_staple_requests',
  'ocsp_staple_responses',
  'ocsp_staple_omitted',
  'ocsp_staple_failed',
] as const;
type SslCounters = Record<(typeof SSL_COUNTERS)[number], Counter>;

/** Envoy's `ssl.*` counters of a listener or cluster. */
export class TlsStats {
  readonly #scope: () => Scope;
  #counters: SslCounters | null = null;

  /**
   * `scope` is asked on first use: a listener's is named after its bound address, known only
   * once it listens (`listener.127.0.0.1_10000.ssl.*`, an ephemeral port included).
   */
  constructor(scope: Scope | (() => Scope)) {
    this.#scope = typeof scope === 'function' ? scope : () => scope;
  }

  #get(): SslCounters {
    if (this.#counters === null) {
      const s = this.#scope().scope('ssl');
      this.#counters = Object.fromEntries(SSL_COUNTERS.map((n) => [n, s.counter(n)])) as SslCounters;
    }
    return this.#counters;
  }

  get handshake(): Counter {
    return this.#get().handshake;
  }
  get connectionError(): Counter {
    return this.#get().connection_error;
  }
  get failVerifyError(): Counter {
    return this.#get().fail_verify_error;
  }
  get failVerifySan(): Counter {
    return this.#get().fail_verify_san;
  }
  /** The peer's certificate matched none of verify_certificate_hash / verify_certificate_spki. */
  get failVerifyCertHash(): Counter {
    return this.#get().fail_verify_cert_hash;
  }
  /** `ocsp_staple_*`: handshakes whose client asked for a staple, and what each got. */
  counter(
    name: 'ocsp_staple_requests' | 'ocsp_staple_responses' | 'ocsp_staple_omitted' | 'ocsp_staple_failed',
  ): Counter {
    return this.#get()[name];
  }
  /** Handshakes that succeeded with no peer certificate (Envoy's: a server without mTLS counts every one). */
  get noCertificate(): Counter {
    return this.#get().no_certificate;
  }
  /** Handshakes refused for want of a peer certificate that was required. */
  get failVerifyNoCert(): Counter {
    return this.#get().fail_verify_no_cert;
  }
  /** Handshakes that resumed a session (abbreviated: no certificate sent or verified). */
  get sessionReused(): Counter {
    return this.#get().session_reused;
  }
}

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

/** OpenSSL's names for what failed, in the shape Envoy's transport failure reasons take. */
const VERIFY_FAILED = 'SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED';
const NO_PEER_CERTIFICATE = 'SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE';

/** A node:tls error as a transport failure reason: OpenSSL's library and reason, else Node's message. */
function handshakeFailure(err: Error & { code?: string; library?: string; reason?: string }): string {
  if (err.library !== undefined && err.reason !== undefined)
    return `${err.library}:OPENSSL_internal:${(err.code ?? '').replace(/^ERR_SSL_/, '') || err.reason}`;
  return err.message;
}

/**
 * Checks a finished handshake's peer: bumps the counter of what failed and records it as the
 * transport's failure reason, returning false when it must be refused. `required`: a missing
 * certificate is a failure (a server with require_client_certificate; a client always, when it
 * validates).
 */
function verifyPeer(
  t: TlsSocket,
  ctx: ServerTlsContext | ClientTlsContext,
  stats: TlsStats,
  required: boolean,
  chainError: string | null,
  san: SanCheck | null,
): boolean {
  if (!t.ssl.peerCertificatePresented) {
    if (!required) return true;
    stats.failVerifyNoCert.inc();
    t.fail(NO_PEER_CERTIFICATE);
    return false;
  }
  if (!ctx.validatesPeer) return true;
  // Envoy's order: the chain (trusted_ca, CRLs), then SANs, then pins.
  const v = ctx.validation;
  const crlError = ctx.verifiesChain && chainError === null && v?.leafCrls != null ? leafCrlError(t, v) : null;
  if (ctx.verifiesChain && (chainError !== null || crlError !== null)) {
    stats.failVerifyError.inc();
    t.fail(`${VERIFY_FAILED}:X509_verify_cert: certificate verification error: ${chainError ?? crlError}`);
    return false;
  }
  if (san !== null && !san(t.ssl)) {
    stats.failVerifySan.inc();
    t.fail(`${VERIFY_FAILED}:verify cert failed: SAN matcher`);
    return false;
  }
  if (v !== null && (v.hashPins.length > 0 || v.spkiPins.length > 0) && !pinned(t.ssl.peerCertificate, v)) {
    stats.failVerifyCertHash.inc();
    t.fail(`${VERIFY_FAILED}:verify cert failed: cert hash and spki`);
    return false;
  }
  t.ssl.markValidated();
  return true;
}

/** only_verify_leaf_cert_crl: the leaf against its issuer's CRL; the issuer from the peer's chain or the trusted CAs. */
function leafCrlError(t: TlsSocket, v: ValidationMaterial): string | null {
  const leaf = t.ssl.peerCertificate;
  if (leaf === null) return null;
  const issuers: Buffer[] = [];
  const full = t.stream.getPeerCertificate(true) as DetailedPeerCertificate | null;
  for (let c = full?.issuerCertificate; c?.raw !== undefined && issuers.length < 10; c = c.issuerCertificate) {
    issuers.push(c.raw);
    if (c.issuerCertificate === c) break;
  }
  for (const ca of v.caCerts) issuers.push(ca.raw);
  return checkLeafCrl(leaf.raw, leaf.serialNumber, issuers, v.leafCrls ?? []);
}

/** The peer certificate matches one pin of either list (SHA-256 of its DER, or of its SubjectPublicKeyInfo). */
function pinned(peer: PeerCertificate | null, v: ValidationMaterial): boolean {
  if (peer === null) return false;
  if (v.hashPins.length > 0) {
    const digest = createHash('sha256').update(peer.raw).digest();
    if (v.hashPins.some((p) => p.equals(digest))) return true;
  }
  if (v.spkiPins.length > 0) {
    // Node's `pubkey` is the bare EC point for EC keys, not the SubjectPublicKeyInfo the pin hashes.
    const spki = new X509Certificate(peer.raw).publicKey.export({ type: 'spki', format: 'der' });
    const digest = createHash('sha256').update(spki).digest();
    if (v.spkiPins.some((p) => p.equals(digest))) return true;
  }
  return false;
}

/**
 * What node:tls asks for a staple: a server-side TLSSocket emits 'OCSPRequest' on its `server`
 * (only for a client that sent status_request), with `_sharedCreds` as the context. One per
 * SecureContext, deciding with the certificate that context serves.
 */
function ocspResponder(
  secureContext: SecureContext,
  cert: CertificateMaterial,
  policy: OcspStaplePolicy,
  stats: TlsStats,
): EventEmitter {
  const server = Object.assign(new EventEmitter(), { _sharedCreds: secureContext });
  server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, resp?: Buffer) => void) => {
    stats.counter('ocsp_staple_requests').inc();
    const action = ocspStapleAction(policy, cert);
    if (action === 'staple') {
      stats.counter('ocsp_staple_responses').inc();
      done(null, cert.ocspStaple?.der);
    } else if (action === 'no_staple') {
      stats.counter('ocsp_staple_omitted').inc();
      done(null);
    } else {
      stats.counter('ocsp_staple_failed').inc();
      done(new Error('OCSP staple required by ocsp_staple_policy and none valid'));
    }
  });
  return server;
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
      if (!t.ssl.peerCertificatePresented) stats.noCertificate.inc();
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
    if (onRead !== null) stream.on('data', onRead);
    return t;
  }
}
