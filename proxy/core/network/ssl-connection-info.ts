// What a TLS connection tells about itself once its handshake is done (Envoy's
// Ssl::ConnectionInfo): the one typed place RBAC (`authenticated.principal_name`), access-log
// operators (%DOWNSTREAM_PEER_URI_SAN%...), x-forwarded-client-cert, istio.stats
// (source_principal, destination_principal, connection_security_policy) and spans read a
// connection's identity from. A raw TCP connection has none (`TransportSocket.ssl` is null).
//
// Read from the TLSSocket at most once per field and only when someone asks: a request that
// no filter or logger asks about pays nothing for the certificates' parsing.
import type { PeerCertificate, TLSSocket } from 'node:tls';

export interface SslConnectionInfo {
  /** `TLSv1.2`, `TLSv1.3` (Envoy's `%DOWNSTREAM_TLS_VERSION%`). */
  readonly tlsVersion: string;
  /** The negotiated cipher suite, in OpenSSL's naming (`ECDHE-RSA-AES128-GCM-SHA256`, `TLS_AES_256_GCM_SHA384`). */
  readonly ciphersuiteString: string;
  /** The ALPN protocol agreed, '' when none. */
  readonly alpn: string;
  /** The server name (SNI) the client asked for, '' when none. */
  readonly sni: string;
  /** True when the peer sent a certificate. */
  readonly peerCertificatePresented: boolean;
  /** True when the peer's certificate chained to the trusted CA and passed SAN matching. */
  readonly peerCertificateValidated: boolean;
  /** URI SANs of the peer's certificate (a SPIFFE ID for a mesh workload). */
  readonly uriSanPeerCertificate: readonly string[];
  readonly dnsSansPeerCertificate: readonly string[];
  /** URI SANs of the certificate this side presented. */
  readonly uriSanLocalCertificate: readonly string[];
  readonly dnsSansLocalCertificate: readonly string[];
  /** RFC 2253 subject of the peer's certificate (`CN=client,O=Example`), '' when none. */
  readonly subjectPeerCertificate: string;
  readonly subjectLocalCertificate: string;
  readonly issuerPeerCertificate: string;
  /** Lower-case hex, no separators, '' when none. */
  readonly serialNumberPeerCertificate: string;
  /** SHA-256 of the peer certificate's DER, lower-case hex without colons, '' when none. */
  readonly sha256PeerCertificateDigest: string;
  /** The peer certificate as URL-encoded PEM (x-forwarded-client-cert `Cert=`), '' when none. */
  readonly urlEncodedPemEncodedPeerCertificate: string;
  /** Epoch milliseconds, 0 when no peer certificate. */
  readonly validFromPeerCertificate: number;
  readonly expirationPeerCertificate: number;
}

/** A TLSSocket's view, either side: `getPeerCertificate` is the other end's, `getCertificate` this end's. */
export class TlsSocketConnectionInfo implements SslConnectionInfo {
  readonly #socket: TLSSocket;
  #validated = false;
  #peer: PeerCertificate | null | undefined;
  #local: PeerCertificate | null | undefined;
  #peerSans: SanLists | undefined;
  #localSans: SanLists | undefined;

  constructor(socket: TLSSocket) {
    this.#socket = socket;
  }

  /** The handshake verified the peer's certificate (chain and SAN matchers). */
  markValidated(): void {
    this.#validated = true;
  }

  /** The peer's certificate as presented in the handshake whose session this connection resumed. */
  get peerCertificate(): PeerCertificate | null {
    return this.#peerCert();
  }

  /**
   * A resumed session carries no certificate on the wire and Node's TLSSocket then reports
   * none, while the session stands for the peer verified when it was issued (as OpenSSL and
   * BoringSSL keep a session's peer): that certificate, verified then, is this connection's peer.
   */
  resumedWith(peer: PeerCertificate): void {
    this.#peer = peer;
    this.#peerSans = undefined;
  }

  get tlsVersion(): string {
    return this.#socket.getProtocol() ?? '';
  }
  get ciphersuiteString(): string {
    return this.#socket.getCipher()?.name ?? '';
  }
  get alpn(): string {
    const p = this.#socket.alpnProtocol;
    return typeof p === 'string' ? p : '';
  }
  get sni(): string {
    const s = (this.#socket as TLSSocket & { servername?: string | false | null }).servername;
    return typeof s === 'string' ? s : '';
  }
  get peerCertificatePresented(): boolean {
    return this.#peerCert() !== null;
  }
  get peerCertificateValidated(): boolean {
    return this.#validated && this.#peerCert() !== null;
  }
  get uriSanPeerCertificate(): readonly string[] {
    return (this.#peerSans ??= sanLists(this.#peerCert())).uri;
  }
  get dnsSansPeerCertificate(): readonly string[] {
    return (this.#peerSans ??= sanLists(this.#peerCert())).dns;
  }
  get uriSanLocalCertificate(): readonly string[] {
    return (this.#localSans ??= sanLists(this.#localCert())).uri;
  }
  get dnsSansLocalCertificate(): readonly string[] {
    return (this.#localSans ??= sanLists(this.#localCert())).dns;
  }
  get subjectPeerCertificate(): string {
    return rfc2253(this.#peerCert()?.subject);
  }
  get subjectLocalCertificate(): string {
    return rfc2253(this.#localCert()?.subject);
  }
  get issuerPeerCertificate(): string {
    return rfc2253(this.#peerCert()?.issuer);
  }
  get serialNumberPeerCertificate(): string {
    return (this.#peerCert()?.serialNumber ?? '').toLowerCase();
  }
  get sha256PeerCertificateDigest(): string {
    return (this.#peerCert()?.fingerprint256 ?? '').replaceAll(':', '').toLowerCase();
  }
  get urlEncodedPemEncodedPeerCertificate(): string {
    const raw = this.#peerCert()?.raw;
    if (raw === undefined) return '';
    const b64 = raw.toString('base64').replace(/.{64}/g, '$&\n');
    return encodeURIComponent(
      `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`,
    );
  }
  get validFromPeerCertificate(): number {
    const c = this.#peerCert();
    return c === null ? 0 : Date.parse(c.valid_from);
  }
  get expirationPeerCertificate(): number {
    const c = this.#peerCert();
    return c === null ? 0 : Date.parse(c.valid_to);
  }
  #peerCert(): PeerCertificate | null {
    if (this.#peer === undefined) this.#peer = certOrNull(this.#socket.getPeerCertificate(false));
    return this.#peer;
  }
  #localCert(): PeerCertificate | null {
    if (this.#local === undefined) this.#local = certOrNull(this.#socket.getCertificate() as PeerCertificate | null);
    return this.#local;
  }
}

interface SanLists {
  readonly uri: readonly string[];
  readonly dns: readonly string[];
}

const NO_SANS: SanLists = { uri: [], dns: [] };

/** Node gives an empty object when there is no certificate. */
function certOrNull(c: PeerCertificate | null | undefined): PeerCertificate | null {
  return c === null || c === undefined || c.raw === undefined ? null : c;
}

/** Node's `subjectaltname`: `DNS:a.example, URI:spiffe://td/ns/x/sa/y, IP Address:1.2.3.4`. */
function sanLists(c: PeerCertificate | null): SanLists {
  const text = c?.subjectaltname;
  if (text === undefined || text === '') return NO_SANS;
  const uri: string[] = [];
  const dns: string[] = [];
  for (const entry of splitSans(text)) {
    if (entry.startsWith('URI:')) uri.push(unquote(entry.slice(4)));
    else if (entry.startsWith('DNS:')) dns.push(unquote(entry.slice(4)));
  }
  return { uri, dns };
}

/** Entries are joined by ', '; Node quotes (JSON) a value that itself holds a comma. */
function splitSans(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && ch === ',' && text[i + 1] === ' ') {
      out.push(text.slice(start, i));
      start = i + 2;
      i++;
    }
  }
  out.push(text.slice(start));
  return out;
}

function unquote(v: string): string {
  return v.startsWith('"') ? (JSON.parse(v) as string) : v;
}

/** RFC 2253 order (most specific first), as Envoy prints subjects: `CN=x,OU=y,O=z,C=US`. */
function rfc2253(name: object | undefined): string {
  if (name === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name) as Array<[string, string | string[] | undefined]>) {
    if (v === undefined) continue;
    for (const value of Array.isArray(v) ? v : [v]) parts.push(`${k}=${value.replace(/([,+"\\<>;])/g, '\\$1')}`);
  }
  return parts.reverse().join(',');
}
