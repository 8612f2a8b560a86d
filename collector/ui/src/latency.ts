// Latency: a service's server-side p50/p95/p99 over the range (uplot), and request counts; or
// an edge's (?source=&target=), as its server measured it, with errors, per minute.

import { api, type LatencyPoint } from './api.js';
import { h, ms, table } from './dom.js';
import type { View } from './main.js';

/** p50/p95/p99 lines over the selected range (the x axis spans it even for a single point). */
async function chart(view: View, label: string, points: LatencyPoint[]): Promise<void> {
  // Loaded with the first chart, so pages without one do not parse it.
  const { default: uPlot } = await import('uplot');
  if (!view.current()) return;
  const { startMs, endMs } = view.range();
  const el = h('div', { role: 'img', 'aria-label': label });
  view.root.append(el);
  new uPlot(
    {
      width: Math.max(400, view.root.clientWidth - 32 || 900),
      height: 300,
      scales: { x: { time: true, range: [startMs / 1000, endMs / 1000] } },
      series: [
        {},
        { label: 'p50 ms', stroke: '#3f7fd8' },
        { label: 'p95 ms', stroke: '#e0a030' },
        { label: 'p99 ms', stroke: '#d64545' },
      ],
      axes: [{}, { label: 'ms' }],
    },
    [
      points.map((p) => Date.parse(p.time) / 1000),
      points.map((p) => p.p50Ms),
      points.map((p) => p.p95Ms),
      points.map((p) => p.p99Ms),
    ],
    el,
  );
}

async function renderEdgeLatency(view: View, source: string, target: string): Promise<void> {
  view.root.append(h('h1', {}, `Latency of ${source} → ${target}`));
  const { startMs, endMs } = view.range();
  const points = await api.edgeLatency(source, target, startMs, endMs);
  if (!view.current()) return;
  if (points.length === 0) {
    view.root.append(h('p', { className: 'muted' }, `No calls from ${source} to ${target} in this range.`));
    return;
  }
  await chart(view, `p50, p95 and p99 latency of ${source} to ${target} over time`, points);
  view.root.append(
    h('h2', {}, 'Per minute'),
    table(
      ['Time', 'Requests', 'Errors', 'p50 ms', 'p95 ms', 'p99 ms'],
      points.map((p) => [p.time, String(p.count), String(p.errors), ms(p.p50Ms), ms(p.p95Ms), ms(p.p99Ms)]),
      [1, 2, 3, 4, 5],
    ),
  );
}

export async function renderLatency(view: View): Promise<void> {
  const source = view.query.get('source');
  const target = view.query.get('target');
  if (source !== null && target !== null) return renderEdgeLatency(view, source, target);
  const services = (await api.services()).filter((s) => s !== '');
  if (!view.current()) return;
  const service = view.query.get('service') ?? services[0] ?? '';
  const select = h(
    'select',
    { 'aria-label': 'service' },
    services.map((s) => h('option', { value: s, selected: s === service }, s)),
  );
  select.addEventListener('change', () => view.go(`/latency?service=${encodeURIComponent(select.value)}`));
  view.root.append(h('h1', {}, `Latency of ${service || '…'}`), h('label', {}, 'Service ', select));
  if (service === '') return;
  const { startMs, endMs } = view.range();
  const points = await api.latency(service, startMs, endMs);
  if (!view.current()) return;
  if (points.length === 0) {
    view.root.append(h('p', { className: 'muted' }, `No server spans of ${service} in this range.`));
    return;
  }
  await chart(view, `p50, p95 and p99 latency of ${service} over time`, points);
  view.root.append(
    h('h2', {}, 'Per interval'),
    table(
      ['Time', 'Requests', 'p50 ms', 'p95 ms', 'p99 ms'],
      points.map((p) => [p.time, String(p.count), ms(p.p50Ms), ms(p.p95Ms), ms(p.p99Ms)]),
      [1, 2, 3, 4],
    ),
  );
}
