// Everything the control plane generates must load in meshscope's proxy (same schemas as a
// static bootstrap) and cross a gRPC stream (every field in the protobuf schema): checked
// for every node of the demo shop's mesh and of the documented example. The shop runs mtls
// STRICT, so its resources are rendered as the control plane serves them: with the mesh CA's root.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  loadMeshFile,
  type Mesh,
  MeshCA,
  type MeshSecurity,
  nodeNames,
  nodeResources,
  type JsonObject,
} from '../../control-plane/index.js';
import { proxyResourceValidator as validator } from '../../proxy/xds/validator.js';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import '../../proxy/extensions/index.js';

/** What the control plane passes once it is the mesh's CA (the shop uses mutual TLS). */
async function meshSecurity(mesh: Mesh): Promise<MeshSecurity> {
  return { rootCertificatePem: (await MeshCA.generate({ trustDomain: mesh.trust_domain })).rootCertificatePem };
}

const MESSAGE = {
  listeners: 'envoy.config.listener.v3.Listener',
  routes: 'envoy.config.route.v3.RouteConfiguration',
  clusters: 'envoy.config.cluster.v3.Cluster',
  endpoints: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

/** The listener as the proxy's static schema sees it once RDS is resolved. */
function inlined(listener: JsonObject): JsonObject {
  const copy = structuredClone(listener) as {
    filter_chains: Array<{ filters: Array<{ typed_config: Record<string, unknown> }> }>;
  };
  for (const chain of copy.filter_chains) {
    for (const f of chain.filters) {
      if (f.typed_config.rds !== undefined) {
        delete f.typed_config.rds;
        f.typed_config.route_config = { name: 'rds' };
      }
    }
  }
  return copy as unknown as JsonObject;
}

describe.each([
  ['examples/shop/mesh.yaml', '../../examples/shop/mesh.yaml'],
  ['control-plane/mesh/examples/bookshop.yaml', '../../control-plane/mesh/examples/bookshop.yaml'],
])('resources generated for %s', (_name, rel) => {
  it('pass the proxy validation and round-trip through protobuf for every node', async () => {
    const mesh = await loadMeshFile(fileURLToPath(new URL(rel, import.meta.url)));
    const security = await meshSecurity(mesh);
    const problems: string[] = [];
    for (const node of nodeNames(mesh)) {
      const res = nodeResources(mesh, node, { kind: 'ads' }, security);
      for (const kind of Object.keys(MESSAGE) as Array<keyof typeof MESSAGE>) {
        for (const [name, r] of res[kind]) {
          try {
            decodeMessage(MESSAGE[kind], encodeMessage(MESSAGE[kind], r as JsonValue));
          } catch (err) {
            problems.push(`${node} ${kind} ${name}: protobuf: ${(err as Error).message}`);
          }
        }
      }
      for (const [name, c] of res.clusters) {
        const { eds_cluster_config: _eds, ...rest } = c;
        const staticForm =
          c.type === 'EDS' ? { ...rest, type: 'STATIC', load_assignment: res.endpoints.get(name)! } : c;
        for (const e of validator.cluster(staticForm)) problems.push(`${node} cluster ${name}: ${e}`);
      }
      for (const [name, a] of res.endpoints)
        for (const e of validator.assignment(a)) problems.push(`${node} endpoints ${name}: ${e}`);
      for (const [name, rc] of res.routes)
        for (const e of validator.routeConfiguration(rc)) problems.push(`${node} routes ${name}: ${e}`);
      for (const [name, l] of res.listeners)
        for (const e of validator.listener(inlined(l))) problems.push(`${node} listener ${name}: ${e}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('route decorators', () => {
  it("give every route an operation, so spans say what happened (the shop's front proxy: GET /, POST /checkout)", async () => {
    const mesh = await loadMeshFile(fileURLToPath(new URL('../../examples/shop/mesh.yaml', import.meta.url)));
    const security = await meshSecurity(mesh);
    type Routes = { virtual_hosts: Array<{ routes: Array<{ decorator?: { operation: string } }> }> };
    const operations = (node: string): string[] => {
      const res = nodeResources(mesh, node, { kind: 'ads' }, security);
      const inline = [...res.listeners.values()].flatMap((l) =>
        (l as { filter_chains: Array<{ filters: Array<{ typed_config: { route_config?: Routes } }> }> }).filter_chains
          .flatMap((c) => c.filters)
          .flatMap((f) => (f.typed_config.route_config === undefined ? [] : [f.typed_config.route_config])),
      );
      const all = [...(res.routes.values() as Iterable<unknown>), ...inline] as Routes[];
      return all.flatMap((rc) => rc.virtual_hosts.flatMap((vh) => vh.routes.map((r) => r.decorator?.operation ?? '')));
    };
    for (const node of nodeNames(mesh)) expect(operations(node), node).not.toContain('');
    const ingress = nodeNames(mesh).find((n) => n.startsWith('front-proxy'))!;
    expect(operations(ingress)).toEqual(['POST /checkout', 'GET /', 'frontend.default.svc.cluster.local:8080/*']);
    const catalog = nodeNames(mesh).find((n) => n.startsWith('catalog'))!;
    expect(operations(catalog)).toContain('catalog.default.svc.cluster.local:8080/*');
  });
});

describe('circuit breakers', () => {
  type Thresholds = { circuit_breakers?: { thresholds: Array<Record<string, unknown>> } };
  const thresholdsOf = (c: unknown): Record<string, unknown> | undefined =>
    (c as Thresholds).circuit_breakers?.thresholds[0];

  it("are Istio's (uint32's maximum) where the mesh sets none, and a policy's fields replace them", async () => {
    const mesh = await loadMeshFile(
      fileURLToPath(new URL('../../control-plane/mesh/examples/bookshop.yaml', import.meta.url)),
    );
    const security = await meshSecurity(mesh);
    const unlimited = 4294967295;
    const seen = { limited: 0, unlimited: 0 };
    for (const node of nodeNames(mesh)) {
      const res = nodeResources(mesh, node, { kind: 'ads' }, security);
      for (const [name, c] of res.clusters) {
        // The telemetry cluster is the collector's, not a mesh service's.
        if (name === 'opentelemetry_collector') continue;
        const t = thresholdsOf(c);
        expect(t, `${node} ${name}`).toBeDefined();
        if (t!.max_requests === 1024) {
          // bookshop.yaml's policy: all four fields set.
          expect(t).toMatchObject({ max_connections: 1024, max_pending_requests: 1024, max_retries: 3 });
          seen.limited++;
        } else {
          expect(t, `${node} ${name}`).toMatchObject({
            max_connections: unlimited,
            max_pending_requests: unlimited,
            max_requests: unlimited,
            max_retries: unlimited,
          });
          seen.unlimited++;
        }
      }
    }
    expect(seen.limited).toBeGreaterThan(0);
    expect(seen.unlimited).toBeGreaterThan(0);
  });
});
