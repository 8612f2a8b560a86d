// A finished span as plain data: what the request thread hands to the export thread, and its
// string transport. Type-only imports: the request thread never loads the SDK for this.
import type { Attributes, SpanKind } from '@opentelemetry/api';

export interface WireSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  parentIsRemote: boolean;
  traceState: string;
  startMs: number;
  endMs: number;
  error: boolean;
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
 * The fixed fields that open a span's record; attribute fields follow, then WIRE_SPAN_END.
 * The ids come first at fixed offsets (trace id 0–32, span id 33–49, trace state from 50),
 * so the export thread reads a span's context without splitting the record.
 */
export function wireSpanHead(w: Omit<WireSpan, 'attributes'>): string {
  return `${w.traceId}${US}${w.spanId}${US}${w.traceState}${US}${w.parentSpanId}${US}${w.parentIsRemote ? 1 : 0}${US}${w.kind}${US}${w.startMs}${US}${w.endMs}${US}${w.error ? 1 : 0}${US}${clean(w.name)}`;
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
export function encodeWireSpan(w: WireSpan): string {
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
export const WireField = { TraceId: 0, SpanId: 1, TraceState: 2, ParentSpanId: 3, ParentIsRemote: 4, Kind: 5, StartMs: 6, EndMs: 7, Error: 8, Name: 9 } as const;
export const HEAD_FIELDS = 10;
export const WIRE_FIELD_SEPARATOR = US;

/** A standard attribute key by its index (a key field is GS + the index as a letter from 'A'). */
export function knownKey(index: number): string {
  return KNOWN_KEYS[index]!;
}

/** The records of a transport string (each without its RS). */
export function splitWireRecords(s: string): string[] {
  const out = s.split(RS);
  if (out[out.length - 1] === '') out.pop();
  return out;
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
    startMs: Number(f[WireField.StartMs]),
    endMs: Number(f[WireField.EndMs]),
    error: f[WireField.Error] === '1',
    attributes,
  };
}
