// Builders for each kind of runtime layer. Each returns an immutable RuntimeLayerValues that
// a snapshot merges; the loader rebuilds only the layer that changed.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEntry, fractionFromValue, type RuntimeEntry, type RuntimeLayerValues } from './snapshot.js';
import { RuntimeDiskLayerError } from './errors.js';

/** Envoy walks at most this many directory levels below a disk layer's root. */
const MAX_WALK_DEPTH = 16;

function flowYaml(value: Record<string, unknown>): string {
  const parts = Object.entries(value).map(([k, v]) => `${k}: ${String(v)}`);
  return `{${parts.join(', ')}}`;
}

function walkStatic(value: unknown, prefix: string, out: Map<string, RuntimeEntry>): void {
  if (typeof value === 'string') {
    out.set(prefix, createEntry(value));
  } else if (typeof value === 'number' || typeof value === 'boolean') {
    out.set(prefix, createEntry(String(value)));
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    // A struct that names a numerator or denominator is one FractionalPercent value, not a subtree.
    if (keys.length === 0 || 'numerator' in record || 'denominator' in record) {
      const entry = createEntry(flowYaml(record));
      out.set(prefix, { ...entry, fraction: fractionFromValue(record) });
      return;
    }
    for (const key of keys) walkStatic(record[key], `${prefix}.${key}`, out);
  }
}

/** `static_layer`: a struct flattened into dotted keys (`health_check: {min_interval: 5}` → `health_check.min_interval`). */
export function staticLayer(name: string, struct: Record<string, unknown>): RuntimeLayerValues {
  const values = new Map<string, RuntimeEntry>();
  for (const [key, value] of Object.entries(struct)) walkStatic(value, key, values);
  return { name, values };
}

/** A file's value: lines starting with '#' are comments; trailing whitespace of the last line is dropped. */
function fileValue(text: string): string {
  const lines = text.split('\n').filter((line) => line !== '');
  let value = '';
  lines.forEach((line, index) => {
    if (line.startsWith('#')) return;
    value += index === lines.length - 1 ? line.trimEnd() : `${line}\n`;
  });
  return value;
}

async function walkDirectory(
  path: string,
  prefix: string,
  depth: number,
  out: Map<string, RuntimeEntry>,
): Promise<void> {
  if (depth > MAX_WALK_DEPTH) throw new RuntimeDiskLayerError(path, `walk recursion depth exceeded ${MAX_WALK_DEPTH}`);
  const entries = await readdir(path, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = join(path, entry.name);
    const key = prefix === '' ? entry.name : `${prefix}.${entry.name}`;
    if (entry.isDirectory()) await walkDirectory(full, key, depth + 1, out);
    else if (entry.isFile()) out.set(key, createEntry(fileValue(await readFile(full, 'utf8'))));
  }
}

/**
 * `disk_layer`: every regular file below `path` is a key (directories joined by '.'), its
 * contents the value. Resolves to undefined when the directory does not exist, as Envoy skips it.
 */
export async function diskLayer(name: string, path: string): Promise<RuntimeLayerValues | undefined> {
  const values = new Map<string, RuntimeEntry>();
  try {
    await walkDirectory(path, '', 1, values);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (err instanceof RuntimeDiskLayerError) throw err;
    throw new RuntimeDiskLayerError(path, err instanceof Error ? err.message : String(err));
  }
  return { name, values };
}

/** `admin_layer`: applies `/runtime_modify` overrides; an empty value removes the key. */
export function mergeAdminValues(
  current: ReadonlyMap<string, RuntimeEntry>,
  overrides: Iterable<readonly [string, string]>,
): Map<string, RuntimeEntry> {
  const next = new Map(current);
  for (const [key, value] of overrides) {
    if (value === '') next.delete(key);
    else next.set(key, createEntry(value));
  }
  return next;
}
