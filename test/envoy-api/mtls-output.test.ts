// The mutual-TLS resources the control plane renders, held to Envoy's real v3 API and its
// protoc-gen-validate rules like the rest of its output (control-plane-output.test.ts): the
// documented example with mtls STRICT mesh-wide and its catalog PERMISSIVE, every node's
// listeners (DownstreamTlsContext requiring a client certificate from the trust domain;
// tls_inspector and a TLS and a plaintext chain for PERMISSIVE), clusters (UpstreamTlsContext
// matching the destination's SPIFFE ID) and SDS Secret (its SVID).
import fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type JsonObject,
  type Mesh,
  MeshCA,
  MtlsNeedsCaError,
  nodeIdentities,
  nodeNames,
  nodeResources,
  parseMesh,
  renderStaticBootstrap,
  WorkloadCertificates,
} from '../../control-plane/index.js';
import { ENVOY_API_FILES, loadProtoRoot } from '../../proxy/xds/proto/envoy-api.js';
import { EnvoyApiChecker } from './pgv.js';

const MESSAGE = {
  listeners: 'envoy.config.listener.v3.Listener',
  clusters: 'envoy.config.cluster.v3.Cluster',
  secrets: 'envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

function strictBookshop(): string {
  const text = fs.readFileSync(
    fileURLToPath(new URL('../../control-plane/mesh/examples/bookshop.yaml', import.meta.url)),
    'utf8',
  );
  return text
    .replace(/^name: bookshop$/m, 'name: bookshop\nmtls: STRICT\ntrust_domain: shop.example')
    .replace(/^ {2}- name: catalog$/m, '  - name: catalog\n    mtls: PERMISSIVE\n    service_account: catalog-sa');
}

describe('mutual TLS as the control plane renders it', () => {
  let mesh: Mesh;
  let checker: EnvoyApiChecker;
  let certs: WorkloadCertificates;

  beforeAll(async () => {
    checker = new EnvoyApiChecker(loadProtoRoot(ENVOY_API_FILES));
    mesh = parseMesh(strictBookshop());
    certs = new WorkloadCertificates(await MeshCA.generate({ trustDomain: mesh.trust_domain }), { onRotate: () => {} });
    await certs.ensure(nodeIdentities(mesh));
  });
  afterAll(() => certs?.close());

  it('passes Envoy’s types and validate rules for every node (listeners, clusters, SDS secret)', () => {
    const security = { rootCertificatePem: certs.ca.rootCertificatePem };
    const problems: string[] = [];
    for (const node of nodeNames(mesh)) {
      const res = nodeResources(mesh, node, { kind: 'ads' }, security);
      for (const [name, r] of res.listeners)
        problems.push(...checker.check(MESSAGE.listeners, r).map((p) => `${node} listener ${name}: ${p}`));
      for (const [name, r] of res.clusters)
        problems.push(...checker.check(MESSAGE.clusters, r).map((p) => `${node} cluster ${name}: ${p}`));
      for (const [name, r] of certs.secrets(node)) {
        // The resource's own @type is what the Any wrapping it over xDS carries.
        const { '@type': _type, ...secret } = r;
        problems.push(...checker.check(MESSAGE.secrets, secret).map((p) => `${node} secret ${name}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
  });

  it('STRICT: one TLS chain requiring a client certificate from the trust domain', () => {
    const res = nodeResources(
      mesh,
      'frontend-v1',
      { kind: 'ads' },
      { rootCertificatePem: certs.ca.rootCertificatePem },
    );
    const inbound = [...res.listeners.values()].find((l) => l.traffic_direction === 'INBOUND') as JsonObject;
    expect(inbound).not.toHaveProperty('listener_filters');
    expect(inbound.filter_chains).toHaveLength(1);
    expect(inbound.filter_chains).toMatchObject([
      {
        name: 'mtls',
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            require_client_certificate: true,
            common_tls_context: {
              tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }],
              validation_context: {
                match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://shop.example/' } }],
              },
              alpn_protocols: ['h2', 'http/1.1'],
            },
          },
        },
      },
    ]);
  });

  it('PERMISSIVE: tls_inspector, a TLS chain and a plaintext chain; callers originate mTLS with the server’s SPIFFE ID', () => {
    const security = { rootCertificatePem: certs.ca.rootCertificatePem };
    const catalog = nodeResources(mesh, 'catalog-v1', { kind: 'ads' }, security);
    const inbound = [...catalog.listeners.values()].find((l) => l.traffic_direction === 'INBOUND') as JsonObject;
    expect(inbound.listener_filters).toMatchObject([{ name: 'envoy.filters.listener.tls_inspector' }]);
    expect(inbound.filter_chains).toMatchObject([
      { name: 'mtls', filter_chain_match: { transport_protocol: 'tls' }, transport_socket: {} },
      { name: 'plaintext', filter_chain_match: { transport_protocol: 'raw_buffer' } },
    ]);
    expect((inbound.filter_chains as JsonObject[])[1]).not.toHaveProperty('transport_socket');
    const front = nodeResources(mesh, 'front-proxy', { kind: 'ads' }, security);
    expect(front.clusters.get('outbound|8080||shop/catalog')).toMatchObject({
      transport_socket: {
        typed_config: {
          sni: 'outbound_.8080_._.catalog.shop.svc.cluster.local',
          common_tls_context: {
            validation_context: {
              match_typed_subject_alt_names: [
                { san_type: 'URI', matcher: { exact: 'spiffe://shop.example/ns/shop/sa/catalog-sa' } },
              ],
            },
          },
        },
      },
    });
  });

  it('serves each node its own SVID and refuses a static bootstrap (no CA) with MS_ERR_MTLS_NEEDS_CA', () => {
    const secret = certs.secrets('catalog-v2').get('default') as {
      tls_certificate: { certificate_chain: { inline_string: string } };
    };
    const cert = new X509Certificate(secret.tls_certificate.certificate_chain.inline_string);
    expect(cert.subjectAltName).toBe('URI:spiffe://shop.example/ns/shop/sa/catalog-sa');
    expect(cert.verify(new X509Certificate(certs.ca.rootCertificatePem).publicKey)).toBe(true);
    expect(() => renderStaticBootstrap(mesh, 'frontend-v1')).toThrow(MtlsNeedsCaError);
    expect(() => renderStaticBootstrap(mesh, 'frontend-v1')).toThrow(/MS_ERR_MTLS_NEEDS_CA|control-plane bootstrap/);
  });

  it('refuses STRICT for a service with a workload that has no sidecar, naming it', () => {
    const text = strictBookshop().replace(
      '        sidecar: { inbound: { http: 15111 }, outbound_port: 15112, admin_port: 15113 }\n',
      '',
    );
    // catalog is PERMISSIVE, so its sidecar-less workload is fine; under STRICT it is not.
    expect(() => parseMesh(text)).not.toThrow();
    expect(() => parseMesh(text.replace('    mtls: PERMISSIVE\n', ''))).toThrow(
      /services\[1\]\.workloads\[1\].*mtls STRICT: workload 'catalog-v2' has no sidecar/,
    );
  });
});
