// Mesh YAML parsed by sections, each section's value reused while its text is unchanged. At a
// thousand workloads the file is ~250 KB and the yaml library's parse of it took ~190 ms of
// CPU per edit — most of an edit's cost — although an edit usually touches one service.
// The document is cut, without parsing, into the top-level keys other than `services` (parsed
// together) and one section per `services` item; a section whose exact text was in the
// previous document reuses that parse. Anything this cutting cannot vouch for — document
// markers, directives, a section that fails to parse alone (an alias to another section's
// anchor, a scalar continued at the left margin), a repeated `services` key — returns
// undefined, and the caller parses the whole text as before, with its exact error positions.
import { parseDocument } from 'yaml';

const SERVICES_KEY = /^services:[ \t]*(#.*)?$/;
const OPTIONS = { uniqueKeys: true } as const;

/** Each `services` item's text → its parsed value, from the last document parsed by sections. */
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
    const itemText = item.join('\n');
    let value = next.get(itemText) ?? known.get(itemText);
    if (value === undefined) {
      const parsed = parseSection(itemText);
      if (!Array.isArray(parsed) || parsed.length !== 1) return undefined;
      value = parsed[0];
    }
    next.set(itemText, value);
    services.push(value);
  }
  previousItems = next;
  doc.services = items.length === 0 ? null : services;
  return doc;
}
