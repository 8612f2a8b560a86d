// `mtls: STRICT` for sidecars that fetch their config over REST (`--xds-api REST`): their TLS
// contexts name the SVID secret with a REST api_config_source (not ADS, which they have no
// stream for), the proxy polls /v3/discovery:secrets for it, and the two sidecars then speak
// mutual TLS with SPIFFE IDs checked both ways. Real clients: HTTP through web's outbound port,
// `openssl s_client` to payment's inbound port reading the SVID it serves.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type ControlPlane, renderDynamicBootstrap, startControlPlane } from '../../control-plane/index.js';
import { type ProxyServer, startProxy } from '../../proxy/index.js';
import { freePort, request, startUpstream, type Upstream } from '../proxy/helpers.js';
import { waitFor } from './helpers.js';

interface Ports {
  webIn: number;
  webOut: number;
  webAdmin: number;
  payIn: number;
  payOut: number;
  payAdmin: number;
}

function meshYaml(p: Ports, apps: { web: number; pay: number }): string {
  const service = (name: string, app: number, inbound: number, outbound: number, admin: number) => ({
    name,
    ports: [{ name: 'http', port: 8080 }],
    workloads: [
      {
        name: `${name}-1`,
        endpoints: { http: `127.0.0.1:${app}` },
        sidecar: { inbound: { http: inbound }, outbound_port: outbound, admin_port: admin },
      },
    ],
  });
  return stringify({
    name: 'mtls-rest',
    mtls: 'STRICT',
    services: [
      service('web', apps.web, p.webIn, p.webOut, p.webAdmin),
      service('payment', apps.pay, p.payIn, p.payOut, p.payAdmin),
    ],
  });
}

describe('mtls STRICT for REST xDS sidecars', () => {
  let web: Upstream;
  let pay: Upstream;
  let ports: Ports;
  let cp: ControlPlane;
  const proxies: ProxyServer[] = [];

  beforeAll(async () => {
    web = await startUpstream('web');
    pay = await startUpstream('payment');
    ports = {
      webIn: await freePort(),
      webOut: await freePort(),
      webAdmin: await freePort(),
      payIn: await freePort(),
      payOut: await freePort(),
      payAdmin: await freePort(),
    };
    const meshFile = join(mkdtempSync(join(tmpdir(), 'ms-mtls-rest-')), 'mesh.yaml');
    writeFileSync(meshFile, meshYaml(ports, { web: web.port, pay: pay.port }));
    cp = await startControlPlane({ meshPath: meshFile, port: 0, log: () => undefined });
    for (const node of ['web-1', 'payment-1']) {
      const config = renderDynamicBootstrap(cp.mesh, node, { xds: `127.0.0.1:${cp.port}`, api: 'REST' });
      proxies.push(await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 }));
    }
  });

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close(0)));
    await cp?.close();
    await web?.close();
    await pay?.close();
  });

  it('gets its SVID over REST SDS and carries requests over mutual TLS', async () => {
    const via = () => request(ports.webOut, '/pay/1', { headers: { host: 'payment' } });
    await waitFor(async () => (await via()).status === 200, 'payment reachable over mTLS', 20_000);
    const stats = (await request(ports.payAdmin, '/stats')).body;
    expect(stats).toMatch(/listener\.127\.0\.0\.1_\d+\.ssl\.handshake: [1-9]/);
    // The secret came by a REST poll: SDS accepted an update.
    expect(stats).toMatch(/^sds\.update_success: [1-9]/m);
  });

  it("payment's inbound port serves its SPIFFE SVID and refuses a client without one", async () => {
    const text = await new Promise<string>((resolve) =>
      execFile(
        'sh',
        [
          '-c',
          `openssl s_client -connect 127.0.0.1:${ports.payIn} </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`,
        ],
        { timeout: 20_000 },
        (_err, stdout) => resolve(stdout),
      ),
    );
    expect(text).toContain('URI:spiffe://cluster.local/ns/default/sa/payment');
    const plain = await fetch(`http://127.0.0.1:${ports.payIn}/`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).toBe('refused');
  });
});
