// Admin `/certs` as Envoy prints it: for every TLS context, its trusted CAs (`ca_cert`) and the
// certificate chain it serves or presents (`cert_chain`), each with where it came from, serial,
// SANs, validity and days until expiration. What an operator checks before and after a rotation.
import type { X509Certificate } from 'node:crypto';
import type { TlsContextView } from './tls-context.js';

interface CertificateDetails {
  path: string;
  serial_number: string;
  subject_alt_names: Array<Record<string, string>>;
  days_until_expiration: string;
  valid_from: string;
  expiration_time: string;
  /** The OCSP response stapled with this certificate: its thisUpdate and nextUpdate. */
  ocsp_details?: { valid_from: string; expiration: string };
}

export interface CertsEntry {
  ca_cert: CertificateDetails[];
  cert_chain: CertificateDetails[];
}

const DAY_MS = 86_400_000;

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

function sans(cert: X509Certificate): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const colon = entry.indexOf(':');
    if (colon === -1) continue;
    const kind = entry.slice(0, colon);
    const value = entry.slice(colon + 1);
    if (kind === 'URI') out.push({ uri: value });
    else if (kind === 'DNS') out.push({ dns: value });
    else if (kind === 'IP Address') out.push({ ip_address: value });
    else if (kind === 'email') out.push({ email: value });
  }
  return out;
}

function details(cert: X509Certificate, path: string, now: number): CertificateDetails {
  const to = Date.parse(cert.validTo);
  return {
    path,
    serial_number: cert.serialNumber.toLowerCase(),
    subject_alt_names: sans(cert),
    days_until_expiration: String(Math.max(0, Math.floor((to - now) / DAY_MS))),
    valid_from: new Date(Date.parse(cert.validFrom)).toISOString().replace('.000Z', 'Z'),
    expiration_time: new Date(to).toISOString().replace('.000Z', 'Z'),
  };
}

export function certsEntry(ctx: TlsContextView, now = Date.now()): CertsEntry {
  const v = ctx.validation;
  const c = ctx.certificate;
  return {
    ca_cert: v === null ? [] : v.caCerts.map((x) => details(x, v.source, now)),
    // Envoy lists the leaf of each certificate chain.
    cert_chain:
      c === null
        ? []
        : [
            c.ocspStaple === null
              ? details(c.leaf, c.source, now)
              : {
                  ...details(c.leaf, c.source, now),
                  // Envoy's OcspResponseWrapper: no nextUpdate reads as expiring now.
                  ocsp_details: {
                    valid_from: iso(c.ocspStaple.thisUpdate),
                    expiration: iso(c.ocspStaple.nextUpdate ?? now),
                  },
                },
          ],
  };
}
