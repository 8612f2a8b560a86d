// Shared by the access loggers: Envoy's SubstitutionFormatString (`log_format`), validated and
// compiled at config load, so a bad operator fails the load with its path.
import { z } from 'zod';
import { CompiledJson, FormatError, TextFormatter } from '../../telemetry/substitution-format.js';

const dataSource = z
  .object({ inline_string: z.string().optional(), filename: z.string().min(1).optional() })
  .strict()
  .superRefine((v, ctx) => {
    const n = (v.inline_string !== undefined ? 1 : 0) + (v.filename !== undefined ? 1 : 0);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'exactly one of inline_string, filename is required' });
  });

function checkText(format: string, ctx: z.RefinementCtx, path: PropertyKey[]): void {
  try {
    new TextFormatter(format);
  } catch (err) {
    if (err instanceof FormatError) ctx.addIssue({ code: 'custom', path, message: err.message });
    else throw err;
  }
}

export const logFormatSchema = z
  .object({
    text_format: z.string().optional(),
    text_format_source: dataSource.optional(),
    json_format: z.record(z.string(), z.unknown()).optional(),
    omit_empty_values: z.boolean().optional(),
    content_type: z.string().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const set = ['text_format', 'text_format_source', 'json_format'].filter(
      (k) => v[k as keyof typeof v] !== undefined,
    );
    if (set.length > 1) ctx.addIssue({ code: 'custom', message: `only one of ${set.join(', ')} may be set` });
    if (v.text_format !== undefined) checkText(v.text_format, ctx, ['text_format']);
    if (v.text_format_source?.inline_string !== undefined)
      checkText(v.text_format_source.inline_string, ctx, ['text_format_source', 'inline_string']);
    if (v.json_format !== undefined) {
      try {
        new CompiledJson(v.json_format);
      } catch (err) {
        if (err instanceof FormatError) ctx.addIssue({ code: 'custom', path: ['json_format'], message: err.message });
        else throw err;
      }
    }
  });
export type LogFormatConfig = z.output<typeof logFormatSchema>;
