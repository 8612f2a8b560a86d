// Mesh YAML parsed by sections, each section's value reused while its text is unchanged. At a
// thousand workloads the file is ~250 KB and the yaml library's parse of it took ~190 ms of
// CPU per edit — most of an edit's cost — although an edit usually touches one service.
// The document is cut, without parsing, into the top-level keys other than `services` (parsed
// together) and one section per `services` item; each item is cut again into its `workloads`
// items and the rest of the item, so an edit of one workload or of one service's routes
// re-reads that text only (a service can hold hundreds of workloads). A section whose exact
// text was in the previous document reuses that parse; a `services` item whose text is the
// previous document's is not cut again at all (its value is the previous one). Anything this cutting cannot vouch for
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
const NEWLINE = 0x0a;

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

/** A `services` item as last read: its text, its value and its sections' values (a workload's text → its value). */
interface ItemRecord {
  readonly text: string;
  /** Its first line, which names the service: an edited item is cut against its previous sections. */
  readonly head: string;
  readonly value: unknown;
  readonly parts: Map<string, unknown>;
}

/** The `services` items of the last document parsed by sections, in order and by first line; and its other keys. */
let previous: { items: ItemRecord[]; byHead: Map<string, ItemRecord>; restText: string; rest: unknown } = {
  items: [],
  byHead: new Map(),
  restText: '',
  rest: undefined,
};
const NO_PARTS: Map<string, unknown> = new Map();

/** Leading spaces of the line [start, end) of `text`. */
function indentAt(text: string, start: number, end: number): number {
  let p = start;
  while (p < end && text.charCodeAt(p) === SPACE) p++;
  return p - start;
}

/** Whether the line [start, end) starts with more than `n` spaces (see Lines.deeper). */
function deeperAt(text: string, start: number, end: number, n: number): boolean {
  if (start + n >= end) return false;
  for (let p = start + n; p >= start; p--) if (text.charCodeAt(p) !== SPACE) return false;
  return true;
}

/** Whether the line [start, end) is blank or a comment (see Lines.blankOrComment). */
function blankOrCommentAt(text: string, start: number, end: number): boolean {
  let p = start;
  while (p < end && text.charCodeAt(p) === SPACE) p++;
  if (p === end) return true;
  const c = text.charCodeAt(p);
  if (c === HASH) return true;
  if (c < 0x21 || c > 0x7e) {
    const t = text.slice(start, end).trimStart();
    return t === '' || t.startsWith('#');
  }
  return false;
}

/** The end of the line starting at `start`. */
function lineEnd(text: string, start: number): number {
  const nl = text.indexOf('\n', start);
  return nl === -1 ? text.length : nl;
}

/**
 * The `services` item [start, end) of `text`: the previous document's record when the text is
 * the same, else cut (or parsed whole) against the sections of the previous item with its first line.
 */
function itemRecord(text: string, start: number, end: number): ItemRecord | undefined {
  const itemText = text.slice(start, end);
  const head = text.slice(start, lineEnd(text, start));
  const before = previous.byHead.get(head);
  if (before !== undefined && before.text === itemText) return before;
  const known = before?.parts ?? NO_PARTS;
  const parts = new Map<string, unknown>();
  const lines = new Lines(itemText);
  const value = serviceItem(lines, 0, lines.count, known, parts) ?? itemValue(itemText, known, parts);
  if (value === undefined) return undefined;
  return { text: itemText, head, value, parts };
}

/**
 * The document's value, or undefined when it must be parsed whole (see the header). Values of
 * unchanged sections are shared with the previous result: callers must not mutate them (the
 * mesh schema's parse copies them into fresh objects).
 *
 * The text is read line by line as offsets into it, except that a `services` item whose text is
 * the previous document's item at the same place, and whose next line does not continue it, is
 * stepped over with one comparison: at a thousand workloads an edit re-reads one service's lines,
 * not the file's ~11,000.
 */
export function parseBySections(text: string): Record<string, unknown> | undefined {
  const rest: string[] = [];
  /** Each `services` item's first offset and the end of its last line. */
  const items: Array<[number, number]> = [];
  /** Items known to be the previous document's, by their index in `items`. */
  const same = new Map<number, ItemRecord>();
  let inServices = false;
  let seenServices = false;
  let itemIndent = -1;
  const length = text.length;
  for (let start = 0; start <= length; ) {
    const end = lineEnd(text, start);
    const nextStart = end + 1;
    const c = start < length ? text.charCodeAt(start) : -1;
    const last = items[items.length - 1];
    if (inServices && last !== undefined && c === SPACE && deeperAt(text, start, end, itemIndent)) {
      last[1] = end;
      start = nextStart;
      continue;
    }
    if (c === TAB || c === PERCENT || ((c === DASH || c === DOT) && text.startsWith(c === DASH ? '---' : '...', start)))
      return undefined;
    const topLevel = start < end && c !== SPACE && c !== HASH && c !== DASH;
    if (topLevel) {
      inServices = SERVICES_KEY.test(text.slice(start, end));
      if (inServices) {
        if (seenServices) return undefined;
        seenServices = true;
        // The key stays in the rest, so the document keeps its key order; its value is set below.
        rest.push('services:');
        start = nextStart;
        continue;
      }
    }
    if (!inServices) {
      rest.push(text.slice(start, end));
      start = nextStart;
      continue;
    }
    if (blankOrCommentAt(text, start, end)) {
      if (last !== undefined) last[1] = end;
      start = nextStart;
      continue;
    }
    const indent = indentAt(text, start, end);
    if (itemIndent === -1) itemIndent = indent;
    if (indent === itemIndent && text.charCodeAt(start + indent) === DASH) {
      const before = previous.items[items.length];
      const after = before === undefined ? -1 : start + before.text.length;
      if (
        before !== undefined &&
        (after === length || text.charCodeAt(after) === NEWLINE) &&
        // A slice compared with ===, not startsWith: V8 compares two flat strings at memory speed
        // but walks startsWith character by character once optimised (~45x slower here, ~0.7 ms
        // of an edit at a thousand workloads).
        text.slice(start, after) === before.text &&
        (after === length || endsItem(text, after + 1, lineEnd(text, after + 1), itemIndent))
      ) {
        // The same lines as before (so the same value), and the next line starts something else.
        same.set(items.length, before);
        items.push([start, after]);
        start = after + 1;
        continue;
      }
      items.push([start, end]);
    } else if (indent > itemIndent && last !== undefined) last[1] = end;
    else return undefined;
    start = nextStart;
  }
  const restText = rest.join('\n');
  const restValue = restText === previous.restText ? previous.rest : parseSection(restText);
  if (restValue === null || typeof restValue !== 'object' || Array.isArray(restValue)) return undefined;
  // The cached value is shared: the document is a copy of it.
  const doc = { ...(restValue as Record<string, unknown>) };
  if (!seenServices) return doc;
  const records: ItemRecord[] = [];
  for (const [i, [from, to]] of items.entries()) {
    const record = same.get(i) ?? itemRecord(text, from, to);
    if (record === undefined) return undefined;
    records.push(record);
  }
  const byHead = new Map<string, ItemRecord>();
  for (const r of records) byHead.set(r.head, r);
  previous = { items: records, byHead, restText, rest: restValue };
  doc.services = records.length === 0 ? null : records.map((r) => r.value);
  return doc;
}

/** Whether the line [start, end), after an item, ends it: neither deeper than the item nor blank or a comment. */
function endsItem(text: string, start: number, end: number, itemIndent: number): boolean {
  return !deeperAt(text, start, end, itemIndent) && !blankOrCommentAt(text, start, end);
}
