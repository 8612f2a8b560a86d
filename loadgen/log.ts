// Log lines in k6's logfmt shape on stderr. A failing target or a throwing script logs once per
// request or iteration; thousands of identical lines a second would drown the terminal and cost
// CPU, so past a burst the repeats of a message are counted and reported once a second.
import type { Writable } from 'node:stream';

export type LogLevel = 'info' | 'warn' | 'error' | 'debug';

const BURST_PER_SECOND = 10;

/** k6's --log-format: logfmt (text, the default), the message alone (raw), or one JSON object a line. */
export type LogFormat = 'text' | 'raw' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'raw', 'json'];

function logfmt(level: string, message: string, fields?: Record<string, string>): string {
  let line = `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(message)}`;
  if (fields)
    for (const [k, v] of Object.entries(fields))
      line += ` ${k}=${/[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v}`;
  return `${line}\n`;
}

function jsonLine(level: string, message: string, fields?: Record<string, string>): string {
  return `${JSON.stringify({ level, msg: message, time: new Date().toISOString(), ...fields })}\n`;
}

const FORMATTERS: Record<LogFormat, (level: string, message: string, fields?: Record<string, string>) => string> = {
  text: logfmt,
  raw: (_level, message) => `${message}\n`,
  json: jsonLine,
};

export class Logger {
  readonly #out: Writable;
  readonly #now: () => number;
  #second = 0;
  readonly #seen = new Map<string, number>();

  readonly #format: (level: string, message: string, fields?: Record<string, string>) => string;
  /** Where console.* output goes when it is not the log (--console-output). */
  #console: Writable | undefined;

  constructor(
    out: Writable,
    now: () => number = () => performance.now(),
    format: LogFormat = 'text',
    consoleOut?: Writable,
  ) {
    this.#out = out;
    this.#now = now;
    this.#format = FORMATTERS[format];
    this.#console = consoleOut;
  }

  readonly log = (level: LogLevel, message: string, fields?: Record<string, string>): void => {
    if (level === 'debug') return;
    const second = Math.floor(this.#now() / 1000);
    if (second !== this.#second) {
      this.flush();
      this.#second = second;
    }
    // console.* output is what the script asked for: never suppressed.
    if (fields?.source === 'console') {
      (this.#console ?? this.#out).write(this.#format(level, message, fields));
      return;
    }
    const key = message.length > 120 ? message.slice(0, 120) : message;
    const n = (this.#seen.get(key) ?? 0) + 1;
    this.#seen.set(key, n);
    if (n <= BURST_PER_SECOND) this.#out.write(this.#format(level, message, fields));
  };

  /** Sends console.* output to `out` from now on (k6's --console-output). */
  consoleTo(out: Writable): void {
    this.#console = out;
  }

  /** Ends the --console-output stream, if any, once everything written to it is flushed. */
  async closeConsole(): Promise<void> {
    const out = this.#console;
    this.#console = undefined;
    if (out !== undefined) await new Promise<void>((resolve) => out.end(resolve));
  }

  /** Reports what the current second suppressed. */
  flush(): void {
    for (const [key, n] of this.#seen)
      if (n > BURST_PER_SECOND)
        this.#out.write(
          this.#format('warn', `${n - BURST_PER_SECOND} more messages like this were suppressed: ${key}`),
        );
    this.#seen.clear();
  }
}
