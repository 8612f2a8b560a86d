// What the request thread and the access-log thread (log-thread.ts) say to each other, as
// ExportPipeline `control` messages: sinks and loggers to set up, reopen (SIGUSR1), flush; back,
// flush done and the sinks' filesystem.* counts.
import type { LogFormatConfig } from './common.js';

/** Messages of the access-log thread's protocol (ExportPipeline `control` bodies). */
export type ToLogThread =
  | { kind: 'sink'; id: number; path: string; fixedFd: number | null }
  | { kind: 'logger'; id: number; sink: number; format: LogFormatConfig | undefined }
  | { kind: 'reopen' }
  | { kind: 'flush'; seq: number };

/** Per sink, the counts since the last report, in LOG_SINK_COUNTS order, then write_total_buffered. */
export type FromLogThread = { kind: 'flushed'; seq: number } | { kind: 'stats'; sinks: Array<[number, ...number[]]> };

/** The LogSinkStats counters, in the order a stats report lists them. */
export const LOG_SINK_COUNTS = [
  'writeBuffered',
  'writeCompleted',
  'writeFailed',
  'flushedByTimer',
  'reopenFailed',
  'linesDropped',
] as const;
