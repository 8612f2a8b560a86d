// Validates `layered_runtime` on its own (the runtime can be built without a bootstrap): every
// problem is reported at once with its full path, e.g.
// `layered_runtime.layers[1].disk_layer.symlink_root: required`.
import type { z } from 'zod';
import { DEFAULT_LAYERED_RUNTIME, type LayeredRuntimeConfig, layeredRuntimeSchema } from '../api/runtime.js';
import { RuntimeConfigError } from './errors.js';

function joinPath(base: string, path: ReadonlyArray<PropertyKey>): string {
  let out = base;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Flattens zod issues to `path: message` lines, one per unknown key. */
export function formatIssues(base: string, issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${joinPath(base, [...issue.path, key])}: unknown field`);
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      lines.push(`${joinPath(base, issue.path)}: required`);
    } else {
      lines.push(`${joinPath(base, issue.path)}: ${issue.message}`);
    }
  }
  return lines;
}

/** Validates `layered_runtime` (absent → Envoy's default layering); throws RuntimeConfigError listing every issue. */
export function parseLayeredRuntime(input: unknown, path = 'layered_runtime'): LayeredRuntimeConfig {
  if (input === undefined) return DEFAULT_LAYERED_RUNTIME;
  const result = layeredRuntimeSchema.safeParse(input);
  if (!result.success) throw new RuntimeConfigError(formatIssues(path, result.error.issues));
  return result.data;
}
