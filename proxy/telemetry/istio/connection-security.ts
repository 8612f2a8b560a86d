// What Istio's connection_security_policy, source_principal and destination_principal report,
// read from the connection's TLS facts (Envoy's Ssl::ConnectionInfo, the transport's
// `SslConnectionInfo`): on the server side (reporter=destination) `mutual_tls` when the client
// presented a certificate that validated, its URI SAN as source_principal and this side's as
// destination_principal; on the client side (reporter=source) the policy is `unknown`, as in
// Istio, and the principals are this side's certificate and the server's. Plaintext keeps the
// policy `none` (server) / `unknown` (client) and the principals metadata exchange learned.
import type { SslConnectionInfo } from '../../core/network/ssl-connection-info.js';
import type { StreamInfo } from '../../core/stream-info.js';

/** Istio's `reporter` label (metrics.ts's Reporter; spelled here so the two modules do not import each other). */
type Reporter = 'source' | 'destination';

export interface ConnectionSecurity {
  /** Distinguishes label sets: '' for plaintext. */
  readonly key: string;
  readonly policy: string;
  /** From the certificates, when TLS told them; undefined keeps the metadata's principal. */
  readonly sourcePrincipal: string | undefined;
  readonly destinationPrincipal: string | undefined;
}

const PLAINTEXT: Record<Reporter, ConnectionSecurity> = {
  destination: { key: '', policy: 'none', sourcePrincipal: undefined, destinationPrincipal: undefined },
  source: { key: '', policy: 'unknown', sourcePrincipal: undefined, destinationPrincipal: undefined },
};

/** The policy and principals of a connection, given the TLS facts of the side `reporter` looks at. */
export function securityOf(reporter: Reporter, ssl: SslConnectionInfo | null): ConnectionSecurity {
  if (ssl === null) return PLAINTEXT[reporter];
  const peer = ssl.peerCertificatePresented ? ssl.uriSanPeerCertificate[0] : undefined;
  const local = ssl.uriSanLocalCertificate[0];
  if (reporter === 'destination') {
    const policy = ssl.peerCertificatePresented && ssl.peerCertificateValidated ? 'mutual_tls' : 'none';
    return {
      key: `${policy}\0${peer ?? ''}\0${local ?? ''}`,
      policy,
      sourcePrincipal: peer,
      destinationPrincipal: local,
    };
  }
  return {
    key: `unknown\0${local ?? ''}\0${peer ?? ''}`,
    policy: 'unknown',
    sourcePrincipal: local,
    destinationPrincipal: peer,
  };
}

/**
 * Each connection's security as a reporter sees it, made at its first request: the handshake's
 * facts do not change for its life, and making it reads certificates and joins a key string.
 */
const SECURITY: Record<Reporter, WeakMap<SslConnectionInfo, ConnectionSecurity>> = {
  destination: new WeakMap(),
  source: new WeakMap(),
};

/**
 * The TLS facts of the connection a reporter looks at: the downstream one on the server side,
 * the upstream one on the client side (null over plaintext).
 */
export function connectionSecurity(reporter: Reporter, info: StreamInfo): ConnectionSecurity {
  const ssl = reporter === 'destination' ? info.downstreamSsl : info.upstreamSsl;
  if (ssl === null) return PLAINTEXT[reporter];
  const memo = SECURITY[reporter];
  let security = memo.get(ssl);
  if (security === undefined) {
    security = securityOf(reporter, ssl);
    memo.set(ssl, security);
  }
  return security;
}
