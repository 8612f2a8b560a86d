// mesh.yaml authorization policies (Istio's AuthorizationPolicy: ALLOW / DENY / AUDIT; from
// ip_blocks, to methods/paths/ports, when request headers) compiled by the real control plane to
// envoy.filters.http.rbac on HTTP inbound listeners and envoy.filters.network.rbac on TCP ones,
// served over ADS to real sidecars: a request through the caller's sidecar that no ALLOW policy
// admits, or that a DENY policy matches, gets 403 `RBAC: access denied` with the RBAC response
// flag in Istio's metrics; a denied TCP client is closed; editing the policies applies live; a
// bad policy is refused with the path of every problem.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  type ControlPlane,
  type JsonObject,
  nodeResources,
  parseMesh,
  renderDynamicBootstrap,
  startControlPlane,
} from '../../control-plane/index.js';
import { type ProxyServer, startProxy } from '../../proxy/index.js';
import { proxyResourceValidator as validator } from '../../proxy/xds/validator.js';
import { freePort, request, startUpstream, type Upstream } from '../proxy/helpers.js';
import { exchange, startTcpServer, statsOf, type TcpServer } from '../proxy/tcp-proxy/helpers.js';
import { waitFor } from './helpers.js';

interface Ports {
  webIn: number;
  webOut: number;
  webAdmin: number;
  payIn: number;
  payOut: number;
  payAdmin: number;
  ledgerIn: number;
  ledgerOut: number;
  ledgerAdmin: number;
}

const POLICIES = [
  {
    name: 'no-debug',
    services: ['payment'],
    action: 'DENY',
    rules: [{ to: [{ operation: { paths: ['/debug/*'] } }] }],
  },
  {
    name: 'payment-callers',
    services: ['payment'],
    action: 'ALLOW',
    rules: [
      {
        to: [{ operation: { methods: ['GET', 'POST'], paths: ['/pay/*'], ports: [8080] } }],
        when: [{ key: 'request.headers[x-tenant]', values: ['acme'] }],
      },
      // Never from loopback: the sidecars' own address.
      { from: [{ source: { ip_blocks: ['10.0.0.0/8'] } }] },
    ],
  },
  {
    name: 'ledger-no-loopback',
    services: ['ledger'],
    action: 'DENY',
    // On a TCP port the HTTP-only `methods` drop out of a DENY rule: every loopback client is refused.
    rules: [{ from: [{ source: { ip_blocks: ['127.0.0.0/8'] } }], to: [{ operation: { methods: ['GET'] } }] }],
  },
  { name: 'audit-web', services: ['web'], action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/audit'] } }] }] },
];

function meshYaml(p: Ports, apps: { web: number; pay: number; ledger: number }, policies: unknown[]): string {
  const workload = (name: string, port: string, app: number, inbound: number, outbound: number, admin: number) => ({
    name,
    endpoints: { [port]: `127.0.0.1:${app}` },
    sidecar: { inbound: { [port]: inbound }, outbound_port: outbound, admin_port: admin },
  });
  return stringify({
    name: 'authz-mesh',
    services: [
      {
        name: 'web',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [workload('web-1', 'http', apps.web, p.webIn, p.webOut, p.webAdmin)],
      },
      {
        name: 'payment',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [workload('payment-1', 'http', apps.pay, p.payIn, p.payOut, p.payAdmin)],
      },
      {
        name: 'ledger',
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
        workloads: [workload('ledger-1', 'pg', apps.ledger, p.ledgerIn, p.ledgerOut, p.ledgerAdmin)],
      },
    ],
    authorization_policies: policies,
  });
}

describe('mesh.yaml authorization policies', () => {
  let web: Upstream;
  let pay: Upstream;
  let ledger: TcpServer;
  let ports: Ports;
  let meshFile: string;
  let cp: ControlPlane;
  const proxies: ProxyServer[] = [];

  const viaWeb = (path: string, headers: Record<string, string> = {}) =>
    request(ports.webOut, path, { headers: { host: 'payment', ...headers } });

  beforeAll(async () => {
    web = await startUpstream('web');
    pay = await startUpstream('payment');
    ledger = await startTcpServer();
    ports = {
      webIn: await freePort(),
      webOut: await freePort(),
      webAdmin: await freePort(),
      payIn: await freePort(),
      payOut: await freePort(),
      payAdmin: await freePort(),
      ledgerIn: await freePort(),
      ledgerOut: await freePort(),
      ledgerAdmin: await freePort(),
    };
    meshFile = join(mkdtempSync(join(tmpdir(), 'ms-authz-')), 'mesh.yaml');
    writeFileSync(meshFile, meshYaml(ports, { web: web.port, pay: pay.port, ledger: ledger.port }, POLICIES));
    cp = await startControlPlane({ meshPath: meshFile, port: 0, log: () => undefined });
    for (const node of ['web-1', 'payment-1', 'ledger-1']) {
      const config = renderDynamicBootstrap(cp.mesh, node, { xds: `127.0.0.1:${cp.port}`, api: 'GRPC' });
      proxies.push(await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 }));
    }
  });

  afterAll(async () => {
    for (const p of proxies) await p.close(1000);
    await cp?.close();
    await web?.close();
    await pay?.close();
    await ledger?.close();
  });

  it('renders RBAC filters that the proxy accepts: AUDIT as LOG, then DENY, then ALLOW, named per rule', () => {
    const payment = nodeResources(cp.mesh, 'payment-1', { kind: 'ads' });
    const inbound = payment.listeners.get(`inbound|${ports.payIn}`) as JsonObject;
    expect(validator.listener(inbound)).toEqual([]);
    const filters = JSON.parse(JSON.stringify(inbound)).filter_chains[0].filters[0].typed_config.http_filters;
    expect(filters.map((f: { name: string }) => f.name)).toEqual([
      'istio.stats',
      'envoy.filters.http.rbac',
      'envoy.filters.http.rbac',
      'envoy.filters.http.router',
    ]);
    expect(filters[1].typed_config.rules.action).toBe('DENY');
    expect(Object.keys(filters[2].typed_config.rules.policies)).toEqual([
      'ns[default]-policy[payment-callers]-rule[0]',
      'ns[default]-policy[payment-callers]-rule[1]',
    ]);
    const ledgerListener = nodeResources(cp.mesh, 'ledger-1', { kind: 'ads' }).listeners.get(
      `inbound|${ports.ledgerIn}`,
    ) as JsonObject;
    expect(validator.listener(ledgerListener)).toEqual([]);
    const tcpFilters = JSON.parse(JSON.stringify(ledgerListener)).filter_chains[0].filters;
    expect(tcpFilters[0]).toMatchObject({
      name: 'envoy.filters.network.rbac',
      typed_config: { stat_prefix: 'tcp.', rules: { action: 'DENY' } },
    });
    const web1 = nodeResources(cp.mesh, 'web-1', { kind: 'ads' }).listeners.get(`inbound|${ports.webIn}`);
    expect(JSON.stringify(web1)).toContain('"action":"LOG"');
  });

  it('admits what an ALLOW rule matches and refuses the rest with 403 RBAC: access denied', async () => {
    await waitFor(async () => (await viaWeb('/pay/1', { 'x-tenant': 'acme' })).status === 200, 'payment reachable');
    const noTenant = await viaWeb('/pay/1');
    expect(noTenant.status).toBe(403);
    expect(noTenant.body).toBe('RBAC: access denied');
    expect((await viaWeb('/orders', { 'x-tenant': 'acme' })).status).toBe(403);
    // DENY wins over ALLOW.
    expect((await viaWeb('/debug/pprof', { 'x-tenant': 'acme' })).status).toBe(403);
    const paid = pay.seen.filter((r) => r.url.startsWith('/debug') || r.url === '/orders');
    expect(paid).toHaveLength(0);

    const stats = await statsOf(ports.payAdmin);
    expect(stats.get(`http.inbound_${ports.payIn}.rbac.denied`)).toBeGreaterThanOrEqual(3);
    // Istio's metrics are recorded once the response has left: poll until the three refusals are in.
    const deniedLine =
      /istio_requests_total\{reporter="destination",source_workload="web-1",[^}]*response_code="403",[^}]*response_flags="RBAC"[^}]*\} (\d+)\n/;
    await waitFor(
      async () => Number(deniedLine.exec((await request(ports.payAdmin, '/stats/prometheus')).body)?.[1] ?? 0) >= 3,
      'RBAC in istio_requests_total',
    );
  });

  it('closes a TCP client a DENY policy matches before the application sees it', async () => {
    const before = ledger.accepted;
    const r = await exchange(ports.ledgerIn, 'SELECT 1');
    expect(r.data.length).toBe(0);
    expect(ledger.accepted).toBe(before);
    expect((await statsOf(ports.ledgerAdmin)).get('tcp.rbac.denied')).toBe(1);
  });

  it('applies edited policies live, and keeps the last good mesh when an edit is refused', async () => {
    const write = (text: string) => {
      const tmp = `${meshFile}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, meshFile);
    };
    write(meshYaml(ports, { web: web.port, pay: pay.port, ledger: ledger.port }, POLICIES.slice(0, 1)));
    await waitFor(async () => (await viaWeb('/orders')).status === 200, 'the ALLOW policy removed');
    expect((await viaWeb('/debug/x')).status).toBe(403);
    write(meshYaml(ports, { web: web.port, pay: pay.port, ledger: ledger.port }, [{ name: 'x', services: ['nope'] }]));
    await new Promise((r) => setTimeout(r, 300));
    expect((await viaWeb('/debug/x')).status).toBe(403);
  });

  it('refuses bad policies, naming every problem with its path', () => {
    expect(() => parseMesh(meshYaml(ports, { web: 1, pay: 2, ledger: 3 }, [{ name: 'v', action: 'CUSTOM' }]))).toThrow(
      /authorization_policies\[0\]\.action/,
    );
    const refs = meshYaml(ports, { web: 1, pay: 2, ledger: 3 }, [
      {
        name: 'bad',
        services: ['paymnt'],
        rules: [
          {
            from: [
              { source: { principals: ['spiffe://cluster.local/ns/default/sa/web'], ip_blocks: ['10.0.0.0/33'] } },
            ],
            to: [{ operation: { paths: ['pay'], methods: ['get'] } }],
            when: [{ key: 'request.auth.claims[iss]', values: ['x'] }],
          },
        ],
      },
      { name: 'ports', services: ['payment'], rules: [{ to: [{ operation: { ports: [9999] } }] }] },
    ]);
    const message = (() => {
      try {
        parseMesh(refs);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toContain("authorization_policies[0].services[0]: no service named 'paymnt'");
    expect(message).toContain(
      "authorization_policies[0].rules[0].from[0].source.principals[0]: write principals without 'spiffe://'",
    );
    expect(message).toContain('authorization_policies[0].rules[0].from[0].source.ip_blocks[0]');
    expect(message).toContain(
      "authorization_policies[0].rules[0].to[0].operation.paths[0]: path 'pay' must start with / or *",
    );
    expect(message).toContain(
      "authorization_policies[0].rules[0].to[0].operation.methods[0]: method 'get' must be upper-case",
    );
    expect(message).toContain(
      "authorization_policies[0].rules[0].when[0].key: unsupported key 'request.auth.claims[iss]'",
    );
    expect(message).toContain(
      'authorization_policies[1].rules[0].to[0].operation.ports[0]: port 9999 is not a port of payment.default',
    );
  });
});
