// `meshscope control-plane validate|render|bootstrap`: exit codes, messages naming the
// field, and a rendered static bootstrap that the real proxy CLI loads and routes with.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startUpstream, request, type Upstream } from '../proxy/helpers.js';
import { cli, freePorts, runCli, tempDir, waitFor, type Child, type TempDir } from './helpers.js';

let dir: TempDir;
let web: Upstream;
let apiV1: Upstream;
let apiV2: Upstream;
let ports: number[];
let meshPath: string;
const children: Child[] = [];

beforeAll(async () => {
  dir = tempDir();
  [web, apiV1, apiV2] = await Promise.all([startUpstream('web'), startUpstream('api-v1'), startUpstream('api-v2')]);
  ports = await freePorts(3);
  // The api workloads have no sidecars, so web's sidecar calls the apps directly.
  meshPath = dir.write(
    'mesh.yaml',
    `name: rendered
services:
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: web-1
        endpoints: { http: 127.0.0.1:${web.port} }
        sidecar: { inbound: { http: ${ports[0]} }, outbound_port: ${ports[1]}, admin_port: ${ports[2]} }
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
      - { name: api-v1, labels: { version: v1 }, endpoints: { http: 127.0.0.1:${apiV1.port} } }
      - { name: api-v2, labels: { version: v2 }, endpoints: { http: 127.0.0.1:${apiV2.port} } }
    routes:
      - match: [{ prefix: /v2 }]
        route: [{ subset: v2 }]
        timeout: 3s
      - route: [{ subset: v1 }]
`,
  );
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await Promise.all([web, apiV1, apiV2].map((u) => u?.close()));
  dir.remove();
});

describe('meshscope control-plane CLI', () => {
  it('validate exits 0 for a good mesh and 1 naming the field for a bad one', async () => {
    const ok = await cli(['control-plane', 'validate', '--mesh', meshPath]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/mesh 'rendered' is valid/);
    const bad = dir.write(
      'bad.yaml',
      'services:\n  - name: api\n    ports: [{ name: http, port: 8080, potr: 1 }]\n    workloads: []\n',
    );
    const res = await cli(['control-plane', 'validate', '--mesh', bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('services[0].ports[0].potr: unknown field');
  });

  it('serves until SIGTERM, then exits 0; a bad mesh at start exits 1 naming the field', async () => {
    const [port] = await freePorts(1);
    const serve = runCli(['control-plane', '--mesh', meshPath, '--xds', `127.0.0.1:${port}`]);
    children.push(serve);
    await serve.waitForOutput(/served over xDS \(gRPC ADS and REST-JSON\) on 127\.0\.0\.1:\d+/);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(200);
    serve.proc.kill('SIGTERM');
    expect(await serve.exited).toBe(0);

    const bad = dir.write('bad-start.yaml', 'services: []\n');
    const res = await cli(['control-plane', '--mesh', bad, '--xds', `127.0.0.1:${port}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/services: /);
  });

  it('refuses bad flags and unknown nodes with exit code 2 / 1', async () => {
    expect((await cli(['control-plane', 'render', '--mesh', meshPath])).code).toBe(2);
    expect((await cli(['control-plane', 'frobnicate'])).code).toBe(2);
    const unknown = await cli(['control-plane', 'render', '--mesh', meshPath, '--node', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/node 'nobody' is not a workload or ingress of the mesh \(known: web-1\)/);
  });

  it('bootstrap prints a dynamic bootstrap pointing at the control plane', async () => {
    const res = await cli([
      'control-plane',
      'bootstrap',
      '--mesh',
      meshPath,
      '--node',
      'web-1',
      '--xds',
      '127.0.0.1:18123',
      '--api',
      'REST',
    ]);
    expect(res.code).toBe(0);
    type Address = { socket_address: { address: string; port_value: number } };
    const b = parseYaml(res.stdout) as {
      node: { id: string };
      dynamic_resources: { lds_config: { api_config_source: Record<string, unknown> } };
      static_resources: {
        clusters: Array<{
          load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: Address } }> }> };
        }>;
      };
    };
    expect(b.node.id).toBe('web-1');
    expect(b.dynamic_resources.lds_config.api_config_source).toMatchObject({
      api_type: 'REST',
      cluster_names: ['xds_cluster'],
    });
    expect(
      b.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address,
    ).toEqual({ address: '127.0.0.1', port_value: 18123 });
  });

  it("bootstrap gives an ingress with an https_port its certificate: made under --tls-dir and kept, or the operator's", async () => {
    const meshFile = dir.write(
      'ingress-mesh.yaml',
      `name: north-south
services:
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads: [{ name: web-1, endpoints: { http: 127.0.0.1:${web.port} } }]
ingress:
  name: edge
  port: ${ports[0]}
  https_port: ${ports[1]}
  admin_port: ${ports[2]}
  routes: [{ route: [{ service: web }] }]
`,
    );
    const tlsDir = dir.file('edge-state');
    const bootstrap = async (...extra: string[]) => {
      const res = await cli(['control-plane', 'bootstrap', '--mesh', meshFile, '--node', 'edge', ...extra]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      type Secret = {
        name: string;
        tls_certificate: { certificate_chain: { filename: string }; private_key: { filename: string } };
      };
      return (parseYaml(res.stdout) as { static_resources: { secrets?: Secret[] } }).static_resources.secrets;
    };
    const [secret] = (await bootstrap('--tls-dir', tlsDir)) ?? [];
    expect(secret?.name).toBe('ingress-cert');
    const chain = secret!.tls_certificate.certificate_chain.filename;
    const leaf = new X509Certificate(readFileSync(chain));
    const ca = new X509Certificate(readFileSync(join(tlsDir, 'tls', 'ca.pem')));
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(leaf.checkPrivateKey(createPrivateKey(readFileSync(secret!.tls_certificate.private_key.filename)))).toBe(
      true,
    );
    // A second bootstrap keeps the certificate a user may already trust.
    const [again] = (await bootstrap('--tls-dir', tlsDir)) ?? [];
    expect(new X509Certificate(readFileSync(again!.tls_certificate.certificate_chain.filename)).serialNumber).toBe(
      leaf.serialNumber,
    );
    // The operator's own files are named as given; without any flag there is no secret.
    const key = secret!.tls_certificate.private_key.filename;
    const [given] = (await bootstrap('--tls-cert', chain, '--tls-key', key)) ?? [];
    expect(given?.tls_certificate).toEqual({ certificate_chain: { filename: chain }, private_key: { filename: key } });
    expect(await bootstrap()).toBeUndefined();

    const missing = await cli([
      'control-plane',
      'bootstrap',
      '--mesh',
      meshFile,
      '--node',
      'edge',
      '--tls-cert',
      dir.file('none.pem'),
      '--tls-key',
      key,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--tls-cert .*none\.pem: not a readable PEM certificate/);
    const lonely = await cli(['control-plane', 'bootstrap', '--mesh', meshFile, '--node', 'edge', '--tls-cert', chain]);
    expect(lonely.code).toBe(2);
    expect(lonely.stderr).toMatch(/--tls-cert and --tls-key go together/);
  });

  it('render output loads in the proxy CLI and routes inbound and outbound traffic', async () => {
    const res = await cli(['control-plane', 'render', '--mesh', meshPath, '--node', 'web-1']);
    expect(res.code).toBe(0);
    const rendered = dir.write('web-1.yaml', res.stdout);
    const proxy = runCli(['proxy', '-c', rendered, '--concurrency', '1']);
    children.push(proxy);
    await waitFor(async () => (await request(ports[2]!, '/ready')).status === 200, 'proxy admin /ready');

    const inbound = await request(ports[0]!, '/hello');
    expect(inbound.status).toBe(200);
    expect(inbound.json().upstream).toBe('web');

    const v1 = await request(ports[1]!, '/items', { headers: { host: 'api' } });
    expect(v1.status).toBe(200);
    expect(v1.json().upstream).toBe('api-v1');
    const v2 = await request(ports[1]!, '/v2/items', { headers: { host: 'api.default:8080' } });
    expect(v2.json().upstream).toBe('api-v2');
    const none = await request(ports[1]!, '/', { headers: { host: 'unknown-service' } });
    expect(none.status).toBe(404);
  });
});
