// OTLP/protobuf ExportTraceServiceRequest bytes straight from span transport records: one
// pass over each record's characters into one growing buffer, with the same fields, order
// and encoding as the SDK's ProtobufTraceSerializer (byte for byte; a test holds them
// together). The SDK serializer walks span objects twice (size estimate, then write) after
// the records were decoded into those objects; on the export thread that was most of the
// CPU a span cost, and that CPU competes with the request thread on small machines.
import type { Attributes } from '@opentelemetry/api';
import { HEAD_FIELDS, knownKey, WIRE_FIELD_SEPARATOR, WireField } from './wire-span.js';

const US = WIRE_FIELD_SEPARATOR.charCodeAt(0);
const GS = 0x1d;
const utf8 = new TextEncoder();

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function hexNibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** A growable byte buffer with the protobuf primitives the request needs. */
class Writer {
  buf: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(v: number): void {
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** A 64-bit unsigned integer given as a non-negative safe integer or its two 32-bit halves. */
  fixed64(low: number, high: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = low & 0xff;
    b[p++] = (low >>> 8) & 0xff;
    b[p++] = (low >>> 16) & 0xff;
    b[p++] = low >>> 24;
    b[p++] = high & 0xff;
    b[p++] = (high >>> 8) & 0xff;
    b[p++] = (high >>> 16) & 0xff;
    b[p++] = high >>> 24;
    this.pos = p;
  }

  /** Hex digits [start, end) of `s` as bytes (length-delimited). */
  hexBytes(s: string, start: number, end: number): void {
    const n = (end - start) >> 1;
    this.buf[this.pos++] = n;
    for (let i = start; i < end; i += 2) this.buf[this.pos++] = (hexNibble(s.charCodeAt(i)) << 4) | hexNibble(s.charCodeAt(i + 1));
  }

  /** Characters [start, end) of `s` as a length-delimited UTF-8 string. */
  string(s: string, start: number, end: number): void {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      // Rare (header values are latin1, names come from config): the encoder's UTF-8,
      // which is also what the SDK uses for non-ASCII strings.
      const bytes = utf8.encode(s.slice(start, end));
      this.ensure(bytes.length + 5);
      this.varint(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
      return;
    }
    const n = end - start;
    this.ensure(n + 5);
    this.varint(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = start; i < end; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Characters [start, end) of `s` as UTF-8 byte count. */
  static utf8Length(s: string, start: number, end: number): number {
    let n = end - start;
    for (let i = start; i < end; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        n = utf8.encode(s.slice(start, end)).length;
        break;
      }
    }
    return n;
  }

  /**
   * Writes a length prefix for the `n` bytes already written at `start`, moving them right
   * by the prefix size (the prefix is only known once the message is complete).
   */
  prefixLength(start: number): void {
    const n = this.pos - start;
    const size = varintSize(n);
    this.ensure(size);
    this.buf.copyWithin(start + size, start, this.pos);
    const end = this.pos + size;
    this.pos = start;
    this.varint(n);
    this.pos = end;
  }
}

/** Epoch milliseconds (as the record carries them) to fixed64 nanoseconds, as the SDK rounds. */
function writeEpochNanos(w: Writer, epochMs: number): void {
  const seconds = Math.floor(epochMs / 1000);
  const nanos = Math.round((epochMs - seconds * 1000) * 1e6);
  // seconds × 1e9 exceeds 2^53: multiply the high and low 16 bits of the seconds apart.
  const hiPart = Math.floor(seconds / 0x10000) * 1e9; // × 2^16 below
  const loPart = (seconds % 0x10000) * 1e9 + nanos;
  const hiLow16 = hiPart % 0x10000;
  const hiHigh = (hiPart - hiLow16) / 0x10000; // hiPart × 2^16 = hiHigh × 2^32 + hiLow16 × 2^16
  const low = hiLow16 * 0x10000 + (loPart % 0x100000000);
  const high = hiHigh + Math.floor(loPart / 0x100000000) + Math.floor(low / 0x100000000);
  w.fixed64(low >>> 0, high >>> 0);
}

/** A KeyValue with a string value, both given as ranges of `s`. */
function writeStringAttribute(w: Writer, field: number, key: string, s: string, start: number, end: number): void {
  const keyLen = key.length;
  const valueLen = Writer.utf8Length(s, start, end);
  const anyLen = 1 + varintSize(valueLen) + valueLen;
  const kvLen = 1 + varintSize(keyLen) + keyLen + 1 + varintSize(anyLen) + anyLen;
  w.ensure(kvLen + 10);
  w.byte((field << 3) | 2);
  w.varint(kvLen);
  w.byte(0x0a);
  w.string(key, 0, keyLen);
  w.byte(0x12);
  w.varint(anyLen);
  w.byte(0x0a);
  w.string(s, start, end);
}

/**
 * A KeyValue with a number value: int_value for a non-negative integer (the numbers spans carry
 * are status codes), double_value otherwise.
 */
function writeNumberAttribute(w: Writer, field: number, key: string, v: number): void {
  w.ensure(key.length + 32);
  w.byte((field << 3) | 2);
  const kv = w.pos;
  w.byte(0x0a);
  w.string(key, 0, key.length);
  w.byte(0x12);
  const any = w.pos;
  if (Number.isSafeInteger(v) && v >= 0) {
    w.byte(0x18);
    w.varint(v);
  } else {
    w.byte(0x21);
    new DataView(w.buf.buffer, w.buf.byteOffset).setFloat64(w.pos, v, true);
    w.pos += 8;
  }
  w.prefixLength(any);
  w.prefixLength(kv);
}

function writeBoolAttribute(w: Writer, field: number, key: string, v: boolean): void {
  w.ensure(key.length + 16);
  w.byte((field << 3) | 2);
  const kv = w.pos;
  w.byte(0x0a);
  w.string(key, 0, key.length);
  w.byte(0x12);
  w.byte(2);
  w.byte(0x10);
  w.byte(v ? 1 : 0);
  w.prefixLength(kv);
}

/** True when every attribute value is one the encoder writes (string, number, boolean). */
export function isPlainAttributes(attributes: Attributes): boolean {
  for (const key in attributes) {
    const t = typeof attributes[key];
    if (t !== 'string' && t !== 'number' && t !== 'boolean') return false;
  }
  return true;
}

function writeAttributes(w: Writer, field: number, attributes: Attributes): void {
  for (const key in attributes) {
    const v = attributes[key];
    if (typeof v === 'string') writeStringAttribute(w, field, key, v, 0, v.length);
    else if (typeof v === 'number') writeNumberAttribute(w, field, key, v);
    else if (typeof v === 'boolean') writeBoolAttribute(w, field, key, v);
  }
}

/** Field starts (indexes into the record) of the ten head fields, plus the attributes' start. */
const heads = new Int32Array(HEAD_FIELDS + 1);

function writeSpan(w: Writer, rec: string): void {
  // Locate the head fields.
  let at = 0;
  for (let f = 0; f < HEAD_FIELDS; f++) {
    heads[f] = at;
    const next = rec.indexOf(WIRE_FIELD_SEPARATOR, at);
    at = next === -1 ? rec.length + 1 : next + 1;
  }
  heads[HEAD_FIELDS] = at;
  const fieldEnd = (f: number): number => heads[f + 1]! - 1;

  w.ensure(rec.length * 2 + 128);
  w.byte(0x12); // ScopeSpans.spans
  const span = w.pos;
  w.byte(0x0a); // trace_id
  w.hexBytes(rec, heads[WireField.TraceId]!, fieldEnd(WireField.TraceId));
  w.byte(0x12); // span_id
  w.hexBytes(rec, heads[WireField.SpanId]!, fieldEnd(WireField.SpanId));
  if (fieldEnd(WireField.TraceState) > heads[WireField.TraceState]!) {
    w.byte(0x1a); // trace_state
    w.string(rec, heads[WireField.TraceState]!, fieldEnd(WireField.TraceState));
  }
  const parentStart = heads[WireField.ParentSpanId]!;
  const hasParent = fieldEnd(WireField.ParentSpanId) > parentStart;
  if (hasParent) {
    w.byte(0x22); // parent_span_id
    w.hexBytes(rec, parentStart, fieldEnd(WireField.ParentSpanId));
  }
  w.byte(0x2a); // name
  w.string(rec, heads[WireField.Name]!, fieldEnd(WireField.Name));
  w.ensure(64);
  w.byte(0x30); // kind, offset by one (the API has no UNSPECIFIED)
  w.varint(rec.charCodeAt(heads[WireField.Kind]!) - 0x30 + 1);
  w.byte(0x39); // start_time_unix_nano
  writeEpochNanos(w, Number(rec.slice(heads[WireField.StartMs]!, fieldEnd(WireField.StartMs))));
  w.byte(0x41); // end_time_unix_nano
  writeEpochNanos(w, Number(rec.slice(heads[WireField.EndMs]!, fieldEnd(WireField.EndMs))));

  // Attributes: key field, then value field (type character + body).
  let pos = heads[HEAD_FIELDS]!;
  while (pos < rec.length) {
    const keyEnd = rec.indexOf(WIRE_FIELD_SEPARATOR, pos);
    if (keyEnd === -1) break;
    let valueEnd = rec.indexOf(WIRE_FIELD_SEPARATOR, keyEnd + 1);
    if (valueEnd === -1) valueEnd = rec.length;
    const key = rec.charCodeAt(pos) === GS ? knownKey(rec.charCodeAt(pos + 1) - 0x41) : rec.slice(pos, keyEnd);
    const type = rec.charCodeAt(keyEnd + 1);
    if (type === 0x73) writeStringAttribute(w, 9, key, rec, keyEnd + 2, valueEnd);
    else if (type === 0x6e) writeNumberAttribute(w, 9, key, Number(rec.slice(keyEnd + 2, valueEnd)));
    else writeBoolAttribute(w, 9, key, rec.charCodeAt(keyEnd + 2) === 0x31);
    pos = valueEnd + 1;
  }

  w.ensure(32);
  w.byte(0x50); // dropped_attributes_count
  w.byte(0);
  w.byte(0x60); // dropped_events_count
  w.byte(0);
  w.byte(0x70); // dropped_links_count
  w.byte(0);
  w.byte(0x7a); // status { code }
  w.byte(2);
  w.byte(0x18);
  w.byte(rec.charCodeAt(heads[WireField.Error]!) === 0x31 ? 2 : 0);
  // flags: sampled, "has is_remote", and is_remote for a remote parent (the SDK's span flags)
  const remote = hasParent && rec.charCodeAt(heads[WireField.ParentIsRemote]!) === 0x31;
  w.byte(0x85);
  w.byte(0x01);
  w.byte(0x01);
  w.byte(remote ? 0x03 : 0x01);
  w.byte(0);
  w.byte(0);
  w.prefixLength(span);
}

export interface EncoderScope {
  readonly name: string;
  readonly version: string;
}

/**
 * Encodes requests for one resource and instrumentation scope (an export thread has one of
 * each); their bytes are computed once.
 */
export class OtlpTraceEncoder {
  readonly #resource: Uint8Array;
  readonly #scope: Uint8Array;
  #writer = new Writer(64 * 1024);

  constructor(resourceAttributes: Attributes, scope: EncoderScope) {
    const r = new Writer(256);
    writeAttributes(r, 1, resourceAttributes);
    r.byte(0x10); // dropped_attributes_count
    r.byte(0);
    this.#resource = r.buf.slice(0, r.pos);
    const s = new Writer(64);
    s.byte(0x0a);
    s.string(scope.name, 0, scope.name.length);
    if (scope.version !== '') {
      s.byte(0x12);
      s.string(scope.version, 0, scope.version.length);
    }
    this.#scope = s.buf.slice(0, s.pos);
  }

  /** One ExportTraceServiceRequest carrying `records` (transport records, one span each). */
  encode(records: readonly string[]): Uint8Array {
    const w = this.#writer;
    w.pos = 0;
    const res = this.#resource;
    const scope = this.#scope;
    w.ensure(res.length + scope.length + 32);
    w.byte(0x0a); // resource_spans
    const resourceSpans = w.pos;
    w.byte(0x0a); // resource
    w.varint(res.length);
    w.buf.set(res, w.pos);
    w.pos += res.length;
    w.byte(0x12); // scope_spans
    const scopeSpans = w.pos;
    w.byte(0x0a); // scope
    w.varint(scope.length);
    w.buf.set(scope, w.pos);
    w.pos += scope.length;
    for (const rec of records) writeSpan(w, rec);
    w.prefixLength(scopeSpans);
    w.prefixLength(resourceSpans);
    // The exporter may still hold the bytes while the next batch is encoded: hand out a copy
    // and keep the (grown) buffer for reuse.
    return w.buf.slice(0, w.pos);
  }
}
