// Protobuf's JSON mapping as Envoy's configs use it: integers may be written as decimal strings,
// and wrapper types (google.protobuf.UInt32Value, BoolValue, envoy.type.v3.Percent-like ints)
// appear bare or as `{ value }`. The `…Value` schemas read as the plain value; `u32Wrapped`
// keeps what was written, for `unwrap()` with a default at build time.
import { z } from 'zod';

/** Protobuf's JSON mapping accepts integers written as decimal strings too. */
export const numericString = (v: unknown): unknown => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);

export const u32 = z.preprocess(numericString, z.number().int().min(0).max(4294967295));

/** google.protobuf.UInt32Value as written (bare or `{ value }`); read it with `unwrap`. */
export const u32Wrapped = z.union([u32, z.object({ value: u32 }).strict()]);

/** google.protobuf.UInt32Value, read as its number. */
export const u32Value = u32Wrapped.transform((v) => (typeof v === 'number' ? v : v.value));

/** google.protobuf.BoolValue, read as its boolean. */
export const boolValue = z
  .union([z.boolean(), z.object({ value: z.boolean() }).strict()])
  .transform((v) => (typeof v === 'boolean' ? v : v.value));

/** An integer percentage 0–100 (bare or `{ value }`), read as its number. */
export const percentValue = z
  .union([z.number().int().min(0).max(100), z.object({ value: z.number().int().min(0).max(100) }).strict()])
  .transform((v) => (typeof v === 'number' ? v : v.value));

/** Returns the number from a value that may be wrapped as `{ value }` (protobuf wrappers). */
export function unwrap(v: number | { value: number } | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  return typeof v === 'number' ? v : v.value;
}
