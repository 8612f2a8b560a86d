// google.protobuf.Duration as Envoy's YAML/JSON carries it: "1.5s" (proto3 JSON) or
// { seconds, nanos }. Converted to milliseconds once, at load.
import { z } from 'zod';

const DURATION_TEXT = /^(\d+)(\.\d{1,9})?s$/;

export const durationSchema = z.union([
  z.string().regex(DURATION_TEXT, { message: 'expected a duration like "1.5s"' }),
  z
    .object({
      seconds: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]).optional(),
      nanos: z.number().int().min(0).max(999_999_999).optional(),
    })
    .strict(),
]);
export type Duration = z.output<typeof durationSchema>;

export function durationMs(d: Duration | undefined, fallbackMs: number): number {
  if (d === undefined) return fallbackMs;
  if (typeof d === 'string') {
    const m = DURATION_TEXT.exec(d)!;
    return Number(m[1]) * 1000 + (m[2] === undefined ? 0 : Number(`0${m[2]}`) * 1000);
  }
  return Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
}
