// Holds Envoy proto3 JSON (snake_case names, "@type" on Any, durations as "1.5s", wrappers as
// bare scalars) to Envoy's real message definitions and the protoc-gen-validate rules written
// on them, as Envoy's own config loader does before any factory runs: a field the message
// lacks, a value of the wrong kind, an enum name the enum lacks, an Any whose type is unknown,
// two members of one oneof, and every `(validate.rules)` / `(validate.required)` the rules
// below cover. Rules are read from protobufjs' parsed field options, so the evaluator knows
// nothing of any message in particular. Unset scalars are checked at their proto3 default, as
// PGV does (an empty `string name = 1 [(validate.rules).string.min_len = 1]` fails).
import protobuf from 'protobufjs';

type Rules = Record<string, unknown>;
type Obj = Record<string, unknown>;

const WRAPPER_KIND: Record<string, string> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};
const NUMERIC = new Set([
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
]);
const DURATION = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
// PGV's well-known header regexes (validate.proto, KnownRegex), strict form.
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
}

function rulesOf(field: protobuf.Field): Rules | undefined {
  for (const o of field.parsedOptions ?? []) {
    const r = (o as Obj)['(validate.rules)'];
    if (isObj(r)) return r;
  }
  return undefined;
}

function durationNanos(v: unknown): bigint | undefined {
  if (typeof v === 'string') {
    const m = DURATION.exec(v);
    if (m === null) return undefined;
    const n = BigInt(m[2] as string) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0') || '0');
    return m[1] === '-' ? -n : n;
  }
  if (isObj(v)) return BigInt(Number(v.seconds ?? 0)) * 1_000_000_000n + BigInt(Number(v.nanos ?? 0));
  return undefined;
}

/** Numeric comparison rules (const, lt, lte, gt, gte, in, not_in), PGV's exclusive-range semantics included. */
function checkRange<T extends number | bigint>(v: T, r: Obj, conv: (x: unknown) => T, show: string): string[] {
  const out: string[] = [];
  if (r.const !== undefined && v !== conv(r.const)) out.push(`must equal ${String(r.const)} (is ${show})`);
  const lower =
    r.gt !== undefined ? { x: conv(r.gt), incl: false } : r.gte !== undefined ? { x: conv(r.gte), incl: true } : null;
  const upper =
    r.lt !== undefined ? { x: conv(r.lt), incl: false } : r.lte !== undefined ? { x: conv(r.lte), incl: true } : null;
  const aboveLower = lower === null || (lower.incl ? v >= lower.x : v > lower.x);
  const belowUpper = upper === null || (upper.incl ? v <= upper.x : v < upper.x);
  const words = (b: typeof lower, above: boolean): string =>
    b === null ? '' : `${above ? (b.incl ? '>=' : '>') : b.incl ? '<=' : '<'} ${String(b.x)}`;
  if (lower !== null && upper !== null && upper.x < lower.x) {
    // An inverted range means "outside": v above the lower bound or below the upper one.
    if (!aboveLower && !belowUpper) out.push(`must be ${words(lower, true)} or ${words(upper, false)} (is ${show})`);
  } else {
    if (!aboveLower) out.push(`must be ${words(lower, true)} (is ${show})`);
    if (!belowUpper) out.push(`must be ${words(upper, false)} (is ${show})`);
  }
  if (Array.isArray(r.in) && !r.in.some((x) => conv(x) === v))
    out.push(`must be one of ${r.in.join(', ')} (is ${show})`);
  if (Array.isArray(r.not_in) && r.not_in.some((x) => conv(x) === v)) out.push(`must not be ${show}`);
  return out;
}

function asArray(x: unknown): unknown[] {
  return Array.isArray(x) ? x : x === undefined ? [] : [x];
}

function checkString(v: string, r: Obj): string[] {
  if (r.ignore_empty === true && v === '') return [];
  const out: string[] = [];
  const chars = [...v].length;
  const bytes = Buffer.byteLength(v);
  const n = (x: unknown): number => Number(x);
  if (r.const !== undefined && v !== r.const) out.push(`must equal '${String(r.const)}'`);
  if (r.len !== undefined && chars !== n(r.len)) out.push(`must be ${String(r.len)} characters long`);
  if (r.min_len !== undefined && chars < n(r.min_len))
    out.push(`must be at least ${String(r.min_len)} characters long`);
  if (r.max_len !== undefined && chars > n(r.max_len)) out.push(`must be at most ${String(r.max_len)} characters long`);
  if (r.min_bytes !== undefined && bytes < n(r.min_bytes)) out.push(`must be at least ${String(r.min_bytes)} bytes`);
  if (r.max_bytes !== undefined && bytes > n(r.max_bytes)) out.push(`must be at most ${String(r.max_bytes)} bytes`);
  if (typeof r.prefix === 'string' && !v.startsWith(r.prefix)) out.push(`must start with '${r.prefix}'`);
  if (typeof r.suffix === 'string' && !v.endsWith(r.suffix)) out.push(`must end with '${r.suffix}'`);
  if (typeof r.contains === 'string' && !v.includes(r.contains)) out.push(`must contain '${r.contains}'`);
  if (typeof r.not_contains === 'string' && v.includes(r.not_contains))
    out.push(`must not contain '${r.not_contains}'`);
  if (r.in !== undefined && !asArray(r.in).includes(v)) out.push(`must be one of ${asArray(r.in).join(', ')}`);
  if (r.not_in !== undefined && asArray(r.not_in).includes(v)) out.push(`must not be '${v}'`);
  // RE2 and JavaScript agree on the classes Envoy's patterns use; \A and \z are RE2-only.
  if (typeof r.pattern === 'string' && !new RegExp(r.pattern.replace(/\\A/g, '^').replace(/\\z/g, '$'), 'u').test(v))
    out.push(`must match /${r.pattern}/`);
  const strict = r.strict !== false;
  if (r.well_known_regex === 'HTTP_HEADER_NAME' && v !== '' && !(strict ? HEADER_NAME : /^[^\0\r\n]*$/).test(v))
    out.push('must be a valid HTTP header name');
  if (r.well_known_regex === 'HTTP_HEADER_VALUE' && !(strict ? HEADER_VALUE : /^[^\0\r\n]*$/).test(v))
    out.push('must be a valid HTTP header value');
  if (
    r.hostname === true &&
    !/^(?=.{1,253}$)([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/.test(
      v,
    )
  )
    out.push('must be a hostname');
  if ((r.uri === true || r.uri_ref === true) && r.uri === true && !URL.canParse(v)) out.push('must be an absolute URI');
  return out;
}

export class EnvoyApiChecker {
  readonly #root: protobuf.Root;

  constructor(root: protobuf.Root) {
    this.#root = root;
  }

  /** Every problem of `json` as the message `typeName` (`envoy.config.bootstrap.v3.Bootstrap`), as `path: problem`. */
  check(typeName: string, json: unknown): string[] {
    const out: string[] = [];
    this.#message(this.#root.lookupType(typeName), json, '', out);
    return out;
  }

  #message(type: protobuf.Type, json: unknown, path: string, out: string[]): void {
    if (!isObj(json)) {
      out.push(`${path || '(root)'}: expected an object (${type.fullName.slice(1)})`);
      return;
    }
    for (const key of Object.keys(json)) {
      if (type.fields[key] === undefined)
        out.push(`${join(path, key)}: no field '${key}' in ${type.fullName.slice(1)}`);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => json[f.name] !== undefined && json[f.name] !== null);
      if (set.length > 1)
        out.push(
          `${path || '(root)'}: ${set.map((f) => f.name).join(' and ')} are one oneof (${oneof.name}): at most one`,
        );
      if (set.length === 0 && (oneof.options as Obj | undefined)?.['(validate.required)'] === true)
        out.push(`${path || '(root)'}: one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} is required`);
    }
    for (const field of type.fieldsArray) this.#field(field, json[field.name], join(path, field.name), out);
  }

  #field(field: protobuf.Field, value: unknown, path: string, out: string[]): void {
    const rules = rulesOf(field);
    const present = value !== undefined && value !== null;
    if (field.map) {
      if (present && !isObj(value)) return void out.push(`${path}: expected a map`);
      const entries = present ? Object.entries(value as Obj) : [];
      const r = rules?.map as Obj | undefined;
      if (r?.min_pairs !== undefined && entries.length < Number(r.min_pairs))
        out.push(`${path}: must have at least ${String(r.min_pairs)} entries`);
      if (r?.max_pairs !== undefined && entries.length > Number(r.max_pairs))
        out.push(`${path}: must have at most ${String(r.max_pairs)} entries`);
      for (const [k, v] of entries) {
        if (isObj(r?.keys))
          for (const p of checkString(k, (r.keys.string ?? {}) as Obj)) out.push(`${join(path, k)} (key): ${p}`);
        this.#single(field, v, true, r?.values as Rules | undefined, join(path, k), out);
      }
      return;
    }
    if (field.repeated) {
      if (present && !Array.isArray(value)) return void out.push(`${path}: expected a list`);
      const items = present ? (value as unknown[]) : [];
      const r = rules?.repeated as Obj | undefined;
      if (!(r?.ignore_empty === true && items.length === 0)) {
        if (r?.min_items !== undefined && items.length < Number(r.min_items))
          out.push(`${path}: must have at least ${String(r.min_items)} item(s)`);
        if (r?.max_items !== undefined && items.length > Number(r.max_items))
          out.push(`${path}: must have at most ${String(r.max_items)} item(s)`);
        if (r?.unique === true && new Set(items.map((x) => JSON.stringify(x))).size !== items.length)
          out.push(`${path}: items must be unique`);
      }
      items.forEach((item, i) => this.#single(field, item, true, r?.items as Rules | undefined, join(path, i), out));
      return;
    }
    this.#single(field, value, present, rules, path, out);
  }

  /** One value of `field` (an item of a list or map, or the field itself) against `rules`. */
  #single(
    field: protobuf.Field,
    value: unknown,
    present: boolean,
    rules: Rules | undefined,
    path: string,
    out: string[],
  ): void {
    const t = field.resolvedType;
    if (t instanceof protobuf.Type) {
      if (!present) {
        // Rules on a oneof member apply only when that member is the one set (PGV's semantics).
        if (field.partOf !== null) return;
        const req = ['message', 'duration', 'timestamp', 'any'].some(
          (k) => (rules?.[k] as Obj | undefined)?.required === true,
        );
        if (req) out.push(`${path}: is required`);
        return;
      }
      if ((rules?.message as Obj | undefined)?.skip === true) return;
      this.#value(t, value, rules, path, out);
      return;
    }
    // A oneof member (or proto3 `optional`) that is unset has no value to check.
    if (!present && field.partOf !== null) return;
    if (t instanceof protobuf.Enum) {
      const v = present ? value : 0;
      let n: number | undefined;
      if (typeof v === 'string') n = t.values[v];
      else if (typeof v === 'number') n = v;
      if (n === undefined) return void out.push(`${path}: '${String(v)}' is not a value of ${t.fullName.slice(1)}`);
      const r = rules?.enum as Obj | undefined;
      if (r?.defined_only === true && t.valuesById[n] === undefined)
        out.push(`${path}: ${n} is not a defined value of ${t.fullName.slice(1)}`);
      if (r !== undefined) {
        const named = (x: unknown): number => (typeof x === 'string' ? (t.values[x] ?? Number.NaN) : Number(x));
        for (const p of checkRange(n, { const: r.const, in: r.in, not_in: r.not_in }, named, String(v)))
          out.push(`${path}: ${p}`);
      }
      return;
    }
    this.#scalar(field.type, present ? value : defaultOf(field.type), rules, path, out);
  }

  #scalar(kind: string, v: unknown, rules: Rules | undefined, path: string, out: string[]): void {
    const r = rules?.[kind] as Obj | undefined;
    if (kind === 'string') {
      if (typeof v !== 'string') return void out.push(`${path}: expected a string`);
      if (r !== undefined) for (const p of checkString(v, r)) out.push(`${path}: ${p}`);
      return;
    }
    if (kind === 'bool') {
      if (typeof v !== 'boolean') return void out.push(`${path}: expected true or false`);
      if (r?.const !== undefined && v !== r.const) out.push(`${path}: must be ${String(r.const)}`);
      return;
    }
    if (kind === 'bytes') {
      if (typeof v !== 'string') out.push(`${path}: expected base64 bytes`);
      return;
    }
    if (NUMERIC.has(kind)) {
      const n = typeof v === 'string' && /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n)) return void out.push(`${path}: expected a number (${kind})`);
      if (!kind.startsWith('double') && !kind.startsWith('float') && !Number.isInteger(n))
        return void out.push(`${path}: expected an integer (${kind})`);
      if (kind.startsWith('uint') || kind.startsWith('fixed'))
        if (n < 0) return void out.push(`${path}: must not be negative (${kind})`);
      if (r !== undefined && !(r.ignore_empty === true && n === 0))
        for (const p of checkRange(n, r, Number, String(n))) out.push(`${path}: ${p}`);
    }
  }

  #value(type: protobuf.Type, value: unknown, rules: Rules | undefined, path: string, out: string[]): void {
    const name = type.fullName;
    const wrapped = WRAPPER_KIND[name];
    if (wrapped !== undefined) return this.#scalar(wrapped, value, rules, path, out);
    if (name === '.google.protobuf.Duration') {
      const n = durationNanos(value);
      if (n === undefined) return void out.push(`${path}: expected a duration such as "1.5s"`);
      const r = rules?.duration as Obj | undefined;
      if (r !== undefined) {
        const conv = (x: unknown): bigint => durationNanos(x) ?? 0n;
        for (const p of checkRange(n, r, conv, String(value))) out.push(`${path}: ${p} (bounds in nanoseconds)`);
      }
      return;
    }
    if (name === '.google.protobuf.Timestamp') {
      if (typeof value !== 'string' || !TIMESTAMP.test(value)) out.push(`${path}: expected an RFC 3339 timestamp`);
      return;
    }
    if (name === '.google.protobuf.Struct') {
      if (!isObj(value)) out.push(`${path}: expected an object`);
      return;
    }
    if (name === '.google.protobuf.Value') return;
    if (name === '.google.protobuf.ListValue') {
      if (!Array.isArray(value)) out.push(`${path}: expected a list`);
      return;
    }
    if (name === '.google.protobuf.Any') return this.#any(value, rules, path, out);
    this.#message(type, value, path, out);
  }

  #any(value: unknown, rules: Rules | undefined, path: string, out: string[]): void {
    if (!isObj(value) || typeof value['@type'] !== 'string')
      return void out.push(`${join(path, '@type')}: is required`);
    const url = value['@type'];
    const r = rules?.any as Obj | undefined;
    if (r?.in !== undefined && !asArray(r.in).includes(url))
      out.push(`${join(path, '@type')}: must be one of ${asArray(r.in).join(', ')}`);
    if (r?.not_in !== undefined && asArray(r.not_in).includes(url))
      out.push(`${join(path, '@type')}: must not be ${url}`);
    const slash = url.lastIndexOf('/');
    let type: protobuf.Type | null = null;
    try {
      type = this.#root.lookupType(url.slice(slash + 1));
    } catch {
      type = null;
    }
    if (slash < 0 || type === null) return void out.push(`${join(path, '@type')}: no message ${url} in Envoy's API`);
    const { '@type': _t, ...rest } = value;
    const wellKnown = type.fullName.startsWith('.google.protobuf.') && type.fullName !== '.google.protobuf.Empty';
    // A well-known type inside an Any carries its JSON form under "value" (proto3 JSON mapping).
    this.#value(type, wellKnown ? rest.value : rest, undefined, path, out);
  }
}

function defaultOf(kind: string): unknown {
  if (kind === 'string' || kind === 'bytes') return '';
  if (kind === 'bool') return false;
  return 0;
}
