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

export interface CertificateMaterial {
  /** PEM of the whole chain, leaf first, as `tls.createSecureContext({ cert })` takes it. */
  readonly certChainPem: Buffer;
  readonly keyPem: Buffer;
  readonly passphrase: string | undefined;
  readonly leaf: X509Certificate;
  readonly chain: readonly X509Certificate[];
  /** The chain's file, or `<inline>` (admin /certs `path`). */
  readonly source: string;
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
  return { certChainPem, keyPem, passphrase, leaf, chain, source: cfg.certificate_chain.filename ?? '<inline>' };
}

function checkValidity(cert: X509Certificate, field: string, now: number): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now < from) throw new TlsMaterialError(field, `certificate is not valid before ${new Date(from).toISOString()}`);
  if (now > to) throw new TlsMaterialError(field, `certificate expired at ${new Date(to).toISOString()}`);
}

/** A validation context's trusted CA bundle (parsed) and SAN matchers. */
export function loadValidation(cfg: CertificateValidationContextConfig, field: string): ValidationMaterial {
  if (cfg.trusted_ca === undefined)
    return {
      caPem: null,
      caCerts: [],
      sanMatchers: cfg.match_typed_subject_alt_names ?? [],
      anySanMatchers: cfg.match_subject_alt_names ?? [],
      source: '',
    };
  const caField = `${field}.trusted_ca`;
  const caPem = readDataSource(cfg.trusted_ca, caField);
  const caCerts = parseCertificates(caPem, caField, describeSource(cfg.trusted_ca));
  return {
    caPem,
    caCerts,
    sanMatchers: cfg.match_typed_subject_alt_names ?? [],
    anySanMatchers: cfg.match_subject_alt_names ?? [],
    source: cfg.trusted_ca.filename ?? '<inline>',
  };
}
