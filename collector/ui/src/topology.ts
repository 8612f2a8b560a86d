// Topology: the service graph of the selected range, drawn with cytoscape (a breadth-first
// layout from the clients), and the same nodes and edges as tables, so every node and edge
// drawn is also named in text (screen readers and tests read the tables and aria labels).

import type { Topology } from './api.js';
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

export function edgeLabel(e: Edge, seconds: number): string {
  return `${rate(e.requests, seconds)} req/s · ${pct(e.errors, e.requests)} errors · p95 ${ms(e.p95Ms)} ms`;
}

export async function renderTopology(view: View): Promise<void> {
  const { startMs, endMs, seconds } = view.range();
  const topo = await api.topology(startMs, endMs);
  if (!view.current()) return;
  const names = topo.nodes.map((n) => n.id);
  const edgeNames = topo.edges.map((e) => `${e.source} → ${e.target}`);
  const graph = h('div', {
    className: 'graph',
    role: 'img',
    'aria-label': `Service graph: services ${names.join(', ') || 'none'}; calls ${edgeNames.join(', ') || 'none'}`,
  });
  view.root.append(
    h('h1', {}, 'Topology'),
    topo.nodes.length === 0
      ? h('p', { className: 'muted' }, 'No traffic in this range yet. Send some load through the front proxy.')
      : graph,
    h('h2', {}, 'Calls'),
    table(
      ['From', 'To', 'Requests/s', 'Errors', 'p50 ms', 'p95 ms', 'p99 ms', ''],
      topo.edges.map((e) => [
        link(`/traces?service=${encodeURIComponent(e.source)}`, e.source),
        link(
          `/traces?service=${encodeURIComponent(e.target)}`,
          e.target,
          `edge ${e.source} to ${e.target}: ${edgeLabel(e, seconds)}`,
        ),
        rate(e.requests, seconds),
        pct(e.errors, e.requests),
        ms(e.p50Ms),
        ms(e.p95Ms),
        ms(e.p99Ms),
        link(edgeLatencyPath(e.source, e.target), 'latency', `latency of ${e.source} to ${e.target}`),
      ]),
      [2, 3, 4, 5, 6],
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
  );
  if (topo.nodes.length === 0) return;
  const targets = new Set(topo.edges.map((e) => e.target));
  const roots = names.filter((n) => !targets.has(n));
  // Loaded with the graph (most of the bundle), so the other views do not parse it.
  const { default: cytoscape } = await import('cytoscape');
  if (!view.current()) return;
  const cy = cytoscape({
    container: graph,
    elements: [
      ...topo.nodes.map((n) => ({
        data: { id: n.id, label: n.id, errors: n.errors > 0 ? 1 : 0 },
      })),
      ...topo.edges.map((e) => ({
        data: {
          id: `${e.source}->${e.target}->${e.connectionType}`,
          source: e.source,
          target: e.target,
          label: edgeLabel(e, seconds),
          errors: e.errors > 0 ? 1 : 0,
        },
      })),
    ],
    layout: { name: 'breadthfirst', directed: true, roots: roots.length > 0 ? roots : undefined, spacingFactor: 1.1 },
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
    ],
    userZoomingEnabled: true,
    wheelSensitivity: 0.3,
  });
  cy.on('tap', 'node', (e) => view.go(`/latency?service=${encodeURIComponent(String(e.target.id()))}`));
  cy.on('tap', 'edge', (e) =>
    view.go(edgeLatencyPath(String(e.target.data('source')), String(e.target.data('target')))),
  );
}
