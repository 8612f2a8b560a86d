// Revocation material made the way an operator makes it, with the openssl command line: a CA
// keeping an `openssl ca` database, leaves it issues (one with the must-staple extension), CRLs
// from `openssl ca -revoke` / `-gencrl`, and OCSP responses from `openssl ocsp` answering a
// request for one certificate (fresh, or without nextUpdate: what Envoy treats as expired).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedP256, signedP256Leaf } from '../../helpers/openssl.js';

export interface RevocationCa {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  /**
   * A leaf for localhost/127.0.0.1 (`extra` is more extension lines, e.g. `tlsfeature=status_request`);
   * `chain` is the leaf then this CA's certificate (what a peer under an intermediate presents).
   */
  issue(name: string, extra?: string): { cert: string; key: string; chain: string };
  revoke(cert: string): void;
  /** A PEM CRL of everything revoked so far. */
  crl(name: string): string;
  /** A DER OCSP response for `cert`; `days` 0 leaves nextUpdate out. */
  ocsp(cert: string, name: string, days: number): string;
}

/** A root CA, or with `parent` an intermediate CA that `parent` signs. */
export function makeRevocationCa(tag: string, parent?: RevocationCa): RevocationCa {
  const dir = mkdtempSync(join(tmpdir(), `ms-revocation-${tag}-`));
  const p = (f: string) => join(dir, f);
  if (parent === undefined)
    selfSignedP256({ key: p('ca.key'), cert: p('ca.crt'), subject: `/O=${tag}/CN=${tag} root`, days: 2 });
  else {
    const sub = parent.issue(`${tag}-ca`, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign');
    copyFileSync(sub.cert, p('ca.crt'));
    copyFileSync(sub.key, p('ca.key'));
  }
  writeFileSync(
    p('ca.cnf'),
    '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ndefault_md = sha256\ndefault_crl_days = 1\n',
  );
  writeFileSync(p('index.txt'), '');
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ca = ['-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.crt'];
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    issue(name, extra = '') {
      signedP256Leaf({
        dir,
        ca: 'ca',
        name,
        subject: `/O=${tag}/CN=${name}`,
        sans: 'DNS:localhost,IP:127.0.0.1',
        extensions: extra.split('\n'),
      });
      // In the CA's database as valid, so `openssl ocsp` answers "good" for it.
      openssl(['ca', ...ca, '-valid', `${name}.crt`]);
      writeFileSync(p(`${name}.chain`), readFileSync(p(`${name}.crt`), 'utf8') + readFileSync(p('ca.crt'), 'utf8'));
      return { cert: p(`${name}.crt`), key: p(`${name}.key`), chain: p(`${name}.chain`) };
    },
    revoke(cert) {
      openssl(['ca', ...ca, '-revoke', cert]);
    },
    crl(name) {
      openssl(['ca', ...ca, '-gencrl', '-out', `${name}.pem`]);
      return p(`${name}.pem`);
    },
    ocsp(cert, name, days) {
      openssl(['ocsp', '-issuer', 'ca.crt', '-cert', cert, '-reqout', `${name}.req`, '-no_nonce']);
      openssl([
        'ocsp',
        '-index',
        'index.txt',
        '-rsigner',
        'ca.crt',
        '-rkey',
        'ca.key',
        '-CA',
        'ca.crt',
        '-reqin',
        `${name}.req`,
        '-respout',
        `${name}.der`,
        ...(days > 0 ? ['-ndays', String(days)] : []),
      ]);
      return p(`${name}.der`);
    },
  };
}
