// The mesh's certificate authority: a root it generates (or one the operator provides) and
// short-lived X.509 SVIDs for workloads, each naming its SPIFFE ID as the one URI SAN, as
// Istio's CA issues them. Node's crypto has no X.509 signing, so @peculiar/x509 builds the
// certificates over WebCrypto; keys are ECDSA P-256 (what Istio and SPIRE issue by default).
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CaMaterialError } from './errors.js';
import { spiffeId, type WorkloadIdentity } from './spiffe.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const RSA_SIGNING = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/** Istio's default SVID lifetime, and when a workload's certificate is renewed (half-way, Istio's grace ratio). */
export const DEFAULT_SVID_TTL_MS = 3_600_000;
export const ROTATE_AT_FRACTION = 0.5;
/** Certificates start a minute in the past so a peer whose clock is slightly behind accepts them. */
const CLOCK_SKEW_MS = 60_000;

export interface IssuedSvid {
  spiffeId: string;
  /** The workload certificate (the root is distributed separately as the validation context). */
  certificatePem: string;
  privateKeyPem: string;
  notBefore: Date;
  notAfter: Date;
  /** When the holder should ask for a new one. */
  rotateAt: Date;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // a positive INTEGER
  return bytes.toString('hex');
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

export class MeshCA {
  readonly trustDomain: string;
  readonly rootCertificatePem: string;
  readonly #root: x509.X509Certificate;
  readonly #signingKey: CryptoKey;
  readonly #signingAlgorithm: typeof SIGNING | typeof RSA_SIGNING;

  private constructor(
    trustDomain: string,
    root: x509.X509Certificate,
    signingKey: CryptoKey,
    algorithm: typeof SIGNING | typeof RSA_SIGNING,
  ) {
    this.trustDomain = trustDomain;
    this.#root = root;
    this.rootCertificatePem = `${root.toString('pem').trimEnd()}\n`;
    this.#signingKey = signingKey;
    this.#signingAlgorithm = algorithm;
  }

  /** A new self-signed root for `trustDomain` (ten years unless told otherwise). */
  static async generate(o: { trustDomain: string; rootTtlMs?: number; now?: Date }): Promise<MeshCA> {
    spiffeId(o.trustDomain, { namespace: 'x', serviceAccount: 'x' }); // validates the trust domain
    const now = o.now ?? new Date();
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: `O=${o.trustDomain}, CN=meshscope root CA`,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + (o.rootTtlMs ?? 10 * 365 * 86_400_000)),
      signingAlgorithm: SIGNING,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new MeshCA(o.trustDomain, root, keys.privateKey, SIGNING);
  }

  /**
   * The operator's root: a CA certificate and its private key (PKCS#8, SEC1 or PKCS#1 PEM).
   * `source` names where they came from in every error (a file path or a config field).
   */
  static async fromPem(o: {
    trustDomain: string;
    certificatePem: string;
    privateKeyPem: string;
    source: string;
    now?: Date;
  }): Promise<MeshCA> {
    spiffeId(o.trustDomain, { namespace: 'x', serviceAccount: 'x' });
    let cert: NodeX509;
    try {
      cert = new NodeX509(o.certificatePem);
    } catch (err) {
      throw new CaMaterialError(`${o.source}: the root certificate does not parse as PEM X.509`, { cause: err });
    }
    if (!cert.ca) throw new CaMaterialError(`${o.source}: the certificate is not a CA (basicConstraints CA:FALSE)`);
    const now = o.now ?? new Date();
    if (new Date(cert.validTo) < now) throw new CaMaterialError(`${o.source}: the root expired on ${cert.validTo}`);
    if (new Date(cert.validFrom) > now)
      throw new CaMaterialError(`${o.source}: the root is not valid before ${cert.validFrom}`);
    let key: ReturnType<typeof createPrivateKey>;
    try {
      key = createPrivateKey(o.privateKeyPem);
    } catch (err) {
      throw new CaMaterialError(`${o.source}: the private key does not parse as PEM`, { cause: err });
    }
    if (!cert.checkPrivateKey(key))
      throw new CaMaterialError(`${o.source}: the private key does not match the certificate`);
    const type = key.asymmetricKeyType;
    const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
    let signingKey: CryptoKey;
    let algorithm: typeof SIGNING | typeof RSA_SIGNING;
    if (type === 'ec') {
      const curve = createPublicKey(key).asymmetricKeyDetails?.namedCurve;
      if (curve !== 'prime256v1')
        throw new CaMaterialError(`${o.source}: an EC root must use P-256 (prime256v1), got ${curve}`);
      signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC, false, ['sign']);
      algorithm = SIGNING;
    } else if (type === 'rsa') {
      signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, RSA_SIGNING, false, ['sign']);
      algorithm = RSA_SIGNING;
    } else {
      throw new CaMaterialError(`${o.source}: the root key must be EC P-256 or RSA, got ${type}`);
    }
    return new MeshCA(o.trustDomain, new x509.X509Certificate(o.certificatePem), signingKey, algorithm);
  }

  /** A new key and SVID for a workload, valid from now (less the clock skew) for `ttlMs`. */
  async issue(identity: WorkloadIdentity, o: { ttlMs?: number; now?: Date } = {}): Promise<IssuedSvid> {
    const id = spiffeId(this.trustDomain, identity);
    const now = (o.now ?? new Date()).getTime();
    const ttlMs = o.ttlMs ?? DEFAULT_SVID_TTL_MS;
    const notBefore = new Date(now - CLOCK_SKEW_MS);
    const notAfter = new Date(now + ttlMs);
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      // An SVID's identity is its URI SAN; the subject only says which mesh issued it.
      subject: `O=${this.trustDomain}`,
      issuer: this.#root.subject,
      notBefore,
      notAfter,
      signingAlgorithm: this.#signingAlgorithm,
      publicKey: keys.publicKey,
      signingKey: this.#signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }], true),
        await x509.AuthorityKeyIdentifierExtension.create(this.#root),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      spiffeId: id,
      certificatePem: `${cert.toString('pem').trimEnd()}\n`,
      privateKeyPem: pem('PRIVATE KEY', pkcs8),
      notBefore,
      notAfter,
      rotateAt: new Date(now + ttlMs * ROTATE_AT_FRACTION),
    };
  }
}
