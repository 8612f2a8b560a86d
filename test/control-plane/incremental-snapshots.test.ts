// After any edit, a control plane that rebuilds only what an edit changed serves every node
// exactly what compiling the new mesh from scratch gives it (same resources, same versions),
// and a node the edit does not concern keeps its own resources as they were (nothing to push).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  type CacheSecurity,
  MeshCA,
  nodeNames,
  nodeResources,
  parseMesh,
  SnapshotCache,
} from '../../control-plane/index.js';

type Doc = {
  mtls?: string;
  telemetry?: { sampling_percent: number };
  authorization_policies?: Array<Record<string, unknown>>;
  services: Array<{
    name: string;
    namespace?: string;
    ports: Array<{ name: string; port: number }>;
    mtls?: string;
    egress?: { hosts: string[] };
    routes?: Array<{ route: Array<{ weight?: number; service?: string }> }>;
    policy?: { connect_timeout?: string };
    workloads: Array<{ name: string; weight?: number; endpoints: Record<string, string>; sidecar?: unknown }>;
  }>;
  ingress?: { routes: Array<{ timeout?: string; route: Array<{ service?: string }> }> };
};

const ADS = { kind: 'ads' } as const;
const REST = { kind: 'rest', cluster: 'xds', refreshDelayMs: 200 } as const;

/** Edits of the bookshop mesh, each applied on top of the ones before. */
const EDITS: Array<[string, (d: Doc) => void]> = [
  [
    'a route split',
    (d) => {
      d.services[1]!.routes![1]!.route[0]!.weight = 70;
      d.services[1]!.routes![1]!.route[1]!.weight = 30;
    },
  ],
  ['a workload weight', (d) => Object.assign(d.services[1]!.workloads[0]!, { weight: 7 })],
  ['an app endpoint', (d) => Object.assign(d.services[0]!.workloads[0]!.endpoints, { http: '127.0.0.1:9002' })],
  [
    'a new workload',
    (d) =>
      d.services[1]!.workloads.push({
        name: 'catalog-v3',
        endpoints: { http: '127.0.0.1:9121' },
        sidecar: { inbound: { http: 15121 }, outbound_port: 15122 },
      }),
  ],
  ['a destination policy', (d) => Object.assign(d.services[1]!.policy!, { connect_timeout: '750ms' })],
  ['an ingress timeout', (d) => Object.assign(d.ingress!.routes[0]!, { timeout: '3s' })],
  ['an authorization policy removed', (d) => d.authorization_policies!.pop()],
  ['sampling', (d) => Object.assign(d.telemetry!, { sampling_percent: 50 })],
  ['one service in mTLS', (d) => Object.assign(d.services[1]!, { mtls: 'PERMISSIVE' })],
  ['the mesh in mTLS', (d) => Object.assign(d, { mtls: 'STRICT' })],
  ['a workload removed', (d) => d.services[1]!.workloads.pop()],
  ['an egress scope', (d) => Object.assign(d.services[0]!, { egress: { hosts: ['catalog'] } })],
  ['a workload weight outside the scope', (d) => Object.assign(d.services[0]!.workloads[0]!, { weight: 5 })],
  [
    'a route split inside the scope',
    (d) => {
      d.services[1]!.routes![1]!.route[0]!.weight = 40;
      d.services[1]!.routes![1]!.route[1]!.weight = 60;
    },
  ],
  ['the egress scope removed', (d) => delete d.services[0]!.egress],
  // The next edits change what an unchanged service's routes name in another service: a memo of
  // its virtual hosts kept by its own text alone would serve the old cluster, host or domains.
  [
    'a caller routing to catalog',
    (d) => Object.assign(d.services[0]!, { routes: [{ route: [{ service: 'catalog' }] }] }),
  ],
  ['the caller scoped to it again', (d) => Object.assign(d.services[0]!, { egress: { hosts: ['catalog'] } })],
  ['its route target renumbered', (d) => Object.assign(d.services[1]!.ports[0]!, { port: 8081 })],
  ['its route target renamed', (d) => Object.assign(d.services[1]!, { namespace: 'store' })],
  [
    'the ingress naming frontend.shop',
    (d) => Object.assign(d.ingress!.routes[0]!.route[0]!, { service: 'frontend.shop' }),
  ],
  [
    'a second frontend in another namespace',
    (d) =>
      d.services.push({ name: 'frontend', namespace: 'web', ports: [{ name: 'http', port: 8090 }], workloads: [] }),
  ],
];

function expectServesFromScratch(cache: SnapshotCache, text: string, security: CacheSecurity, nodes: string[]): void {
  // A document marker makes the whole text parse again: new objects all through, so nothing
  // built for the edited mesh is reused for the reference.
  const mesh = parseMesh(`---\n${text}`);
  const fresh = new SnapshotCache(mesh, security);
  for (const node of nodes) {
    if (!nodeNames(mesh).includes(node)) continue;
    for (const style of [ADS, REST]) {
      const want = nodeResources(mesh, node, style, security);
      const got = cache.snapshot(node, style);
      for (const kind of ['listeners', 'routes', 'clusters', 'endpoints'] as const) {
        expect([...got.types[kind].resources], `${node} ${style.kind} ${kind}`).toEqual([...want[kind]]);
      }
      const scratch = fresh.snapshot(node, style);
      for (const kind of Object.keys(scratch.types) as Array<keyof typeof scratch.types>)
        expect(got.types[kind].version, `${node} ${style.kind} ${kind} version`).toBe(scratch.types[kind].version);
    }
  }
}

describe('incremental snapshots', () => {
  it('serve each node what a compile from scratch gives it, after every kind of edit', async () => {
    const text = readFileSync(
      fileURLToPath(new URL('../../control-plane/mesh/examples/bookshop.yaml', import.meta.url)),
      'utf8',
    );
    const doc = parse(text) as Doc;
    let mesh = parseMesh(text);
    const ca = await MeshCA.generate({ trustDomain: mesh.trust_domain });
    const security: CacheSecurity = { rootCertificatePem: ca.rootCertificatePem, secrets: () => new Map() };
    const cache = new SnapshotCache(mesh, security);
    const nodes = [...nodeNames(mesh), 'catalog-v3'];
    const changes = new Map<string, Set<string>>();
    for (const node of nodes)
      for (const style of [ADS, REST])
        cache.watch(node, style, (changed) => {
          for (const k of changed) changes.get(node)?.add(k) ?? changes.set(node, new Set([k]));
        });
    for (const [what, edit] of EDITS) {
      edit(doc);
      const text = stringify(doc);
      mesh = parseMesh(text);
      changes.clear();
      const listenersBefore = new Map(nodes.map((n) => [n, cache.snapshot(n, ADS).types.listeners]));
      cache.setMesh(mesh);
      try {
        expectServesFromScratch(cache, text, security, nodes);
      } catch (err) {
        throw new Error(`after ${what}: ${(err as Error).message}`);
      }
      if (what === 'a route split' || what === 'a workload weight') {
        // Only the shared routes (or endpoints) changed: no node's listeners are rebuilt or pushed.
        for (const n of nodeNames(mesh)) {
          expect(cache.snapshot(n, ADS).types.listeners, `${what}: ${n}`).toBe(listenersBefore.get(n));
          const pushed = what === 'a route split' ? (n === 'front-proxy' ? [] : ['routes']) : ['endpoints'];
          expect([...(changes.get(n) ?? [])], `${what}: ${n}`).toEqual(pushed);
        }
      }
      if (what === 'a workload weight outside the scope') {
        // frontend's sidecar calls catalog only: frontend's own endpoints are outside its scope.
        expect([...(changes.get('frontend-v1') ?? [])], what).toEqual([]);
        expect([...(changes.get('catalog-v1') ?? [])], what).toEqual(['endpoints']);
      }
      if (what === 'a route split inside the scope')
        expect([...(changes.get('frontend-v1') ?? [])], what).toEqual(['routes']);
    }
  });
});
