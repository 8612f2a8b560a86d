// A TLS transport socket's shared config (Envoy's ServerContextImpl / ClientContextImpl), built
// once per filter chain or cluster per worker: the OpenSSL SecureContext its connections use,
// rebuilt when an SDS secret changes. A connection takes the context current when it starts and
// keeps it, so a rotated certificate serves new connections while open ones carry on; material
// that does not load leaves the last good context in place.
import { constants, randomBytes } from 'node:crypto';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import { nodeTls } from './node-tls.js';
import { durationMs } from '../../../api/duration.js';
import { unwrap } from '../../../api/wrappers.js';
import {
  boolOf,
  type CommonTlsContextConfig,
  type DownstreamTlsContextConfig,
  type OcspStaplePolicy,
  type SecretConfig,
  type TlsVersionName,
  type UpstreamTlsContextConfig,
} from '../../../api/tls.js';
import { TlsMaterialError } from '../../../errors.js';
import { compileStringMatcher } from '../../matchers/string-matcher.js';
import type { SslConnectionInfo } from '../ssl-connection-info.js';
import { type CertificateMaterial, loadCertificate, loadValidation, type ValidationMaterial } from './material.js';
import type { SecretHandle, SecretManager } from './secret-manager.js';

const TLS_VERSION: Record<TlsVersionName, 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' | null> = {
  TLS_AUTO: null,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

/**
 * Envoy's default TLS 1.2 suites: forward-secret AEAD only (`[a|b]` is BoringSSL's equal-preference
 * group; OpenSSL takes them in order). TLS 1.3 suites are not configurable in Envoy: always all.
 */
const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** Envoy's cipher list syntax (`[A|B]` groups) as OpenSSL's, with TLS 1.3 suites always on. */
function cipherList(suites: readonly string[] | undefined): string {
  const flat = (suites ?? DEFAULT_CIPHERS).flatMap((s) => s.replace(/^\[|\]$/g, '').split('|'));
  return [...TLS13_SUITES, ...flat].join(':');
}

/** What checks a peer certificate's subject alternative names against `match_typed_subject_alt_names`. */
export type SanCheck = (info: SslConnectionInfo) => boolean;

function compileSanMatchers(v: ValidationMaterial): SanCheck | null {
  const typed = v.sanMatchers.map((m) => ({ type: m.san_type, match: compileStringMatcher(m.matcher) }));
  const any = v.anySanMatchers.map(compileStringMatcher);
  if (typed.length === 0 && any.length === 0) return null;
  return (info) =>
    typed.some(({ type, match }) => {
      const sans =
        type === 'URI' ? info.uriSanPeerCertificate : type === 'DNS' ? info.dnsSansPeerCertificate : ([] as string[]);
      return sans.some((s) => match(s));
    }) || any.some((match) => info.uriSanPeerCertificate.some(match) || info.dnsSansPeerCertificate.some(match));
}

/** Envoy's dnsNameMatch: case-insensitive; `*.example.com` covers exactly one more label. */
function dnsNameMatch(name: string, pattern: string): boolean {
  const n = name.toLowerCase();
  const p = pattern.toLowerCase();
  if (n === p) return true;
  if (!p.startsWith('*.')) return false;
  const dot = n.indexOf('.');
  return dot > 0 && n.slice(dot) === p.slice(1);
}

/**
 * auto_san_validation's check (Envoy's verifySubjectAltNameListOverride): the peer certificate
 * must carry `name`, as a DNS SAN (wildcards as certificates use them) or a URI SAN. It replaces
 * the context's match_typed_subject_alt_names for the connection, as in Envoy.
 */
export function sanOverrideCheck(name: string): SanCheck {
  return (info) =>
    info.dnsSansPeerCertificate.some((d) => dnsNameMatch(name, d)) || info.uriSanPeerCertificate.includes(name);
}

/** A check of a certificate beyond its own validity (the server's OCSP policy); throws TlsMaterialError. */
type CertificateCheck = (material: CertificateMaterial, field: string) => void;

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

export interface TlsContextStats {
  readonly onRejectedUpdate: (field: string, reason: string) => void;
}

/** What admin /certs reads of a context. */
export interface TlsContextView {
  readonly certificate: CertificateMaterial | null;
  readonly validation: ValidationMaterial | null;
}

/** The shared part of server and client contexts: certificates, validation, the SecureContext. */
abstract class TlsContextBase implements TlsContextView {
  /** Where this context's config sits, for error messages (`...transport_socket.typed_config`). */
  readonly field: string;
  readonly #common: CommonTlsContextConfig;
  readonly #base: SecureContextOptions;
  readonly #onRejected: (field: string, reason: string) => void;
  #cert: CertificateMaterial | null = null;
  #validation: ValidationMaterial | null = null;
  #sanCheck: SanCheck | null = null;
  #secureContext: SecureContext | null = null;
  readonly #handles: SecretHandle[] = [];
  readonly #certField: string;
  readonly #validationField: string;

  readonly #checkCertificate: CertificateCheck;
  #activeCert: CertificateMaterial | null = null;

  constructor(
    common: CommonTlsContextConfig,
    field: string,
    secrets: SecretManager,
    base: SecureContextOptions,
    onRejected: (field: string, reason: string) => void,
    checkCertificate: CertificateCheck = () => {},
  ) {
    this.field = field;
    this.#checkCertificate = checkCertificate;
    this.#common = common;
    this.#base = base;
    this.#onRejected = onRejected;
    const cfield = `${field}.common_tls_context`;
    this.#certField = `${cfield}.tls_certificates[0]`;
    this.#validationField = `${cfield}.validation_context`;
    // Static material: a TlsMaterialError here is a config error (checked at load already).
    const certs = common.tls_certificates ?? [];
    if (certs.length > 0) {
      this.#cert = loadCertificate(certs[0]!, this.#certField);
      checkCertificate(this.#cert, this.#certField);
    }
    if (common.validation_context !== undefined) {
      this.#validation = loadValidation(common.validation_context, this.#validationField);
      this.#sanCheck = compileSanMatchers(this.#validation);
    }
    const certRef = common.tls_certificate_sds_secret_configs?.[0];
    if (certRef !== undefined) {
      const f = `${cfield}.tls_certificate_sds_secret_configs[0]`;
      const h = secrets.subscribe(certRef, (s) => this.#onCertSecret(s, f, true));
      this.#handles.push(h);
      const now = h.current();
      if (now !== null) this.#onCertSecret(now, f, false);
    }
    const valRef = common.validation_context_sds_secret_config;
    if (valRef !== undefined) {
      const f = `${cfield}.validation_context_sds_secret_config`;
      const h = secrets.subscribe(valRef, (s) => this.#onValidationSecret(s, f, true));
      this.#handles.push(h);
      const now = h.current();
      if (now !== null) this.#onValidationSecret(now, f, false);
    }
    this.#rebuild(false);
  }

  /** The SecureContext new connections use; null while an SDS secret has not arrived. */
  get secureContext(): SecureContext | null {
    return this.#secureContext;
  }

  /** Whether peer certificates are verified (a trusted CA or certificate pins are configured). */
  get validatesPeer(): boolean {
    const v = this.#validation;
    return v !== null && (v.caPem !== null || v.spkiPins.length > 0 || v.hashPins.length > 0);
  }

  /** Whether the peer's chain is checked (against trusted_ca, and its CRLs). */
  get verifiesChain(): boolean {
    return (this.#validation?.caPem ?? null) !== null;
  }

  /** The certificate of the SecureContext new connections get (its OCSP staple is served with it). */
  get activeCertificate(): CertificateMaterial | null {
    return this.#activeCert;
  }

  get sanCheck(): SanCheck | null {
    return this.#sanCheck;
  }

  /** The leaf certificate served now (admin /certs). */
  get certificate(): CertificateMaterial | null {
    return this.#cert;
  }

  get validation(): ValidationMaterial | null {
    return this.#validation;
  }

  get alpnProtocols(): readonly string[] {
    return this.#common.alpn_protocols ?? [];
  }

  // Each returns why a live update was refused (undefined when taken or unchanged): the SDS
  // subscription NACKs with it, as Envoy's secret-update callbacks throwing makes SdsApi NACK.
  #onCertSecret(secret: SecretConfig, field: string, live: boolean): string | undefined {
    if (secret.tls_certificate === undefined)
      return this.#reject(`${field}.name`, `secret '${secret.name}' holds no tls_certificate`, live);
    let material: CertificateMaterial;
    try {
      const f = `secret '${secret.name}'.tls_certificate`;
      material = loadCertificate(secret.tls_certificate, f);
      this.#checkCertificate(material, f);
    } catch (err) {
      return this.#reject(field, (err as Error).message, live);
    }
    const old = this.#cert;
    if (
      old?.certChainPem.equals(material.certChainPem) &&
      old.keyPem.equals(material.keyPem) &&
      sameBytes(old.ocspStaple?.der ?? null, material.ocspStaple?.der ?? null)
    )
      return undefined;
    this.#cert = material;
    return live ? this.#rebuild(true) : undefined;
  }

  #onValidationSecret(secret: SecretConfig, field: string, live: boolean): string | undefined {
    if (secret.validation_context === undefined)
      return this.#reject(`${field}.name`, `secret '${secret.name}' holds no validation_context`, live);
    let material: ValidationMaterial;
    try {
      material = loadValidation(secret.validation_context, `secret '${secret.name}'.validation_context`);
    } catch (err) {
      return this.#reject(field, (err as Error).message, live);
    }
    const old = this.#validation;
    if (
      old?.caPem !== null &&
      old?.caPem !== undefined &&
      material.caPem !== null &&
      old.caPem.equals(material.caPem) &&
      sameBytes(old.crlPem, material.crlPem) &&
      old.leafCrls === null &&
      material.leafCrls === null
    )
      return undefined;
    this.#validation = material;
    this.#sanCheck = compileSanMatchers(material);
    return live ? this.#rebuild(true) : undefined;
  }

  /** At load a refusal is a config error; live, it is counted and returned as `<field>: <reason>`. */
  #reject(field: string, reason: string, live: boolean): string {
    if (!live) throw new TlsMaterialError(field, reason);
    this.#onRejected(field, reason);
    return `${field}: ${reason}`;
  }

  #rebuild(live: boolean): string | undefined {
    if (this.requiresCertificate && this.#cert === null) return undefined;
    const opts: SecureContextOptions = { ...this.#base };
    if (this.#cert !== null) {
      opts.cert = this.#cert.certChainPem;
      opts.key = this.#cert.keyPem;
      if (this.#cert.passphrase !== undefined) opts.passphrase = this.#cert.passphrase;
    }
    if (this.#validation?.caPem != null) opts.ca = this.#validation.caPem;
    // OpenSSL checks the chain against the CRLs (Node sets CRL_CHECK and CRL_CHECK_ALL: every
    // certificate of the chain needs its issuer's CRL, as Envoy without only_verify_leaf_cert_crl).
    if (this.#validation?.crlPem != null) opts.crl = this.#validation.crlPem;
    try {
      this.#secureContext = nodeTls().createSecureContext(opts);
      this.#activeCert = this.#cert;
      return undefined;
    } catch (err) {
      const reason = (err as Error).message;
      const field = /cipher/i.test(reason)
        ? `${this.field}.common_tls_context.tls_params.cipher_suites`
        : /crl/i.test(reason)
          ? `${this.#validationField}.crl`
          : `${this.field}.common_tls_context`;
      return this.#reject(field, reason, live);
    }
  }

  /** A server cannot serve without a certificate; a client may go without one. */
  protected abstract get requiresCertificate(): boolean;

  close(): void {
    for (const h of this.#handles) h.cancel();
  }
}

function versionOptions(common: CommonTlsContextConfig): Pick<SecureContextOptions, 'minVersion' | 'maxVersion'> {
  const p = common.tls_params;
  return {
    minVersion: TLS_VERSION[p?.tls_minimum_protocol_version ?? 'TLS_AUTO'] ?? 'TLSv1.2',
    maxVersion: TLS_VERSION[p?.tls_maximum_protocol_version ?? 'TLS_AUTO'] ?? 'TLSv1.3',
  };
}

function baseOptions(common: CommonTlsContextConfig): SecureContextOptions {
  const p = common.tls_params;
  return {
    ...versionOptions(common),
    ciphers: cipherList(p?.cipher_suites),
    ...(p?.ecdh_curves === undefined ? {} : { ecdhCurve: p.ecdh_curves.join(':') }),
    // Renegotiation is off (Envoy's default; a client-initiated one is a DoS vector).
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/** A filter chain's DownstreamTlsContext. */
export class ServerTlsContext extends TlsContextBase {
  readonly ocspStaplePolicy: OcspStaplePolicy;
  readonly requireClientCertificate: boolean;
  /** Client certificates are requested when there is something to verify them against. */
  readonly requestClientCertificate: boolean;
  readonly alpn: string[] | undefined;

  constructor(
    cfg: DownstreamTlsContextConfig,
    field: string,
    secrets: SecretManager,
    onRejected: (field: string, reason: string) => void,
  ) {
    const common = cfg.common_tls_context ?? {};
    const base = baseOptions(common);
    if (cfg.disable_stateless_session_resumption === true)
      base.secureOptions = (base.secureOptions ?? 0) | constants.SSL_OP_NO_TICKET;
    // One set of ticket keys for the context's life: a certificate rotation keeps resumption working.
    else base.ticketKeys = randomBytes(48);
    if (cfg.session_timeout !== undefined)
      base.sessionTimeout = Math.max(1, Math.round(durationMs(cfg.session_timeout, 0) / 1000));
    // The server's cipher order wins (Envoy's), so the client cannot pick a weaker suite first.
    base.honorCipherOrder = true;
    // Needed for resumption with client certificates; one per context.
    base.sessionIdContext = randomBytes(16).toString('hex');
    const policy = cfg.ocsp_staple_policy ?? 'LENIENT_STAPLING';
    super(common, field, secrets, base, onRejected, (m, f) => {
      // Envoy's load-time checks: a staple the certificate or the policy makes mandatory must be there.
      if (m.ocspStaple !== null) return;
      if (m.mustStaple)
        throw new TlsMaterialError(`${f}.ocsp_staple`, 'OCSP response is required for must-staple certificate');
      if (policy === 'MUST_STAPLE')
        throw new TlsMaterialError(`${f}.ocsp_staple`, 'required by ocsp_staple_policy MUST_STAPLE, and missing');
    });
    this.ocspStaplePolicy = policy;
    this.requireClientCertificate = boolOf(cfg.require_client_certificate, false);
    this.requestClientCertificate =
      this.requireClientCertificate ||
      common.validation_context !== undefined ||
      common.validation_context_sds_secret_config !== undefined;
    this.alpn = common.alpn_protocols === undefined ? undefined : [...common.alpn_protocols];
  }

  protected get requiresCertificate(): boolean {
    return true;
  }
}

/** A cluster's UpstreamTlsContext. */
export class ClientTlsContext extends TlsContextBase {
  readonly sni: string;
  /** `max_session_keys` (Envoy default 1): sessions kept to resume upstream handshakes; 0 turns it off. */
  readonly maxSessionKeys: number;
  constructor(
    cfg: UpstreamTlsContextConfig,
    field: string,
    secrets: SecretManager,
    onRejected: (field: string, reason: string) => void,
  ) {
    const common = cfg.common_tls_context ?? {};
    super(common, field, secrets, baseOptions(common), onRejected, (m, f) => {
      if (m.ocspStaple !== null)
        throw new TlsMaterialError(
          `${f}.ocsp_staple`,
          'a client does not staple: only a DownstreamTlsContext serves one',
        );
    });
    this.sni = cfg.sni ?? '';
    this.maxSessionKeys = unwrap(cfg.max_session_keys, 1);
  }

  protected get requiresCertificate(): boolean {
    return false;
  }
}
