// A few DOM helpers: elements built from data, never from HTML strings, so names from spans
// and logs are always text.

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'className') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
export const pct = (part: number, whole: number): string =>
  whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`;

/** A table whose header row names its columns (numeric ones right-aligned). */
export function table(headers: string[], rows: Array<Array<Node | string>>, numeric: number[] = []): HTMLTableElement {
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((t, i) => h('th', { className: numeric.includes(i) ? 'num' : undefined }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c, i) => h('td', { className: numeric.includes(i) ? 'num' : undefined }, c)),
        ),
      ),
    ),
  );
}

export function link(href: string, text: string, label?: string): HTMLAnchorElement {
  return h('a', { href, 'aria-label': label }, text);
}

export function errorBox(err: unknown): HTMLElement {
  return h('p', { className: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err));
}
