// The control plane as the mesh's CA with `mtls: STRICT`: it issues every node an X.509 SVID
// (spiffe://<trust domain>/ns/<namespace>/sa/<service account>) before serving its config, serves
// it as the SDS secret `default`, re-issues it at half its lifetime and pushes the new one, and
// renders the listeners and clusters that use it (the mesh root as trusted CA). An operator's
// root is used when given; a bad one is refused naming the file.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type ControlPlane, startControlPlane } from '../../control-plane/index.js';
import { selfSignedP256 } from '../helpers/openssl.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-mtls-'));
const running: ControlPlane[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()!.close();
});

function meshFile(name: string): string {
  const workload = (n: string, base: number) => ({
    name: n,
    endpoints: { http: `127.0.0.1:${base}` },
    sidecar: { inbound: { http: base + 1 }, outbound_port: base + 2 },
  });
  const path = join(dir, name);
  writeFileSync(
    path,
    stringify({
      name: 'mtls-mesh',
      mtls: 'STRICT',
      services: [
        {
          name: 'cart',
          service_account: 'cart-sa',
          ports: [{ name: 'http', port: 8080 }],
          workloads: [workload('cart-1', 41000)],
        },
        {
          name: 'payment',
          namespace: 'pay',
          ports: [{ name: 'http', port: 8080 }],
          workloads: [workload('payment-1', 41010)],
        },
      ],
    }),
  );
  return path;
}

interface DiscoveryResponse {
  version_info: string;
  resources: Array<Record<string, unknown>>;
}

async function discover(cp: ControlPlane, kind: string, node: string, version = '', names: string[] = []) {
  const res = await fetch(`http://127.0.0.1:${cp.port}/v3/discovery:${kind}`, {
    method: 'POST',
    body: JSON.stringify({ node: { id: node }, version_info: version, resource_names: names }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as DiscoveryResponse;
}

function certificateOf(r: DiscoveryResponse): X509Certificate {
  const secret = r.resources[0] as { name: string; tls_certificate: { certificate_chain: { inline_string: string } } };
  expect(secret.name).toBe('default');
  return new X509Certificate(secret.tls_certificate.certificate_chain.inline_string);
}

describe('the control plane as the mesh CA', () => {
  it('serves each node its SVID over SDS, the root in its TLS contexts, and a renewed SVID at half-life', async () => {
    const cp = await startControlPlane({
      meshPath: meshFile('strict.yaml'),
      restHoldMs: 20_000,
      port: 0,
      svidTtlMs: 4000,
      log: () => {},
    });
    running.push(cp);
    const root = new X509Certificate(cp.certificates!.ca.rootCertificatePem);

    const first = await discover(cp, 'secrets', 'payment-1', '', ['default']);
    const cert = certificateOf(first);
    expect(cert.subjectAltName).toBe('URI:spiffe://cluster.local/ns/pay/sa/payment');
    expect(cert.verify(root.publicKey)).toBe(true);
    expect(cert.checkIssued(root)).toBe(true);
    expect(certificateOf(await discover(cp, 'secrets', 'cart-1', '', ['default'])).subjectAltName).toBe(
      'URI:spiffe://cluster.local/ns/default/sa/cart-sa',
    );

    // The caller's cluster to payment checks the server's SPIFFE ID; payment's listener requires a client certificate.
    const clusters = await discover(cp, 'clusters', 'cart-1');
    const toPayment = clusters.resources.find((c) => c.name === 'outbound|8080||pay/payment') as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(toPayment.transport_socket)).toContain('spiffe://cluster.local/ns/pay/sa/payment');
    expect(JSON.stringify(toPayment.transport_socket)).toContain(
      JSON.stringify(cp.certificates!.ca.rootCertificatePem).slice(1, 40),
    );
    const listeners = await discover(cp, 'listeners', 'payment-1');
    const inbound = listeners.resources.find((l) => l.name === 'inbound|41011');
    expect(JSON.stringify(inbound)).toContain('"require_client_certificate":true');

    // Re-issued at half of the 4 s lifetime: the long poll on the current version answers with the new one.
    const renewed = await discover(cp, 'secrets', 'payment-1', first.version_info, ['default']);
    expect(renewed.version_info).not.toBe(first.version_info);
    const next = certificateOf(renewed);
    expect(next.serialNumber).not.toBe(cert.serialNumber);
    expect(next.subjectAltName).toBe(cert.subjectAltName);
    expect(new Date(next.validTo).getTime()).toBeGreaterThan(new Date(cert.validTo).getTime());
  });

  it("signs with the operator's root, and refuses a key that does not match it, naming the file", async () => {
    const cert = join(dir, 'root.pem');
    const key = join(dir, 'root.key');
    selfSignedP256({
      key,
      cert,
      subject: '/O=operator/CN=operator root',
      days: 2,
      extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
    });
    const cp = await startControlPlane({
      meshPath: meshFile('op.yaml'),
      port: 0,
      caCertificatePath: cert,
      caKeyPath: key,
      log: () => {},
    });
    running.push(cp);
    const issued = certificateOf(await discover(cp, 'secrets', 'cart-1', '', ['default']));
    expect(issued.issuer).toContain('operator root');
    expect(issued.verify(new X509Certificate(readFileSync(cert)).publicKey)).toBe(true);

    const otherKey = join(dir, 'other.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKey]);
    await expect(
      startControlPlane({
        meshPath: meshFile('bad.yaml'),
        port: 0,
        caCertificatePath: cert,
        caKeyPath: otherKey,
        log: () => {},
      }),
    ).rejects.toThrow(/root\.pem: the private key does not match the certificate/);
  });
});
