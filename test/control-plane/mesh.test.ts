// The mesh description: the documented example parses; every malformed input is refused
// with messages that name each offending field by its path, all at once.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { MeshValidationError, parseMesh } from '../../control-plane/index.js';

const example = readFileSync(new URL('../../control-plane/mesh/examples/bookshop.yaml', import.meta.url), 'utf8');

function issuesOf(text: string): Array<{ path: string; message: string }> {
  try {
    parseMesh(text, 'mesh.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(MeshValidationError);
    expect((err as MeshValidationError).code).toBe('MS_ERR_MESH_INVALID');
    return [...(err as MeshValidationError).issues];
  }
  throw new Error('expected the mesh to be rejected');
}

const base = `
services:
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: api-v1
        labels: { version: v1 }
        endpoints: { http: 127.0.0.1:9001 }
        sidecar: { inbound: { http: 15001 }, outbound_port: 15002 }
`;

describe('mesh description', () => {
  it('parses the documented example with defaults applied', () => {
    const mesh = parseMesh(example);
    expect(mesh.name).toBe('bookshop');
    const catalog = mesh.services.find((s) => s.name === 'catalog')!;
    expect(catalog.namespace).toBe('shop');
    expect(catalog.routes?.[1]?.timeout).toBe(2000);
    expect(catalog.routes?.[1]?.retries).toEqual({
      attempts: 2,
      per_try_timeout: 500,
      retry_on: '5xx,connect-failure,reset',
    });
    expect(catalog.policy?.load_balancer).toBe('LEAST_REQUEST');
    expect(mesh.ingress?.domains).toEqual(['*']);
  });

  it('names an unknown field by its full path', () => {
    const issues = issuesOf(base.replace('outbound_port: 15002', 'outbound_port: 15002, outbond: 1'));
    expect(issues).toEqual([{ path: 'services[0].workloads[0].sidecar.outbond', message: 'unknown field' }]);
  });

  it('reports every shape problem at once', () => {
    const issues = issuesOf(`
services:
  - name: Api
    ports: [{ name: http, port: 70000 }]
    workloads:
      - name: api-v1
        endpoints: { http: localhost:9001 }
    routes:
      - route: [{ subset: v1 }]
        timeout: 2 seconds
`);
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'services[0].name',
        'services[0].ports[0].port',
        'services[0].workloads[0].endpoints.http',
        'services[0].routes[0].timeout',
      ]),
    );
    expect(issues.find((i) => i.path === 'services[0].routes[0].timeout')?.message).toMatch(/duration/);
  });

  it('checks cross references: port names, subsets, weights, services, port collisions, node names', () => {
    const issues = issuesOf(`
services:
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: api-v1
        labels: { version: v1 }
        endpoints: { htp: 127.0.0.1:9001 }
        sidecar: { inbound: { http: 15001 }, outbound_port: 15001 }
    routes:
      - route:
          - { subset: v1, weight: 60 }
          - { subset: v3, weight: 30 }
      - route: [{ service: nowhere }]
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: api-v1
        endpoints: { http: 127.0.0.1:9002 }
`);
    const byPath = new Map(issues.map((i) => [i.path, i.message]));
    expect(byPath.get('services[0].workloads[0].endpoints.htp')).toBe("no service port named 'htp'");
    expect(byPath.get('services[0].workloads[0].endpoints.http')).toBe("missing endpoint for service port 'http'");
    expect(byPath.get('services[0].workloads[0].sidecar.outbound_port')).toMatch(
      /port 15001 is already used by services\[0\]\.workloads\[0\]\.sidecar\.inbound\.http/,
    );
    expect(byPath.get('services[0].routes[0].route[1].subset')).toMatch(/subset 'v3' selects no workload/);
    expect(byPath.get('services[0].routes[0].route')).toBe('destination weights sum to 90, expected 100');
    expect(byPath.get('services[0].routes[1].route[0].service')).toBe("no service named 'nowhere'");
    expect(byPath.get('services[1].workloads[0].name')).toMatch(/node name 'api-v1' is already used/);
  });

  it('requires name.namespace when a short service name is ambiguous', () => {
    const issues = issuesOf(`
services:
  - { name: api, namespace: a, ports: [{ name: http, port: 80 }], workloads: [] }
  - { name: api, namespace: b, ports: [{ name: http, port: 80 }], workloads: [] }
ingress:
  name: front
  port: 10000
  routes: [{ route: [{ service: api }] }]
`);
    expect(issues).toEqual([
      { path: 'ingress.routes[0].route[0].service', message: expect.stringMatching(/ambiguous.*name\.namespace/) },
    ]);
  });

  it('locates YAML syntax errors by line and column', () => {
    const issues = issuesOf('services:\n  - name: api\n    ports: [{ name: http, port: 80 }\n');
    expect(issues[0]?.path).toMatch(/^line \d+, column \d+$/);
  });
});
