// envoy.filters.network.rbac with real sockets, in front of tcp_proxy and of an HTTP connection
// manager: an ALLOW policy on the client's address admits, a DENY policy closes the connection
// before the upstream is dialled, shadow rules are only counted, and the counters live under
// <stat_prefix>.rbac. as Envoy's network filter keeps them. Bad config names its path.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigInvalidError, startProxy, type ProxyServer, validateBootstrap } from '../../../proxy/index.js';
import { startUpstream, type Upstream } from '../helpers.js';
import {
  exchange,
  startTcpServer,
  statsOf,
  tcpBootstrap,
  tcpProxyFilter,
  type TcpServer,
} from '../tcp-proxy/helpers.js';

const execFileAsync = promisify(execFile);
const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const rbac = (config: Record<string, unknown>) => ({
  name: 'envoy.filters.network.rbac',
  typed_config: { '@type': NETWORK_RBAC_TYPE, ...config },
});

const listener = (name: string, filters: unknown[]) => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [{ filters }],
});

const LOOPBACK = { address_prefix: '127.0.0.0', prefix_len: 8 };

describe('envoy.filters.network.rbac', () => {
  let echo: TcpServer;
  let http: Upstream;
  let proxy: ProxyServer;
  const ports = new Map<string, number>();

  beforeAll(async () => {
    echo = await startTcpServer();
    http = await startUpstream('http-app');
    const config = tcpBootstrap(
      [
        listener('allow-loopback', [
          rbac({
            stat_prefix: 'allow_loopback.',
            rules: {
              action: 'ALLOW',
              policies: { loopback: { permissions: [{ any: true }], principals: [{ direct_remote_ip: LOOPBACK }] } },
            },
            // A shadow policy that would refuse everyone: counted, never enforced.
            shadow_rules: {
              action: 'ALLOW',
              policies: { nobody: { permissions: [{ any: true }], principals: [{ not_id: { any: true } }] } },
            },
          }),
          tcpProxyFilter({ stat_prefix: 'allow', cluster: 'echo' }),
        ]),
        listener('deny-loopback', [
          rbac({
            stat_prefix: 'deny_loopback',
            enforcement_type: 'CONTINUOUS',
            rules: {
              action: 'DENY',
              policies: { 'no-loopback': { permissions: [{ any: true }], principals: [{ remote_ip: LOOPBACK }] } },
            },
          }),
          tcpProxyFilter({ stat_prefix: 'deny', cluster: 'echo' }),
        ]),
        listener('allow-other-net', [
          rbac({
            stat_prefix: 'other_net',
            // Only 10.0.0.0/8, and never a TLS peer: loopback clients match no policy.
            rules: {
              action: 'ALLOW',
              policies: {
                'ten-net': {
                  permissions: [{ any: true }],
                  principals: [{ direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }],
                },
                'mesh-peer': {
                  permissions: [{ any: true }],
                  principals: [{ authenticated: { principal_name: { prefix: 'spiffe://' } } }],
                },
              },
            },
          }),
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: 'guarded_http',
              route_config: {
                virtual_hosts: [
                  { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'http' } }] },
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
        ]),
      ],
      [
        { name: 'echo', ports: [echo.port] },
        { name: 'http', ports: [http.port] },
      ],
    );
    proxy = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
    for (const l of proxy.listeners())
      ports.set(l.name, Number(l.localAddress.slice(l.localAddress.lastIndexOf(':') + 1)));
  });

  afterAll(async () => {
    await proxy?.close(1000);
    await echo?.close();
    await http?.close();
  });

  it('ALLOW admits a client its policy matches; the shadow verdict is only counted', async () => {
    const r = await exchange(ports.get('allow-loopback')!, 'ping');
    expect(r.data.toString()).toBe('ping');
    const stats = await statsOf(proxy.adminAddress()!.port);
    expect(stats.get('allow_loopback.rbac.allowed')).toBe(1);
    expect(stats.get('allow_loopback.rbac.shadow_denied')).toBe(1);
    expect(stats.get('allow_loopback.rbac.denied') ?? 0).toBe(0);
  });

  it('DENY closes a matching client before the upstream is dialled', async () => {
    const before = echo.accepted;
    const r = await exchange(ports.get('deny-loopback')!, 'ping');
    expect(r.data.length).toBe(0);
    const stats = await statsOf(proxy.adminAddress()!.port);
    expect(stats.get('deny_loopback.rbac.denied')).toBe(1);
    expect(stats.get('tcp.deny.downstream_cx_total') ?? 0).toBe(0);
    expect(echo.accepted).toBe(before);
  });

  it('guards an HTTP listener: a client no policy admits gets no HTTP answer at all', async () => {
    const port = ports.get('allow-other-net')!;
    const curl = await execFileAsync('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${port}/`,
    ]).catch((err: { code: number; stdout: string }) => err);
    // curl: "Empty reply from server" (52) or a reset (56), and no status code.
    expect([52, 56]).toContain((curl as { code?: number }).code);
    expect(curl.stdout).toBe('000');
    const stats = await statsOf(proxy.adminAddress()!.port);
    expect(stats.get('other_net.rbac.denied')).toBe(1);
    expect(stats.get('http.guarded_http.downstream_rq_total') ?? 0).toBe(0);
  });

  it('refuses bad config with the path of the field', () => {
    const bad = (typed: Record<string, unknown>) =>
      tcpBootstrap(
        [listener('x', [rbac(typed), tcpProxyFilter({ stat_prefix: 'x', cluster: 'c' })])],
        [{ name: 'c', ports: [1] }],
      );
    expect(() => validateBootstrap(bad({ rules: { action: 'DENY' } }))).toThrow(ConfigInvalidError);
    expect(() => validateBootstrap(bad({ rules: { action: 'DENY' } }))).toThrow(
      /filters\[0\]\.typed_config\.stat_prefix/,
    );
    expect(() => validateBootstrap(bad({ stat_prefix: 'x', enforcement_type: 'SOMETIMES' }))).toThrow(
      /enforcement_type/,
    );
    expect(() =>
      validateBootstrap(
        bad({
          stat_prefix: 'x',
          rules: { policies: { p: { permissions: [{ header: { name: 'a' } }], principals: [{}] } } },
        }),
      ),
    ).toThrow(/principals\[0\]/);
  });
});
