// Parsing the mesh YAML by sections (each `services` item reused while its text is unchanged)
// gives exactly what parsing the whole document gives, or declines and leaves it to the whole
// parse; an edited service is re-read, not served from the previous parse, and an unchanged one
// is the previous parse's value.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseDocument, stringify } from 'yaml';
import { MeshValidationError, parseMesh } from '../../control-plane/index.js';
import { parseBySections } from '../../control-plane/mesh/yaml-sections.js';

const examples = ['../../control-plane/mesh/examples/bookshop.yaml', '../../examples/shop/mesh.yaml'].map((p) =>
  readFileSync(new URL(p, import.meta.url), 'utf8'),
);

const whole = (text: string): unknown => parseDocument(text, { uniqueKeys: true }).toJS();

describe('mesh YAML by sections', () => {
  it('reads the example meshes exactly as the whole-document parse does', () => {
    for (const text of examples) {
      expect(parseBySections(text)).toBeDefined();
      expect(parseBySections(text)).toEqual(whole(text));
    }
  });

  it('reads items at the left margin, comments, block scalars and key order as the whole parse does', () => {
    const text = [
      '# a mesh',
      'name: m',
      'services:',
      '- name: a # first',
      '  namespace: x',
      '  note: |',
      '    two',
      '    lines',
      '# between',
      '- name: b',
      '  ports: [{name: http, port: 80}]',
      'telemetry:',
      '  collector: 127.0.0.1:4317',
      '',
    ].join('\n');
    const value = parseBySections(text);
    expect(value).toEqual(whole(text));
    expect(Object.keys(value as object)).toEqual(['name', 'services', 'telemetry']);
  });

  it('declines what it cannot cut safely: aliases across sections, document markers, a repeated services key', () => {
    const alias = 'services:\n  - &svc\n    name: a\n  - *svc\n';
    expect(whole(alias)).toEqual({ services: [{ name: 'a' }, { name: 'a' }] });
    expect(parseBySections(alias)).toBeUndefined();
    expect(parseBySections('---\nname: m\nservices:\n  - name: a\n')).toBeUndefined();
    expect(parseBySections('services:\n  - name: a\nservices:\n  - name: b\n')).toBeUndefined();
    expect(parseBySections('services:\n    - name: a\n  - name: b\n')).toBeUndefined();
  });

  it('re-reads an edited service and gives the same mesh as a fresh parse', () => {
    const mesh = (weight: number): string =>
      stringify({
        name: 'edit',
        services: ['a', 'b'].map((name, s) => ({
          name,
          namespace: 'ns',
          ports: [{ name: 'http', port: 8080 }],
          workloads: [
            {
              name: `${name}-1`,
              endpoints: { http: `127.0.0.1:${9000 + s}` },
              weight: s === 1 ? weight : 1,
              sidecar: { inbound: { http: 19000 + s }, outbound_port: 19100 + s, admin_port: 19200 + s },
            },
          ],
        })),
      });
    const first = parseMesh(mesh(1));
    const edited = parseMesh(mesh(7));
    expect(edited.services[1]?.workloads[0]?.weight).toBe(7);
    // A document marker makes the whole document parse: the reference.
    expect(edited).toEqual(parseMesh(`---\n${mesh(7)}`));
    expect(first.services[1]?.workloads[0]?.weight).toBe(1);
    // Values reused from the previous parse are not the mesh's own objects: the schema copies them.
    expect(edited.services[0]).not.toBe(first.services[0]);
    expect(edited.services[0]).toEqual(first.services[0]);
  });

  it('cuts a service into its workloads and the rest, as the whole parse reads them, and re-reads an edited one', () => {
    const text = (weight: number, timeout: string): string =>
      [
        'name: m',
        'services:',
        '  - name: a',
        '    ports: [{ name: http, port: 80 }]',
        '    workloads: # the instances',
        '      - name: a-1',
        '        endpoints: { http: 127.0.0.1:9001 }',
        '',
        '        # a comment inside an item',
        `        weight: ${weight}`,
        '              ',
        '# a comment at the margin',
        '      - name: a-2',
        '        note: |',
        '          kept',
        '',
        '          as written',
        '        endpoints: { http: 127.0.0.1:9002 }',
        '    routes:',
        `      - route: [{ subset: v1 }]`,
        `        timeout: ${timeout}`,
        '  - name: b',
        '    workloads:',
        '    - name: b-1',
        '      endpoints: { http: 127.0.0.1:9003 }',
        '    ports: [{ name: http, port: 80 }]',
        '  - name: c',
        '    workloads: []',
        '    ports: [{ name: http, port: 80 }]',
        '',
      ].join('\n');
    for (const [weight, timeout] of [
      [1, '1s'],
      [2, '1s'],
      [2, '3s'],
    ] as const) {
      const value = parseBySections(text(weight, timeout));
      expect(value).toEqual(whole(text(weight, timeout)));
      expect(Object.keys((value as { services: object[] }).services[0] as object)).toEqual([
        'name',
        'ports',
        'workloads',
        'routes',
      ]);
    }
  });
  it('steps over a service whose lines are unchanged, and re-reads one that changed, moved or grew', () => {
    const service = (name: string, weight: number, extra = ''): string[] => [
      `  - name: ${name}`,
      '    ports: [{ name: http, port: 80 }]',
      '    workloads:',
      `      - name: ${name}-1`,
      `        endpoints: { http: 127.0.0.1:9001 }`,
      `        weight: ${weight}`,
      ...(extra === '' ? [] : [extra]),
    ];
    const doc = (...items: string[][]): string => `${['name: m', 'services:', ...items.flat()].join('\n')}\n`;
    const services = (text: string): unknown[] => (parseBySections(text) as { services: unknown[] }).services;

    const first = services(doc(service('a', 1), service('b', 1), service('c', 1)));
    const edited = doc(service('a', 1), service('b', 2), service('c', 1));
    const second = services(edited);
    expect(second).toEqual((whole(edited) as { services: unknown[] }).services);
    // Unchanged services are the previous parse's values; the edited one is read again.
    expect(second[0]).toBe(first[0]);
    expect(second[2]).toBe(first[2]);
    expect(second[1]).not.toBe(first[1]);
    expect(second[1]).toMatchObject({ workloads: [{ weight: 2 }] });

    // The same lines followed by one that continues them (a field added at the end) are not the same item.
    const grown = doc(service('a', 1), service('b', 2, '        labels: { version: v2 }'), service('c', 1));
    const third = services(grown);
    expect(third).toEqual((whole(grown) as { services: unknown[] }).services);
    expect(third[1]).toMatchObject({ workloads: [{ weight: 2, labels: { version: 'v2' } }] });
    expect(third[0]).toBe(second[0]);

    // A moved service is found by its text (c, last before, held the file's final newline: read
    // again); a removed one is gone and an added one read.
    const moved = doc(service('c', 1), service('a', 1), service('d', 4));
    const fourth = services(moved);
    expect(fourth).toEqual((whole(moved) as { services: unknown[] }).services);
    expect(fourth[1]).toBe(third[0]);

    // A last item without its trailing newline, then with it.
    const bare = doc(service('a', 1), service('c', 1)).replace(/\n+$/, '');
    expect(services(bare)).toEqual((whole(bare) as { services: unknown[] }).services);
    const withNewline = `${bare}\n`;
    expect(services(withNewline)).toEqual((whole(withNewline) as { services: unknown[] }).services);
  });

  it('checks what an unchanged service names on every parse: a removed or broken service it calls is refused at its path', () => {
    const service = (name: string, s: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      name,
      ports: [{ name: 'http', port: 8080 }],
      workloads: [
        {
          name: `${name}-1`,
          endpoints: { http: `127.0.0.1:${9000 + s}` },
          sidecar: { inbound: { http: 19000 + s }, outbound_port: 19100 + s },
        },
      ],
      ...extra,
    });
    const caller = service('a', 0, { egress: { hosts: ['b'] }, routes: [{ route: [{ service: 'b', subset: 'v1' }] }] });
    const callee = (labels: Record<string, string>) =>
      service('b', 1, { policy: { subsets: [{ name: 'v1', labels }] } });
    const mesh = (services: unknown[]): string => stringify({ name: 'm', services });
    const issuesOf = (text: string): unknown => {
      try {
        parseMesh(text);
      } catch (err) {
        if (err instanceof MeshValidationError) return err.issues;
        throw err;
      }
      return undefined;
    };
    const b = callee({});
    expect(parseMesh(mesh([caller, b])).services.map((s) => s.name)).toEqual(['a', 'b']);
    // `a`'s lines are unchanged each time: what it names is resolved again.
    expect(issuesOf(mesh([caller, service('c', 2)]))).toEqual([
      { path: 'services[0].egress.hosts[0]', message: "no service named 'b'" },
      { path: 'services[0].routes[0].route[0].service', message: "no service named 'b'" },
    ]);
    expect(issuesOf(mesh([caller, callee({ version: 'v2' })]))).toEqual([
      {
        path: 'services[0].routes[0].route[0].subset',
        message: "subset 'v1' selects no workload of service b.default",
      },
    ]);
    // Moved down a place, it is named by its new index; a schema error elsewhere is the whole parse's.
    expect(issuesOf(mesh([service('c', 2), caller]))).toEqual([
      { path: 'services[1].egress.hosts[0]', message: "no service named 'b'" },
      { path: 'services[1].routes[0].route[0].service', message: "no service named 'b'" },
    ]);
    expect(issuesOf(mesh([caller, { ...b, ports: [{ name: 'http', port: 0 }] }]))).toEqual(
      issuesOf(`---\n${mesh([caller, { ...b, ports: [{ name: 'http', port: 0 }] }])}`),
    );
    expect(issuesOf(mesh([caller, b]))).toBeUndefined();
  });
});
