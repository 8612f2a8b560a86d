// only_verify_leaf_cert_crl: the peer's own certificate checked against the CRL its issuer
// signed, and nothing above it. Node hands CRLs to OpenSSL only with CRL_CHECK_ALL (every
// certificate of the chain needs its issuer's CRL), so this one check is done here, as OpenSSL's
// CRL_CHECK alone would: a CRL from the leaf's issuer must be there, signed by that issuer and
// current, and must not list the leaf's serial number. Failures read as OpenSSL names them.
import { createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto';
import { children, DerParseError, expectTag, readTlv, type Tlv } from './der.js';

export interface LeafCrl {
  /** The issuer Name as DER, compared byte for byte with a certificate's issuer. */
  readonly issuer: Buffer;
  readonly revoked: ReadonlySet<string>;
  /** Epoch ms; null when the CRL has none. */
  readonly nextUpdate: number | null;
  readonly tbs: Buffer;
  readonly hash: string | null;
  readonly signature: Buffer;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;

/** Signature algorithms by OID (DER body, hex): the digest crypto.verify takes. */
const SIGNATURE_HASH: Record<string, string | null> = {
  '2a8648ce3d040302': 'sha256', // ecdsa-with-SHA256
  '2a8648ce3d040303': 'sha384',
  '2a8648ce3d040304': 'sha512',
  '2a864886f70d01010b': 'sha256', // sha256WithRSAEncryption
  '2a864886f70d01010c': 'sha384',
  '2a864886f70d01010d': 'sha512',
  '2b6570': null, // Ed25519
};

/** The whole element (tag and length included) at `t`, from the buffer its body is a view of. */
function whole(t: Tlv, parent: Buffer, at: number): Buffer {
  return parent.subarray(at, t.end);
}

function time(t: Tlv): number {
  const s = t.body.toString('latin1');
  // UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
  const full = t.tag === 0x17 ? `${Number(s.slice(0, 2)) < 50 ? '20' : '19'}${s}` : s;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(full);
  if (m === null) throw new DerParseError('a CRL time does not parse');
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

const serialHex = (b: Buffer): string => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b).toString('hex').toUpperCase();

/** One DER CertificateList (RFC 5280 §5.1). */
export function parseCrl(der: Buffer): LeafCrl {
  const top = expectTag(readTlv(der, 0, 'CertificateList'), SEQUENCE, 'CertificateList');
  const [tbsTlv, alg, sig] = children(top.body, 'CertificateList');
  const tbs = expectTag(tbsTlv, SEQUENCE, 'TBSCertList');
  const fields = children(tbs.body, 'TBSCertList');
  let i = fields[0]?.tag === INTEGER ? 1 : 0; // version
  i += 1; // signature AlgorithmIdentifier
  const issuerTlv = expectTag(fields[i], SEQUENCE, 'TBSCertList.issuer');
  let issuerAt = 0;
  for (let k = 0; k < i; k++) issuerAt = fields[k]!.end;
  const issuer = whole(issuerTlv, tbs.body, issuerAt);
  i += 1;
  i += 1; // thisUpdate
  let nextUpdate: number | null = null;
  if (fields[i] !== undefined && (fields[i]!.tag === 0x17 || fields[i]!.tag === 0x18)) {
    nextUpdate = time(fields[i]!);
    i += 1;
  }
  const revoked = new Set<string>();
  if (fields[i]?.tag === SEQUENCE)
    for (const entry of children(fields[i]!.body, 'revokedCertificates')) {
      const serial = expectTag(children(entry.body, 'revokedCertificate')[0], INTEGER, 'userCertificate');
      revoked.add(serialHex(serial.body));
    }
  const oid = expectTag(children(expectTag(alg, SEQUENCE, 'signatureAlgorithm').body, 'alg')[0], 0x06, 'OID');
  const bits = expectTag(sig, BIT_STRING, 'signatureValue').body;
  return {
    issuer,
    revoked,
    nextUpdate,
    tbs: whole(tbs, top.body, 0),
    hash: SIGNATURE_HASH[oid.body.toString('hex')] ?? null,
    signature: bits.subarray(1),
  };
}

/** The issuer and subject Names of a certificate, as DER. */
function names(cert: Buffer): { issuer: Buffer; subject: Buffer } {
  const top = expectTag(readTlv(cert, 0, 'Certificate'), SEQUENCE, 'Certificate');
  const tbs = expectTag(children(top.body, 'Certificate')[0], SEQUENCE, 'TBSCertificate');
  const f = children(tbs.body, 'TBSCertificate');
  const i = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  // serialNumber, signature, issuer, validity, subject
  const at = (k: number): number => (k === 0 ? 0 : f[k - 1]!.end);
  return { issuer: whole(f[i + 2]!, tbs.body, at(i + 2)), subject: whole(f[i + 4]!, tbs.body, at(i + 4)) };
}

const verified = new WeakMap<LeafCrl, Map<string, boolean>>();

function signedBy(crl: LeafCrl, issuerKey: KeyObject, keyId: string): boolean {
  let byKey = verified.get(crl);
  if (byKey === undefined) verified.set(crl, (byKey = new Map()));
  let ok = byKey.get(keyId);
  if (ok === undefined) {
    try {
      ok = verify(crl.hash, crl.tbs, issuerKey, crl.signature);
    } catch {
      ok = false;
    }
    byKey.set(keyId, ok);
  }
  return ok;
}

/**
 * The leaf's CRL verdict: null when it passes, else OpenSSL's name for why not. `issuers` are the
 * certificates that may have issued it (the peer's chain above the leaf, then the trusted CAs).
 */
export function checkLeafCrl(
  leafDer: Buffer,
  serialNumber: string,
  issuers: readonly Buffer[],
  crls: readonly LeafCrl[],
  now = Date.now(),
): string | null {
  let issuerName: Buffer;
  try {
    issuerName = names(leafDer).issuer;
  } catch {
    return 'UNABLE_TO_GET_CRL';
  }
  const issuer = issuers.find((c) => {
    try {
      return names(c).subject.equals(issuerName);
    } catch {
      return false;
    }
  });
  if (issuer === undefined) return 'UNABLE_TO_GET_CRL_ISSUER';
  const key = createPublicKey(new X509Certificate(issuer).publicKey.export({ type: 'spki', format: 'pem' }));
  const keyId = issuer.toString('base64').slice(-64);
  const crl = crls.find((c) => c.issuer.equals(issuerName) && signedBy(c, key, keyId));
  if (crl === undefined) return 'UNABLE_TO_GET_CRL';
  if (crl.nextUpdate !== null && crl.nextUpdate < now) return 'CRL_HAS_EXPIRED';
  return crl.revoked.has(serialNumber.toUpperCase()) ? 'CERT_REVOKED' : null;
}
