// Refinements shared by the API's schemas: Envoy's oneof rules, checked with the keys' names, and
// names that must be unique in a list.
import type { z } from 'zod';

export function exactlyOne(keys: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          present.length === 0
            ? `one of ${keys.join(', ')} is required`
            : `only one of ${present.join(', ')} may be set`,
      });
    }
  };
}

export function atMostOne(keys: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length > 1) ctx.addIssue({ code: 'custom', message: `only one of ${present.join(', ')} may be set` });
  };
}

/**
 * Reports every repeat of a name in `items` (a list at `path`), at the repeat's own `name` field;
 * items without a name are skipped. `kind` names what is listed: `duplicate cluster name 'x'`.
 */
export function refuseDuplicateNames(
  items: ReadonlyArray<{ name?: string | undefined }> | undefined,
  path: ReadonlyArray<string | number>,
  kind: string,
  ctx: z.RefinementCtx,
): void {
  const names = new Set<string>();
  items?.forEach((item, i) => {
    if (item.name === undefined) return;
    if (names.has(item.name))
      ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate ${kind} name '${item.name}'` });
    names.add(item.name);
  });
}
