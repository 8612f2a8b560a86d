// A mesh with `mtls: STRICT` end to end: the real control plane issues each sidecar its SVID over
// SDS (gRPC ADS), sidecars speak mutual TLS to each other with SPIFFE IDs checked both ways, an
// authorization policy on a SPIFFE principal is enforced, and Istio's metrics report the
// connection as mutual_tls with both principals. Plaintext and a client without the mesh's
// certificate are refused at the inbound port; PERMISSIVE then admits plaintext on that port too.
import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type ControlPlane, renderDynamicBootstrap, startControlPlane } from '../../control-plane/index.js';
import { freePort, request, startUpstream, type Upstream } from '../proxy/helpers.js';
import { type Sidecar, startSidecar, TelemetryReceiver } from '../proxy/telemetry/helpers.js';
import { waitFor } from './helpers.js';

const execFileAsync = promisify(execFile);

interface Ports {
  webIn: number;
  webOut: number;
  webAdmin: number;
  payIn: number;
  payOut: number;
  payAdmin: number;
}

function meshYaml(p: Ports, apps: { web: number; pay: number; collector: number }, mtls: string): string {
  return stringify({
    name: 'mtls-e2e',
    mtls,
    telemetry: { collector: `127.0.0.1:${apps.collector}`, access_log: 'none' },
    services: [
      {
        name: 'web',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [
          {
            name: 'web-1',
            endpoints: { http: `127.0.0.1:${apps.web}` },
            sidecar: { inbound: { http: p.webIn }, outbound_port: p.webOut, admin_port: p.webAdmin },
          },
        ],
      },
      {
        name: 'payment',
        service_account: 'payment-sa',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [
          {
            name: 'payment-1',
            endpoints: { http: `127.0.0.1:${apps.pay}` },
            sidecar: { inbound: { http: p.payIn }, outbound_port: p.payOut, admin_port: p.payAdmin },
          },
        ],
      },
    ],
    authorization_policies: [
      {
        name: 'web-no-admin',
        services: ['payment'],
        action: 'DENY',
        rules: [
          {
            from: [{ source: { principals: ['cluster.local/ns/default/sa/web'] } }],
            to: [{ operation: { paths: ['/admin/*'] } }],
          },
        ],
      },
    ],
  });
}

describe('mtls STRICT between sidecars served by the control plane', () => {
  let web: Upstream;
  let pay: Upstream;
  let ports: Ports;
  let meshFile: string;
  let cp: ControlPlane;
  const receiver = new TelemetryReceiver();
  const proxies: Sidecar[] = [];
  const viaWeb = (path: string) => request(ports.webOut, path, { headers: { host: 'payment' } });

  beforeAll(async () => {
    web = await startUpstream('web');
    pay = await startUpstream('payment');
    await receiver.start();
    ports = {
      webIn: await freePort(),
      webOut: await freePort(),
      webAdmin: await freePort(),
      payIn: await freePort(),
      payOut: await freePort(),
      payAdmin: await freePort(),
    };
    meshFile = join(mkdtempSync(join(tmpdir(), 'ms-mtls-e2e-')), 'mesh.yaml');
    writeFileSync(meshFile, meshYaml(ports, { web: web.port, pay: pay.port, collector: receiver.port }, 'STRICT'));
    cp = await startControlPlane({ meshPath: meshFile, port: 0, log: () => undefined });
    for (const node of ['web-1', 'payment-1']) {
      const config = renderDynamicBootstrap(cp.mesh, node, { xds: `127.0.0.1:${cp.port}`, api: 'GRPC' });
      // The CLI, as `meshscope up` runs sidecars: spans leave through the export thread.
      proxies.push(await startSidecar(node, config));
    }
  });

  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await cp?.close();
    await web?.close();
    await pay?.close();
    await receiver.stop();
  });

  it('carries a request over mutual TLS, reported as mutual_tls with both SPIFFE principals', async () => {
    await waitFor(async () => (await viaWeb('/pay/1')).status === 200, 'payment reachable over mTLS', 20_000);
    const line = await waitFor(async () => {
      const text = (await request(ports.payAdmin, '/stats/prometheus')).body;
      return text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'));
    }, 'istio_requests_total on the server');
    expect(line).toContain('connection_security_policy="mutual_tls"');
    expect(line).toContain('source_principal="spiffe://cluster.local/ns/default/sa/web"');
    expect(line).toContain('destination_principal="spiffe://cluster.local/ns/default/sa/payment-sa"');
    expect(line).toContain('source_workload="web-1"');
    // The server's span names both identities and the TLS it arrived over.
    const attrs = await waitFor(
      () => {
        for (const span of receiver.spans) {
          const a = span.attributes;
          const at = (k: string) => {
            const i = a.indexOf(k);
            return i === -1 ? undefined : a[i + 1];
          };
          if (span.resource.serviceName === 'payment' && at('source.principal') !== undefined)
            return {
              source: at('source.principal'),
              destination: at('destination.principal'),
              tls: at('tls.protocol.version'),
            };
        }
        return undefined;
      },
      'a span with the peer identity',
      20_000,
    );
    expect(attrs.source).toBe('spiffe://cluster.local/ns/default/sa/web');
    expect(attrs.destination).toBe('spiffe://cluster.local/ns/default/sa/payment-sa');
    expect(attrs.tls).toMatch(/^1\.[23]$/);
  });

  it('enforces an authorization policy on the caller’s SPIFFE principal', async () => {
    const denied = await viaWeb('/admin/keys');
    expect(denied.status).toBe(403);
    expect(denied.body).toBe('RBAC: access denied');
    expect(pay.seen.some((r) => r.url.startsWith('/admin'))).toBe(false);
  });

  it('refuses plaintext and a client without the mesh’s certificate at the inbound port', async () => {
    const plain = await execFileAsync('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '5',
      `http://127.0.0.1:${ports.payIn}/`,
    ]).catch((err: { code: number; stdout: string }) => err);
    expect(plain.stdout).toBe('000');
    const noCert = await execFileAsync('curl', [
      '-sk',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '5',
      `https://127.0.0.1:${ports.payIn}/`,
    ]).catch((err: { code: number; stdout: string }) => err);
    expect(noCert.stdout).toBe('000');
    expect(pay.seen.length).toBeGreaterThan(0);
  });

  it('PERMISSIVE admits plaintext on the same port, and mTLS still flows', async () => {
    const tmp = `${meshFile}.tmp`;
    writeFileSync(tmp, meshYaml(ports, { web: web.port, pay: pay.port, collector: receiver.port }, 'PERMISSIVE'));
    renameSync(tmp, meshFile);
    await waitFor(
      async () => {
        const r = await request(ports.payIn, '/plain').catch(() => null);
        return r?.status === 200;
      },
      'plaintext admitted under PERMISSIVE',
      20_000,
    );
    expect((await viaWeb('/pay/2')).status).toBe(200);
  });
});
