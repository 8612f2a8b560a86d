// Latency: a service's server-side p50/p95/p99 over the range (uplot), and request counts.

import uPlot from 'uplot';
import { api } from './api.js';
import { h, ms, table } from './dom.js';
import type { View } from './main.js';

export async function renderLatency(view: View): Promise<void> {
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
  const chart = h('div', { role: 'img', 'aria-label': `p50, p95 and p99 latency of ${service} over time` });
  view.root.append(chart);
  const t = points.map((p) => Date.parse(p.time) / 1000);
  new uPlot(
    {
      width: Math.max(400, view.root.clientWidth - 32 || 900),
      height: 300,
      scales: { x: { time: true } },
      series: [
        {},
        { label: 'p50 ms', stroke: '#3f7fd8' },
        { label: 'p95 ms', stroke: '#e0a030' },
        { label: 'p99 ms', stroke: '#d64545' },
      ],
      axes: [{}, { label: 'ms' }],
    },
    [t, points.map((p) => p.p50Ms), points.map((p) => p.p95Ms), points.map((p) => p.p99Ms)],
    chart,
  );
  view.root.append(
    h('h2', {}, 'Per interval'),
    table(
      ['Time', 'Requests', 'p50 ms', 'p95 ms', 'p99 ms'],
      points.map((p) => [p.time, String(p.count), ms(p.p50Ms), ms(p.p95Ms), ms(p.p99Ms)]),
      [1, 2, 3, 4],
    ),
  );
}
