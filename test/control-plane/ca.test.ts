// The mesh CA, checked with tools written elsewhere: OpenSSL verifies the SVIDs it issues
// (chain, purpose, SAN), and Node's TLS (OpenSSL) completes a mutual-TLS handshake between two
// workloads with them, each seeing the other's SPIFFE ID, while a foreign CA's client is refused.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaMaterialError,
  MeshCA,
  parseSpiffeId,
  SECRET_TYPE_URL,
  SpiffeIdError,
  spiffeId,
  workloadSecrets,
} from '../../control-plane/ca/index.js';

const dir = mkdtempSync(join(tmpdir(), 'meshscope-ca-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: 'pipe' });

/** Handshake: a server with `server` material requiring a client certificate, a client with `client`'s. */
async function handshake(
  server: { key: string; cert: string; ca: string },
  client: { key: string; cert: string; ca: string },
): Promise<{ ok: true; serverSawSan: string; clientSawSan: string } | { ok: false; error: string }> {
  let serverSawSan = '';
  const srv = tls.createServer(
    { ...server, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (s) => {
      serverSawSan = s.getPeerCertificate().subjectaltname ?? '';
      s.end('ok');
    },
  );
  srv.on('tlsClientError', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      // SVIDs carry no DNS name: identity is the URI SAN, checked by the caller as Envoy's SAN matchers do.
      const socket = tls.connect({ ...client, port, host: '127.0.0.1', checkServerIdentity: () => undefined }, () => {
        const clientSawSan = socket.getPeerCertificate().subjectaltname ?? '';
        socket.once('data', () => {
          socket.end();
          resolve({ ok: true, serverSawSan, clientSawSan });
        });
      });
      socket.on('error', (err) => resolve({ ok: false, error: err.message }));
      socket.on('close', () => resolve({ ok: false, error: 'closed before the answer' }));
    });
  } finally {
    srv.close();
  }
}

describe('the mesh CA', () => {
  it('issues SVIDs that OpenSSL verifies for TLS server and client use, with the SPIFFE ID as the URI SAN', async () => {
    const ca = await MeshCA.generate({ trustDomain: 'cluster.local' });
    const svid = await ca.issue({ namespace: 'default', serviceAccount: 'checkout' });
    const root = file('root.pem', ca.rootCertificatePem);
    const leaf = file('leaf.pem', svid.certificatePem);
    expect(openssl('verify', '-CAfile', root, '-purpose', 'sslserver', leaf).trim()).toBe(`${leaf}: OK`);
    expect(openssl('verify', '-CAfile', root, '-purpose', 'sslclient', leaf).trim()).toBe(`${leaf}: OK`);
    expect(openssl('x509', '-in', leaf, '-noout', '-ext', 'subjectAltName')).toContain(
      'URI:spiffe://cluster.local/ns/default/sa/checkout',
    );
    const cert = new X509Certificate(svid.certificatePem);
    expect(cert.ca).toBe(false);
    expect(cert.checkPrivateKey(createPrivateKey(svid.privateKeyPem))).toBe(true);
    // Short-lived by default (1 h), renewed half-way, as Istio does.
    const lifetime = svid.notAfter.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(3_500_000);
    expect(lifetime).toBeLessThanOrEqual(3_600_000);
    expect(svid.rotateAt.getTime() - Date.now()).toBeGreaterThan(1_700_000);
    expect(svid.rotateAt.getTime() - Date.now()).toBeLessThanOrEqual(1_800_000);
  });

  it('lets two workloads complete mutual TLS, each seeing the other identity; a foreign CA is refused', async () => {
    const ca = await MeshCA.generate({ trustDomain: 'cluster.local' });
    const [a, b] = await Promise.all([
      ca.issue({ namespace: 'shop', serviceAccount: 'checkout' }),
      ca.issue({ namespace: 'shop', serviceAccount: 'payment' }),
    ]);
    const material = (s: typeof a) => ({ key: s.privateKeyPem, cert: s.certificatePem, ca: ca.rootCertificatePem });
    const result = await handshake(material(b), material(a));
    expect(result).toEqual({
      ok: true,
      serverSawSan: 'URI:spiffe://cluster.local/ns/shop/sa/checkout',
      clientSawSan: 'URI:spiffe://cluster.local/ns/shop/sa/payment',
    });
    const foreign = await MeshCA.generate({ trustDomain: 'cluster.local' });
    const intruder = await foreign.issue({ namespace: 'shop', serviceAccount: 'checkout' });
    const refused = await handshake(material(b), {
      key: intruder.privateKeyPem,
      cert: intruder.certificatePem,
      ca: ca.rootCertificatePem,
    });
    expect(refused.ok).toBe(false);
  });

  it("signs with an operator's RSA root, and names the source of bad root material", async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const keyFile = file('op.key', keyPem);
    const certFile = join(dir, 'op.pem');
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      keyFile,
      '-subj',
      '/O=operator/CN=operator root',
      '-days',
      '30',
      '-out',
      certFile,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    const certPem = readFileSync(certFile, 'utf8');
    const ca = await MeshCA.fromPem({
      trustDomain: 'corp.example',
      certificatePem: certPem,
      privateKeyPem: keyPem,
      source: 'ca.pem',
    });
    const svid = await ca.issue({ namespace: 'default', serviceAccount: 'web' });
    const leaf = file('op-leaf.pem', svid.certificatePem);
    expect(openssl('verify', '-CAfile', certFile, leaf).trim()).toBe(`${leaf}: OK`);

    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    const attempt = (o: { certificatePem?: string; privateKeyPem?: string; now?: Date }) =>
      MeshCA.fromPem({
        trustDomain: 'corp.example',
        certificatePem: certPem,
        privateKeyPem: keyPem,
        source: '/etc/mesh/ca.pem',
        ...o,
      });
    await expect(attempt({ privateKeyPem: other })).rejects.toThrow(
      '/etc/mesh/ca.pem: the private key does not match the certificate',
    );
    await expect(attempt({ certificatePem: 'not a certificate' })).rejects.toThrow(
      /ca\.pem: the root certificate does not parse/,
    );
    await expect(
      attempt({ privateKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }),
    ).rejects.toThrow(/the private key does not parse/);
    await expect(attempt({ now: new Date(Date.now() + 60 * 86_400_000) })).rejects.toThrow(/the root expired on/);
    await expect(attempt({ certificatePem: svid.certificatePem })).rejects.toBeInstanceOf(CaMaterialError);
  });

  it('refuses identities that are not SPIFFE IDs, and parses the ones it issues', () => {
    expect(spiffeId('cluster.local', { namespace: 'default', serviceAccount: 'cart' })).toBe(
      'spiffe://cluster.local/ns/default/sa/cart',
    );
    expect(() => spiffeId('Cluster.Local', { namespace: 'default', serviceAccount: 'cart' })).toThrow(SpiffeIdError);
    expect(() => spiffeId('cluster.local', { namespace: 'a/b', serviceAccount: 'cart' })).toThrow(/namespace 'a\/b'/);
    expect(() => spiffeId('cluster.local', { namespace: 'default', serviceAccount: '..' })).toThrow(/service account/);
    expect(parseSpiffeId('spiffe://cluster.local/ns/shop/sa/payment')).toEqual({
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'payment',
    });
    expect(parseSpiffeId('https://example.com/')).toBeUndefined();
  });

  it('renders SDS secrets as Istio names them: default (certificate and key) and ROOTCA (trust bundle)', async () => {
    const ca = await MeshCA.generate({ trustDomain: 'cluster.local' });
    const svid = await ca.issue({ namespace: 'default', serviceAccount: 'cart' }, { ttlMs: 600_000 });
    const [own, roots] = workloadSecrets(svid, ca.rootCertificatePem);
    expect(own).toEqual({
      '@type': SECRET_TYPE_URL,
      name: 'default',
      tls_certificate: {
        certificate_chain: { inline_string: svid.certificatePem },
        private_key: { inline_string: svid.privateKeyPem },
      },
    });
    expect(roots.name).toBe('ROOTCA');
    expect(roots.validation_context.trusted_ca.inline_string).toBe(ca.rootCertificatePem);
  });
});
