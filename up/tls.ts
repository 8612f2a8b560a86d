// The certificate the front proxy serves on its HTTPS port under `meshscope up`: the operator's
// (given by flag), or one made here, signed by a local CA written beside it, so that
// `curl --cacert <state dir>/tls/ca.pem https://127.0.0.1:<port>/` verifies the chain and the name.
// Both are kept across runs while they stay valid, so a CA the user trusted once keeps working.
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import { UpPlanError } from './errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** A generated certificate is replaced when it has less than this left. */
const RENEW_BEFORE_MS = 7 * DAY_MS;

export interface IngressCertificate {
  certificateChain: string;
  privateKey: string;
  /** The CA that signed a generated certificate (for `curl --cacert`); null for the operator's own. */
  ca: string | null;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return bytes.toString('hex');
}

function pkcs8Pem(der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

/** Written to a temporary name and renamed, so a proxy watching the directory never reads half a file. */
function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

function stillValid(certPath: string, now: number): boolean {
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    return Date.parse(cert.validTo) - now > RENEW_BEFORE_MS && Date.parse(cert.validFrom) <= now;
  } catch {
    return false;
  }
}

/** The operator's certificate and key, checked as the proxy will (parse, pair, validity), with the flag named. */
function operatorCertificate(cert: string, key: string): IngressCertificate {
  const certificateChain = resolve(cert);
  const privateKey = resolve(key);
  let x: X509Certificate;
  try {
    x = new X509Certificate(readFileSync(certificateChain));
  } catch (err) {
    throw new UpPlanError(`--tls-cert ${cert}: not a readable PEM certificate (${(err as Error).message})`);
  }
  let k: ReturnType<typeof createPrivateKey>;
  try {
    k = createPrivateKey(readFileSync(privateKey));
  } catch (err) {
    throw new UpPlanError(`--tls-key ${key}: not a readable PEM private key (${(err as Error).message})`);
  }
  if (!x.checkPrivateKey(k)) throw new UpPlanError(`--tls-key ${key}: does not match the certificate in --tls-cert`);
  if (Date.parse(x.validTo) < Date.now()) throw new UpPlanError(`--tls-cert ${cert}: expired at ${x.validTo}`);
  return { certificateChain, privateKey, ca: null };
}

/**
 * The front proxy's HTTPS certificate: the operator's (`given`), else a local CA and a server
 * certificate for localhost and 127.0.0.1 under `<stateDir>/tls/`, made once and kept while valid.
 */
export async function ingressCertificate(
  stateDir: string,
  given?: { cert: string; key: string },
): Promise<IngressCertificate> {
  if (given !== undefined) return operatorCertificate(given.cert, given.key);
  const dir = join(stateDir, 'tls');
  const out = {
    certificateChain: join(dir, 'ingress.pem'),
    privateKey: join(dir, 'ingress-key.pem'),
    ca: join(dir, 'ca.pem'),
  };
  const now = Date.now();
  if (existsSync(out.privateKey) && stillValid(out.ca, now) && stillValid(out.certificateChain, now)) return out;
  mkdirSync(dir, { recursive: true });
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: 'O=meshscope, CN=meshscope local ingress CA',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3650 * DAY_MS),
    signingAlgorithm: SIGNING,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  // 397 days: the longest a browser accepts for a server certificate.
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: 'O=meshscope, CN=localhost',
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 397 * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        [
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  // The CA's key is not kept: nothing else is ever signed with it, so it cannot be misused.
  writeAtomic(out.privateKey, pkcs8Pem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), 0o600);
  writeAtomic(out.certificateChain, `${leaf.toString('pem').trimEnd()}\n`, 0o644);
  writeAtomic(out.ca, `${ca.toString('pem').trimEnd()}\n`, 0o644);
  return out;
}
