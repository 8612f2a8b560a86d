// Reads a TLS ClientHello from the first bytes of a connection without terminating TLS: the
// record layer (RFC 8446 §5.1, fragments of one handshake message may span records), then the
// ClientHello body (§4.1.2) as far as its extensions, of which server_name (RFC 6066 §3) and
// application_layer_protocol_negotiation (RFC 7301) are kept. Everything is bounds-checked:
// the bytes come from an unauthenticated peer.

export type ClientHelloResult =
  | { readonly kind: 'need_more_data' }
  | { readonly kind: 'not_tls' }
  | { readonly kind: 'tls'; readonly serverName: string; readonly applicationProtocols: string[] };

const NEED_MORE = { kind: 'need_more_data' } as const;
const NOT_TLS = { kind: 'not_tls' } as const;

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
/** RFC 8446 §5.1: a TLSPlaintext fragment is at most 2^14 bytes. */
const MAX_RECORD_LENGTH = 1 << 14;

export function parseClientHello(data: Buffer): ClientHelloResult {
  if (data.length >= 1 && data[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  // Record versions are 3.x (SSL 3.0 … TLS 1.2 on the wire, TLS 1.3 too).
  if (data.length >= 2 && data[1] !== 3) return NOT_TLS;
  if (data.length >= 3 && data[2]! > 4) return NOT_TLS;
  const fragments: Buffer[] = [];
  let handshakeBytes = 0;
  let messageLength = -1;
  for (let at = 0; ; ) {
    if (at + 5 > data.length) return NEED_MORE;
    if (data[at] !== RECORD_HANDSHAKE || data[at + 1] !== 3) return NOT_TLS;
    const length = data.readUInt16BE(at + 3);
    if (length === 0 || length > MAX_RECORD_LENGTH) return NOT_TLS;
    const fragment = data.subarray(at + 5, Math.min(at + 5 + length, data.length));
    fragments.push(fragment);
    handshakeBytes += fragment.length;
    if (messageLength < 0 && handshakeBytes >= 4) {
      const head = fragments.length === 1 ? fragment : Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
      messageLength = head.readUIntBE(1, 3);
    }
    if (messageLength >= 0 && handshakeBytes >= 4 + messageLength) {
      const message = Buffer.concat(fragments).subarray(4, 4 + messageLength);
      return readClientHello(message) ?? NOT_TLS;
    }
    if (fragment.length < length) return NEED_MORE;
    at += 5 + length;
  }
}

/** The body of a ClientHello, or null when it is malformed. */
function readClientHello(body: Buffer): ClientHelloResult | null {
  const r = new Reader(body);
  if (!r.skip(2 + 32)) return null; // legacy_version, random
  if (!r.skip(r.u8())) return null; // legacy_session_id
  if (!r.skip(r.u16())) return null; // cipher_suites
  if (!r.skip(r.u8())) return null; // legacy_compression_methods
  let serverName = '';
  const applicationProtocols: string[] = [];
  if (r.remaining === 0) return { kind: 'tls', serverName, applicationProtocols }; // no extensions
  const extensions = r.slice(r.u16());
  if (extensions === null) return null;
  while (extensions.remaining > 0) {
    const type = extensions.u16();
    const ext = extensions.slice(extensions.u16());
    if (ext === null) return null;
    if (type === EXT_SERVER_NAME) {
      const list = ext.slice(ext.u16());
      while (list !== null && list.remaining > 0) {
        const nameType = list.u8();
        const name = list.slice(list.u16());
        if (name === null) return null;
        if (nameType === 0 && serverName === '') serverName = name.text().toLowerCase();
      }
    } else if (type === EXT_ALPN) {
      const list = ext.slice(ext.u16());
      while (list !== null && list.remaining > 0) {
        const protocol = list.slice(list.u8());
        if (protocol === null) return null;
        applicationProtocols.push(protocol.text());
      }
    }
  }
  return { kind: 'tls', serverName, applicationProtocols };
}

/** A cursor over a buffer; a read past the end sets `failed` and yields zeros. */
class Reader {
  readonly #buf: Buffer;
  #at = 0;
  failed = false;
  constructor(buf: Buffer) {
    this.#buf = buf;
  }
  get remaining(): number {
    return this.failed ? 0 : this.#buf.length - this.#at;
  }
  u8(): number {
    if (this.remaining < 1) return this.#fail();
    return this.#buf[this.#at++]!;
  }
  u16(): number {
    if (this.remaining < 2) return this.#fail();
    const v = this.#buf.readUInt16BE(this.#at);
    this.#at += 2;
    return v;
  }
  skip(n: number): boolean {
    if (this.failed || this.remaining < n) {
      this.#fail();
      return false;
    }
    this.#at += n;
    return true;
  }
  slice(n: number): Reader | null {
    if (this.failed || this.remaining < n) return null;
    const out = new Reader(this.#buf.subarray(this.#at, this.#at + n));
    this.#at += n;
    return out;
  }
  text(): string {
    return this.#buf.toString('latin1');
  }
  #fail(): number {
    this.failed = true;
    return 0;
  }
}
