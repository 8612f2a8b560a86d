// A connection envoy.filters.network.rbac refuses still gets its line in the chain's tcp_proxy
// access log, as in Envoy (every filter of the chain exists for every connection): the matched
// policy in %CONNECTION_TERMINATION_DETAILS%, the cluster it would have gone to, and over mTLS
// the refused peer's identity. The listener's own access_log (Envoy's Listener.access_log) logs
// every connection when it closes, an HTTP one refused before any request included, and one no
// filter chain matched (flag NR). Real clients: a plain TCP socket and `openssl s_client` with a
// client certificate of another mesh identity; in plaintext the upstream is never dialled.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import {
  exchange,
  statsOf,
  FILE_LOG_TYPE,
  startTcpServer,
  tcpBootstrap,
  tcpProxyFilter,
  type TcpServer,
  waitForLines,
} from '../tcp-proxy/helpers.js';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures.js';

const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const DOWNSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const FORMAT = '%CONNECTION_TERMINATION_DETAILS% %UPSTREAM_CLUSTER% [%DOWNSTREAM_PEER_URI_SAN%] %UPSTREAM_HOST%\n';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LISTENER_FORMAT = '%CONNECTION_TERMINATION_DETAILS% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n';

function listenerLog(file: string): unknown[] {
  return [
    {
      name: 'envoy.access_loggers.file',
      typed_config: { '@type': FILE_LOG_TYPE, path: join(dir, file), log_format: { text_format: LISTENER_FORMAT } },
    },
  ];
}

const hcm = {
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': HCM,
    stat_prefix: 'guarded',
    route_config: {
      virtual_hosts: [
        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] },
      ],
    },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
      },
    ],
  },
};

let fx: TlsFixtures;
let echo: TcpServer;
let proxy: ProxyServer;
let dir: string;
const ports = new Map<string, number>();

function tcpProxyLogging(stat: string, log: string): Record<string, unknown> {
  return tcpProxyFilter({
    stat_prefix: stat,
    cluster: 'echo',
    access_log: [
      {
        name: 'envoy.access_loggers.file',
        typed_config: { '@type': FILE_LOG_TYPE, path: join(dir, log), log_format: { text_format: FORMAT } },
      },
    ],
  });
}

beforeAll(async () => {
  fx = makeTlsFixtures();
  dir = mkdtempSync(join(tmpdir(), 'ms-netrbac-log-'));
  echo = await startTcpServer();
  const denyLoopback = {
    name: 'envoy.filters.network.rbac',
    typed_config: {
      '@type': NETWORK_RBAC_TYPE,
      stat_prefix: 'plain',
      rules: {
        action: 'DENY',
        policies: {
          'no loopback': {
            permissions: [{ any: true }],
            principals: [{ remote_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }],
          },
        },
      },
    },
  };
  const onlyServerIdentity = {
    name: 'envoy.filters.network.rbac',
    typed_config: {
      '@type': NETWORK_RBAC_TYPE,
      stat_prefix: 'mtls',
      rules: {
        action: 'ALLOW',
        policies: {
          'server-only': {
            permissions: [{ any: true }],
            principals: [{ authenticated: { principal_name: { exact: fx.serverId } } }],
          },
        },
      },
    },
  };
  const config = tcpBootstrap(
    [
      {
        name: 'plain',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{ filters: [denyLoopback, tcpProxyLogging('plain', 'plain.log')] }],
      },
      {
        name: 'mtls',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [
          {
            transport_socket: {
              name: 'envoy.transport_sockets.tls',
              typed_config: {
                '@type': DOWNSTREAM,
                require_client_certificate: true,
                common_tls_context: {
                  tls_certificates: [
                    { certificate_chain: { filename: fx.serverCert }, private_key: { filename: fx.serverKey } },
                  ],
                  validation_context: { trusted_ca: { filename: fx.caCert } },
                },
              },
            },
            filters: [onlyServerIdentity, tcpProxyLogging('mtls', 'mtls.log')],
          },
        ],
      },
      {
        name: 'http-guarded',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        access_log: listenerLog('http-guarded.log'),
        filter_chains: [{ filters: [denyLoopback, hcm] }],
      },
      {
        name: 'only-ten-net',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        access_log: listenerLog('only-ten-net.log'),
        filter_chains: [
          {
            filter_chain_match: { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] },
            filters: [hcm],
          },
        ],
      },
    ],
    [{ name: 'echo', ports: [echo.port] }],
  );
  proxy = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
  for (const l of proxy.listeners())
    ports.set(l.name, Number(l.localAddress.slice(l.localAddress.lastIndexOf(':') + 1)));
});

afterAll(async () => {
  await proxy?.close(1000);
  await echo?.close();
});

describe('a connection network rbac refuses is access-logged', () => {
  it('in plaintext: the matched policy (spaces made underscores) and the cluster, no upstream host', async () => {
    const before = echo.accepted;
    const r = await exchange(ports.get('plain')!, 'ping');
    expect(r.data.length).toBe(0);
    const [line] = await waitForLines(join(dir, 'plain.log'), 1);
    expect(line).toBe('rbac_access_denied_matched_policy[no_loopback] echo [-] -');
    expect(echo.accepted).toBe(before);
  });

  it('over mTLS: the refused peer identity with no policy matched, and no upstream connection opened', async () => {
    const before = echo.accepted;
    const r = await new Promise<string>((resolve) =>
      execFile(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${ports.get('mtls')!}`,
          '-cert',
          fx.clientCert,
          '-key',
          fx.clientKey,
          '-CAfile',
          fx.caCert,
          '-quiet',
        ],
        { timeout: 20_000 },
        (_err, stdout) => resolve(stdout),
      ).stdin?.end('ping\n'),
    );
    expect(r).not.toContain('ping');
    const [line] = await waitForLines(join(dir, 'mtls.log'), 1);
    expect(line).toMatch(new RegExp(`^rbac_access_denied_matched_policy\\[none\\] echo \\[${fx.clientId}\\] -$`));
    // RBAC decided after the handshake, before tcp_proxy dialled: the upstream saw nothing.
    const stats = await statsOf(proxy.adminAddress()!.port);
    expect(stats.get('cluster.echo.upstream_cx_total') ?? 0).toBe(0);
    expect(echo.accepted).toBe(before);
  });

  it("in the listener's access log: an HTTP connection refused before any request", async () => {
    const r = await exchange(ports.get('http-guarded')!, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(r.data.length).toBe(0);
    const [line] = await waitForLines(join(dir, 'http-guarded.log'), 1);
    expect(line).toBe('rbac_access_denied_matched_policy[no_loopback] - -');
  });

  it("in the listener's access log: a connection no filter chain matched, flag NR", async () => {
    await exchange(ports.get('only-ten-net')!, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    const [line] = await waitForLines(join(dir, 'only-ten-net.log'), 1);
    expect(line).toBe('- NR filter_chain_not_found');
  });
});
