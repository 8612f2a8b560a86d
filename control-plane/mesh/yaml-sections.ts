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

function indentOf(line: string): number {
  let i = 0;
  while (i < line.length && line[i] === ' ') i++;
  return i;
}

function isBlankOrComment(line: string): boolean {
  const t = line.trimStart();
  return t === '' || t.startsWith('#');
}

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

/** A `services` item cut into its workloads and the rest; undefined when it cannot be cut (it is then parsed whole). */
function serviceItem(lines: string[], known: Map<string, unknown>, next: Map<string, unknown>): unknown | undefined {
  const head = ITEM_WITH_KEY.exec(lines[0] as string);
  if (head === null) return undefined;
  const keyIndent = head[0].length;
  const keyPrefix = ' '.repeat(keyIndent);
  let at = -1;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith(keyPrefix) && line[keyIndent] !== ' ' && WORKLOADS_KEY.test(line.slice(keyIndent))) {
      if (at !== -1) return undefined;
      at = i;
    }
  }
  if (at === -1) return undefined;
  const workloads: string[][] = [];
  let itemIndent = -1;
  let end = at + 1;
  for (; end < lines.length; end++) {
    const line = lines[end] as string;
    if (isBlankOrComment(line)) {
      workloads[workloads.length - 1]?.push(line);
      continue;
    }
    const indent = indentOf(line);
    // A block sequence may sit at its key's own indent; anything else there ends the value.
    if (indent < keyIndent || (indent === keyIndent && line[indent] !== '-')) break;
    if (itemIndent === -1) itemIndent = indent;
    if (indent === itemIndent && line[indent] === '-') workloads.push([line]);
    else if (indent > itemIndent && workloads.length > 0) workloads[workloads.length - 1]?.push(line);
    else return undefined;
  }
  const rest = itemValue([...lines.slice(0, at + 1), ...lines.slice(end)].join('\n'), known, next);
  if (rest === null || typeof rest !== 'object' || Array.isArray(rest)) return undefined;
  if ((rest as Record<string, unknown>).workloads !== null) return undefined;
  const values: unknown[] = [];
  for (const w of workloads) {
    const value = itemValue(w.join('\n'), known, next);
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
  const lines = text.split('\n');
  const rest: string[] = [];
  const items: string[][] = [];
  let inServices = false;
  let seenServices = false;
  let itemIndent = -1;
  for (const line of lines) {
    if (line.startsWith('---') || line.startsWith('...') || line.startsWith('%') || line.startsWith('\t'))
      return undefined;
    const topLevel = line.length > 0 && line[0] !== ' ' && line[0] !== '#' && line[0] !== '-';
    if (topLevel) {
      inServices = SERVICES_KEY.test(line);
      if (inServices) {
        if (seenServices) return undefined;
        seenServices = true;
        // The key stays in the rest, so the document keeps its key order; its value is set below.
        rest.push('services:');
        continue;
      }
    }
    if (!inServices) {
      rest.push(line);
      continue;
    }
    if (isBlankOrComment(line)) {
      if (items.length > 0) items[items.length - 1]?.push(line);
      continue;
    }
    const indent = indentOf(line);
    if (itemIndent === -1) itemIndent = indent;
    if (indent === itemIndent && line[indent] === '-') items.push([line]);
    else if (indent > itemIndent && items.length > 0) items[items.length - 1]?.push(line);
    else return undefined;
  }
  const restValue = parseSection(rest.join('\n'));
  if (restValue === null || typeof restValue !== 'object' || Array.isArray(restValue)) return undefined;
  const doc = restValue as Record<string, unknown>;
  if (!seenServices) return doc;
  const known = previousItems;
  const next = new Map<string, unknown>();
  const services: unknown[] = [];
  for (const item of items) {
    const value = serviceItem(item, known, next) ?? itemValue(item.join('\n'), known, next);
    if (value === undefined) return undefined;
    services.push(value);
  }
  previousItems = next;
  doc.services = items.length === 0 ? null : services;
  return doc;
}
