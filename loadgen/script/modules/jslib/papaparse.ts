// jslib.k6.io/papaparse, served built in: papaparse.parse(text, config) for the CSV data files
// k6's examples load into SharedArrays; header rows, delimiter, skipEmptyLines, dynamicTyping.
import { parseCsv } from '../csv.js';

interface ParseConfig {
  header?: boolean;
  delimiter?: string;
  skipEmptyLines?: boolean | 'greedy';
  dynamicTyping?: boolean;
}

function typed(v: string): unknown {
  if (v === 'true' || v === 'TRUE') return true;
  if (v === 'false' || v === 'FALSE') return false;
  if (v !== '' && /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return Number(v);
  if (v === '') return null;
  return v;
}

export function papaParse(
  text: string,
  config?: ParseConfig,
): { data: unknown[]; errors: unknown[]; meta: { delimiter: string; fields?: string[] } } {
  if (typeof text !== 'string') throw new TypeError('papaparse.parse: pass the CSV text (open() it first)');
  // Without one given, the delimiter is the candidate the first line has most of, as papaparse guesses.
  const first = text.split('\n', 1)[0] ?? '';
  const count = (d: string): number => first.split(d).length - 1;
  const delimiter = config?.delimiter || [',', ';', '\t', '|'].reduce((a, b) => (count(b) > count(a) ? b : a));
  let rows = parseCsv(text, delimiter);
  if (config?.skipEmptyLines === 'greedy') rows = rows.filter((r) => r.some((f) => f.trim() !== ''));
  else if (config?.skipEmptyLines) rows = rows.filter((r) => !(r.length === 1 && r[0] === ''));
  const value = (v: string): unknown => (config?.dynamicTyping ? typed(v) : v);
  if (!config?.header) return { data: rows.map((r) => r.map(value)), errors: [], meta: { delimiter } };
  const fields = rows[0] ?? [];
  const data = rows.slice(1).map((r) => Object.fromEntries(fields.map((f, i) => [f, value(r[i] ?? '')])));
  return { data, errors: [], meta: { delimiter, fields } };
}

export function createPapaparseModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = { parse: papaParse };
  mod.default = mod;
  return mod;
}
