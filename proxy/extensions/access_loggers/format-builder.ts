// A validated `log_format` (common.ts) compiled into its formatter. Apart from the schemas so the
// access-log thread (log-printer.ts) compiles the same formats without loading zod.
import { readFileSync } from 'node:fs';
import {
  CompiledJson,
  DEFAULT_ACCESS_LOG_FORMAT,
  TextFormatter,
  type LineFormatter,
} from '../../telemetry/substitution-format.js';
import type { LogFormatConfig } from './common.js';

/** Builds the formatter for a validated `log_format` (Envoy's default format when absent). */
export function buildFormatter(config: LogFormatConfig | undefined): LineFormatter {
  if (config === undefined) return new TextFormatter(DEFAULT_ACCESS_LOG_FORMAT);
  if (config.json_format !== undefined) return new CompiledJson(config.json_format);
  if (config.text_format !== undefined) return new TextFormatter(config.text_format);
  const src = config.text_format_source;
  if (src?.inline_string !== undefined) return new TextFormatter(src.inline_string);
  if (src?.filename !== undefined) return new TextFormatter(readFileSync(src.filename, 'utf8'));
  return new TextFormatter(DEFAULT_ACCESS_LOG_FORMAT);
}
