// Query-string parsing for the query API. Every value is validated here and reaches SQL only
// as a bound parameter; a bad value is a QueryParamError naming the parameter.

import { QueryParamError } from '../errors.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DIGITS = /^\d{1,16}$/;
const TRACE_ID = /^[0-9a-fA-F]{32}$/;
/** Jaeger's trace ids: 1 to 32 hex digits (a 64-bit id, or one whose leading zeros were trimmed). */
const JAEGER_TRACE_ID = /^[0-9a-fA-F]{1,32}$/;
/** Go's time.ParseDuration, which Jaeger uses for minDuration/maxDuration: 1.2s, 150ms, 1m30s, 500us. */
const GO_DURATION = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)/;
const GO_UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

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

  /** Every value of a repeated parameter (Jaeger's `tag=k:v&tag=k2:v2`). */
  all(name: string): string[] {
    const vs = this.#q.getAll(name).filter((v) => v !== '');
    for (const v of vs) if (v.length > 1024) throw new QueryParamError(`'${name}' is longer than 1024 characters`);
    return vs;
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

  /** Unix microseconds (Jaeger's start/end), as Unix milliseconds with the microseconds kept. */
  micros(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!DIGITS.test(v)) throw new QueryParamError(`'${name}' must be Unix microseconds, got '${v}'`);
    return Number(v) / 1000;
  }

  /** A Go duration (Jaeger's minDuration, maxDuration, lookback): 1.2s, 150ms, 1h30m, 500us; in milliseconds. */
  goDuration(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const ms = parseGoDuration(v);
    if (ms === undefined) {
      throw new QueryParamError(
        `'${name}' must be a duration with a unit (ns, us, ms, s, m, h), like 1.2s or 150ms, got '${v}'`,
      );
    }
    return ms;
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

/** Go's time.ParseDuration in milliseconds, or undefined when `v` is not one ("0" alone is allowed, as in Go). */
export function parseGoDuration(v: string): number | undefined {
  if (v === '0') return 0;
  let rest = v;
  let ns = 0;
  while (rest !== '') {
    const m = GO_DURATION.exec(rest);
    if (m === null) return undefined;
    const unit = /[a-zµμ]+$/.exec(m[0])![0];
    ns += Number(m[0].slice(0, -unit.length)) * GO_UNIT_NS[unit]!;
    rest = rest.slice(m[0].length);
  }
  return ns / 1e6;
}

/**
 * A trace id as Jaeger accepts it: up to 32 hex digits, left-padded to the stored 32, so a
 * 64-bit id (Zipkin/B3, or one the Jaeger UI trimmed) finds its trace.
 */
export function jaegerTraceIdParam(raw: string): string {
  if (!JAEGER_TRACE_ID.test(raw)) {
    throw new QueryParamError(`trace id must be 1 to 32 hex characters, got '${raw.slice(0, 64)}'`);
  }
  return raw.toLowerCase().padStart(32, '0');
}

/**
 * Jaeger's tag filters: repeated `tag=key:value` and `tags={"key":"value"}` (JSON object of
 * strings, as Grafana's Jaeger data source and the Jaeger UI send them), merged.
 */
export function jaegerTags(p: Params): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of p.all('tag')) {
    const i = t.indexOf(':');
    if (i <= 0) throw new QueryParamError(`'tag' must be key:value, got '${t}'`);
    out.set(t.slice(0, i), t.slice(i + 1));
  }
  for (const raw of p.all('tags')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new QueryParamError(`'tags' must be a JSON object of strings like {"http.method":"GET"}, got '${raw}'`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new QueryParamError(`'tags' must be a JSON object of strings like {"http.method":"GET"}, got '${raw}'`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        throw new QueryParamError(`'tags': the value of '${k}' must be a string, got ${JSON.stringify(v)}`);
      }
      out.set(k, String(v));
    }
  }
  if (out.size > 32) throw new QueryParamError(`at most 32 tag filters, got ${out.size}`);
  return out;
}

export function traceIdParam(raw: string): string {
  if (!TRACE_ID.test(raw)) throw new QueryParamError(`trace id must be 32 hex characters, got '${raw.slice(0, 64)}'`);
  return raw.toLowerCase();
}
