// A finished handshake's peer, checked as Envoy's DefaultCertValidator checks it: the chain
// against trusted_ca (and its CRLs), the SAN matchers, then the pins. Each refusal bumps its
// `ssl.*` counter and is recorded as the transport's failure reason, in Envoy's words.
import { createHash, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import type { TlsSocketConnectionInfo } from '../ssl-connection-info.js';
import { checkLeafCrl } from './crl.js';
import type { ValidationMaterial } from './material.js';
import type { ClientTlsContext, SanCheck, ServerTlsContext } from './tls-context.js';
import type { TlsStats } from './tls-stats.js';

/** What the checks read of a TLS connection (a TlsSocket), and where a refusal's reason goes. */
export interface HandshakePeer {
  readonly ssl: TlsSocketConnectionInfo;
  readonly stream: TLSSocket;
  fail(reason: string): void;
}

/** OpenSSL's names for what failed, in the shape Envoy's transport failure reasons take. */
const VERIFY_FAILED = 'SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED';
const NO_PEER_CERTIFICATE = 'SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE';

/** A node:tls error as a transport failure reason: OpenSSL's library and reason, else Node's message. */
export function handshakeFailure(err: Error & { code?: string; library?: string; reason?: string }): string {
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
export function verifyPeer(
  t: HandshakePeer,
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
function leafCrlError(t: HandshakePeer, v: ValidationMaterial): string | null {
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
