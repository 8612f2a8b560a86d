// Self-signed EC P-256 certificates from the openssl command line (fast to make, what the mesh
// issues too): the roots of the TLS and mTLS tests and the server certificate of bench/proxy-tls.ts.
import { execFileSync } from 'node:child_process';

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
