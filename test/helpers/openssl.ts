// Self-signed EC P-256 certificates from the openssl command line (fast to make, what the mesh
// issues too): the roots of the TLS and mTLS tests and the server certificate of bench/proxy-tls.ts.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SelfSignedOptions {
  /** Where the private key (PEM, unencrypted) is written. */
  readonly key: string;
  /** Where the certificate (PEM) is written. */
  readonly cert: string;
  /** `-subj`, e.g. `/O=mesh/CN=mesh root`. */
  readonly subject: string;
  readonly days: number;
  /** Each one an `-addext` (`subjectAltName=…`, `basicConstraints=…`). */
  readonly extensions?: readonly string[];
}

export function selfSignedP256(o: SelfSignedOptions): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      String(o.days),
      '-keyout',
      o.key,
      '-out',
      o.cert,
      '-subj',
      o.subject,
      ...(o.extensions ?? []).flatMap((e) => ['-addext', e]),
    ],
    { stdio: 'ignore' },
  );
}

export interface LeafOptions {
  /** Where the CA's `<ca>.crt`/`<ca>.key` are and the leaf's `<name>.crt`/`<name>.key` go. */
  readonly dir: string;
  readonly ca: string;
  readonly name: string;
  readonly subject: string;
  /** The subjectAltName value: `DNS:localhost,URI:spiffe://…`. */
  readonly sans: string;
  readonly days?: number;
  /** More extension lines for the leaf, e.g. `tlsfeature=status_request` (must-staple). */
  readonly extensions?: readonly string[];
}

/** An EC P-256 leaf signed by the CA `ca` in `dir` (the mesh's SVIDs are this shape). */
export function signedP256Leaf(o: LeafOptions): { cert: string; key: string } {
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: o.dir, stdio: 'ignore' });
  const n = o.name;
  run([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${n}.key`,
    '-out',
    `${n}.csr`,
    '-subj',
    o.subject,
  ]);
  writeFileSync(join(o.dir, `${n}.ext`), `${[`subjectAltName=${o.sans}`, ...(o.extensions ?? [])].join('\n')}\n`);
  run([
    'x509',
    '-req',
    '-in',
    `${n}.csr`,
    '-CA',
    `${o.ca}.crt`,
    '-CAkey',
    `${o.ca}.key`,
    '-CAcreateserial',
    '-days',
    String(o.days ?? 1),
    '-out',
    `${n}.crt`,
    '-extfile',
    `${n}.ext`,
  ]);
  return { cert: join(o.dir, `${n}.crt`), key: join(o.dir, `${n}.key`) };
}
