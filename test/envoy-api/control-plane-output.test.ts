// Everything the control plane produces is held to Envoy's real v3 API (the protos of
// @grpc/grpc-js-xds plus meshscope's overlay) and to the protoc-gen-validate rules written on it:
// what a real Envoy's config loader checks before it accepts a bootstrap or an xDS resource.
// Checked for every node of the demo shop, of the documented example, and of the shop with
// HTTP2 and GRPC ports: the static bootstrap (`render`), the dynamic bootstraps (`bootstrap`
// for GRPC, DELTA_GRPC and REST), and every listener, route, cluster and endpoint assignment
// served over ADS and REST (with the mesh CA's root, as the control plane serves a mesh with
// mutual TLS: the shop runs mtls STRICT; a static bootstrap carries no certificates, so it is
// rendered from the mesh's plaintext form, and the mTLS form is refused with
// MS_ERR_MTLS_NEEDS_CA as mtls-output.test.ts shows). The same output must also load in meshscope's own proxy
// (test/control-plane/generated-resources.test.ts and cli.test.ts run it).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type MeshSecurity,
  MeshCA,
  nodeNames,
  nodeResources,
  parseMesh,
  renderDynamicBootstrap,
  renderStaticBootstrap,
  type JsonObject,
  type Mesh,
} from '../../control-plane/index.js';
import { BOOTSTRAP_FILE, ENVOY_API_FILES, loadProtoRoot } from '../../proxy/xds/proto/envoy-api.js';
import { EnvoyApiChecker } from './pgv.js';

const MESSAGE = {
  listeners: 'envoy.config.listener.v3.Listener',
  routes: 'envoy.config.route.v3.RouteConfiguration',
  clusters: 'envoy.config.cluster.v3.Cluster',
  endpoints: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

const read = (rel: string): string => fs.readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');

/** The shop with its first service on HTTP2 and its second on GRPC (the mesh schema's other protocols). */
function shopWithHttp2AndGrpc(): string {
  let n = 0;
  return read('../../examples/shop/mesh.yaml').replace(/ports: \[\{ name: http, port: 8080 \}\]/g, (m) => {
    n += 1;
    if (n === 1) return 'ports: [{ name: http, port: 8080, protocol: HTTP2 }]';
    if (n === 2) return 'ports: [{ name: http, port: 8080, protocol: GRPC }]';
    return m;
  });
}

const MESHES: Array<[string, () => string]> = [
  ['examples/shop/mesh.yaml', () => read('../../examples/shop/mesh.yaml')],
  ['control-plane/mesh/examples/bookshop.yaml', () => read('../../control-plane/mesh/examples/bookshop.yaml')],
  ['the shop with HTTP2 and GRPC ports', shopWithHttp2AndGrpc],
];

/**
 * HTTP filters whose config is not part of Envoy's API (Istio's `stats.PluginConfig`): an
 * upstream Envoy without that extension refuses the listener unless the filter is optional.
 */
function nonEnvoyFiltersNotOptional(resource: unknown, path: string, out: string[]): void {
  if (Array.isArray(resource)) {
    resource.forEach((x, i) => nonEnvoyFiltersNotOptional(x, `${path}[${i}]`, out));
    return;
  }
  if (resource === null || typeof resource !== 'object') return;
  const o = resource as Record<string, unknown>;
  if (Array.isArray(o.http_filters)) {
    o.http_filters.forEach((f: { name?: string; typed_config?: { '@type'?: string }; is_optional?: boolean }, i) => {
      const type = f.typed_config?.['@type'] ?? '';
      if (!type.startsWith('type.googleapis.com/envoy.') && f.is_optional !== true)
        out.push(`${path}.http_filters[${i}] (${f.name}): ${type} is not an Envoy extension; needs is_optional: true`);
    });
  }
  for (const [k, v] of Object.entries(o)) nonEnvoyFiltersNotOptional(v, path === '' ? k : `${path}.${k}`, out);
}

let checker: EnvoyApiChecker;

beforeAll(() => {
  checker = new EnvoyApiChecker(loadProtoRoot([...ENVOY_API_FILES, BOOTSTRAP_FILE]));
});

function problemsOf(typeName: string, what: string, json: JsonObject): string[] {
  const out = checker.check(typeName, json).map((p) => `${what}: ${p}`);
  const extra: string[] = [];
  nonEnvoyFiltersNotOptional(json, '', extra);
  return [...out, ...extra.map((p) => `${what}: ${p}`)];
}

/** The mesh without mutual TLS: what a static bootstrap (no SDS, no CA) can carry. */
const plaintext = (mesh: Mesh): Mesh => ({
  ...mesh,
  mtls: 'DISABLE',
  services: mesh.services.map((s) => ({ ...s, mtls: undefined })),
});

describe.each(MESHES)('what the control plane produces for %s', (_name, yaml) => {
  let mesh: Mesh;
  let security: MeshSecurity;
  beforeAll(async () => {
    mesh = parseMesh(yaml());
    security = { rootCertificatePem: (await MeshCA.generate({ trustDomain: mesh.trust_domain })).rootCertificatePem };
  });

  it('bootstraps (render; bootstrap for GRPC, DELTA_GRPC, REST) pass Envoy’s Bootstrap and its validate rules', () => {
    const problems: string[] = [];
    for (const node of nodeNames(mesh)) {
      const B = 'envoy.config.bootstrap.v3.Bootstrap';
      problems.push(...problemsOf(B, `${node} render`, renderStaticBootstrap(plaintext(mesh), node)));
      for (const api of ['GRPC', 'DELTA_GRPC', 'REST'] as const) {
        const b = renderDynamicBootstrap(mesh, node, { xds: '127.0.0.1:18000', api });
        problems.push(...problemsOf(B, `${node} bootstrap ${api}`, b));
      }
    }
    expect(problems).toEqual([]);
  });

  it('xDS resources (ADS and REST config sources) pass their Envoy types and validate rules', () => {
    const problems: string[] = [];
    for (const node of nodeNames(mesh)) {
      for (const source of [{ kind: 'ads' }, { kind: 'rest', cluster: 'xds_cluster', refreshDelayMs: 200 }] as const) {
        const res = nodeResources(mesh, node, source, security);
        for (const kind of Object.keys(MESSAGE) as Array<keyof typeof MESSAGE>) {
          for (const [name, r] of res[kind])
            problems.push(...problemsOf(MESSAGE[kind], `${node} ${source.kind} ${kind} ${name}`, r));
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
