// Traces: a search over Jaeger's API (service, operation, tags, durations, lookback), its
// results as a duration-over-time scatter and a list; and one trace (/trace/<id>) as a
// waterfall with each span's details and the trace's access-log lines.

import { api, type JaegerSpan, type JaegerTrace } from './api.js';
import { h, link, ms, table } from './dom.js';
import type { View } from './main.js';

interface Summary {
  id: string;
  startUs: number;
  durationMs: number;
  spans: number;
  services: string[];
  root: string;
  errors: number;
}

const isError = (s: JaegerSpan): boolean => s.tags.some((t) => t.key === 'error' && t.value === true);

function summarize(t: JaegerTrace): Summary {
  const start = Math.min(...t.spans.map((s) => s.startTime));
  const end = Math.max(...t.spans.map((s) => s.startTime + s.duration));
  const ids = new Set(t.spans.map((s) => s.spanID));
  const root =
    t.spans.find((s) => !s.references.some((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID))) ?? t.spans[0]!;
  return {
    id: t.traceID,
    startUs: start,
    durationMs: (end - start) / 1000,
    spans: t.spans.length,
    services: [...new Set(t.spans.map((s) => t.processes[s.processID]?.serviceName ?? '?'))].sort(),
    root: `${t.processes[root.processID]?.serviceName ?? '?'}: ${root.operationName}`,
    errors: t.spans.filter(isError).length,
  };
}

/** "k=v k2=v2" (Jaeger UI's logfmt) as Jaeger's tags JSON. */
function tagsJson(text: string): string | undefined {
  const pairs = text
    .trim()
    .split(/\s+/)
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      return i <= 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
    });
  return pairs.length === 0 ? undefined : JSON.stringify(Object.fromEntries(pairs));
}

function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h('label', {}, label, input);
}

function search(q: URLSearchParams, service: string, startMs: number, endMs: number): Promise<JaegerTrace[]> {
  return api.searchTraces({
    service,
    operation: q.get('operation') ?? undefined,
    // Status is Jaeger's `error` tag.
    tags: tagsJson(`${q.get('tags') ?? ''}${q.get('status') === 'error' ? ' error=true' : ''}`),
    minDuration: q.get('minDuration') ?? undefined,
    maxDuration: q.get('maxDuration') ?? undefined,
    limit: q.get('limit') ?? 20,
    start: Math.floor(startMs * 1000),
    end: Math.ceil(endMs * 1000),
  });
}

export async function renderTraces(view: View): Promise<void> {
  const q = view.query;
  const { startMs, endMs } = view.range();
  // With the service in the URL the search goes first, alone: the list waits on it, and the
  // service list and operations queries asked beside it share chDB's cores (1M spans on a
  // loaded 2-core host: the search answered the page in 500–1000 ms beside them, 90–210 ms
  // alone by curl). The form's lists fill in after it.
  const asked = q.get('service');
  const early = asked === null ? undefined : search(q, asked, startMs, endMs);
  early?.catch(() => undefined);
  const searched = early?.then(
    () => undefined,
    () => undefined,
  );
  const serviceList = searched === undefined ? api.services() : searched.then(() => api.services());
  serviceList.catch(() => undefined);
  const service = asked ?? (await serviceList)[0] ?? '';
  if (!view.current()) return;
  const serviceSelect = h(
    'select',
    { name: 'service' },
    service === '' ? [] : [h('option', { value: service, selected: true }, service)],
  );
  void serviceList.then(
    (list) =>
      serviceSelect.replaceChildren(
        ...[...new Set([service, ...list])]
          .filter((s) => s !== '')
          .sort()
          .map((s) => h('option', { value: s, selected: s === service }, s)),
      ),
    () => undefined,
  );
  const operationSelect = h('select', { name: 'operation' }, h('option', { value: '' }, 'all'));
  const fillOperations = async (s: string, pending?: Promise<string[]>): Promise<void> => {
    const ops = s === '' ? [] : await (pending ?? api.operations(s));
    operationSelect.replaceChildren(
      h('option', { value: '' }, 'all'),
      ...ops.sort().map((o) => h('option', { value: o, selected: o === q.get('operation') }, o)),
    );
  };
  serviceSelect.addEventListener('change', () => void fillOperations(serviceSelect.value));
  const tags = h('input', {
    name: 'tags',
    placeholder: 'http.request.method=GET error=true',
    value: q.get('tags') ?? '',
  });
  const minDuration = h('input', {
    name: 'minDuration',
    placeholder: '100ms',
    size: 8,
    value: q.get('minDuration') ?? '',
  });
  const maxDuration = h('input', {
    name: 'maxDuration',
    placeholder: '1.2s',
    size: 8,
    value: q.get('maxDuration') ?? '',
  });
  const status = h(
    'select',
    { name: 'status' },
    h('option', { value: '' }, 'any'),
    h('option', { value: 'error', selected: q.get('status') === 'error' }, 'error'),
  );
  const limit = h('input', {
    name: 'limit',
    type: 'number',
    min: 1,
    max: 1500,
    value: q.get('limit') ?? '20',
    size: 5,
  });
  const form = h(
    'form',
    { 'aria-label': 'search traces' },
    field('Service', serviceSelect),
    field('Operation', operationSelect),
    field('Tags', tags),
    field('Min duration', minDuration),
    field('Max duration', maxDuration),
    field('Status', status),
    field('Limit', limit),
    h('button', { type: 'submit' }, 'Find traces'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of [
      ['service', serviceSelect.value],
      ['operation', operationSelect.value],
      ['tags', tags.value.trim()],
      ['minDuration', minDuration.value.trim()],
      ['maxDuration', maxDuration.value.trim()],
      ['status', status.value],
      ['limit', limit.value],
    ] as const)
      if (v !== '') p.set(k, v);
    view.go(`/traces?${p}`);
  });
  const results = h('section', { 'aria-label': 'search results' });
  view.root.append(h('h1', {}, 'Traces'), form, results);
  if (service === '') {
    void fillOperations(service);
    results.append(h('p', { className: 'muted' }, 'No services have sent spans yet.'));
    return;
  }
  const found = early ?? search(q, service, startMs, endMs);
  // The operations, too, after the search (the first service's when none was asked).
  void fillOperations(
    service,
    found.then(
      () => api.operations(service),
      () => api.operations(service),
    ),
  ).catch(() => undefined);
  const traces = await found;
  if (!view.current()) return;
  const rows = traces.map(summarize).sort((a, b) => b.startUs - a.startUs);
  results.append(h('p', {}, `${rows.length} traces`));
  if (rows.length > 0) {
    const plot = h('div', { role: 'img', 'aria-label': `duration over time of ${rows.length} traces` });
    results.append(plot);
    void scatter(plot, rows, startMs, endMs);
  }
  results.append(
    table(
      ['Trace', 'Root', 'Start', 'Duration ms', 'Spans', 'Errors', 'Services'],
      rows.map((r) => [
        link(`/trace/${r.id}`, r.id.slice(0, 12), `trace ${r.id}`),
        r.root,
        new Date(r.startUs / 1000).toISOString(),
        ms(r.durationMs),
        String(r.spans),
        String(r.errors),
        r.services.join(', '),
      ]),
      [3, 4, 5],
    ),
  );
}

async function scatter(el: HTMLElement, rows: Summary[], startMs: number, endMs: number): Promise<void> {
  const { default: uPlot } = await import('uplot');
  const sorted = [...rows].sort((a, b) => a.startUs - b.startUs);
  new uPlot(
    {
      width: Math.max(400, el.clientWidth || 900),
      height: 180,
      scales: { x: { time: true, range: [startMs / 1000, endMs / 1000] } },
      series: [{}, { label: 'duration ms', stroke: '#3f7fd8', paths: () => null, points: { show: true, size: 7 } }],
      axes: [{}, { label: 'ms' }],
    },
    [sorted.map((r) => r.startUs / 1e6), sorted.map((r) => r.durationMs)],
    el,
  );
}

interface Row {
  span: JaegerSpan;
  depth: number;
}

/** Spans in tree order (parents before children, siblings by start), with their depth. */
function treeOrder(t: JaegerTrace): Row[] {
  const ids = new Set(t.spans.map((s) => s.spanID));
  const children = new Map<string, JaegerSpan[]>();
  const roots: JaegerSpan[] = [];
  for (const s of t.spans) {
    const parent = s.references.find((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID))?.spanID;
    if (parent === undefined) roots.push(s);
    else children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const out: Row[] = [];
  const walk = (s: JaegerSpan, depth: number): void => {
    out.push({ span: s, depth });
    for (const c of (children.get(s.spanID) ?? []).sort((a, b) => a.startTime - b.startTime)) walk(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.startTime - b.startTime)) walk(r, 0);
  return out;
}

export async function renderTrace(view: View, id: string): Promise<void> {
  const t = await api.trace(id);
  if (!view.current()) return;
  if (t === undefined) {
    view.root.append(h('h1', {}, `Trace ${id}`), h('p', { className: 'error', role: 'alert' }, 'trace not found'));
    return;
  }
  const s = summarize(t);
  const start = s.startUs;
  const total = Math.max(1, s.durationMs * 1000);
  const details = h(
    'section',
    { className: 'details', 'aria-label': 'span details' },
    h('p', { className: 'muted' }, 'Select a span.'),
  );
  const rows = treeOrder(t);
  const service = (sp: JaegerSpan): string => t.processes[sp.processID]?.serviceName ?? '?';
  const rowEls = rows.map(({ span, depth }) => {
    const label = `${service(span)} ${span.operationName}`;
    const row = h(
      'div',
      {
        className: 'row',
        role: 'row',
        tabindex: 0,
        'aria-selected': 'false',
        'aria-label': `span ${span.operationName} of ${service(span)}, ${ms(span.duration / 1000)} ms${isError(span) ? ', error' : ''}`,
        'data-span-id': span.spanID,
      },
      h(
        'div',
        { className: 'label', style: `padding-left:${depth}rem`, role: 'cell' },
        h('strong', {}, service(span)),
        ' ',
        span.operationName,
      ),
      h(
        'div',
        { className: 'track', role: 'cell' },
        h('div', {
          className: isError(span) ? 'bar err' : 'bar',
          style: `left:${(100 * (span.startTime - start)) / total}%;width:${(100 * span.duration) / total}%`,
          title: `${label}: ${ms(span.duration / 1000)} ms`,
        }),
      ),
    );
    const select = (): void => {
      for (const r of rowEls) r.setAttribute('aria-selected', String(r === row));
      details.replaceChildren(...spanDetails(t, span));
    };
    row.addEventListener('click', select);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') select();
    });
    return row;
  });
  const logs = h('section', { 'aria-label': 'access logs' }, h('h2', {}, 'Access logs'));
  view.root.append(
    h('h1', {}, `Trace ${t.traceID}`),
    h(
      'p',
      {},
      `${s.root} · ${ms(s.durationMs)} ms · ${s.spans} spans · ${s.errors} errors · services: ${s.services.join(', ')} · started ${new Date(start / 1000).toISOString()}`,
    ),
    h('div', { className: 'waterfall', role: 'table', 'aria-label': `waterfall of ${rows.length} spans` }, rowEls),
    details,
    logs,
  );
  const lines = await api.logsOfTrace(t.traceID);
  if (!view.current()) return;
  logs.append(
    lines.length === 0
      ? h('p', { className: 'muted' }, 'No access-log lines for this trace.')
      : table(
          ['Time', 'Service', 'Line'],
          lines.map((l) => [l.time, l.serviceName, h('pre', {}, l.body)]),
        ),
  );
}

function spanDetails(t: JaegerTrace, s: JaegerSpan): HTMLElement[] {
  const p = t.processes[s.processID];
  const kv = (list: Array<{ key: string; value: unknown }>) =>
    table(
      ['Key', 'Value'],
      list.map((x) => [x.key, String(x.value)]),
    );
  return [
    h('h2', {}, `${p?.serviceName ?? '?'}: ${s.operationName}`),
    h(
      'p',
      {},
      `span ${s.spanID} · start +${ms((s.startTime - Math.min(...t.spans.map((x) => x.startTime))) / 1000)} ms · ${ms(s.duration / 1000)} ms`,
    ),
    h('h2', {}, 'Attributes'),
    kv(s.tags),
    h('h2', {}, 'Events'),
    s.logs.length === 0
      ? h('p', { className: 'muted' }, 'none')
      : table(
          ['Time', 'Fields'],
          s.logs.map((l) => [
            new Date(l.timestamp / 1000).toISOString(),
            l.fields.map((f) => `${f.key}=${String(f.value)}`).join(' '),
          ]),
        ),
    h('h2', {}, 'References and links'),
    s.references.length === 0
      ? h('p', { className: 'muted' }, 'none')
      : table(
          ['Type', 'Span'],
          s.references.map((r) => [
            r.refType,
            r.traceID === t.traceID ? r.spanID : link(`/trace/${r.traceID}`, `${r.traceID}/${r.spanID}`),
          ]),
        ),
    h('h2', {}, 'Resource'),
    kv([{ key: 'service.name', value: p?.serviceName ?? '?' }, ...(p?.tags ?? [])]),
  ];
}
