// The collector's web UI: a small client-routed page (topology, traces, one trace, latency,
// logs). Every path answers the same index.html, so /trace/<id> links work when pasted.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { errorBox } from './dom.js';
import { renderLatency } from './latency.js';
import { renderLogs } from './logs.js';
import { renderTopology } from './topology.js';
import { renderTrace, renderTraces } from './traces.js';

export interface View {
  root: HTMLElement;
  query: URLSearchParams;
  /** The selected time range, ending now. */
  range(): { startMs: number; endMs: number; seconds: number };
  go(path: string): void;
  /** False once another navigation replaced this view: late answers are dropped. */
  current(): boolean;
}

const root = document.getElementById('view') as HTMLElement;
const rangeSelect = document.getElementById('range') as HTMLSelectElement;
let generation = 0;

function range(): { startMs: number; endMs: number; seconds: number } {
  const seconds = Number(rangeSelect.value);
  const endMs = Date.now();
  return { startMs: endMs - seconds * 1000, endMs, seconds };
}

async function render(): Promise<void> {
  const gen = ++generation;
  const { pathname, search } = window.location;
  const view: View = {
    root,
    query: new URLSearchParams(search),
    range,
    go,
    current: () => gen === generation,
  };
  const section = pathname.split('/')[1] || 'topology';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (a.dataset.view === (section === 'trace' ? 'traces' : section)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  root.replaceChildren();
  try {
    if (section === 'trace') await renderTrace(view, pathname.slice('/trace/'.length));
    else if (section === 'traces') await renderTraces(view);
    else if (section === 'latency') await renderLatency(view);
    else if (section === 'logs') await renderLogs(view);
    else await renderTopology(view);
  } catch (err) {
    if (view.current()) root.append(errorBox(err));
  }
}

function go(path: string): void {
  if (path !== window.location.pathname + window.location.search) window.history.pushState(null, '', path);
  void render();
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest('a');
  if (a === null || a === undefined || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey) return;
  const href = a.getAttribute('href');
  if (href === null || !href.startsWith('/') || href.startsWith('/api/')) return;
  e.preventDefault();
  go(href);
});
window.addEventListener('popstate', () => void render());
rangeSelect.addEventListener('change', () => void render());
void render();
