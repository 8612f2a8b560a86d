// HttpProtocolOptions.upstream_http_protocol_options' auto_sni and auto_san_validation through the
// real proxy with curl as the client: the upstream (node:https choosing its certificate by SNI)
// sees the request's host as SNI, a certificate without that name is refused (503, counted
// fail_verify_san) when auto_san_validation is on, an IP host sends no SNI, and
// override_auto_sni_header takes the name from another header.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxyServer, startProxy, validateBootstrap } from '../../../proxy/index.js';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

let fx: TlsFixtures;
let server: https.Server;
let upstreamPort: number;
/** The SNI of each request's upstream connection ('' for none). */
const seen: string[] = [];
const proxies: ProxyServer[] = [];

beforeAll(async () => {
  fx = makeTlsFixtures();
  const a = fx.issueFor('a.test');
  const b = fx.issueFor('b.test');
  const contexts = new Map([
    ['a.test', tls.createSecureContext({ cert: readFileSync(a.cert), key: readFileSync(a.key) })],
    ['b.test', tls.createSecureContext({ cert: readFileSync(b.cert), key: readFileSync(b.key) })],
  ]);
  // Any other name (and no SNI) gets a.test's certificate.
  server = https.createServer(
    {
      cert: readFileSync(a.cert),
      key: readFileSync(a.key),
      SNICallback: (name, cb) => cb(null, contexts.get(name) ?? contexts.get('a.test')!),
    },
    (req, res) => {
      const sni = (req.socket as tls.TLSSocket & { servername?: string | false }).servername;
      seen.push(typeof sni === 'string' ? sni : '');
      res.end('upstream ok');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstreamPort = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close(0)));
  server.close();
});

function bootstrap(upstreamOptions: Record<string, unknown>): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: 'plain',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'egress',
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'ext' } }],
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
          name: 'ext',
          connect_timeout: '2s',
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': UPSTREAM,
              common_tls_context: { validation_context: { trusted_ca: { filename: fx.caCert } } },
            },
          },
          typed_extension_protocol_options: {
            [PROTOCOL_OPTIONS]: {
              '@type': `type.googleapis.com/${PROTOCOL_OPTIONS}`,
              explicit_http_config: { http_protocol_options: {} },
              upstream_http_protocol_options: upstreamOptions,
            },
          },
          load_assignment: {
            cluster_name: 'ext',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

async function proxyWith(upstreamOptions: Record<string, unknown>): Promise<{ port: number; admin: number }> {
  const p = await startProxy({ config: bootstrap(upstreamOptions), concurrency: 1, logLevel: 'off' });
  proxies.push(p);
  const addr = p.listeners()[0]!.localAddress;
  return { port: Number(addr.slice(addr.lastIndexOf(':') + 1)), admin: p.adminAddress()!.port };
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['-sS', ...args], { timeout: 20_000 }, (err, stdout, stderr) =>
      err === null ? resolve(stdout) : reject(new Error(`curl ${args.join(' ')}: ${stderr}`)),
    ),
  );
}

/** Status and body of GET / through the proxy with the given Host (and extra headers). */
async function get(port: number, host: string, extra: string[] = []): Promise<string> {
  const out = await curl(['-w', ' %{http_code}', '-H', `host: ${host}`, ...extra, `http://127.0.0.1:${port}/`]);
  return out.slice(out.lastIndexOf(' ') + 1) === '200' ? out : out.slice(out.lastIndexOf(' ') + 1);
}

describe('auto_sni and auto_san_validation', () => {
  it('sends each request host as SNI and refuses a certificate without that name', async () => {
    const p = await proxyWith({ auto_sni: true, auto_san_validation: true });
    seen.length = 0;
    expect(await get(p.port, 'a.test')).toBe('upstream ok 200');
    expect(await get(p.port, 'B.test:8443')).toBe('upstream ok 200');
    expect(seen).toEqual(['a.test', 'b.test']);
    // c.test is served a.test's certificate: the chain is good, the name is not.
    expect(await get(p.port, 'c.test')).toBe('503');
    expect(seen).toHaveLength(2);
    const stats = await curl([`http://127.0.0.1:${p.admin}/stats`]);
    expect(stats).toMatch(/cluster\.ext\.ssl\.fail_verify_san: 1\b/);
    // An IP host is no server name: no SNI, and the context's own validation (chain only).
    expect(await get(p.port, `127.0.0.1:${upstreamPort}`)).toBe('upstream ok 200');
    expect(seen[2]).toBe('');
    // Connections are per name: a.test again reuses a.test's, still sending a.test.
    expect(await get(p.port, 'a.test')).toBe('upstream ok 200');
    expect(seen[3]).toBe('a.test');
  });

  it('auto_sni alone sends the name without requiring it in the certificate', async () => {
    const p = await proxyWith({ auto_sni: true });
    seen.length = 0;
    expect(await get(p.port, 'c.test')).toBe('upstream ok 200');
    expect(seen).toEqual(['c.test']);
  });

  it('override_auto_sni_header takes the name from that header', async () => {
    const p = await proxyWith({
      auto_sni: true,
      auto_san_validation: true,
      override_auto_sni_header: 'X-Upstream-SNI',
    });
    seen.length = 0;
    expect(await get(p.port, 'a.test', ['-H', 'x-upstream-sni: b.test'])).toBe('upstream ok 200');
    expect(seen).toEqual(['b.test']);
  });

  it('refuses an override_auto_sni_header that is not a header name, naming the field', () => {
    expect(() => validateBootstrap(bootstrap({ auto_sni: true, override_auto_sni_header: 'bad header' }))).toThrow(
      /upstream_http_protocol_options\.override_auto_sni_header: invalid header name/,
    );
  });
});
