// Envoy's type.matcher.v3 StringMatcher and RegexMatcher, shared by routes, RBAC and the TLS
// validation context's subject-alt-name matchers.
import { z } from 'zod';
import { u32Wrapped } from './wrappers.js';
import { exactlyOne } from './refine.js';

export const regexMatcherSchema = z
  .object({
    google_re2: z.object({ max_program_size: u32Wrapped.optional() }).strict().optional(),
    regex: z.string().superRefine((source, ctx) => {
      try {
        new RegExp(source);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` });
      }
    }),
  })
  .strict();
export type RegexMatcher = z.output<typeof regexMatcherSchema>;

export const stringMatcherSchema = z
  .object({
    exact: z.string().optional(),
    prefix: z.string().min(1).optional(),
    suffix: z.string().min(1).optional(),
    contains: z.string().min(1).optional(),
    safe_regex: regexMatcherSchema.optional(),
    ignore_case: z.boolean().optional(),
  })
  .strict()
  .superRefine(exactlyOne(['exact', 'prefix', 'suffix', 'contains', 'safe_regex']));
export type StringMatcher = z.output<typeof stringMatcherSchema>;
