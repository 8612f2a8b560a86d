// Query-string parsing for the query API. Every value is validated here and reaches SQL only
// as a bound parameter; a bad value is a QueryParamError naming the parameter.

import { QueryParamError } from '../errors.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DIGITS = /^\d{1,16}$/;
const TRACE_ID = /^[0-9a-fA-F]{32}$/;

export class Params {
  readonly #q: URLSearchParams;
  readonly #allowed: ReadonlySet<string>;

  constructor(q: URLSearchParams, allowed: readonly string[]) {
    this.#q = q;
    this.#allowed = new Set(allowed);
    for (const key of q.keys()) {
      if (!this.#allowed.has(key)) {
        throw new QueryParamError(`unknown parameter '${key}'; allowed: ${allowed.join(', ') || '(none)'}`);
      }
    }
  }

  string(name: string): string | undefined {
    const v = this.#q.get(name);
    if (v === null || v === '') return undefined;
    if (v.length > 1024) throw new QueryParamError(`'${name}' is longer than 1024 characters`);
    return v;
  }

  required(name: string): string {
    const v = this.string(name);
    if (v === undefined) throw new QueryParamError(`'${name}' is required`);
    return v;
  }

  /** RFC 3339 or Unix milliseconds, as Unix milliseconds. */
  time(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (DIGITS.test(v)) return Number(v);
    if (RFC3339.test(v)) {
      const ms = Date.parse(v);
      if (!Number.isNaN(ms)) return ms;
    }
    throw new QueryParamError(
      `'${name}' must be an RFC 3339 time (2024-01-02T03:04:05Z) or Unix milliseconds, got '${v}'`,
    );
  }

  number(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || n < min || n > max) {
      throw new QueryParamError(`'${name}' must be a number between ${min} and ${max}, got '${v}'`);
    }
    return n;
  }

  /** Seconds: a plain number of seconds or a duration like 30s, 5m, 1h (Prometheus style). */
  seconds(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v);
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[(m?.[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
    const n = m === null ? Number.NaN : Number(m[1]) * unit;
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new QueryParamError(
        `'${name}' must be seconds or a duration (30s, 5m, 1h) between ${min}s and ${max}s, got '${v}'`,
      );
    }
    return n;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const lower = v.toLowerCase() as T;
    if (!values.includes(lower)) throw new QueryParamError(`'${name}' must be one of ${values.join(', ')}, got '${v}'`);
    return lower;
  }

  /** start/end with defaults (the last hour) and start ≤ end. */
  range(defaultSpanMs = 3_600_000): { startMs: number; endMs: number } {
    const endMs = this.time('end') ?? Date.now();
    const startMs = this.time('start') ?? endMs - defaultSpanMs;
    if (startMs > endMs)
      throw new QueryParamError(
        `'start' (${new Date(startMs).toISOString()}) is after 'end' (${new Date(endMs).toISOString()})`,
      );
    return { startMs, endMs };
  }
}

export function traceIdParam(raw: string): string {
  if (!TRACE_ID.test(raw)) throw new QueryParamError(`trace id must be 32 hex characters, got '${raw.slice(0, 64)}'`);
  return raw.toLowerCase();
}
