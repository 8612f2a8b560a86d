// Refinements shared by the API's schemas: Envoy's oneof rules, checked with the keys' names.
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
