// Envoy's log levels for `-l/--log-level`; lines go to stderr, disabled levels are no-ops.
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** The current level (admin `/logging` reads and changes it). */
  readonly level?: LogLevel;
  setLevel?(level: LogLevel): void;
}

const noop = (): void => {};

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const logger = {
    level,
    debug: noop as (m: string) => void,
    info: noop as (m: string) => void,
    warn: noop as (m: string) => void,
    error: noop as (m: string) => void,
    // Disabled levels stay no-ops: a level change swaps the methods rather than testing per call.
    setLevel(next: LogLevel): void {
      const rank = LOG_LEVELS.indexOf(next);
      const at = (name: string, r: number) =>
        r >= rank ? (m: string) => write(`[${new Date().toISOString()}][${process.pid}][${name}] ${m}\n`) : noop;
      logger.level = next;
      logger.debug = at('debug', 1);
      logger.info = at('info', 2);
      logger.warn = at('warning', 3);
      logger.error = at('error', 4);
    },
  };
  logger.setLevel(level);
  return logger;
}
