// Topology: the service graph of the selected range, drawn with cytoscape (a breadth-first
// layout from the clients), and the same nodes and edges as tables, so every node and edge
// drawn is also named in text (screen readers and tests read the tables and aria labels).
// As Kiali draws a versioned app graph: a service with workload versions is a box (a compound
// node) holding one node per version, and calls run between versions where both are known.

import type { ElementDefinition } from 'cytoscape';
import type { RedFigures, Topology } from './api.js';
import { api } from './api.js';
import { h, link, ms, pct, table } from './dom.js';
import type { View } from './main.js';

type Edge = Topology['edges'][number];

const rate = (requests: number, seconds: number): string => {
  const r = requests / seconds;
  return r === 0 ? '0' : r < 0.01 ? '<0.01' : r.toFixed(r >= 10 ? 0 : 2);
};

const edgeLatencyPath = (source: string, target: string): string =>
  `/latency?${new URLSearchParams({ source, target })}`;

/** Istio's request_protocol words as people write them: HTTP, gRPC. */
const protocolNames = (protocols: readonly string[]): string =>
  protocols.map((p) => (p === 'grpc' ? 'gRPC' : p.toUpperCase())).join('+');

/**
 * An edge's figures as text, led by its protocol when known and `mTLS` when every call was
 * mutual TLS (Kiali's padlock, in words): `HTTP · mTLS · 2.1 req/s · 0.0% errors · p95 12 ms`.
 */
export function edgeLabel(e: RedFigures & { protocols: readonly string[]; mtls: boolean }, seconds: number): string {
  const figures = `${rate(e.requests, seconds)} req/s · ${pct(e.errors, e.requests)} errors · p95 ${ms(e.p95Ms)} ms`;
  const lead = [...(e.protocols.length === 0 ? [] : [protocolNames(e.protocols)]), ...(e.mtls ? ['mTLS'] : [])];
  return lead.length === 0 ? figures : `${lead.join(' · ')} · ${figures}`;
}

/** A service and, when known, its version, as text: `catalog v2`. */
const named = (service: string, version: string): string => (version === '' ? service : `${service} ${version}`);

/** Cytoscape ids: one per service, one per version of a service. */
const serviceId = (service: string): string => `s:${service}`;
const versionId = (service: string, version: string): string => `v:${service}\n${version}`;

/** Every call drawn: by version where the graph has versions, else between services. */
interface DrawnCall extends RedFigures {
  source: string;
  target: string;
  sourceVersion: string;
  targetVersion: string;
  connectionType: string;
  protocols: readonly string[];
  mtls: boolean;
}

function drawnCalls(edges: readonly Edge[]): DrawnCall[] {
  return edges.flatMap((e) =>
    e.versions.length === 0
      ? [{ ...e, sourceVersion: '', targetVersion: '' }]
      : e.versions.map((v) => ({
          ...v,
          source: e.source,
          target: e.target,
          connectionType: e.connectionType,
          protocols: e.protocols,
          mtls: e.mtls,
        })),
  );
}

function graphElements(topo: Topology, calls: readonly DrawnCall[], seconds: number): ElementDefinition[] {
  const versioned = new Set<string>();
  const elements: ElementDefinition[] = [];
  for (const n of topo.nodes) {
    const compound = n.versions.length > 0;
    if (compound) versioned.add(n.id);
    elements.push({
      data: {
        id: serviceId(n.id),
        label: n.id,
        errors: n.errors > 0 ? 1 : 0,
        service: n.id,
        compound: compound ? 1 : 0,
      },
    });
    for (const v of n.versions) {
      elements.push({
        data: {
          id: versionId(n.id, v.version),
          parent: serviceId(n.id),
          label: v.version,
          errors: v.errors > 0 ? 1 : 0,
          service: n.id,
        },
      });
    }
  }
  // A side without a version (a virtual node, a lost half) attaches to its service's box.
  const end = (service: string, version: string): string =>
    version !== '' && versioned.has(service) ? versionId(service, version) : serviceId(service);
  for (const c of calls) {
    const source = end(c.source, c.sourceVersion);
    const target = end(c.target, c.targetVersion);
    elements.push({
      data: {
        // Unique even if two calls land on the same ends (cytoscape refuses a repeated id).
        id: `${source}->${target}->${c.connectionType}#${elements.length}`,
        source,
        target,
        service: c.source,
        server: c.target,
        label: edgeLabel(c, seconds),
        errors: c.errors > 0 ? 1 : 0,
        mtls: c.mtls ? 1 : 0,
      },
    });
  }
  return elements;
}

function tables(topo: Topology, calls: readonly DrawnCall[], seconds: number): HTMLElement[] {
  const versions = topo.nodes.flatMap((n) => n.versions.map((v) => ({ service: n.id, ...v })));
  const versionCalls = calls.filter((c) => c.sourceVersion !== '' || c.targetVersion !== '');
  return [
    h('h2', {}, 'Calls'),
    table(
      ['From', 'To', 'Protocol', 'mTLS', 'Requests/s', 'Errors', 'p50 ms', 'p95 ms', 'p99 ms', ''],
      topo.edges.map((e) => [
        link(`/traces?service=${encodeURIComponent(e.source)}`, e.source),
        link(
          `/traces?service=${encodeURIComponent(e.target)}`,
          e.target,
          `edge ${e.source} to ${e.target}: ${edgeLabel(e, seconds)}`,
        ),
        protocolNames(e.protocols),
        e.mtls ? 'yes' : 'no',
        rate(e.requests, seconds),
        pct(e.errors, e.requests),
        ms(e.p50Ms),
        ms(e.p95Ms),
        ms(e.p99Ms),
        link(edgeLatencyPath(e.source, e.target), 'latency', `latency of ${e.source} to ${e.target}`),
      ]),
      [4, 5, 6, 7, 8],
    ),
    h('h2', {}, 'Services'),
    table(
      ['Service', 'Requests served', 'Errors', 'p95 ms', ''],
      topo.nodes.map((n) => [
        link(`/traces?service=${encodeURIComponent(n.id)}`, n.id, `service ${n.id}`),
        String(n.requests),
        pct(n.errors, n.requests),
        ms(n.p95Ms),
        n.requests === 0 ? '' : link(`/latency?service=${encodeURIComponent(n.id)}`, 'latency', `latency of ${n.id}`),
      ]),
      [1, 2, 3],
    ),
    ...(versions.length === 0
      ? []
      : [
          h('h2', {}, 'Versions'),
          table(
            ['Service', 'Version', 'Requests served', 'Errors', 'p95 ms'],
            versions.map((v) => [
              v.service,
              h('span', { 'aria-label': `service ${v.service} version ${v.version}` }, v.version),
              String(v.requests),
              pct(v.errors, v.requests),
              ms(v.p95Ms),
            ]),
            [2, 3, 4],
          ),
          h('h2', {}, 'Calls by version'),
          table(
            ['From', 'To', 'Requests/s', 'Errors', 'p50 ms', 'p95 ms', 'p99 ms'],
            versionCalls.map((c) => {
              const from = named(c.source, c.sourceVersion);
              const to = named(c.target, c.targetVersion);
              return [
                from,
                h('span', { 'aria-label': `edge ${from} to ${to}: ${edgeLabel(c, seconds)}` }, to),
                rate(c.requests, seconds),
                pct(c.errors, c.requests),
                ms(c.p50Ms),
                ms(c.p95Ms),
                ms(c.p99Ms),
              ];
            }),
            [2, 3, 4, 5, 6],
          ),
        ]),
  ];
}

export async function renderTopology(view: View): Promise<void> {
  const { startMs, endMs, seconds } = view.range();
  const topo = await api.topology(startMs, endMs);
  if (!view.current()) return;
  const calls = drawnCalls(topo.edges);
  const names = topo.nodes.map((n) =>
    n.versions.length === 0 ? n.id : `${n.id} (versions ${n.versions.map((v) => v.version).join(', ')})`,
  );
  const callNames = topo.edges.map((e) => `${e.source} → ${e.target}`);
  const mtlsNames = topo.edges.filter((e) => e.mtls).map((e) => `${e.source} → ${e.target}`);
  const versionCallNames = calls
    .filter((c) => c.sourceVersion !== '' || c.targetVersion !== '')
    .map((c) => `${named(c.source, c.sourceVersion)} → ${named(c.target, c.targetVersion)}`);
  const graph = h('div', {
    className: 'graph',
    role: 'img',
    'aria-label':
      `Service graph: services ${names.join(', ') || 'none'}; calls ${callNames.join(', ') || 'none'}` +
      (versionCallNames.length === 0 ? '' : `; calls by version ${versionCallNames.join(', ')}`) +
      (mtlsNames.length === 0 ? '' : `; mutual TLS on ${mtlsNames.join(', ')}`),
  });
  view.root.append(
    h('h1', {}, 'Topology'),
    topo.nodes.length === 0
      ? h('p', { className: 'muted' }, 'No traffic in this range yet. Send some load through the front proxy.')
      : graph,
    ...tables(topo, calls, seconds),
  );
  if (topo.nodes.length === 0) return;
  const elements = graphElements(topo, calls, seconds);
  const targets = new Set(elements.flatMap((e) => (e.data.target === undefined ? [] : [e.data.target])));
  const roots = elements
    .filter((e) => e.data.source === undefined && e.data['compound'] !== 1 && !targets.has(String(e.data.id)))
    .map((e) => String(e.data.id));
  // Loaded with the graph (most of the bundle), so the other views do not parse it.
  const { default: cytoscape } = await import('cytoscape');
  if (!view.current()) return;
  const cy = cytoscape({
    container: graph,
    elements,
    layout: { name: 'breadthfirst', directed: true, roots: roots.length > 0 ? roots : undefined, spacingFactor: 1.4 },
    style: [
      {
        selector: 'node',
        style: {
          label: 'data(label)',
          'background-color': '#3f7fd8',
          color: '#1d232a',
          'text-valign': 'bottom',
          'text-margin-y': 4,
          'font-size': 12,
        },
      },
      {
        // A service box around its versions, named at its top.
        selector: ':parent',
        style: {
          'background-color': '#eef3fb',
          'border-color': '#3f7fd8',
          'border-width': 1,
          'text-valign': 'top',
          'text-margin-y': -4,
          'font-weight': 'bold',
          padding: '12px',
        },
      },
      { selector: 'node[errors = 1]', style: { 'border-width': 3, 'border-color': '#d64545' } },
      {
        selector: 'edge',
        style: {
          label: 'data(label)',
          width: 2,
          'curve-style': 'bezier',
          'target-arrow-shape': 'triangle',
          'line-color': '#8aa4c8',
          'target-arrow-color': '#8aa4c8',
          'font-size': 9,
          'text-rotation': 'none',
          'text-background-color': '#fff',
          'text-background-opacity': 1,
        },
      },
      { selector: 'edge[errors = 1]', style: { 'line-color': '#d64545', 'target-arrow-color': '#d64545' } },
      // Plaintext calls dashed, mutual TLS solid and heavier (the label also says mTLS).
      { selector: 'edge[mtls = 0]', style: { 'line-style': 'dashed' } },
      { selector: 'edge[mtls = 1]', style: { width: 3 } },
    ],
    userZoomingEnabled: true,
    wheelSensitivity: 0.3,
  });
  cy.on('tap', 'node', (e) => view.go(`/latency?service=${encodeURIComponent(String(e.target.data('service')))}`));
  cy.on('tap', 'edge', (e) =>
    view.go(edgeLatencyPath(String(e.target.data('service')), String(e.target.data('server')))),
  );
}
