// Certificates for the TLS tests, made with the openssl command line (EC P-256, fast): a mesh CA
// with a server certificate (DNS:localhost, IP:127.0.0.1, a SPIFFE URI) and a client SVID, a
// foreign CA with its own client certificate, and bad material (a key that is not the
// certificate's, a CA bundle that does not parse).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedP256, signedP256Leaf } from '../../helpers/openssl.js';

export interface TlsFixtures {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** The client's SPIFFE ID (URI SAN). */
  readonly clientId: string;
  readonly serverId: string;
  readonly foreignClientCert: string;
  readonly foreignClientKey: string;
  readonly garbageCa: string;
  /** Issues another certificate for the server (same CA, new key): rotation. */
  /** A server certificate from the mesh CA; `extensions` are more extension lines (`tlsfeature=status_request`). */
  issueServer(tag: string, extensions?: readonly string[]): { cert: string; key: string };
  /** A certificate from the mesh CA for one DNS name. */
  issueFor(dns: string): { cert: string; key: string };
}

function makeCa(dir: string, name: string): void {
  selfSignedP256({
    key: join(dir, `${name}.key`),
    cert: join(dir, `${name}.crt`),
    subject: `/O=${name}/CN=${name} root`,
    days: 2,
  });
}

function makeLeaf(
  dir: string,
  ca: string,
  name: string,
  subject: string,
  sans: string,
  extensions: readonly string[] = [],
): void {
  signedP256Leaf({ dir, ca, name, subject, sans, extensions });
}

export function makeTlsFixtures(): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tls-'));
  makeCa(dir, 'mesh');
  makeCa(dir, 'foreign');
  const serverId = 'spiffe://cluster.local/ns/default/sa/server';
  const clientId = 'spiffe://cluster.local/ns/default/sa/client';
  makeLeaf(dir, 'mesh', 'server', '/O=meshscope/CN=localhost', `DNS:localhost,IP:127.0.0.1,URI:${serverId}`);
  makeLeaf(dir, 'mesh', 'client', '/O=meshscope/CN=client', `URI:${clientId}`);
  makeLeaf(dir, 'foreign', 'intruder', '/O=foreign/CN=intruder', 'URI:spiffe://cluster.local/ns/default/sa/client');
  writeFileSync(
    join(dir, 'garbage.crt'),
    '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
  );
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p('mesh.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    clientId,
    serverId,
    foreignClientCert: p('intruder.crt'),
    foreignClientKey: p('intruder.key'),
    garbageCa: p('garbage.crt'),
    issueFor(dns: string) {
      makeLeaf(dir, 'mesh', dns, `/CN=${dns}`, `DNS:${dns}`);
      return { cert: p(`${dns}.crt`), key: p(`${dns}.key`) };
    },
    issueServer(tag: string, extensions: readonly string[] = []) {
      makeLeaf(
        dir,
        'mesh',
        `server-${tag}`,
        `/O=meshscope/CN=localhost-${tag}`,
        `DNS:localhost,IP:127.0.0.1,URI:${serverId}`,
        extensions,
      );
      return { cert: p(`server-${tag}.crt`), key: p(`server-${tag}.key`) };
    },
  };
}
