// A finished span as plain data: what the request thread hands to the export thread, and its
// string transport. Type-only imports: the request thread never loads the SDK for this.
import type { Attributes, HrTime, SpanKind } from '@opentelemetry/api';

/** What the request thread knows of a finished span besides its attributes. */
export interface SpanFacts {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  parentIsRemote: boolean;
  traceState: string;
  /** Epoch milliseconds, fractional. */
  startMs: number;
  endMs: number;
  error: boolean;
}

/** A span as the export thread decodes it: times as the SDK's [seconds, nanoseconds]. */
export interface WireSpan extends Omit<SpanFacts, 'startMs' | 'endMs'> {
  startTime: HrTime;
  endTime: HrTime;
  attributes: Attributes;
}

// Transport between threads: spans as one string (fields split by US, spans by RS). Building
// and posting one string is several times cheaper for the request thread than structured-
// cloning objects. Control characters cannot occur in ids or header values the codec
// accepted; any that slip into an attribute are replaced so they cannot break the framing.
// The attribute keys every proxy span carries travel as GS + an index into KNOWN_KEYS: the
// posted string (copied by postMessage, split by the export thread) shrinks by about a third.
const US = '\u001f';
const RS = '\u001e';
const GS = '\u001d';
const FRAMING = /[\u001d-\u001f]/g;

const KNOWN_KEYS = [
  'http.request.method',
  'url.path',
  'url.scheme',
  'server.address',
  'user_agent.original',
  'http.response.status_code',
  'network.peer.address',
  'upstream_cluster',
  'peer.service',
  'upstream.address',
  'response_flags',
  'node_id',
  'component',
  'guid:x-request-id',
] as const;
const KEY_FIELDS = new Map<string, string>(KNOWN_KEYS.map((k, i) => [k, `${US}${GS}${String.fromCharCode(0x41 + i)}${US}`]));

export type KnownAttributeKey = (typeof KNOWN_KEYS)[number];

function clean(v: string): string {
  return v.indexOf(US) === -1 && v.indexOf(RS) === -1 && v.indexOf(GS) === -1 ? v : v.replace(FRAMING, ' ');
}

/**
 * Times travel as the integer seconds and nanoseconds of the SDK's HrTime (rounded as
 * @opentelemetry/core rounds epoch milliseconds): integers print faster than fractional
 * numbers here and parse exactly on the export thread without building a string.
 */
function timeFields(epochMs: number): string {
  const seconds = Math.floor(epochMs / 1000);
  return `${seconds}${US}${Math.round((epochMs - seconds * 1000) * 1e6)}`;
}

/** The fixed fields that open a span's record; attribute fields follow, then WIRE_SPAN_END. */
export function wireSpanHead(w: SpanFacts): string {
  return `${w.traceId}${US}${w.spanId}${US}${w.traceState}${US}${w.parentSpanId}${US}${w.parentIsRemote ? 1 : 0}${US}${w.kind}${US}${timeFields(w.startMs)}${US}${timeFields(w.endMs)}${US}${w.error ? 1 : 0}${US}${clean(w.name)}`;
}

/** The key part of a standard attribute's field, computed once by callers on the hot path. */
export function knownKeyField(key: KnownAttributeKey): string {
  return KEY_FIELDS.get(key)!;
}

/** One string attribute: `keyField` from knownKeyField, or from wireKeyField for any other key. */
export function wireString(keyField: string, v: string): string {
  return `${keyField}s${clean(v)}`;
}

export function wireNumber(keyField: string, v: number): string {
  return `${keyField}n${v}`;
}

/** The key part of an arbitrary attribute's field. */
export function wireKeyField(key: string): string {
  return KEY_FIELDS.get(key) ?? `${US}${clean(key)}${US}`;
}

export const WIRE_SPAN_END = RS;

/** One span as a transport record (the request thread builds the same record field by field). */
export function encodeWireSpan(w: SpanFacts & { attributes: Attributes }): string {
  let out = wireSpanHead(w);
  const attrs = w.attributes;
  for (const key in attrs) {
    const v = attrs[key];
    const field = wireKeyField(key);
    if (typeof v === 'number') out += wireNumber(field, v);
    else if (typeof v === 'string') out += wireString(field, v);
    else if (typeof v === 'boolean') out += `${field}b${v ? 1 : 0}`;
  }
  return out + RS;
}

/** Head fields of a record, in order; attribute key/value fields start at HEAD_FIELDS. */
export const WireField = { TraceId: 0, SpanId: 1, TraceState: 2, ParentSpanId: 3, ParentIsRemote: 4, Kind: 5, StartSeconds: 6, StartNanos: 7, EndSeconds: 8, EndNanos: 9, Error: 10, Name: 11 } as const;
export const HEAD_FIELDS = 12;
/** The framing characters as UTF-8 bytes (single bytes, never inside a multi-byte sequence). */
export const WireByte = { Field: 0x1f, Record: 0x1e, KnownKey: 0x1d } as const;

/** A standard attribute key by its index (a key field is GS + the index as a letter from 'A'). */
export function knownKey(index: number): string {
  return KNOWN_KEYS[index]!;
}

export const KNOWN_KEY_COUNT = KNOWN_KEYS.length;

/** One record inside a batch of UTF-8 encoded records: bytes [start, end), without its RS. */
export interface WireRecord {
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
}

/** Where each record lies in a batch of UTF-8 encoded records: [start, end) pairs. */
export function wireRecordBounds(bytes: Uint8Array): number[] {
  const bounds: number[] = [];
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(WireByte.Record, start);
    if (end === -1) break;
    bounds.push(start, end);
    start = end + 1;
  }
  return bounds;
}

/** One record back into a span. */
export function decodeWireSpan(rec: string): WireSpan {
  const f = rec.split(US);
  const attributes: Attributes = {};
  for (let i = HEAD_FIELDS; i + 1 < f.length; i += 2) {
    const raw = f[i + 1]!;
    const t = raw.charCodeAt(0);
    const body = raw.slice(1);
    const key = f[i]!;
    attributes[key.charCodeAt(0) === 0x1d ? knownKey(key.charCodeAt(1) - 0x41) : key] = t === 0x6e ? Number(body) : t === 0x62 ? body === '1' : body;
  }
  return {
    name: f[WireField.Name]!,
    kind: Number(f[WireField.Kind]) as SpanKind,
    traceId: f[WireField.TraceId]!,
    spanId: f[WireField.SpanId]!,
    parentSpanId: f[WireField.ParentSpanId]!,
    parentIsRemote: f[WireField.ParentIsRemote] === '1',
    traceState: f[WireField.TraceState]!,
    startTime: [Number(f[WireField.StartSeconds]), Number(f[WireField.StartNanos])],
    endTime: [Number(f[WireField.EndSeconds]), Number(f[WireField.EndNanos])],
    error: f[WireField.Error] === '1',
    attributes,
  };
}
