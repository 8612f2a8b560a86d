// Logs: search of the proxies' access logs (service, text), each line linked to its trace.

import { api } from './api.js';
import { h, link, table } from './dom.js';
import type { View } from './main.js';

export async function renderLogs(view: View): Promise<void> {
  const services = await api.services();
  if (!view.current()) return;
  const service = view.query.get('service') ?? '';
  const contains = view.query.get('contains') ?? '';
  const select = h(
    'select',
    { name: 'service' },
    h('option', { value: '' }, 'all'),
    services.map((s) => h('option', { value: s, selected: s === service }, s)),
  );
  const text = h('input', { name: 'contains', placeholder: '" 503 ', value: contains });
  const form = h(
    'form',
    { 'aria-label': 'search logs' },
    h('label', {}, 'Service', select),
    h('label', {}, 'Contains', text),
    h('button', { type: 'submit' }, 'Search'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (select.value !== '') p.set('service', select.value);
    if (text.value !== '') p.set('contains', text.value);
    view.go(`/logs?${p}`);
  });
  view.root.append(h('h1', {}, 'Access logs'), form);
  const { startMs, endMs } = view.range();
  const lines = await api.searchLogs({
    service: service || undefined,
    contains: contains || undefined,
    start: Math.floor(startMs),
    end: Math.ceil(endMs),
    limit: 200,
  });
  if (!view.current()) return;
  view.root.append(
    h('p', {}, `${lines.length} lines (newest first)`),
    table(
      ['Time', 'Service', 'Line', 'Trace'],
      lines.map((l) => [
        l.time,
        l.serviceName,
        h('pre', {}, l.body),
        l.traceId === '' ? '' : link(`/trace/${l.traceId}`, l.traceId.slice(0, 12), `trace ${l.traceId}`),
      ]),
    ),
  );
}
