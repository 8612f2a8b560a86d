// x-forwarded-client-cert (Envoy's ConnectionManagerUtility::mutateXfccRequestHeader): what a
// proxy terminating mutual TLS tells its upstream about the client certificate, and what it
// does with an XFCC header the client sent. `forward_client_cert_details`:
// SANITIZE (default) drops it; FORWARD_ONLY passes it on over mTLS; ALWAYS_FORWARD_ONLY passes it
// on always; APPEND_FORWARD adds this hop's element; SANITIZE_SET replaces it with this hop's.
// Over plaintext (or TLS without a client certificate) every mode but ALWAYS_FORWARD_ONLY drops it.
// An element is `By=<local URI SAN>;Hash=<sha256 of the peer cert>` then, as
// `set_current_client_cert_details` asks, `Cert="…"`, `Subject="…"`, `URI=…`, `DNS=…`.
import type { SslConnectionInfo } from '../network/ssl-connection-info.js';
import type { HeaderMap } from './headers.js';

export type ForwardClientCertMode =
  | 'SANITIZE'
  | 'FORWARD_ONLY'
  | 'APPEND_FORWARD'
  | 'SANITIZE_SET'
  | 'ALWAYS_FORWARD_ONLY';

export interface XfccSettings {
  readonly mode: ForwardClientCertMode;
  readonly subject: boolean;
  readonly cert: boolean;
  readonly dns: boolean;
  readonly uri: boolean;
}

const XFCC = 'x-forwarded-client-cert';

/** Envoy's default: a client's XFCC never reaches the upstream. */
export const SANITIZE: XfccSettings = { mode: 'SANITIZE', subject: false, cert: false, dns: false, uri: false };

export function mutateXfcc(h: HeaderMap, ssl: SslConnectionInfo | null, s: XfccSettings): void {
  if (ssl === null || !ssl.peerCertificatePresented) {
    if (s.mode !== 'ALWAYS_FORWARD_ONLY') h.remove(XFCC);
    return;
  }
  if (s.mode === 'FORWARD_ONLY' || s.mode === 'ALWAYS_FORWARD_ONLY') return;
  if (s.mode === 'SANITIZE') {
    h.remove(XFCC);
    return;
  }
  const parts: string[] = [];
  for (const uri of ssl.uriSanLocalCertificate) parts.push(`By=${uri}`);
  parts.push(`Hash=${ssl.sha256PeerCertificateDigest}`);
  if (s.cert) parts.push(`Cert="${ssl.urlEncodedPemEncodedPeerCertificate}"`);
  if (s.subject) parts.push(`Subject="${ssl.subjectPeerCertificate.replaceAll('"', '\\"')}"`);
  if (s.uri) for (const uri of ssl.uriSanPeerCertificate) parts.push(`URI=${uri}`);
  if (s.dns) for (const dns of ssl.dnsSansPeerCertificate) parts.push(`DNS=${dns}`);
  const element = parts.join(';');
  const existing = h.get(XFCC);
  if (s.mode === 'APPEND_FORWARD' && existing !== undefined && existing !== '') h.set(XFCC, `${existing},${element}`);
  else h.set(XFCC, element);
}
