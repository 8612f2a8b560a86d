// Envoy's log levels for `-l/--log-level`; lines go to stderr, disabled levels are no-ops.
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const noop = (): void => {};

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const at = (name: string, r: number) =>
    r >= rank ? (m: string) => write(`[${new Date().toISOString()}][${process.pid}][${name}] ${m}\n`) : noop;
  return { debug: at('debug', 1), info: at('info', 2), warn: at('warning', 3), error: at('error', 4) };
}
