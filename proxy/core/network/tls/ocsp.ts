// An OCSP response to staple (TlsCertificate.ocsp_staple): read as Envoy's OcspResponseWrapper
// reads it (RFC 6960, DER): successful, a BasicOCSPResponse for exactly one certificate, whose
// serial number must be the certificate's; its nextUpdate says when it expires (none: expired,
// as in Envoy). The signature is not checked: the staple comes from the operator, and the client
// checks it against the CA anyway. Also the certificate's must-staple extension (TLS Feature
// status_request, RFC 7633), which makes stapling mandatory whatever the policy.
import type { X509Certificate } from 'node:crypto';
import { children, DerParseError, expectTag as expect, readTlv, type Tlv } from './der.js';

export interface OcspStaple {
  /** The DER bytes served in the handshake. */
  readonly der: Buffer;
  /** The certificate's serial number, upper-case hex as Node's X509Certificate.serialNumber prints it. */
  readonly serialNumber: string;
  readonly thisUpdate: number;
  /** Epoch ms; null when the response has none (then it is always expired). */
  readonly nextUpdate: number | null;
}

const SEQUENCE = 0x30;
const ENUMERATED = 0x0a;
const OCTET_STRING = 0x04;
const OID = 0x06;
const INTEGER = 0x02;
const GENERALIZED_TIME = 0x18;
/** id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1. */
const BASIC_OCSP = Buffer.from('2b0601050507300101', 'hex');
const STATUS = ['successful', 'malformedRequest', 'internalError', 'tryLater', '4', 'sigRequired', 'unauthorized'];

function generalizedTime(t: Tlv, what: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(t.body.toString('latin1'));
  if (t.tag !== GENERALIZED_TIME || m === null) throw new DerParseError(`${what} is not a GeneralizedTime`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** A DER OCSPResponse, checked as Envoy checks a staple; throws DerParseError saying what is wrong. */
export function parseOcspResponse(der: Buffer): OcspStaple {
  const top = expect(readTlv(der, 0, 'OCSPResponse'), SEQUENCE, 'OCSPResponse');
  if (top.end !== der.length) throw new DerParseError('data holds more than a single OCSP response');
  const [status, bytes] = children(top.body, 'OCSPResponse');
  const s = expect(status, ENUMERATED, 'OCSPResponse.responseStatus').body[0] ?? -1;
  if (s !== 0) throw new DerParseError(`OCSP response was unsuccessful (${STATUS[s] ?? s})`);
  if (bytes === undefined || bytes.tag !== 0xa0) throw new DerParseError('OCSP response has no body');
  const rb = children(
    expect(children(bytes.body, 'responseBytes')[0], SEQUENCE, 'ResponseBytes').body,
    'ResponseBytes',
  );
  if (!expect(rb[0], OID, 'ResponseBytes.responseType').body.equals(BASIC_OCSP))
    throw new DerParseError('OCSP response is not a BasicOCSPResponse');
  const basicDer = expect(rb[1], OCTET_STRING, 'ResponseBytes.response').body;
  const basic = expect(readTlv(basicDer, 0, 'BasicOCSPResponse'), SEQUENCE, 'BasicOCSPResponse');
  const tbs = expect(children(basic.body, 'BasicOCSPResponse')[0], SEQUENCE, 'ResponseData');
  const fields = children(tbs.body, 'ResponseData');
  // version [0] (optional), responderID [1]|[2], producedAt, responses.
  let i = fields[0]?.tag === 0xa0 ? 1 : 0;
  if (fields[i]?.tag !== 0xa1 && fields[i]?.tag !== 0xa2)
    throw new DerParseError('ResponseData.responderID is unknown');
  i += 1;
  generalizedTime(expect(fields[i], GENERALIZED_TIME, 'ResponseData.producedAt'), 'ResponseData.producedAt');
  const responses = children(expect(fields[i + 1], SEQUENCE, 'ResponseData.responses').body, 'responses');
  if (responses.length !== 1) throw new DerParseError('OCSP response must be for one certificate only');
  const single = children(expect(responses[0], SEQUENCE, 'SingleResponse').body, 'SingleResponse');
  const certId = children(expect(single[0], SEQUENCE, 'CertID').body, 'CertID');
  const serial = expect(certId[3], INTEGER, 'CertID.serialNumber').body;
  const certStatus = single[1]?.tag;
  if (certStatus !== 0x80 && certStatus !== 0xa1 && certStatus !== 0x82)
    throw new DerParseError('SingleResponse.certStatus is unknown');
  const thisUpdate = generalizedTime(single[2] as Tlv, 'SingleResponse.thisUpdate');
  const next = single[3]?.tag === 0xa0 ? readTlv((single[3] as Tlv).body, 0, 'nextUpdate') : null;
  return {
    der,
    serialNumber: serialHex(serial),
    thisUpdate,
    nextUpdate: next === null ? null : generalizedTime(next, 'SingleResponse.nextUpdate'),
  };
}

/** An INTEGER's bytes as Node prints serial numbers: upper-case hex, no sign-padding zero byte. */
function serialHex(b: Buffer): string {
  const trimmed = b.length > 1 && b[0] === 0 ? b.subarray(1) : b;
  return trimmed.toString('hex').toUpperCase();
}

export function ocspExpired(staple: OcspStaple, now = Date.now()): boolean {
  return staple.nextUpdate === null || staple.nextUpdate < now;
}

/** id-pe-tlsfeature (1.3.6.1.5.5.7.1.24) as a DER OID, and status_request (5) inside it. */
const TLS_FEATURE_OID = Buffer.from('06082b06010505070118', 'hex');

/** Whether the certificate carries the must-staple extension (TLS Feature with status_request). */
export function isMustStaple(cert: X509Certificate): boolean {
  const raw = cert.raw;
  const at = raw.indexOf(TLS_FEATURE_OID);
  if (at === -1) return false;
  // extnID, optional critical BOOLEAN, extnValue OCTET STRING { SEQUENCE OF INTEGER }.
  let p = at + TLS_FEATURE_OID.length;
  if (raw[p] === 0x01) p = readTlv(raw, p, 'extension').end;
  const value = readTlv(raw, p, 'extension');
  const features = children(readTlv(value.body, 0, 'TLS Feature').body, 'TLS Feature');
  return features.some((f) => f.tag === INTEGER && f.body.length === 1 && f.body[0] === 5);
}
