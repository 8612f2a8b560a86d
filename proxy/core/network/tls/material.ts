// Reads and checks TLS material before anything serves with it, as Envoy's context config does:
// a certificate chain and its private key (they must parse, match each other and be valid now),
// a trusted CA bundle (it must parse). Each failure is a TlsMaterialError naming the field
// (`...common_tls_context.tls_certificates[0].private_key`) and what is wrong, so a static
// config fails at load and an SDS update is NACKed with that text while the last good stays.
import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import type {
  CertificateValidationContextConfig,
  DataSource,
  SubjectAltNameMatcher,
  TlsCertificateConfig,
} from '../../../api/tls.js';
import type { StringMatcher } from '../../../api/string-matcher.js';
import { TlsMaterialError } from '../../../errors.js';
import { type LeafCrl, parseCrl } from './crl.js';
import { DerParseError } from './der.js';
import { isMustStaple, type OcspStaple, parseOcspResponse } from './ocsp.js';

export interface CertificateMaterial {
  /** PEM of the whole chain, leaf first, as `tls.createSecureContext({ cert })` takes it. */
  readonly certChainPem: Buffer;
  readonly keyPem: Buffer;
  readonly passphrase: string | undefined;
  readonly leaf: X509Certificate;
  readonly chain: readonly X509Certificate[];
  /** The chain's file, or `<inline>` (admin /certs `path`). */
  readonly source: string;
  /** `ocsp_staple`, parsed and matched to the leaf; null when none is configured. */
  readonly ocspStaple: OcspStaple | null;
  /** The leaf carries the must-staple extension: a staple is required whatever the policy. */
  readonly mustStaple: boolean;
}

export interface ValidationMaterial {
  /** PEM of the trusted CAs, null when none is configured (the peer is then not verified). */
  readonly caPem: Buffer | null;
  readonly caCerts: readonly X509Certificate[];
  readonly sanMatchers: readonly SubjectAltNameMatcher[];
  /** `match_subject_alt_names`: a SAN of any type. */
  readonly anySanMatchers: readonly StringMatcher[];
  /** The CA bundle's file, or `<inline>`. */
  readonly source: string;
  /** `crl`: PEM revocation lists OpenSSL checks the peer's whole chain against; null when none (or leaf only). */
  readonly crlPem: Buffer | null;
  /** `crl` with only_verify_leaf_cert_crl: parsed, checked against the leaf only (crl.ts); null otherwise. */
  readonly leafCrls: readonly LeafCrl[] | null;
  /** `verify_certificate_spki` and `verify_certificate_hash`, decoded to their 32 bytes. */
  readonly spkiPins: readonly Buffer[];
  readonly hashPins: readonly Buffer[];
}

/** Where a DataSource's bytes come from, as error messages name it. */
export function describeSource(ds: DataSource): string {
  if (ds.filename !== undefined) return `file '${ds.filename}'`;
  if (ds.environment_variable !== undefined) return `environment variable ${ds.environment_variable}`;
  return 'inline data';
}

export function readDataSource(ds: DataSource, field: string): Buffer {
  if (ds.filename !== undefined) {
    try {
      return readFileSync(ds.filename);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new TlsMaterialError(`${field}.filename`, `cannot read '${ds.filename}': ${e.code ?? e.message}`);
    }
  }
  if (ds.inline_string !== undefined) return Buffer.from(ds.inline_string, 'utf8');
  if (ds.inline_bytes !== undefined) return Buffer.from(ds.inline_bytes, 'base64');
  const name = ds.environment_variable as string;
  const value = process.env[name];
  if (value === undefined || value === '')
    throw new TlsMaterialError(`${field}.environment_variable`, `environment variable ${name} is not set`);
  return Buffer.from(value, 'utf8');
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle; an error naming `field` when none parses. */
export function parseCertificates(pem: Buffer, field: string, source: string): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsMaterialError(field, `no PEM certificate in ${source}`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsMaterialError(field, `certificate ${i + 1} in ${source} does not parse: ${(err as Error).message}`);
    }
  });
}

/** The certificate chain and key of a TlsCertificate, checked: parse, pair, validity period. */
export function loadCertificate(cfg: TlsCertificateConfig, field: string, now = Date.now()): CertificateMaterial {
  const chainField = `${field}.certificate_chain`;
  const keyField = `${field}.private_key`;
  const certChainPem = readDataSource(cfg.certificate_chain, chainField);
  const keyPem = readDataSource(cfg.private_key, keyField);
  const passphrase =
    cfg.password === undefined ? undefined : readDataSource(cfg.password, `${field}.password`).toString('utf8');
  const chain = parseCertificates(certChainPem, chainField, describeSource(cfg.certificate_chain));
  const leaf = chain[0] as X509Certificate;
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase });
  } catch (err) {
    throw new TlsMaterialError(
      keyField,
      `no usable private key in ${describeSource(cfg.private_key)}: ${(err as Error).message}`,
    );
  }
  if (!leaf.checkPrivateKey(key))
    throw new TlsMaterialError(
      keyField,
      `does not match the certificate in certificate_chain (${leaf.subject.replaceAll('\n', ',')})`,
    );
  checkValidity(leaf, chainField, now);
  let ocspStaple: OcspStaple | null = null;
  if (cfg.ocsp_staple !== undefined) {
    const stapleField = `${field}.ocsp_staple`;
    const der = readDataSource(cfg.ocsp_staple, stapleField);
    try {
      ocspStaple = parseOcspResponse(der);
    } catch (err) {
      if (!(err instanceof DerParseError)) throw err;
      throw new TlsMaterialError(
        stapleField,
        `not a usable DER OCSP response in ${describeSource(cfg.ocsp_staple)}: ${err.message}`,
      );
    }
    if (ocspStaple.serialNumber !== leaf.serialNumber.toUpperCase())
      throw new TlsMaterialError(stapleField, 'OCSP response does not match its TLS certificate (serial number)');
  }
  return {
    certChainPem,
    keyPem,
    passphrase,
    leaf,
    chain,
    source: cfg.certificate_chain.filename ?? '<inline>',
    ocspStaple,
    mustStaple: isMustStaple(leaf),
  };
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/g;

/** `crl`: every block must be a PEM X509 CRL that parses; the PEM (for OpenSSL) and the parsed lists. */
function loadCrl(ds: DataSource, field: string): { pem: Buffer; crls: LeafCrl[] } {
  const pem = readDataSource(ds, field);
  const blocks = [...pem.toString('latin1').matchAll(PEM_CRL)];
  if (blocks.length === 0) throw new TlsMaterialError(field, `no PEM X509 CRL in ${describeSource(ds)}`);
  const crls = blocks.map((m, i) => {
    try {
      return parseCrl(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
    } catch (err) {
      if (!(err instanceof DerParseError)) throw err;
      throw new TlsMaterialError(field, `CRL ${i + 1} in ${describeSource(ds)} does not parse`);
    }
  });
  return { pem, crls };
}

/** Base64 (spki) or hex with optional colons (hash) of a SHA-256, as Envoy accepts pins. */
function decodePins(values: readonly string[] | undefined, field: string, kind: 'base64' | 'hex'): Buffer[] {
  return (values ?? []).map((v, i) => {
    const ok = kind === 'base64' ? /^[A-Za-z0-9+/]{43}=$/.test(v) : /^[0-9a-fA-F]{2}(:?[0-9a-fA-F]{2}){31}$/.test(v);
    if (!ok)
      throw new TlsMaterialError(
        `${field}[${i}]`,
        kind === 'base64'
          ? `'${v}' is not a base64-encoded SHA-256 (44 characters ending in '=')`
          : `'${v}' is not a hex-encoded SHA-256 (64 hex digits, colons allowed)`,
      );
    return kind === 'base64' ? Buffer.from(v, 'base64') : Buffer.from(v.replaceAll(':', ''), 'hex');
  });
}

function checkValidity(cert: X509Certificate, field: string, now: number): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now < from) throw new TlsMaterialError(field, `certificate is not valid before ${new Date(from).toISOString()}`);
  if (now > to) throw new TlsMaterialError(field, `certificate expired at ${new Date(to).toISOString()}`);
}

/** A validation context's trusted CA bundle (parsed) and SAN matchers. */
export function loadValidation(cfg: CertificateValidationContextConfig, field: string): ValidationMaterial {
  const crl = cfg.crl === undefined ? null : loadCrl(cfg.crl, `${field}.crl`);
  const leafOnly = cfg.only_verify_leaf_cert_crl === true;
  const checks = {
    sanMatchers: cfg.match_typed_subject_alt_names ?? [],
    anySanMatchers: cfg.match_subject_alt_names ?? [],
    crlPem: crl === null || leafOnly ? null : crl.pem,
    leafCrls: crl === null || !leafOnly ? null : crl.crls,
    spkiPins: decodePins(cfg.verify_certificate_spki, `${field}.verify_certificate_spki`, 'base64'),
    hashPins: decodePins(cfg.verify_certificate_hash, `${field}.verify_certificate_hash`, 'hex'),
  };
  if (cfg.trusted_ca === undefined) {
    // Envoy checks a CRL as part of the chain, which needs the CA it chains to.
    if (crl !== null) throw new TlsMaterialError(`${field}.crl`, 'needs trusted_ca to check the chain against');
    return { caPem: null, caCerts: [], source: '', ...checks };
  }
  const caField = `${field}.trusted_ca`;
  const caPem = readDataSource(cfg.trusted_ca, caField);
  const caCerts = parseCertificates(caPem, caField, describeSource(cfg.trusted_ca));
  return { caPem, caCerts, source: cfg.trusted_ca.filename ?? '<inline>', ...checks };
}
