// Envoy's proto3 JSON (snake_case, "@type" on Any, durations as "1.5s", wrappers as bare
// scalars) ⇄ protobuf bytes, driven by Envoy's real API definitions (envoy-api.ts, loaded on
// first use). The JSON side is what the rest of meshscope reads, so gRPC and REST/file
// transports hand the same objects to the same validation. A JSON field the message lacks is
// an error naming its path: silently dropping it on the wire would make gRPC and REST
// configure the proxy differently.
import protobuf from 'protobufjs';
import { XdsClientError } from '../errors.js';
import { envoyApi } from './envoy-api.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonMap = { [key: string]: JsonValue };

export class ProtoCodecError extends XdsClientError {
  constructor(path: string, message: string) {
    super('MS_ERR_XDS_PROTO', `${path === '' ? '(root)' : path}: ${message}`);
  }
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';
const WRAPPERS = new Set([
  '.google.protobuf.UInt32Value',
  '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value',
  '.google.protobuf.Int64Value',
  '.google.protobuf.BoolValue',
  '.google.protobuf.FloatValue',
  '.google.protobuf.DoubleValue',
  '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);

// protobufjs computes `fullName` and name lookups by walking the namespace tree; both sit on
// the per-field path here, so they are resolved once per type.
const typesByName = new Map<string, protobuf.Type | null>();
const fullNames = new WeakMap<protobuf.Type, string>();

function lookup(name: string): protobuf.Type | null {
  let t = typesByName.get(name);
  if (t === undefined) {
    const api = envoyApi(); // a load failure is not a missing type: let it surface
    try {
      t = api.lookupType(name);
    } catch {
      t = null;
    }
    typesByName.set(name, t);
  }
  return t;
}

function lookupType(name: string): protobuf.Type {
  const t = lookup(name);
  if (t === null) throw new ProtoCodecError('', `no protobuf definition of ${name}`);
  return t;
}

function fullNameOf(type: protobuf.Type): string {
  let n = fullNames.get(type);
  if (n === undefined) {
    n = type.fullName;
    fullNames.set(type, n);
  }
  return n;
}

/** True when the schema knows the message a type URL names. */
export function knowsTypeUrl(typeUrl: string): boolean {
  return typeUrl.startsWith(TYPE_URL_PREFIX) && lookup(typeUrl.slice(TYPE_URL_PREFIX.length)) !== null;
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
}

const DURATION_TEXT = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/;

function durationToProto(v: JsonValue, path: string): { seconds: number; nanos: number } {
  if (typeof v === 'string') {
    const m = DURATION_TEXT.exec(v);
    if (m === null) throw new ProtoCodecError(path, `invalid duration '${v}' (expected e.g. "1.5s")`);
    const sign = m[1] === '-' ? -1 : 1;
    return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0') || '0') };
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return { seconds: Number(v.seconds ?? 0), nanos: Number(v.nanos ?? 0) };
  }
  throw new ProtoCodecError(path, 'expected a duration string');
}

function timestampToProto(v: JsonValue, path: string): { seconds: number; nanos: number } {
  // RFC 3339 as proto3 JSON writes it: `2026-01-02T03:04:05.123456789Z` (any offset accepted).
  const m = typeof v === 'string' ? /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(v) : null;
  const ms = m === null ? Number.NaN : Date.parse(`${m[1]}${m[3]}`);
  if (m === null || Number.isNaN(ms)) throw new ProtoCodecError(path, `invalid timestamp ${JSON.stringify(v)}`);
  return { seconds: Math.floor(ms / 1000), nanos: Number((m[2] ?? '').padEnd(9, '0') || '0') };
}

function timestampToJson(seconds: number, nanos: number): string {
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return nanos === 0 ? `${base}Z` : `${base}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z`;
}

function durationToJson(seconds: number, nanos: number): string {
  if (nanos === 0) return `${seconds}s`;
  const total = seconds + nanos / 1e9;
  return `${total.toFixed(9).replace(/0+$/, '')}s`;
}

function valueToProto(v: JsonValue): Record<string, unknown> {
  if (v === null) return { null_value: 0 };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(valueToProto) } };
  return { struct_value: structToProto(v) };
}

function structToProto(v: JsonMap): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) fields[k] = valueToProto(x);
  return { fields };
}

/** Builds the protobufjs plain object for `type` from Envoy JSON, checking every key. */
function messageToProto(type: protobuf.Type, json: JsonValue, path: string): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ProtoCodecError(path, `expected an object for ${type.name}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key];
    if (field === undefined)
      throw new ProtoCodecError(join(path, key), `field not in Envoy's ${fullNameOf(type).slice(1)}`);
    if (value === null) continue;
    const fpath = join(path, key);
    if (field.map) {
      if (typeof value !== 'object' || Array.isArray(value)) throw new ProtoCodecError(fpath, 'expected a map');
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(value)) m[mk] = fieldValueToProto(field, mv, join(fpath, mk));
      out[key] = m;
    } else if (field.repeated) {
      // Envoy's loader (protobuf's JSON parser) takes a single value for a repeated field as a
      // one-item list; Envoy's own dynamic-config-fs example relies on it.
      const items = Array.isArray(value) ? value : [value];
      out[key] = items.map((item, i) => fieldValueToProto(field, item, join(fpath, i)));
    } else {
      out[key] = fieldValueToProto(field, value, fpath);
    }
  }
  return out;
}

function fieldValueToProto(field: protobuf.Field, value: JsonValue, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string') {
      if (!(value in resolved.values)) throw new ProtoCodecError(path, `unknown ${resolved.name} value '${value}'`);
      return resolved.values[value];
    }
    if (typeof value === 'number') return value;
    throw new ProtoCodecError(path, `expected a ${resolved.name} name`);
  }
  if (resolved instanceof protobuf.Type) return wellKnownToProto(resolved, value, path);
  if (field.type === 'bytes' && typeof value === 'string') return Buffer.from(value, 'base64');
  if (field.type === 'string' && typeof value !== 'string') throw new ProtoCodecError(path, 'expected a string');
  if (field.type === 'bool' && typeof value !== 'boolean') throw new ProtoCodecError(path, 'expected a boolean');
  if (field.type !== 'string' && field.type !== 'bool' && field.type !== 'bytes') {
    const n = typeof value === 'string' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n))
      throw new ProtoCodecError(path, `expected a number (${field.type})`);
    return n;
  }
  return value;
}

function wellKnownToProto(type: protobuf.Type, value: JsonValue, path: string): Record<string, unknown> {
  const name = fullNameOf(type);
  if (name === '.google.protobuf.Duration') return durationToProto(value, path);
  if (name === '.google.protobuf.Timestamp') return timestampToProto(value, path);
  if (WRAPPERS.has(name)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return messageToProto(type, value, path);
    const inner = type.fields.value as protobuf.Field;
    return { value: fieldValueToProto(inner, value, path) };
  }
  if (name === '.google.protobuf.Struct') {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new ProtoCodecError(path, 'expected an object');
    return structToProto(value);
  }
  if (name === '.google.protobuf.Value') return valueToProto(value);
  if (name === '.google.protobuf.Any') return anyToProto(value, path);
  return messageToProto(type, value, path);
}

// Encoded Anys are cached per resource object: a push to N nodes sharing a resource object
// encodes it once.
const anyCache = new WeakMap<object, Uint8Array>();

function anyToProto(value: JsonValue, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ProtoCodecError(path, 'expected an object with @type');
  const typeUrl = value['@type'];
  if (typeof typeUrl !== 'string') throw new ProtoCodecError(join(path, '@type'), 'required');
  const cached = anyCache.get(value);
  if (cached !== undefined) return { type_url: typeUrl, value: cached };
  if (!knowsTypeUrl(typeUrl)) throw new ProtoCodecError(join(path, '@type'), `no protobuf definition of ${typeUrl}`);
  const { '@type': _t, ...rest } = value;
  const bytes = encodeMessage(typeUrl.slice(TYPE_URL_PREFIX.length), rest, path);
  anyCache.set(value, bytes);
  return { type_url: typeUrl, value: bytes };
}

// An Any's own bytes (type_url and value fields), cached per resource object like its value:
// a server writing the same resource to many streams concatenates these instead of encoding
// a response message per stream.
const anyMessageCache = new WeakMap<object, Uint8Array>();

/** The `google.protobuf.Any` message for an "@type"-tagged resource, encoded once per object. */
export function encodeAnyMessage(value: JsonMap): Uint8Array {
  let bytes = anyMessageCache.get(value);
  if (bytes === undefined) {
    const any = lookupType('google.protobuf.Any');
    bytes = any.encode(any.fromObject(anyToProto(value, ''))).finish();
    anyMessageCache.set(value, bytes);
  }
  return bytes;
}

/** Encodes Envoy JSON as the named message (`envoy.config.cluster.v3.Cluster`). */
export function encodeMessage(fullName: string, json: JsonValue, path = ''): Uint8Array {
  const type = lookupType(fullName);
  const plain = messageToProto(type, json, path);
  return type.encode(type.fromObject(plain)).finish();
}

type Decoded = Record<string, unknown>;

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (v !== null && typeof v === 'object' && 'toString' in v) return Number(String(v));
  return Number(v);
}

function messageToJson(type: protobuf.Type, msg: Decoded): JsonMap {
  const out: JsonMap = {};
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(msg, field.name)) continue;
    const v = msg[field.name];
    if (v === undefined || v === null) continue;
    if (field.map) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) continue;
      const m: JsonMap = {};
      for (const [k, x] of entries) m[k] = fieldValueToJson(field, x);
      out[field.name] = m;
    } else if (field.repeated) {
      const arr = v as unknown[];
      if (arr.length === 0) continue;
      out[field.name] = arr.map((x) => fieldValueToJson(field, x));
    } else {
      out[field.name] = fieldValueToJson(field, v);
    }
  }
  return out;
}

function fieldValueToJson(field: protobuf.Field, v: unknown): JsonValue {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return resolved.valuesById[v as number] ?? (v as number);
  if (resolved instanceof protobuf.Type) return wellKnownToJson(resolved, v as Decoded);
  if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  if (field.type === 'string' || field.type === 'bool') return v as string | boolean;
  return toNumber(v);
}

function valueToJson(v: Decoded): JsonValue {
  if ('number_value' in v) return v.number_value as number;
  if ('string_value' in v) return v.string_value as string;
  if ('bool_value' in v) return v.bool_value as boolean;
  if ('struct_value' in v) return structToJson(v.struct_value as Decoded);
  if ('list_value' in v) return (((v.list_value as Decoded).values as Decoded[] | undefined) ?? []).map(valueToJson);
  return null;
}

function structToJson(v: Decoded): JsonMap {
  const out: JsonMap = {};
  for (const [k, x] of Object.entries((v.fields as Record<string, Decoded> | undefined) ?? {})) out[k] = valueToJson(x);
  return out;
}

function wellKnownToJson(type: protobuf.Type, v: Decoded): JsonValue {
  const name = fullNameOf(type);
  if (name === '.google.protobuf.Duration') return durationToJson(toNumber(v.seconds ?? 0), toNumber(v.nanos ?? 0));
  if (name === '.google.protobuf.Timestamp') return timestampToJson(toNumber(v.seconds ?? 0), toNumber(v.nanos ?? 0));
  if (WRAPPERS.has(name)) {
    const inner = type.fields.value as protobuf.Field;
    const x = v.value;
    if (x === undefined) return inner.type === 'bool' ? false : inner.type === 'string' ? '' : 0;
    return fieldValueToJson(inner, x);
  }
  if (name === '.google.protobuf.Struct') return structToJson(v);
  if (name === '.google.protobuf.Value') return valueToJson(v);
  if (name === '.google.protobuf.Any')
    return decodeAny(String(v.type_url ?? ''), (v.value as Uint8Array | undefined) ?? new Uint8Array());
  return messageToJson(type, v);
}

function wireTypeFits(field: protobuf.Field, wireType: number): boolean {
  if (field.map || field.resolvedType instanceof protobuf.Type) return wireType === 2;
  if (field.resolvedType instanceof protobuf.Enum) return wireType === 0 || (field.repeated && wireType === 2);
  const expected = (protobuf.types.basic as Record<string, number | undefined>)[field.type];
  if (expected === undefined) return true;
  return wireType === expected || (field.repeated && wireType === 2);
}

/**
 * Field paths (by name, unknown ones as `<field N>`) present on the wire but absent from the
 * schema. protobufjs skips such fields silently; a resource must not lose configuration that
 * way, so they are surfaced for validation to refuse.
 */
function unknownFields(type: protobuf.Type, bytes: Uint8Array): string[] {
  const out: string[] = [];
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    const field = type.fieldsById[id];
    if (field === undefined) {
      out.push(`<field ${id}>`);
      reader.skipType(wireType);
      continue;
    }
    const nested = field.resolvedType;
    if (!wireTypeFits(field, wireType)) {
      // protobufjs would skip or misread it; a sender and meshscope disagreeing on a field's type is refused.
      out.push(`<field ${id} (${field.name}) sent with wire type ${wireType}>`);
      reader.skipType(wireType);
      continue;
    }
    // Any payloads are checked when they are decoded; maps hold entries, not the value type.
    if (
      wireType === 2 &&
      nested instanceof protobuf.Type &&
      !field.map &&
      fullNameOf(nested) !== '.google.protobuf.Any'
    ) {
      const length = reader.uint32();
      const sub = bytes.subarray(reader.pos, reader.pos + length);
      reader.pos += length;
      for (const u of unknownFields(nested, sub)) out.push(`${field.name}.${u}`);
    } else {
      reader.skipType(wireType);
    }
  }
  return out;
}

/**
 * Decodes an Any's payload into Envoy JSON with `@type`. What the schema cannot represent —
 * an unknown type URL, unknown fields — is kept as marker keys, so the proxy's strict
 * validation refuses the resource (NACK) with the location instead of losing it silently.
 */
export function decodeAny(typeUrl: string, value: Uint8Array): JsonMap {
  const type = typeUrl.startsWith(TYPE_URL_PREFIX) ? lookup(typeUrl.slice(TYPE_URL_PREFIX.length)) : null;
  if (type === null) return { '@type': typeUrl, "<payload of a type not in Envoy's API>": true };
  let decoded: Decoded;
  try {
    decoded = type.decode(value) as unknown as Decoded;
  } catch (err) {
    // A known field with the wrong wire type, or a truncated message: refused, not guessed at.
    return { '@type': typeUrl, [`<undecodable protobuf payload: ${(err as Error).message}>`]: true };
  }
  const json: JsonMap = { '@type': typeUrl, ...messageToJson(type, decoded) };
  for (const u of unknownFields(type, value)) json[`<unknown protobuf field ${u}>`] = true;
  return json;
}

/**
 * A resource (`@type` + fields) as Envoy's loader reads it from a file: through its message, so
 * proto3 JSON's forms (enum numbers, a single value for a list) come out in the one form the
 * proxy's schemas read. A resource the message cannot take is returned as given, for the proxy's
 * validation to refuse with its path.
 */
export function asEnvoyReadsIt(resource: JsonMap): JsonMap {
  const typeUrl = resource['@type'];
  if (typeof typeUrl !== 'string' || !knowsTypeUrl(typeUrl)) return resource;
  const { '@type': _t, ...body } = resource;
  let bytes: Uint8Array;
  try {
    bytes = encodeMessage(typeUrl.slice(TYPE_URL_PREFIX.length), body);
  } catch (err) {
    if (err instanceof ProtoCodecError) return resource;
    throw err;
  }
  return decodeAny(typeUrl, bytes);
}

/** Decodes bytes of the named message into Envoy JSON. */
export function decodeMessage(fullName: string, bytes: Uint8Array): JsonMap {
  const type = lookupType(fullName);
  return messageToJson(type, type.decode(bytes) as unknown as Decoded);
}
