// envoy.transport_sockets.tls through the real proxy, with real clients (curl, openssl s_client,
// node:tls): TLS termination with ALPN h2, mutual TLS with SPIFFE identities, refusal of TLS 1.1,
// of plaintext and of a foreign CA, clear load errors for bad material, TLS origination to an
// upstream with SAN matching, and certificate rotation over file-based SDS.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxyServer, startProxy, validateBootstrap } from '../../../proxy/index.js';
import { startUpstream, type Upstream } from '../helpers.js';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures.js';
import {
  freePort,
  otelTracing,
  startSidecar,
  staticCluster,
  TelemetryReceiver,
  waitFor,
} from '../telemetry/helpers.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWNSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const LOG_FORMAT =
  '%PROTOCOL% %RESPONSE_CODE% %DOWNSTREAM_TLS_VERSION% [%DOWNSTREAM_PEER_URI_SAN%] [%DOWNSTREAM_LOCAL_URI_SAN%] [%DOWNSTREAM_PEER_SUBJECT%] %UPSTREAM_TLS_VERSION%\n';

let fx: TlsFixtures;
let upstream: Upstream;
const proxies: ProxyServer[] = [];

beforeAll(async () => {
  fx = makeTlsFixtures();
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

interface ListenerSpec {
  downstream?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
  secrets?: unknown[];
  hcm?: Record<string, unknown>;
  httpFilters?: unknown[];
  extraClusters?: unknown[];
}

function bootstrap(spec: ListenerSpec, logPath: string): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      ...(spec.secrets === undefined ? {} : { secrets: spec.secrets }),
      listeners: [
        {
          name: 'tls_listener',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              ...(spec.downstream === undefined
                ? {}
                : {
                    transport_socket: {
                      name: 'envoy.transport_sockets.tls',
                      typed_config: { '@type': DOWNSTREAM, ...spec.downstream },
                    },
                  }),
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'ingress_https',
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
                      ...(spec.httpFilters ?? []),
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                    access_log: [
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: logPath,
                          log_format: { text_format: LOG_FORMAT },
                        },
                      },
                    ],
                    ...spec.hcm,
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
          load_assignment: {
            cluster_name: 'backend',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstream.port } } } },
                ],
              },
            ],
          },
          ...spec.cluster,
        },
        ...(spec.extraClusters ?? []),
      ],
    },
  };
}

async function proxyWith(spec: ListenerSpec): Promise<{ port: number; adminPort: number; logPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tls-proxy-'));
  const logPath = join(dir, 'access.log');
  const p = await startProxy({
    config: bootstrap(spec, logPath),
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 1,
  });
  proxies.push(p);
  const addr = p.listeners()[0]!.localAddress;
  return { port: Number(addr.slice(addr.lastIndexOf(':') + 1)), adminPort: p.adminAddress()!.port, logPath };
}

const serverTls = (extra: Record<string, unknown> = {}, common: Record<string, unknown> = {}) => ({
  common_tls_context: {
    tls_certificates: [{ certificate_chain: file(fx.serverCert), private_key: file(fx.serverKey) }],
    alpn_protocols: ['h2', 'http/1.1'],
    ...common,
  },
  ...extra,
});

const mtls = () =>
  serverTls(
    { require_client_certificate: true },
    {
      validation_context: {
        trusted_ca: file(fx.caCert),
        match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }],
      },
    },
  );

async function logLines(path: string, n: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    try {
      const lines = readFileSync(path, 'utf8').trim().split('\n').filter(Boolean);
      if (lines.length >= n) return lines;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`access log ${path} has fewer than ${n} lines`);
}

describe('envoy.transport_sockets.tls downstream', () => {
  it('terminates TLS for curl (HTTP/1.1 and h2 by ALPN), x-forwarded-proto https, TLS facts in the access log', async () => {
    const p = await proxyWith({ downstream: serverTls() });
    const url = `https://localhost:${p.port}/hello`;
    const h1 = await run('curl', [
      '-sS',
      '--cacert',
      fx.caCert,
      '--http1.1',
      '-o',
      '-',
      '-w',
      '\n%{http_version}',
      url,
    ]);
    expect(h1.stderr).toBe('');
    const [body1, version1] = h1.stdout.split('\n');
    expect(version1).toBe('1.1');
    expect(JSON.parse(body1!).headers['x-forwarded-proto']).toBe('https');
    const h2 = await run('curl', [
      '-sS',
      '--cacert',
      fx.caCert,
      '--http2',
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code}',
      url,
    ]);
    expect(h2.stdout).toBe('2 200');
    const lines = await logLines(p.logPath, 2);
    expect(lines[0]).toMatch(
      /^HTTP\/1\.1 200 TLSv1\.3 \[-\] \[spiffe:\/\/cluster\.local\/ns\/default\/sa\/server\] \[-\] -$/,
    );
    expect(lines[1]).toMatch(/^HTTP\/2 200 TLSv1\.3 /);
  });

  it('refuses TLS 1.1 and plaintext on a TLS port; accepts TLS 1.2 with Envoy-default ciphers only', async () => {
    const p = await proxyWith({ downstream: serverTls() });
    const old = await run('openssl', ['s_client', '-connect', `127.0.0.1:${p.port}`, '-tls1_1', '-CAfile', fx.caCert]);
    expect(old.code).not.toBe(0);
    const plain = await run('curl', ['-sS', `http://127.0.0.1:${p.port}/`]);
    expect(plain.code).not.toBe(0);
    const v12 = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${p.port}`, '-tls1_2', '-CAfile', fx.caCert, '-brief'],
      'Q\n',
    );
    expect(v12.stderr + v12.stdout).toMatch(/Protocol version: TLSv1\.2/);
    expect(v12.stderr + v12.stdout).toMatch(/Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256/);
    const cbc = await run('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${p.port}`,
      '-tls1_2',
      '-cipher',
      'ECDHE-ECDSA-AES128-SHA',
    ]);
    expect(cbc.code).not.toBe(0);
  });

  it('mutual TLS: no client certificate and a foreign CA are refused; a mesh SVID passes and is logged', async () => {
    const p = await proxyWith({ downstream: mtls() });
    const url = `https://localhost:${p.port}/`;
    const none = await run('curl', ['-sS', '--cacert', fx.caCert, url]);
    expect(none.code).not.toBe(0);
    const foreign = await run('curl', [
      '-sS',
      '--cacert',
      fx.caCert,
      '--cert',
      fx.foreignClientCert,
      '--key',
      fx.foreignClientKey,
      url,
    ]);
    expect(foreign.code).not.toBe(0);
    const ok = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--cacert',
      fx.caCert,
      '--cert',
      fx.clientCert,
      '--key',
      fx.clientKey,
      url,
    ]);
    expect(ok.stdout).toBe('200');
    const [line] = await logLines(p.logPath, 1);
    expect(line).toContain(`[${fx.clientId}]`);
    expect(line).toContain('[CN=client,O=meshscope]');
    const stats = (await run('curl', ['-sS', `http://127.0.0.1:${p.adminPort}/stats`])).stdout
      .split('\n')
      .filter((l) => l.includes('ssl'))
      .join('\n');
    // Named after the bound address, as Envoy's listener stats are.
    // Envoy's names: fail_verify_no_cert refused it; no_certificate counts handshakes that succeeded without one.
    expect(stats).toMatch(new RegExp(`listener\\.127\\.0\\.0\\.1_${p.port}\\.ssl\\.fail_verify_no_cert: [1-9]`));
    expect(stats).toMatch(new RegExp(`listener\\.127\\.0\\.0\\.1_${p.port}\\.ssl\\.no_certificate: 0`));
    expect(stats).toMatch(new RegExp(`listener\\.127\\.0\\.0\\.1_${p.port}\\.ssl\\.fail_verify_error: [1-9]`));
    // Admin /certs as Envoy prints it: the context's CA and served certificate.
    const certs = JSON.parse((await run('curl', ['-sS', `http://127.0.0.1:${p.adminPort}/certs`])).stdout) as {
      certificates: Array<{ ca_cert: Array<Record<string, unknown>>; cert_chain: Array<Record<string, unknown>> }>;
    };
    expect(certs.certificates).toHaveLength(1);
    expect(certs.certificates[0]!.ca_cert[0]).toMatchObject({ path: fx.caCert, subject_alt_names: [] });
    expect(certs.certificates[0]!.cert_chain[0]).toMatchObject({
      path: fx.serverCert,
      subject_alt_names: [{ dns: 'localhost' }, { ip_address: '127.0.0.1' }, { uri: fx.serverId }],
      days_until_expiration: '0',
    });
    expect(certs.certificates[0]!.cert_chain[0]!.expiration_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('rbac authenticated.principal_name admits the SPIFFE identity it names, 403 for another mesh identity', async () => {
    const p = await proxyWith({
      downstream: mtls(),
      httpFilters: [
        {
          name: 'envoy.filters.http.rbac',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
            rules: {
              action: 'ALLOW',
              policies: {
                client: {
                  permissions: [{ any: true }],
                  principals: [{ authenticated: { principal_name: { exact: fx.clientId } } }],
                },
              },
            },
          },
        },
      ],
    });
    const url = `https://localhost:${p.port}/`;
    const curl = (cert: string, key: string) =>
      run('curl', ['-sS', '-w', ' %{http_code}', '--cacert', fx.caCert, '--cert', cert, '--key', key, url]);
    expect((await curl(fx.clientCert, fx.clientKey)).stdout).toMatch(/ 200$/);
    const other = fx.issueServer('other-identity');
    expect((await curl(other.cert, other.key)).stdout).toBe('RBAC: access denied 403');
  });

  it("x-forwarded-client-cert: SANITIZE_SET replaces a forged one with this hop's; plaintext drops it", async () => {
    const p = await proxyWith({
      downstream: mtls(),
      hcm: {
        forward_client_cert_details: 'SANITIZE_SET',
        set_current_client_cert_details: { subject: true, uri: true },
      },
    });
    const forged = 'x-forwarded-client-cert: By=spiffe://evil;URI=spiffe://cluster.local/ns/default/sa/admin';
    const res = await run('curl', [
      '-sS',
      '-H',
      forged,
      '--cacert',
      fx.caCert,
      '--cert',
      fx.clientCert,
      '--key',
      fx.clientKey,
      `https://localhost:${p.port}/`,
    ]);
    const hash = new X509Certificate(readFileSync(fx.clientCert)).fingerprint256.replaceAll(':', '').toLowerCase();
    expect(JSON.parse(res.stdout).headers['x-forwarded-client-cert']).toBe(
      `By=${fx.serverId};Hash=${hash};Subject="CN=client,O=meshscope";URI=${fx.clientId}`,
    );
    const plain = await proxyWith({});
    const viaPlain = await run('curl', ['-sS', '-H', forged, `http://127.0.0.1:${plain.port}/`]);
    expect(JSON.parse(viaPlain.stdout).headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it("the SERVER span carries the TLS version, cipher and the client's subject and SPIFFE ID", async () => {
    const receiver = new TelemetryReceiver();
    await receiver.start();
    try {
      // The CLI (dist/) as a sidecar runs it: spans leave through its export thread.
      const config = bootstrap(
        {
          downstream: mtls(),
          hcm: { tracing: otelTracing('edge') },
          extraClusters: [staticCluster('collector', receiver.port)],
        },
        '/dev/null',
      ) as { admin: { address: { socket_address: { port_value: number } } } };
      config.admin.address.socket_address.port_value = await freePort();
      const sidecar = await startSidecar('tls-span', config);
      const listeners = JSON.parse(await sidecar.admin('/listeners?format=json')) as {
        listener_statuses: Array<{ local_address: { socket_address: { port_value: number } } }>;
      };
      const port = listeners.listener_statuses[0]!.local_address.socket_address.port_value;
      const ok = await run('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        fx.caCert,
        '--cert',
        fx.clientCert,
        '--key',
        fx.clientKey,
        `https://localhost:${port}/traced`,
        // A second request on the same connection: its span carries the same facts (the
        // tracer encodes a connection's TLS attributes once).
        '-o',
        '/dev/null',
        `https://localhost:${port}/traced-again`,
      ]);
      await sidecar.stop();
      expect(ok.stdout).toBe('200200');
      // OTLP's SPAN_KIND_SERVER is 2 (the CLIENT span of the upstream attempt is 3).
      const spans = await waitFor('the SERVER spans', () => {
        const server = receiver.spans.filter((s) => s.kind === 2);
        return server.length === 2 ? server : undefined;
      });
      for (const span of spans) {
        const attrs = span.attributes;
        const get = (k: string) => attrs[attrs.indexOf(k) + 1];
        expect(get('url.scheme')).toBe('https');
        expect(get('tls.protocol.name')).toBe('tls');
        expect(get('tls.protocol.version')).toBe('1.3');
        expect(get('tls.cipher')).toMatch(/^TLS_/);
        expect(get('tls.client.subject')).toBe('CN=client,O=meshscope');
        expect(get('source.principal')).toBe(fx.clientId);
      }
    } finally {
      await receiver.stop();
    }
  });

  it('resumes a session by ticket (openssl s_client -sess_out / -sess_in)', async () => {
    const p = await proxyWith({ downstream: serverTls() });
    const sess = join(fx.dir, `sess-${p.port}.pem`);
    await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${p.port}`, '-tls1_2', '-sess_out', sess, '-CAfile', fx.caCert],
      'Q\n',
    );
    const again = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${p.port}`, '-tls1_2', '-sess_in', sess, '-CAfile', fx.caCert],
      'Q\n',
    );
    expect(again.stdout).toMatch(/^Reused, TLSv1\.2/m);
  });
});

describe('PERMISSIVE: plaintext and mutual TLS on one port', () => {
  it('tls_inspector picks the mTLS chain for a ClientHello and the plaintext chain otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-tls-permissive-'));
    const config = bootstrap({ downstream: mtls() }, join(dir, 'access.log')) as {
      static_resources: {
        listeners: Array<Record<string, unknown> & { filter_chains: Array<Record<string, unknown>> }>;
      };
    };
    const l = config.static_resources.listeners[0]!;
    const tlsChain = l.filter_chains[0]!;
    const { transport_socket: _t, ...plainChain } = tlsChain;
    l.listener_filters = [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
        },
      },
    ];
    l.filter_chains = [
      { ...tlsChain, name: 'mtls', filter_chain_match: { transport_protocol: 'tls' } },
      { ...plainChain, name: 'plaintext' },
    ];
    const p = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
    proxies.push(p);
    const addr = p.listeners()[0]!.localAddress;
    const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
    const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`]);
    expect(plain.stdout).toBe('200');
    const mutual = await run('curl', [
      '-sS',
      '--cacert',
      fx.caCert,
      '--cert',
      fx.clientCert,
      '--key',
      fx.clientKey,
      `https://localhost:${port}/`,
    ]);
    expect(JSON.parse(mutual.stdout).headers['x-forwarded-proto']).toBe('https');
    const noCert = await run('curl', ['-sS', '--cacert', fx.caCert, `https://localhost:${port}/`]);
    expect(noCert.code).not.toBe(0);
  });
});

describe('bad TLS material is a load error naming the field', () => {
  const problemsOf = (spec: ListenerSpec): string => {
    try {
      validateBootstrap(bootstrap(spec, '/dev/null'));
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  };
  const at = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context';

  it('missing file, key not matching, CA that does not parse, unknown static secret', () => {
    const missing = problemsOf({
      downstream: {
        common_tls_context: {
          tls_certificates: [{ certificate_chain: file('/nonexistent/cert.pem'), private_key: file(fx.serverKey) }],
        },
      },
    });
    expect(missing).toContain(
      `${at}.tls_certificates[0].certificate_chain.filename: cannot read '/nonexistent/cert.pem': ENOENT`,
    );
    const mismatch = problemsOf({
      downstream: {
        common_tls_context: {
          tls_certificates: [{ certificate_chain: file(fx.serverCert), private_key: file(fx.clientKey) }],
        },
      },
    });
    expect(mismatch).toContain(
      `${at}.tls_certificates[0].private_key: does not match the certificate in certificate_chain`,
    );
    const ca = problemsOf({ downstream: serverTls({}, { validation_context: { trusted_ca: file(fx.garbageCa) } }) });
    expect(ca).toContain(`${at}.validation_context.trusted_ca: certificate 1 in file '${fx.garbageCa}' does not parse`);
    const unknown = problemsOf({
      downstream: { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'nope' }] } },
    });
    expect(unknown).toContain(`${at}.tls_certificate_sds_secret_configs[0].name: unknown static secret 'nope'`);
  });

  it('tls_params: an unknown cipher suite names the field; a maximum below the minimum is refused', () => {
    const ciphers = problemsOf({ downstream: serverTls({}, { tls_params: { cipher_suites: ['NOT-A-CIPHER'] } }) });
    expect(ciphers).toContain(`${at}.tls_params.cipher_suites: `);
    expect(ciphers).toMatch(/no cipher match/i);
    const range = problemsOf({
      downstream: serverTls(
        {},
        { tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_2' } },
      ),
    });
    expect(range).toContain(`${at}.tls_params.tls_maximum_protocol_version: is below tls_minimum_protocol_version`);
  });

  it('an expired and a not-yet-valid certificate', async () => {
    const { MeshCA } = await import('../../../control-plane/ca/index.js');
    const ca = await MeshCA.generate({ trustDomain: 'cluster.local' });
    const id = { namespace: 'default', serviceAccount: 'old' };
    const expired = await ca.issue(id, { now: new Date(Date.now() - 7_200_000), ttlMs: 3_600_000 });
    const future = await ca.issue(id, { now: new Date(Date.now() + 7_200_000) });
    const secret = (name: string, s: { certificatePem: string; privateKeyPem: string }) => ({
      name,
      tls_certificate: {
        certificate_chain: { inline_string: s.certificatePem },
        private_key: { inline_string: s.privateKeyPem },
      },
    });
    const msg = problemsOf({
      secrets: [secret('expired', expired), secret('future', future)],
      downstream: { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'expired' }] } },
    });
    expect(msg).toMatch(/static_resources\.secrets\[0\]\.tls_certificate\.certificate_chain: certificate expired at /);
    expect(msg).toMatch(
      /static_resources\.secrets\[1\]\.tls_certificate\.certificate_chain: certificate is not valid before /,
    );
  });
});

describe('envoy.transport_sockets.tls upstream', () => {
  it('originates mTLS to an upstream with SNI, a client certificate and SAN matching', async () => {
    const seen: Array<{ sni: string; peer: string; alpn: string }> = [];
    const server = https.createServer(
      {
        cert: readFileSync(fx.serverCert),
        key: readFileSync(fx.serverKey),
        ca: readFileSync(fx.caCert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const s = req.socket as tls.TLSSocket;
        seen.push({
          sni: (s as unknown as { servername: string }).servername,
          peer: s.getPeerCertificate().subjectaltname ?? '',
          alpn: String(s.alpnProtocol),
        });
        res.end('secure upstream');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const upstreamTls = (san: string) => ({
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM,
          sni: 'backend.mesh.local',
          common_tls_context: {
            tls_certificates: [{ certificate_chain: file(fx.clientCert), private_key: file(fx.clientKey) }],
            validation_context: {
              trusted_ca: file(fx.caCert),
              match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: san } }],
            },
          },
        },
      },
      load_assignment: {
        cluster_name: 'backend',
        endpoints: [
          { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] },
        ],
      },
    });
    try {
      const good = await proxyWith({ cluster: upstreamTls(fx.serverId) });
      const ok = await run('curl', ['-sS', `http://127.0.0.1:${good.port}/`]);
      expect(ok.stdout).toBe('secure upstream');
      expect(seen[0]).toEqual({ sni: 'backend.mesh.local', peer: `URI:${fx.clientId}`, alpn: 'http/1.1' });
      const [line] = await logLines(good.logPath, 1);
      expect(line).toMatch(/ TLSv1\.3$/);
      const wrong = await proxyWith({ cluster: upstreamTls('spiffe://cluster.local/ns/default/sa/someone-else') });
      const refused = await run('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://127.0.0.1:${wrong.port}/`,
      ]);
      expect(refused.stdout).toBe('503');
      const stats = (await run('curl', ['-sS', `http://127.0.0.1:${wrong.adminPort}/stats`])).stdout;
      expect(stats).toMatch(/cluster\.backend\.ssl\.fail_verify_san: [1-9]/);
    } finally {
      server.close();
    }
  });

  it('a connection that resumes a TLS session keeps the peer verified when the session was issued', async () => {
    const resumed: boolean[] = [];
    const server = https.createServer(
      {
        cert: readFileSync(fx.serverCert),
        key: readFileSync(fx.serverKey),
        ca: readFileSync(fx.caCert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        resumed.push((req.socket as tls.TLSSocket).isSessionReused());
        // Each request on a new upstream connection: the second one resumes the first's session.
        res.setHeader('connection', 'close');
        res.end('secure upstream');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const p = await proxyWith({
        cluster: {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': UPSTREAM,
              common_tls_context: {
                tls_certificates: [{ certificate_chain: file(fx.clientCert), private_key: file(fx.clientKey) }],
                validation_context: {
                  trusted_ca: file(fx.caCert),
                  match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: fx.serverId } }],
                },
              },
            },
          },
          load_assignment: {
            cluster_name: 'backend',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } },
                ],
              },
            ],
          },
        },
      });
      for (let i = 0; i < 4; i++) {
        const r = await run('curl', ['-sS', `http://127.0.0.1:${p.port}/`]);
        expect(r.stdout, `request ${i}`).toBe('secure upstream');
      }
      expect(resumed).toContain(true);
      const stats = (await run('curl', ['-sS', `http://127.0.0.1:${p.adminPort}/stats`])).stdout;
      expect(stats).toMatch(/cluster\.backend\.ssl\.no_certificate: 0/);
      expect(stats).toMatch(/cluster\.backend\.ssl\.session_reused: [1-9]/);
    } finally {
      server.close();
    }
  });
});

describe('transport_socket_matches and HTTP/2 over TLS upstream', () => {
  it('an endpoint whose envoy.transport_socket_match metadata matches gets TLS with ALPN h2', async () => {
    const alpns: string[] = [];
    const server = http2.createSecureServer(
      { cert: readFileSync(fx.serverCert), key: readFileSync(fx.serverKey) },
      (req, res) => {
        alpns.push(String(req.stream.session?.alpnProtocol));
        res.end(`h2 over tls ${req.httpVersion}`);
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const p = await proxyWith({
        cluster: {
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          transport_socket_matches: [
            {
              name: 'mtls-endpoints',
              match: { tlsMode: 'istio' },
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': UPSTREAM,
                  sni: 'localhost',
                  common_tls_context: { validation_context: { trusted_ca: file(fx.caCert) } },
                },
              },
            },
          ],
          load_assignment: {
            cluster_name: 'backend',
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
                    metadata: { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } },
                  },
                ],
              },
            ],
          },
        },
      });
      for (let i = 0; i < 2; i++)
        expect((await run('curl', ['-sS', `http://127.0.0.1:${p.port}/`])).stdout).toBe('h2 over tls 2.0');
      expect(alpns).toEqual(['h2', 'h2']);
      const [line] = await logLines(p.logPath, 1);
      expect(line).toMatch(/ TLSv1\.3$/);
    } finally {
      server.close();
    }
  });
});

describe('SDS from a watched file', () => {
  it('rotates the certificate several times under constant load: new connections get it, no request fails', async () => {
    const sdsPath = join(fx.dir, 'sds.yaml');
    const writeSds = (cert: string, key: string): void => {
      const tmp = `${sdsPath}.tmp`;
      writeFileSync(
        tmp,
        JSON.stringify({
          resources: [
            {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
              name: 'server_cert',
              tls_certificate: {
                certificate_chain: { inline_string: readFileSync(cert, 'utf8') },
                private_key: { inline_string: readFileSync(key, 'utf8') },
              },
            },
          ],
        }),
      );
      // Atomic swap, as Envoy expects of a watched SDS file.
      renameSync(tmp, sdsPath);
    };
    writeSds(fx.serverCert, fx.serverKey);
    const p = await proxyWith({
      downstream: {
        common_tls_context: {
          tls_certificate_sds_secret_configs: [
            { name: 'server_cert', sds_config: { path_config_source: { path: sdsPath } } },
          ],
        },
      },
    });
    const ca = readFileSync(fx.caCert);
    const subjectOfNewConnection = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: p.port, ca, servername: 'localhost' }, () => {
          resolve(s.getPeerCertificate().subject.CN as string);
          s.end();
        });
        s.on('error', reject);
      });
    // Constant load on one keep-alive connection and on fresh connections, through every rotation.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 2, ca });
    let failures = 0;
    let served = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await new Promise<void>((resolve) => {
          const req = https.get(
            { host: '127.0.0.1', port: p.port, servername: 'localhost', path: '/', agent },
            (res) => {
              res.resume();
              res.on('end', () => {
                if (res.statusCode === 200) served++;
                else failures++;
                resolve();
              });
            },
          );
          req.on('error', () => {
            failures++;
            resolve();
          });
        });
      }
    })();
    expect(await subjectOfNewConnection()).toBe('localhost');
    for (const tag of ['r1', 'r2', 'r3']) {
      const next = fx.issueServer(tag);
      writeSds(next.cert, next.key);
      for (let i = 0; i < 200 && (await subjectOfNewConnection()) !== `localhost-${tag}`; i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(await subjectOfNewConnection()).toBe(`localhost-${tag}`);
    }
    // A rotation to a key that is not the certificate's is refused; the last good stays.
    const bad = fx.issueServer('bad');
    writeSds(bad.cert, fx.serverKey);
    await new Promise((r) => setTimeout(r, 300));
    expect(await subjectOfNewConnection()).toBe('localhost-r3');
    stop = true;
    await load;
    agent.destroy();
    expect(failures).toBe(0);
    expect(served).toBeGreaterThan(0);
  });
});
