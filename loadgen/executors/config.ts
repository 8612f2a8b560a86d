// The options every executor shares (k6's BaseConfig) and zod helpers for k6 value types.
import { z } from 'zod';
import { parseDuration } from '../duration.js';

export const duration = z
  .union([z.string(), z.number()], {
    error: (iss) =>
      iss.input === undefined ? 'required' : 'must be a duration like "30s" or a number of milliseconds',
  })
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `invalid duration '${String(v)}' (use e.g. "30s", "1m30s", "500ms")` });
      return z.NEVER;
    }
    return ms;
  });

export const positiveDuration = duration.refine((ms) => ms > 0, { message: 'must be longer than 0s' });

export const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

export const baseFields = {
  executor: z.string(),
  startTime: duration.default(0),
  gracefulStop: duration.default(30_000),
  exec: z.string().min(1).default('default'),
  env: stringMap.default({}),
  tags: stringMap.default({}),
};

export const stage = z.strictObject({ duration, target: z.number().int().nonnegative() });
export const rateStage = z.strictObject({ duration, target: z.number().nonnegative() });

/** The VU pool of the arrival-rate executors (k6's preAllocatedVUs and maxVUs). */
export const arrivalRateVUFields = {
  preAllocatedVUs: z.number().int().nonnegative(),
  maxVUs: z.number().int().positive().optional(),
};

/**
 * Completes an arrival-rate executor's schema: maxVUs defaults to preAllocatedVUs (at least one)
 * and may not be below it, the same rule for constant- and ramping-arrival-rate as in k6.
 */
export function withArrivalRateVUs<T extends { preAllocatedVUs: number; maxVUs?: number | undefined }>(
  schema: z.ZodType<T>,
) {
  return schema
    .transform((c) => ({ ...c, maxVUs: c.maxVUs ?? Math.max(1, c.preAllocatedVUs) }))
    .refine((c) => c.maxVUs >= c.preAllocatedVUs, {
      message: 'maxVUs must be at least preAllocatedVUs',
      path: ['maxVUs'],
    });
}

export interface BaseConfig {
  executor: string;
  startTime: number;
  gracefulStop: number;
  exec: string;
  env: Record<string, string>;
  tags: Record<string, string>;
}
