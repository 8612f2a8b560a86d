// Logs: search of the proxies' access logs (service, text), each line linked to its trace;
// `tail` re-runs the search every 2 s while the page shows it.

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
  // Not name="contains": a form's named controls shadow its own properties (form.contains()).
  const text = h('input', { name: 'text', placeholder: '" 503 ', value: contains });
  const tail = view.query.get('tail') === '1';
  const tailBox = h('input', { type: 'checkbox', name: 'tail', checked: tail });
  const form = h(
    'form',
    { 'aria-label': 'search logs' },
    h('label', {}, 'Service', select),
    h('label', {}, 'Contains', text),
    h('label', {}, 'Tail', tailBox),
    h('button', { type: 'submit' }, 'Search'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (select.value !== '') p.set('service', select.value);
    if (text.value !== '') p.set('contains', text.value);
    if (tailBox.checked) p.set('tail', '1');
    view.go(`/logs?${p}`);
  });
  const results = h('section', { 'aria-label': 'log lines' });
  view.root.append(h('h1', {}, 'Access logs'), form, results);
  let shown = '';
  const load = async (): Promise<void> => {
    const { startMs, endMs } = view.range();
    const lines = await api.searchLogs({
      service: service || undefined,
      contains: contains || undefined,
      start: Math.floor(startMs),
      end: Math.ceil(endMs),
      limit: 200,
    });
    if (!view.current()) return;
    // Redrawn only when new lines came, so following keeps a selection and does not flicker.
    const key = `${lines.length} ${lines[0]?.time ?? ''}`;
    if (key === shown) return;
    shown = key;
    results.replaceChildren(
      h('p', {}, `${lines.length} lines (newest first)${tail ? ', following' : ''}`),
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
  };
  await load();
  if (!tail) return;
  const timer = setInterval(() => {
    if (!view.current()) clearInterval(timer);
    else void load().catch(() => undefined);
  }, 2000);
}
