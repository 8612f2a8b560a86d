// Revocation and pinning on envoy.transport_sockets.tls, checked with real clients:
//   - OCSP stapling (TlsCertificate.ocsp_staple, DownstreamTlsContext.ocsp_staple_policy) with
//     `openssl s_client -status`, the responses made by `openssl ocsp`;
//   - CRLs (CertificateValidationContext.crl) from `openssl ca -gencrl`: a revoked client
//     certificate refused on an mTLS listener (curl), a revoked upstream failing the upstream
//     connection (503 UF);
//   - pins (verify_certificate_hash, verify_certificate_spki) downstream and upstream;
//   - bad material named by field at load.
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxyServer, startProxy, validateBootstrap } from '../../../proxy/index.js';
import { startUpstream, type Upstream } from '../helpers.js';
import { makeRevocationCa, type RevocationCa } from './revocation-fixtures.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWNSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const AT = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context';

let ca: RevocationCa;
let server: { cert: string; key: string };
let mustStaple: { cert: string; key: string };
let goodClient: { cert: string; key: string };
let revokedClient: { cert: string; key: string };
let revokedServer: { cert: string; key: string };
let crl: string;
let goodStaple: string;
let expiredStaple: string;
let otherStaple: string;
let upstream: Upstream;
const proxies: ProxyServer[] = [];

beforeAll(async () => {
  ca = makeRevocationCa('rev');
  server = ca.issue('server');
  mustStaple = ca.issue('muststaple', 'tlsfeature=status_request');
  goodClient = ca.issue('client');
  revokedClient = ca.issue('revoked-client');
  revokedServer = ca.issue('revoked-server');
  ca.revoke(revokedClient.cert);
  ca.revoke(revokedServer.cert);
  crl = ca.crl('crl');
  goodStaple = ca.ocsp(server.cert, 'good', 1);
  expiredStaple = ca.ocsp(server.cert, 'no-next-update', 0);
  otherStaple = ca.ocsp(goodClient.cert, 'other', 1);
  upstream = await startUpstream('backend');
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close(0)));
  await upstream.close();
});

function run(cmd: string, args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

const file = (path: string) => ({ filename: path });

const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const fileLog = (path: string, format: string) => [
  { name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG, path, log_format: { text_format: format } } },
];

/** Access logs: the listener's (one line per connection) and the HCM's (one per request), when asked. */
interface Logs {
  listener?: { path: string; format: string };
  requests?: { path: string; format: string };
}

function bootstrap(downstream: Record<string, unknown> | null, cluster: Record<string, unknown> = {}, logs: Logs = {}) {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: 'l',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          ...(logs.listener === undefined ? {} : { access_log: fileLog(logs.listener.path, logs.listener.format) }),
          filter_chains: [
            {
              ...(downstream === null
                ? {}
                : {
                    transport_socket: {
                      name: 'envoy.transport_sockets.tls',
                      typed_config: { '@type': DOWNSTREAM, ...downstream },
                    },
                  }),
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'in',
                    ...(logs.requests === undefined
                      ? {}
                      : { access_log: fileLog(logs.requests.path, logs.requests.format) }),
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }],
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'backend',
          connect_timeout: '2s',
          load_assignment: endpoint(upstream.port),
          ...cluster,
        },
      ],
    },
  };
}

function endpoint(port: number) {
  return {
    cluster_name: 'backend',
    endpoints: [
      { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] },
    ],
  };
}

async function proxyWith(
  downstream: Record<string, unknown> | null,
  cluster: Record<string, unknown> = {},
  logs: Logs = {},
): Promise<{ port: number; adminPort: number; stats: () => Promise<string> }> {
  const p = await startProxy({
    config: bootstrap(downstream, cluster, logs),
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 1,
  });
  proxies.push(p);
  const addr = p.listeners()[0]!.localAddress;
  const admin = p.adminAddress()!.port;
  return {
    port: Number(addr.slice(addr.lastIndexOf(':') + 1)),
    adminPort: admin,
    stats: async () => (await run('curl', ['-sS', `http://127.0.0.1:${admin}/stats`])).stdout,
  };
}

function problemsOf(downstream: Record<string, unknown> | null, cluster: Record<string, unknown> = {}): string {
  try {
    validateBootstrap(bootstrap(downstream, cluster));
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

const serving = (cert: { cert: string; key: string }, staple?: string, extra: Record<string, unknown> = {}) => ({
  common_tls_context: {
    tls_certificates: [
      {
        certificate_chain: file(cert.cert),
        private_key: file(cert.key),
        ...(staple === undefined ? {} : { ocsp_staple: file(staple) }),
      },
    ],
  },
  ...extra,
});

/** `openssl s_client` once, with or without `-status`; its output (handshake outcome and any staple). */
async function sClient(port: number, status: boolean): Promise<{ ok: boolean; out: string }> {
  const r = await run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', ca.caCert, ...(status ? ['-status'] : [])],
    'Q\n',
  );
  const out = r.stdout + r.stderr;
  // A finished handshake names its cipher; a refused one prints `Cipher is (NONE)`.
  return { ok: /^New, TLSv1\.[23], Cipher is [A-Z]/m.test(out), out };
}

describe('OCSP stapling', () => {
  it('staples a good response to a client that asks (s_client -status), none to one that does not', async () => {
    const p = await proxyWith(serving(server, goodStaple));
    const asked = await sClient(p.port, true);
    expect(asked.ok, asked.out).toBe(true);
    expect(asked.out).toContain('OCSP Response Status: successful');
    expect(asked.out).toContain('Cert Status: good');
    const plain = await sClient(p.port, false);
    expect(plain.ok, plain.out).toBe(true);
    expect(plain.out).not.toContain('OCSP Response Status');
    const stats = await p.stats();
    // Admin /certs shows the staple's validity beside the certificate's, as Envoy's ocsp_details.
    const certs = JSON.parse((await run('curl', ['-sS', `http://127.0.0.1:${p.adminPort}/certs`])).stdout) as {
      certificates: Array<{ cert_chain: Array<{ ocsp_details?: { valid_from: string; expiration: string } }> }>;
    };
    const ocsp = certs.certificates[0]?.cert_chain[0]?.ocsp_details;
    expect(ocsp).toBeDefined();
    expect(Date.parse(ocsp!.expiration) - Date.parse(ocsp!.valid_from)).toBe(86_400_000);
    expect(stats).toMatch(/\.ssl\.ocsp_staple_requests: 1$/m);
    expect(stats).toMatch(/\.ssl\.ocsp_staple_responses: 1$/m);
  });

  it('an expired staple: LENIENT serves without it, STRICT refuses a client that asks, and only it', async () => {
    const lenient = await proxyWith(serving(server, expiredStaple));
    const l = await sClient(lenient.port, true);
    expect(l.ok, l.out).toBe(true);
    expect(l.out).toContain('OCSP response: no response sent');
    expect(await lenient.stats()).toMatch(/\.ssl\.ocsp_staple_omitted: 1$/m);

    const strict = await proxyWith(serving(server, expiredStaple, { ocsp_staple_policy: 'STRICT_STAPLING' }));
    const refused = await sClient(strict.port, true);
    expect(refused.ok, refused.out).toBe(false);
    // A client that does not ask for a staple is not refused (Envoy's ClientNotCapable).
    expect((await sClient(strict.port, false)).ok).toBe(true);
    expect(await strict.stats()).toMatch(/\.ssl\.ocsp_staple_failed: 1$/m);
    // Stricter still with a good staple: served.
    const must = await proxyWith(serving(server, goodStaple, { ocsp_staple_policy: 'must_staple' }));
    expect((await sClient(must.port, true)).out).toContain('Cert Status: good');
  });

  it('a must-staple certificate or MUST_STAPLE needs a staple; a staple must parse and be for the certificate', () => {
    expect(problemsOf(serving(mustStaple))).toContain(
      `${AT}.tls_certificates[0].ocsp_staple: OCSP response is required for must-staple certificate`,
    );
    expect(problemsOf(serving(server, undefined, { ocsp_staple_policy: 'MUST_STAPLE' }))).toContain(
      `${AT}.tls_certificates[0].ocsp_staple: required by ocsp_staple_policy MUST_STAPLE`,
    );
    const upstreamStaple = {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM,
          common_tls_context: {
            tls_certificates: [
              { certificate_chain: file(server.cert), private_key: file(server.key), ocsp_staple: file(goodStaple) },
            ],
          },
        },
      },
    };
    expect(problemsOf(null, upstreamStaple)).toContain(
      'static_resources.clusters[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].ocsp_staple: a client does not staple',
    );
    expect(problemsOf(serving(server, otherStaple))).toContain(
      `${AT}.tls_certificates[0].ocsp_staple: OCSP response does not match its TLS certificate`,
    );
    const garbage = join(ca.dir, 'garbage.der');
    writeFileSync(garbage, 'not an OCSP response');
    expect(problemsOf(serving(server, garbage))).toContain(
      `${AT}.tls_certificates[0].ocsp_staple: not a usable DER OCSP response in file '${garbage}'`,
    );
  });
});

const validating = (validation: Record<string, unknown>) => ({
  require_client_certificate: true,
  common_tls_context: {
    tls_certificates: [{ certificate_chain: file(server.cert), private_key: file(server.key) }],
    validation_context: validation,
  },
});

async function curlWith(port: number, client: { cert: string; key: string }): Promise<string> {
  const r = await run('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--cacert',
    ca.caCert,
    '--cert',
    client.cert,
    '--key',
    client.key,
    `https://127.0.0.1:${port}/`,
  ]);
  return r.stdout === '000' || r.stdout === '' ? `refused (${r.code})` : r.stdout;
}

describe('certificate revocation lists', () => {
  it('a revoked client certificate is refused on an mTLS listener; a good one passes', async () => {
    const p = await proxyWith(validating({ trusted_ca: file(ca.caCert), crl: file(crl) }));
    expect(await curlWith(p.port, goodClient)).toBe('200');
    expect(await curlWith(p.port, revokedClient)).toMatch(/^refused/);
    expect(await p.stats()).toMatch(/\.ssl\.fail_verify_error: 1$/m);
  });

  it('a revoked upstream certificate fails the upstream connection: 503 UF, ssl.fail_verify_error', async () => {
    const serve = (cert: { cert: string; key: string }) =>
      https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (_req, res) => res.end('tls'));
    const good = serve(server);
    const revoked = serve(revokedServer);
    await Promise.all([good, revoked].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const portOf = (s: https.Server) => (s.address() as { port: number }).port;
    const upstreamTls = (port: number) => ({
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM,
          common_tls_context: { validation_context: { trusted_ca: file(ca.caCert), crl: file(crl) } },
        },
      },
      load_assignment: endpoint(port),
    });
    try {
      const ok = await proxyWith(null, upstreamTls(portOf(good)));
      expect((await run('curl', ['-sS', `http://127.0.0.1:${ok.port}/`])).stdout).toBe('tls');
      const bad = await proxyWith(null, upstreamTls(portOf(revoked)));
      const r = await run('curl', ['-sS', '-w', '\n%{http_code}', `http://127.0.0.1:${bad.port}/`]);
      expect(r.stdout.split('\n').at(-1)).toBe('503');
      expect(r.stdout).toContain('upstream connect error');
      expect(await bad.stats()).toMatch(/cluster\.backend\.ssl\.fail_verify_error: [1-9]/);
    } finally {
      good.close();
      revoked.close();
    }
  });

  it('a CRL that does not parse, or one without trusted_ca, is a load error naming the field', () => {
    const garbage = join(ca.dir, 'garbage-crl.pem');
    writeFileSync(garbage, '-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n');
    expect(problemsOf(validating({ trusted_ca: file(ca.caCert), crl: file(garbage) }))).toContain(
      `${AT}.validation_context.crl: CRL 1 in file '${garbage}' does not parse`,
    );
    expect(problemsOf(validating({ trusted_ca: file(ca.caCert), crl: file(ca.caCert) }))).toContain(
      `${AT}.validation_context.crl: no PEM X509 CRL in file '${ca.caCert}'`,
    );
    const withoutCa = serving(server, undefined, {
      common_tls_context: {
        tls_certificates: [{ certificate_chain: file(server.cert), private_key: file(server.key) }],
        validation_context: { crl: file(crl) },
      },
    });
    expect(problemsOf(withoutCa)).toContain(`${AT}.validation_context.crl: needs trusted_ca`);
  });

  it('only_verify_leaf_cert_crl: under an intermediate, only the leaf is checked, against its issuer CRL', async () => {
    const inter = makeRevocationCa('inter', ca);
    const good = inter.issue('inter-good');
    const bad = inter.issue('inter-bad');
    inter.revoke(bad.cert);
    // The intermediate's CRL only: none from the root covering the intermediate itself.
    const interCrl = inter.crl('inter-crl');
    const chain = (c: { chain: string; key: string }) => ({ cert: c.chain, key: c.key });
    const leafOnly = await proxyWith(
      validating({ trusted_ca: file(ca.caCert), crl: file(interCrl), only_verify_leaf_cert_crl: true }),
    );
    expect(await curlWith(leafOnly.port, chain(good))).toBe('200');
    expect(await curlWith(leafOnly.port, chain(bad))).toMatch(/^refused/);
    expect(await leafOnly.stats()).toMatch(/\.ssl\.fail_verify_error: 1$/m);
    // Without it every certificate of the chain needs its issuer's CRL, and the root's is missing.
    const wholeChain = await proxyWith(validating({ trusted_ca: file(ca.caCert), crl: file(interCrl) }));
    expect(await curlWith(wholeChain.port, chain(good))).toMatch(/^refused/);
    // A leaf whose issuer published no CRL here is refused too (OpenSSL's UNABLE_TO_GET_CRL).
    const rootOnly = await proxyWith(
      validating({ trusted_ca: file(ca.caCert), crl: file(crl), only_verify_leaf_cert_crl: true }),
    );
    expect(await curlWith(rootOnly.port, chain(good))).toMatch(/^refused/);
    expect(await curlWith(rootOnly.port, goodClient)).toBe('200');
  });
});

const certHash = (path: string) => new X509Certificate(readFileSync(path)).fingerprint256;
const spkiOf = (path: string) =>
  createHash('sha256')
    .update(new X509Certificate(readFileSync(path)).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');

describe('certificate pinning', () => {
  it('downstream: verify_certificate_hash (hex, colons) and verify_certificate_spki admit the pinned client only', async () => {
    const byHash = await proxyWith(
      validating({ trusted_ca: file(ca.caCert), verify_certificate_hash: [certHash(goodClient.cert)] }),
    );
    expect(await curlWith(byHash.port, goodClient)).toBe('200');
    expect(await curlWith(byHash.port, revokedClient)).toMatch(/^refused/);
    expect(await byHash.stats()).toMatch(/\.ssl\.fail_verify_cert_hash: 1$/m);
    // Pins without a CA: the pinned key is the trust.
    const bySpki = await proxyWith(validating({ verify_certificate_spki: [spkiOf(revokedClient.cert)] }));
    expect(await curlWith(bySpki.port, revokedClient)).toBe('200');
    expect(await curlWith(bySpki.port, goodClient)).toMatch(/^refused/);
  });

  it('upstream: a server whose key is not pinned fails the connection (503, ssl.fail_verify_cert_hash)', async () => {
    const s = https.createServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) }, (_q, res) =>
      res.end('pinned'),
    );
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    const pinnedTo = (spki: string) => ({
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM,
          common_tls_context: { validation_context: { trusted_ca: file(ca.caCert), verify_certificate_spki: [spki] } },
        },
      },
      load_assignment: endpoint(port),
    });
    try {
      const ok = await proxyWith(null, pinnedTo(spkiOf(server.cert)));
      expect((await run('curl', ['-sS', `http://127.0.0.1:${ok.port}/`])).stdout).toBe('pinned');
      const bad = await proxyWith(null, pinnedTo(spkiOf(goodClient.cert)));
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${bad.port}/`]);
      expect(r.stdout).toBe('503');
      expect(await bad.stats()).toMatch(/cluster\.backend\.ssl\.fail_verify_cert_hash: [1-9]/);
    } finally {
      s.close();
    }
  });

  it('a pin that is not base64 or hex of a SHA-256 is a load error naming it', () => {
    const spki = problemsOf(validating({ verify_certificate_spki: ['!'.repeat(44)] }));
    expect(spki).toContain(`${AT}.validation_context.verify_certificate_spki[0]: '${'!'.repeat(44)}' is not a base64`);
    const hash = problemsOf(validating({ verify_certificate_hash: ['zz'.repeat(32)] }));
    expect(hash).toContain(`${AT}.validation_context.verify_certificate_hash[0]: '${'zz'.repeat(32)}' is not a hex`);
  });
});

async function lines(path: string, n: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const text = existsSync(path) ? readFileSync(path, 'utf8').trim() : '';
    const got = text === '' ? [] : text.split('\n');
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} has fewer than ${n} lines`);
}

describe('why a handshake failed', () => {
  it('the listener log names it: %DOWNSTREAM_TRANSPORT_FAILURE_REASON%, with ssl.connection_error', async () => {
    const log = join(ca.dir, 'listener.log');
    const p = await proxyWith(
      validating({ trusted_ca: file(ca.caCert), crl: file(crl) }),
      {},
      { listener: { path: log, format: '%DOWNSTREAM_TRANSPORT_FAILURE_REASON%\n' } },
    );
    expect(await curlWith(p.port, revokedClient)).toMatch(/^refused/);
    await lines(log, 1);
    // Plaintext to the TLS port: OpenSSL's own error.
    await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${p.port}/`]);
    await lines(log, 2);
    expect(await curlWith(p.port, goodClient)).toBe('200');
    const got = await lines(log, 3);
    expect(got[0]).toBe(
      'TLS_error:|SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:X509_verify_cert:_certificate_verification_error:_CERT_REVOKED:TLS_error_end',
    );
    expect(got[1]).toMatch(/^TLS_error:\|SSL_routines:OPENSSL_internal:[A-Z_]+:TLS_error_end$/);
    expect(got[2]).toBe('-');
    expect(await p.stats()).toMatch(/\.ssl\.connection_error: 1$/m);
  });

  it('a request that failed upstream says so: %UPSTREAM_TRANSPORT_FAILURE_REASON% and the 503 body, as Envoy', async () => {
    const s = https.createServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) }, (_q, res) =>
      res.end('x'),
    );
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const log = join(ca.dir, 'requests.log');
    try {
      const p = await proxyWith(
        null,
        {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': UPSTREAM,
              common_tls_context: {
                validation_context: {
                  trusted_ca: file(ca.caCert),
                  match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'elsewhere.example' } }],
                },
              },
            },
          },
          load_assignment: endpoint((s.address() as { port: number }).port),
        },
        { requests: { path: log, format: '%RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n' } },
      );
      const r = await run('curl', ['-sS', `http://127.0.0.1:${p.port}/`]);
      expect(r.stdout).toBe(
        'upstream connect error or disconnect/reset before headers. reset reason: connection failure, ' +
          'transport failure reason: TLS_error:|SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: SAN matcher:TLS_error_end',
      );
      const [line] = await lines(log, 1);
      expect(line).toBe(
        'UF TLS_error:|SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify_cert_failed:_SAN_matcher:TLS_error_end',
      );
    } finally {
      s.close();
    }
  });
});
