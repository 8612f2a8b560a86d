// Loads an Envoy v3 bootstrap from YAML or JSON and validates it completely before anything is
// built: every problem is reported at once, each prefixed with its full field path
// (`static_resources.listeners[0]...routes[3].route.foo: unknown field`).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { z } from 'zod';
import { bootstrapSchema, type Bootstrap } from '../api/schema.js';
import { normalizeProtoJson } from './proto-json.js';
import { ConfigInvalidError, ConfigReadError } from '../errors.js';
import { loadExtensionsFor } from '../extensions/catalog.js';
import { bootstrapTlsProblems } from '../core/network/tls/check.js';

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

type PathMapper = (path: ReadonlyArray<PropertyKey>) => ReadonlyArray<PropertyKey>;

/**
 * One line per problem; unknown keys become one `path.key: unknown field` line each. `original`
 * maps a checked path back to the one the user wrote (camelCase names, TypedStruct `value`).
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], original: PathMapper = (p) => p): string[] {
  const lines: string[] = [];
  const at = (path: ReadonlyArray<PropertyKey>) => formatPath(original(path)) || '(root)';
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${at([...issue.path, key])}: unknown field`);
    } else if (issue.code === 'invalid_union') {
      // A config and its per-route form (RBAC | RBACPerRoute) are told apart by `@type`: when
      // exactly one member accepts the `@type` given, its own problems are the ones to report.
      const meant = issue.errors.filter((errors) => !errors.some((e) => e.path[0] === '@type'));
      if (meant.length === 1 && meant[0]!.length > 0) {
        const prefixed = meant[0]!.map((e) => ({ ...e, path: [...issue.path, ...e.path] }));
        lines.push(...formatIssues(prefixed, original));
      } else lines.push(`${at(issue.path)}: ${unionMessage(issue)}`);
    } else {
      lines.push(`${at(issue.path)}: ${issue.message}`);
    }
  }
  return [...new Set(lines)];
}

/**
 * Checks proto3-JSON input against a schema as Envoy's loader reads it (camelCase names, enum
 * numbers, TypedStruct-wrapped configs, a single value for a repeated field; see proto-json.ts):
 * the parsed config, or every problem named by the path as written.
 */
export function parseProtoJson<T>(
  schema: z.ZodType<T>,
  raw: unknown,
): { ok: true; data: T } | { ok: false; errors: string[] } {
  const input = normalizeProtoJson(raw);
  const result = schema.safeParse(input.value);
  if (result.success) return { ok: true, data: result.data };
  return { ok: false, errors: formatIssues(result.error.issues, input.originalPath) };
}

function unionMessage(issue: z.core.$ZodIssueInvalidUnion): string {
  const first = issue.errors[0]?.[0];
  return first === undefined ? issue.message : `${issue.message} (${first.message})`;
}

// The YAML parser costs ~9 MB of resident memory for the life of the process; JSON configs
// (what a control plane writes) never load it.
const requireYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** Parses text as JSON when it looks like JSON, else YAML (a JSON document is valid YAML anyway). */
export function parseConfigText(text: string, source: string): unknown {
  try {
    if (text.trimStart().startsWith('{')) return JSON.parse(text);
    return requireYaml().parse(text, { merge: true, maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigReadError(source, (err as Error).message);
  }
}

/** Validates an already parsed bootstrap object. */
export function validateBootstrap(raw: unknown, source = '(inline)'): Bootstrap {
  const result = parseProtoJson(bootstrapSchema, raw ?? {});
  if (!result.ok) throw new ConfigInvalidError(source, result.errors);
  // Certificates, keys and CA bundles must load now, not at the first connection.
  const tls = bootstrapTlsProblems(result.data);
  if (tls.length > 0) throw new ConfigInvalidError(source, tls);
  return result.data;
}

/** Reads and parses (not validates) a bootstrap file. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigReadError(path, (err as Error).message);
  }
  return parseConfigText(text, path);
}

/**
 * Validates a bootstrap file with the extensions loaded so far: the proxy's own paths call
 * `loadBootstrap`, which first loads the extensions the file names.
 */
export function loadBootstrapFile(path: string): Bootstrap {
  return validateBootstrap(readConfigFile(path), path);
}

/**
 * Loads the modules of the extensions a bootstrap names (proxy/extensions/catalog.ts), then
 * validates it: a file path, or an already parsed object.
 */
export async function loadBootstrap(source: { path: string } | { config: unknown }): Promise<Bootstrap> {
  const raw = 'path' in source ? readConfigFile(source.path) : source.config;
  await loadExtensionsFor(raw);
  return 'path' in source ? validateBootstrap(raw, source.path) : validateBootstrap(raw);
}
