// Two sidecars with mutual TLS between them, as a mesh runs them: client → outbound sidecar
// (plaintext) → mTLS (SPIFFE SVIDs, each side matching the other's URI SAN) → inbound sidecar →
// upstream. The HTTP/1.1 pool keeps its TLS connections: a released connection serves the next
// request, so the number of upstream connections (and handshakes) follows the number of requests
// in flight, never the number of requests or of downstream connections. Counted from both
// sidecars' admin /stats.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxyServer, startProxy } from '../../../proxy/index.js';
import { startUpstream, type Upstream } from '../helpers.js';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWNSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

let fx: TlsFixtures;
let upstream: Upstream;
const proxies: ProxyServer[] = [];

const tlsSocket = (typedConfig: Record<string, unknown>) => ({
  transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: typedConfig },
});

function sidecar(
  upstreamPort: number,
  listenerTls: Record<string, unknown> | null,
  clusterTls: Record<string, unknown> | null,
): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: 'sidecar',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              ...(listenerTls === null ? {} : tlsSocket(listenerTls)),
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'sidecar',
                    route_config: {
                      virtual_hosts: [
                        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] },
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
          name: 'up',
          connect_timeout: '10s',
          load_assignment: {
            cluster_name: 'up',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } },
                ],
              },
            ],
          },
          ...(clusterTls === null ? {} : tlsSocket(clusterTls)),
        },
      ],
    },
  };
}

async function start(config: Record<string, unknown>): Promise<{ port: number; admin: number }> {
  const p = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
  proxies.push(p);
  const addr = p.listeners()[0]!.localAddress;
  return { port: Number(addr.slice(addr.lastIndexOf(':') + 1)), admin: p.adminAddress()!.port };
}

/** The sidecars' counters by name (`cluster.up.upstream_cx_total`, `listener.<addr>.ssl.handshake` as `listener.ssl.handshake`). */
async function counters(admin: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/stats`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\S+): (\d+)$/.exec(line);
    if (m !== null) out.set(m[1]!.replace(/^listener\.127\.0\.0\.1_\d+\./, 'listener.'), Number(m[2]));
  }
  return out;
}

function get(port: number, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

let outbound: { port: number; admin: number };
let inbound: { port: number; admin: number };

beforeAll(async () => {
  fx = makeTlsFixtures();
  upstream = await startUpstream('backend');
  const common = (cert: string, key: string, peer: string) => ({
    tls_certificates: [{ certificate_chain: { filename: cert }, private_key: { filename: key } }],
    validation_context: {
      trusted_ca: { filename: fx.caCert },
      match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: peer } }],
    },
  });
  inbound = await start(
    sidecar(
      upstream.port,
      {
        '@type': DOWNSTREAM,
        require_client_certificate: true,
        common_tls_context: common(fx.serverCert, fx.serverKey, fx.clientId),
      },
      null,
    ),
  );
  outbound = await start(
    sidecar(inbound.port, null, {
      '@type': UPSTREAM,
      sni: 'localhost',
      common_tls_context: common(fx.clientCert, fx.clientKey, fx.serverId),
    }),
  );
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close(0)));
  await upstream.close();
});

describe('two sidecars over mTLS (HTTP/1.1 upstream pool)', () => {
  it('reuses upstream TLS connections: as many as requests in flight, whatever the number of requests or downstream connections', async () => {
    // 40 requests one after another on one keep-alive client connection: one mTLS connection.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 40; i++) expect(await get(outbound.port, keepAlive), `keep-alive request ${i}`).toBe(200);
    keepAlive.destroy();
    let out = await counters(outbound.admin);
    expect(out.get('cluster.up.upstream_cx_total')).toBe(1);
    expect(out.get('cluster.up.ssl.handshake')).toBe(1);

    // 40 requests, each on a new client connection (curl-like): still the same mTLS connection.
    const fresh = new http.Agent({ keepAlive: false });
    for (let i = 0; i < 40; i++) expect(await get(outbound.port, fresh), `one-shot request ${i}`).toBe(200);
    out = await counters(outbound.admin);
    expect(out.get('http.sidecar.downstream_cx_total')).toBeGreaterThanOrEqual(41);
    expect(out.get('cluster.up.upstream_cx_total')).toBe(1);

    // 8 clients at once, 25 requests each: at most 8 mTLS connections in all (the first included).
    const concurrent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const codes = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const seen: number[] = [];
        for (let i = 0; i < 25; i++) seen.push(await get(outbound.port, concurrent));
        return seen;
      }),
    );
    concurrent.destroy();
    expect(codes.flat().filter((c) => c !== 200)).toEqual([]);
    out = await counters(outbound.admin);
    const inb = await counters(inbound.admin);
    const connections = out.get('cluster.up.upstream_cx_total')!;
    expect(connections).toBeLessThanOrEqual(8);
    // Every connection made one verified handshake, on both sides; the later ones resumed a session.
    expect(out.get('cluster.up.ssl.handshake')).toBe(connections);
    expect(inb.get('listener.ssl.handshake')).toBe(connections);
    expect(out.get('cluster.up.ssl.session_reused') ?? 0).toBe(connections - 1);
    expect(out.get('cluster.up.upstream_cx_connect_fail') ?? 0).toBe(0);
    // The inbound's plaintext pool to the workload follows the same rule.
    expect(inb.get('cluster.up.upstream_cx_total')).toBeLessThanOrEqual(connections);
    expect(inb.get('cluster.up.upstream_rq_total')).toBe(280);
  });
});
