// Loads an Envoy v3 bootstrap from YAML or JSON and validates it completely before anything is
// built: every problem is reported at once, each prefixed with its full field path
// (`static_resources.listeners[0]...routes[3].route.foo: unknown field`).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { z } from 'zod';
import { bootstrapSchema, type Bootstrap } from '../api/schema.js';
import { ConfigInvalidError, ConfigReadError } from '../errors.js';
import '../extensions/index.js';

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** One line per problem; unknown keys become one `path.key: unknown field` line each. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown field`);
    } else if (issue.code === 'invalid_union') {
      lines.push(`${formatPath(issue.path) || '(root)'}: ${unionMessage(issue)}`);
    } else {
      lines.push(`${formatPath(issue.path) || '(root)'}: ${issue.message}`);
    }
  }
  return [...new Set(lines)];
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
  const result = bootstrapSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigInvalidError(source, formatIssues(result.error.issues));
  return result.data;
}

export function loadBootstrapFile(path: string): Bootstrap {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigReadError(path, (err as Error).message);
  }
  return validateBootstrap(parseConfigText(text, path), path);
}
