// Mesh YAML parsed by sections, each section's value reused while its text is unchanged. At a
// thousand workloads the file is ~250 KB and the yaml library's parse of it took ~190 ms of
// CPU per edit — most of an edit's cost — although an edit usually touches one service.
// The document is cut, without parsing, into the top-level keys other than `services` (parsed
// together) and one section per `services` item; each item is cut again into its `workloads`
// items and the rest of the item, so an edit of one workload or of one service's routes
// re-reads that text only (a service can hold hundreds of workloads). A section whose exact
// text was in the previous document reuses that parse. Anything this cutting cannot vouch for
// — document markers, directives, a section that fails to parse alone (an alias to another
// section's anchor, a scalar continued at the left margin), a repeated `services` key —
// returns undefined, and the caller parses the whole text as before, with its exact error
// positions; an item whose workloads cannot be cut is parsed whole.
import { parseDocument } from 'yaml';

const SERVICES_KEY = /^services:[ \t]*(#.*)?$/;
const WORKLOADS_KEY = /^workloads:[ \t]*(#.*)?$/;
/** A sequence item's first line with a key after the dash: `  - name: a`. */
const ITEM_WITH_KEY = /^( *)-( +)(?=[^\s#])/;
const OPTIONS = { uniqueKeys: true } as const;

/** Each section's text (a `services` item, its rest without workloads, a workload) → its parsed value, from the last document parsed by sections. */
let previousItems = new Map<string, unknown>();

function parseSection(text: string): unknown | undefined {
  const doc = parseDocument(text, OPTIONS);
  if (doc.errors.length > 0) return undefined;
  try {
    return doc.toJS();
  } catch {
    // An alias to an anchor in another section: only the whole document resolves it.
    return undefined;
  }
}

/**
 * The document's lines as offsets into its text (as `text.split('\n')` cuts them): the cutting
 * reads characters in place, and a section is one slice of the text, not its lines joined.
 * At a thousand workloads (~11,000 lines) splitting, trimming and re-joining every line was
 * most of an edit's parse.
 */
class Lines {
  readonly text: string;
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  constructor(text: string) {
    this.text = text;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      this.starts.push(start);
      this.ends.push(nl === -1 ? text.length : nl);
      if (nl === -1) break;
      start = nl + 1;
    }
  }

  get count(): number {
    return this.starts.length;
  }

  line(i: number): string {
    return this.text.slice(this.starts[i], this.ends[i]);
  }

  /** Leading spaces. */
  indent(i: number): number {
    const start = this.starts[i] as number;
    const end = this.ends[i] as number;
    let p = start;
    while (p < end && this.text.charCodeAt(p) === SPACE) p++;
    return p - start;
  }

  /** Whether the line starts with more than `n` spaces: inside an item at indent `n`, whatever it holds. */
  deeper(i: number, n: number): boolean {
    const start = this.starts[i] as number;
    if (start + n >= (this.ends[i] as number)) return false;
    for (let p = start + n; p >= start; p--) if (this.text.charCodeAt(p) !== SPACE) return false;
    return true;
  }

  /** Whether the line is blank or a comment once leading whitespace is trimmed. */
  blankOrComment(i: number): boolean {
    const end = this.ends[i] as number;
    let p = this.starts[i] as number;
    while (p < end && this.text.charCodeAt(p) === SPACE) p++;
    if (p === end) return true;
    const c = this.text.charCodeAt(p);
    if (c === HASH) return true;
    // Other whitespace (tabs, non-ASCII spaces): as String.prototype.trimStart sees it.
    if (c < 0x21 || c > 0x7e) {
      const t = this.line(i).trimStart();
      return t === '' || t.startsWith('#');
    }
    return false;
  }

  /** Lines [from, to) as one text, as joining them with '\n' would give. */
  range(from: number, to: number): string {
    return this.text.slice(this.starts[from], this.ends[to - 1]);
  }
}

const SPACE = 0x20;
const HASH = 0x23;
const DASH = 0x2d;
const DOT = 0x2e;
const TAB = 0x09;
const PERCENT = 0x25;
const LOWER_W = 0x77;

/** The one value of a sequence item's text (`- …`), from `known` or parsed; undefined when it does not parse alone. */
function itemValue(text: string, known: Map<string, unknown>, next: Map<string, unknown>): unknown | undefined {
  let value = next.get(text) ?? known.get(text);
  if (value === undefined) {
    const parsed = parseSection(text);
    if (!Array.isArray(parsed) || parsed.length !== 1) return undefined;
    value = parsed[0];
  }
  next.set(text, value);
  return value;
}

/** A `services` item (lines [from, to)) cut into its workloads and the rest; undefined when it cannot be cut (it is then parsed whole). */
function serviceItem(
  lines: Lines,
  from: number,
  to: number,
  known: Map<string, unknown>,
  next: Map<string, unknown>,
): unknown | undefined {
  const head = ITEM_WITH_KEY.exec(lines.line(from));
  if (head === null) return undefined;
  const keyIndent = head[0].length;
  const text = lines.text;
  let at = -1;
  for (let i = from + 1; i < to; i++) {
    const start = (lines.starts[i] as number) + keyIndent;
    if (text.charCodeAt(start) !== LOWER_W || lines.indent(i) !== keyIndent) continue;
    if (!text.startsWith('workloads:', start) || !WORKLOADS_KEY.test(text.slice(start, lines.ends[i]))) continue;
    if (at !== -1) return undefined;
    at = i;
  }
  if (at === -1) return undefined;
  /** Each workload item's first line and the line after it. */
  const workloads: Array<[number, number]> = [];
  let itemIndent = -1;
  let end = at + 1;
  for (; end < to; end++) {
    const last = workloads[workloads.length - 1];
    if (last !== undefined && lines.deeper(end, itemIndent)) {
      last[1] = end + 1;
      continue;
    }
    if (lines.blankOrComment(end)) {
      if (last !== undefined) last[1] = end + 1;
      continue;
    }
    const indent = lines.indent(end);
    const dash = text.charCodeAt((lines.starts[end] as number) + indent) === DASH;
    // A block sequence may sit at its key's own indent; anything else there ends the value.
    if (indent < keyIndent || (indent === keyIndent && !dash)) break;
    if (itemIndent === -1) itemIndent = indent;
    if (indent === itemIndent && dash) workloads.push([end, end + 1]);
    else if (indent > itemIndent && last !== undefined) last[1] = end + 1;
    else return undefined;
  }
  const restText = end < to ? `${lines.range(from, at + 1)}\n${lines.range(end, to)}` : lines.range(from, at + 1);
  const rest = itemValue(restText, known, next);
  if (rest === null || typeof rest !== 'object' || Array.isArray(rest)) return undefined;
  if ((rest as Record<string, unknown>).workloads !== null) return undefined;
  const values: unknown[] = [];
  for (const [first, after] of workloads) {
    const value = itemValue(lines.range(first, after), known, next);
    if (value === undefined) return undefined;
    values.push(value);
  }
  return { ...(rest as Record<string, unknown>), workloads: workloads.length === 0 ? null : values };
}

/**
 * The document's value, or undefined when it must be parsed whole (see the header). Values of
 * unchanged sections are shared with the previous result: callers must not mutate them (the
 * mesh schema's parse copies them into fresh objects).
 */
export function parseBySections(text: string): Record<string, unknown> | undefined {
  const lines = new Lines(text);
  const rest: string[] = [];
  /** Each `services` item's first line and the line after it. */
  const items: Array<[number, number]> = [];
  let inServices = false;
  let seenServices = false;
  let itemIndent = -1;
  for (let i = 0; i < lines.count; i++) {
    const start = lines.starts[i] as number;
    const c = text.charCodeAt(start);
    const last = items[items.length - 1];
    if (inServices && last !== undefined && c === SPACE && lines.deeper(i, itemIndent)) {
      last[1] = i + 1;
      continue;
    }
    if (c === TAB || c === PERCENT || ((c === DASH || c === DOT) && text.startsWith(c === DASH ? '---' : '...', start)))
      return undefined;
    const topLevel = start < (lines.ends[i] as number) && c !== SPACE && c !== HASH && c !== DASH;
    if (topLevel) {
      inServices = SERVICES_KEY.test(lines.line(i));
      if (inServices) {
        if (seenServices) return undefined;
        seenServices = true;
        // The key stays in the rest, so the document keeps its key order; its value is set below.
        rest.push('services:');
        continue;
      }
    }
    if (!inServices) {
      rest.push(lines.line(i));
      continue;
    }
    if (lines.blankOrComment(i)) {
      if (last !== undefined) last[1] = i + 1;
      continue;
    }
    const indent = lines.indent(i);
    if (itemIndent === -1) itemIndent = indent;
    if (indent === itemIndent && text.charCodeAt(start + indent) === DASH) items.push([i, i + 1]);
    else if (indent > itemIndent && last !== undefined) last[1] = i + 1;
    else return undefined;
  }
  const restValue = parseSection(rest.join('\n'));
  if (restValue === null || typeof restValue !== 'object' || Array.isArray(restValue)) return undefined;
  const doc = restValue as Record<string, unknown>;
  if (!seenServices) return doc;
  const known = previousItems;
  const next = new Map<string, unknown>();
  const services: unknown[] = [];
  for (const [from, to] of items) {
    const value = serviceItem(lines, from, to, known, next) ?? itemValue(lines.range(from, to), known, next);
    if (value === undefined) return undefined;
    services.push(value);
  }
  previousItems = next;
  doc.services = items.length === 0 ? null : services;
  return doc;
}
