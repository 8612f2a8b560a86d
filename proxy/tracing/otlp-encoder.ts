// OTLP/protobuf ExportTraceServiceRequest bytes straight from span transport records: one
// pass over each record's UTF-8 bytes into one reused buffer, with the same fields, order and
// encoding as the SDK's ProtobufTraceSerializer (byte for byte; a test holds them together).
// Strings are copied as the bytes they already are and every length is known from the record's
// framing before it is written, so nothing is measured twice or moved after the fact except a
// span's own length prefix. The SDK serializer walks span objects twice (size estimate, then
// write) after the records were decoded into those objects; on the export thread that was most
// of the CPU a span cost, CPU that competes with the request thread on small machines.
import type { Attributes } from '@opentelemetry/api';
import { HEAD_FIELDS, KNOWN_KEY_COUNT, knownKey, WireByte, WireField, type WireRecord } from './wire-span.js';

const utf8 = new TextEncoder();

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  let n = 2;
  for (v = Math.floor(v / 0x4000); v > 0; v = Math.floor(v / 0x80)) n++;
  return n;
}

function hexNibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** `0x0a <len> <key>`: a KeyValue's key field for each standard attribute key. */
const KNOWN_KEY_FIELDS: Uint8Array[] = [];
for (let i = 0; i < KNOWN_KEY_COUNT; i++) {
  const key = utf8.encode(knownKey(i));
  KNOWN_KEY_FIELDS.push(Uint8Array.of(0x0a, key.length, ...key));
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

  varint(v: number): void {
    if (v > 0xffffffff) {
      // Beyond 32 bits (only huge int attributes): seven bits at a time without bit operators.
      while (v > 0x7f) {
        this.buf[this.pos++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.pos++] = v;
      return;
    }
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

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

  /** Bytes [start, end) of `src`, as they are. */
  copy(src: Uint8Array, start: number, end: number): void {
    if (end - start > 64) {
      this.buf.set(src.subarray(start, end), this.pos);
      this.pos += end - start;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    for (let i = start; i < end; i++) b[p++] = src[i]!;
    this.pos = p;
  }

  /** Hex digits [start, end) of `src` as length-delimited bytes. */
  hexBytes(src: Uint8Array, start: number, end: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = (end - start) >> 1;
    for (let i = start; i < end; i += 2) b[p++] = (hexNibble(src[i]!) << 4) | hexNibble(src[i + 1]!);
    this.pos = p;
  }
}

/** HrTime [seconds, nanos] as fixed64 nanoseconds since the epoch. */
function writeEpochNanos(w: Writer, seconds: number, nanos: number): void {
  // seconds × 1e9 exceeds 2^53: multiply the high and low 16 bits of the seconds apart.
  const hiPart = Math.floor(seconds / 0x10000) * 1e9; // to be scaled by 2^16
  const loPart = (seconds % 0x10000) * 1e9 + nanos;
  const hiLow16 = hiPart % 0x10000;
  const hiHigh = (hiPart - hiLow16) / 0x10000; // hiPart × 2^16 = hiHigh × 2^32 + hiLow16 × 2^16
  const low = hiLow16 * 0x10000 + (loPart % 0x100000000);
  const high = hiHigh + Math.floor(loPart / 0x100000000) + Math.floor(low / 0x100000000);
  w.fixed64(low >>> 0, high >>> 0);
}

const ascii = new TextDecoder('latin1');

/** The number written in bytes [start, end): plain digits read in place, anything else parsed. */
function numberAt(src: Uint8Array, start: number, end: number): number {
  let v = 0;
  if (end - start <= 15) {
    for (let i = start; i < end; i++) {
      const d = src[i]! - 0x30;
      if (d < 0 || d > 9) return Number(ascii.decode(src.subarray(start, end)));
      v = v * 10 + d;
    }
    if (end > start) return v;
  }
  return Number(ascii.decode(src.subarray(start, end)));
}

/** A KeyValue's tag and length, from the sizes of its key part and its AnyValue. */
function keyValueHead(w: Writer, field: number, keyPart: number, anyLen: number): void {
  w.buf[w.pos++] = (field << 3) | 2;
  w.varint(keyPart + 1 + varintSize(anyLen) + anyLen);
}

/** An AnyValue for a number: int_value for a non-negative safe integer, double_value otherwise. */
function numberValueLength(v: number): number {
  return Number.isSafeInteger(v) && v >= 0 ? 1 + varintSize(v) : 9;
}

function writeNumberValue(w: Writer, v: number): void {
  if (Number.isSafeInteger(v) && v >= 0) {
    w.buf[w.pos++] = 0x18;
    w.varint(v);
  } else {
    w.buf[w.pos++] = 0x21;
    new DataView(w.buf.buffer, w.buf.byteOffset).setFloat64(w.pos, v, true);
    w.pos += 8;
  }
}

/** A KeyValue's tag, length and key, then the AnyValue's tag and length; the value follows. */
function keyValueStart(w: Writer, field: number, keyPart: number, key: Uint8Array, anyLen: number): void {
  keyValueHead(w, field, keyPart, anyLen);
  w.buf[w.pos++] = 0x0a;
  w.varint(key.length);
  w.copy(key, 0, key.length);
  w.buf[w.pos++] = 0x12;
  w.varint(anyLen);
}

/** Attributes given as an object (the resource's), with the same encoding as record attributes. */
function writeAttributes(w: Writer, field: number, attributes: Attributes): void {
  for (const key in attributes) {
    const v = attributes[key];
    const k = utf8.encode(key);
    const keyPart = 1 + varintSize(k.length) + k.length;
    w.ensure(keyPart + 32);
    if (typeof v === 'string') {
      const s = utf8.encode(v);
      const anyLen = 1 + varintSize(s.length) + s.length;
      w.ensure(keyPart + anyLen + 16);
      keyValueStart(w, field, keyPart, k, anyLen);
      w.buf[w.pos++] = 0x0a;
      w.varint(s.length);
      w.copy(s, 0, s.length);
    } else if (typeof v === 'number') {
      keyValueStart(w, field, keyPart, k, numberValueLength(v));
      writeNumberValue(w, v);
    } else if (typeof v === 'boolean') {
      keyValueStart(w, field, keyPart, k, 2);
      w.buf[w.pos++] = 0x10;
      w.buf[w.pos++] = v ? 1 : 0;
    }
  }
}

/** True when every attribute value is one the encoder writes (string, number, boolean). */
export function isPlainAttributes(attributes: Attributes): boolean {
  for (const key in attributes) {
    const t = typeof attributes[key];
    if (t !== 'string' && t !== 'number' && t !== 'boolean') return false;
  }
  return true;
}

/** Start offsets of the ten head fields, plus where the attributes start. */
const heads = new Int32Array(HEAD_FIELDS + 1);

function writeSpan(w: Writer, src: Uint8Array, start: number, end: number): void {
  let at = start;
  for (let f = 0; f < HEAD_FIELDS; f++) {
    heads[f] = at;
    while (at < end && src[at] !== WireByte.Field) at++;
    at++;
  }
  heads[HEAD_FIELDS] = at;
  const fieldEnd = (f: number): number => heads[f + 1]! - 1;
  const nameStart = heads[WireField.Name]!;
  const nameLen = fieldEnd(WireField.Name) - nameStart;
  const stateLen = fieldEnd(WireField.TraceState) - heads[WireField.TraceState]!;
  const hasParent = fieldEnd(WireField.ParentSpanId) > heads[WireField.ParentSpanId]!;

  w.ensure(nameLen + stateLen + 96);
  w.buf[w.pos++] = 0x12; // ScopeSpans.spans, two length bytes reserved (the usual size)
  const lengthAt = w.pos;
  w.pos += 2;
  w.buf[w.pos++] = 0x0a; // trace_id
  w.hexBytes(src, heads[WireField.TraceId]!, fieldEnd(WireField.TraceId));
  w.buf[w.pos++] = 0x12; // span_id
  w.hexBytes(src, heads[WireField.SpanId]!, fieldEnd(WireField.SpanId));
  if (stateLen > 0) {
    w.buf[w.pos++] = 0x1a; // trace_state
    w.varint(stateLen);
    w.copy(src, heads[WireField.TraceState]!, fieldEnd(WireField.TraceState));
  }
  if (hasParent) {
    w.buf[w.pos++] = 0x22; // parent_span_id
    w.hexBytes(src, heads[WireField.ParentSpanId]!, fieldEnd(WireField.ParentSpanId));
  }
  w.buf[w.pos++] = 0x2a; // name
  w.varint(nameLen);
  w.copy(src, nameStart, nameStart + nameLen);
  w.buf[w.pos++] = 0x30; // kind, offset by one (the API has no UNSPECIFIED)
  w.buf[w.pos++] = src[heads[WireField.Kind]!]! - 0x30 + 1;
  w.buf[w.pos++] = 0x39; // start_time_unix_nano
  writeEpochNanos(w, numberAt(src, heads[WireField.StartSeconds]!, fieldEnd(WireField.StartSeconds)), numberAt(src, heads[WireField.StartNanos]!, fieldEnd(WireField.StartNanos)));
  w.buf[w.pos++] = 0x41; // end_time_unix_nano
  writeEpochNanos(w, numberAt(src, heads[WireField.EndSeconds]!, fieldEnd(WireField.EndSeconds)), numberAt(src, heads[WireField.EndNanos]!, fieldEnd(WireField.EndNanos)));

  // Attributes: a key field (GS + index, or the key), then a value field (type + body).
  let pos = heads[HEAD_FIELDS]!;
  while (pos < end) {
    let keyEnd = pos;
    while (keyEnd < end && src[keyEnd] !== WireByte.Field) keyEnd++;
    if (keyEnd >= end) break;
    let valueEnd = keyEnd + 1;
    while (valueEnd < end && src[valueEnd] !== WireByte.Field) valueEnd++;
    const known = src[pos] === WireByte.KnownKey ? KNOWN_KEY_FIELDS[src[pos + 1]! - 0x41]! : null;
    const keyLen = keyEnd - pos;
    const keyPart = known !== null ? known.length : 1 + varintSize(keyLen) + keyLen;
    const type = src[keyEnd + 1];
    const bodyStart = keyEnd + 2;
    const bodyLen = valueEnd - bodyStart;
    let num = 0;
    let anyLen: number;
    if (type === 0x73) anyLen = 1 + varintSize(bodyLen) + bodyLen;
    else if (type === 0x6e) anyLen = numberValueLength((num = numberAt(src, bodyStart, valueEnd)));
    else anyLen = 2;
    w.ensure(keyPart + anyLen + 16);
    keyValueHead(w, 9, keyPart, anyLen);
    if (known !== null) w.copy(known, 0, known.length);
    else {
      w.buf[w.pos++] = 0x0a;
      w.varint(keyLen);
      w.copy(src, pos, keyEnd);
    }
    w.buf[w.pos++] = 0x12;
    w.varint(anyLen);
    if (type === 0x73) {
      w.buf[w.pos++] = 0x0a;
      w.varint(bodyLen);
      w.copy(src, bodyStart, valueEnd);
    } else if (type === 0x6e) {
      writeNumberValue(w, num);
    } else {
      w.buf[w.pos++] = 0x10;
      w.buf[w.pos++] = src[bodyStart] === 0x31 ? 1 : 0;
    }
    pos = valueEnd + 1;
  }

  w.ensure(32);
  const b = w.buf;
  let p = w.pos;
  b[p++] = 0x50; // dropped_attributes_count
  b[p++] = 0;
  b[p++] = 0x60; // dropped_events_count
  b[p++] = 0;
  b[p++] = 0x70; // dropped_links_count
  b[p++] = 0;
  b[p++] = 0x7a; // status { code }
  b[p++] = 2;
  b[p++] = 0x18;
  b[p++] = src[heads[WireField.Error]!] === 0x31 ? 2 : 0;
  // flags (fixed32): sampled, "has is_remote", and is_remote for a remote parent
  b[p++] = 0x85;
  b[p++] = 0x01;
  b[p++] = 0x01;
  b[p++] = hasParent && src[heads[WireField.ParentIsRemote]!] === 0x31 ? 0x03 : 0x01;
  b[p++] = 0;
  b[p++] = 0;
  w.pos = p;

  // The span's length into its two reserved bytes, moving the body when it needs one or 3+.
  const n = p - lengthAt - 2;
  const size = varintSize(n);
  if (size !== 2) {
    w.ensure(size);
    w.buf.copyWithin(lengthAt + size, lengthAt + 2, p);
    w.pos = p + size - 2;
  }
  const tail = w.pos;
  w.pos = lengthAt;
  w.varint(n);
  w.pos = tail;
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
  /** `0x0a <len> Resource`: ResourceSpans.resource. */
  readonly #resourcePart: Uint8Array;
  /** `0x0a <len> InstrumentationScope`: ScopeSpans.scope. */
  readonly #scopePart: Uint8Array;
  /** Room left before the spans for the request's three message heads. */
  readonly #room: number;
  #writer = new Writer(256 * 1024);

  constructor(resourceAttributes: Attributes, scope: EncoderScope) {
    const r = new Writer(256);
    writeAttributes(r, 1, resourceAttributes);
    r.ensure(2);
    r.buf[r.pos++] = 0x10; // dropped_attributes_count
    r.buf[r.pos++] = 0;
    this.#resourcePart = withHead(0x0a, r.buf.subarray(0, r.pos));
    const s = new Writer(64);
    const name = utf8.encode(scope.name);
    const version = utf8.encode(scope.version);
    s.ensure(name.length + version.length + 12);
    s.buf[s.pos++] = 0x0a;
    s.varint(name.length);
    s.copy(name, 0, name.length);
    if (version.length > 0) {
      s.buf[s.pos++] = 0x12;
      s.varint(version.length);
      s.copy(version, 0, version.length);
    }
    this.#scopePart = withHead(0x0a, s.buf.subarray(0, s.pos));
    this.#room = 2 * (1 + 5) + this.#resourcePart.length + this.#scopePart.length;
  }

  /** One ExportTraceServiceRequest carrying `records` (one span each). */
  encode(records: readonly WireRecord[]): Uint8Array {
    const w = this.#writer;
    const room = this.#room;
    w.pos = room;
    for (const r of records) writeSpan(w, r.bytes, r.start, r.end);
    const spansEnd = w.pos;
    // The heads, written right before the spans: resource_spans { resource, scope_spans { scope, spans } }.
    const scopeSpansLen = this.#scopePart.length + (spansEnd - room);
    const resourceSpansLen = this.#resourcePart.length + 1 + varintSize(scopeSpansLen) + scopeSpansLen;
    const headLen = 1 + varintSize(resourceSpansLen) + this.#resourcePart.length + 1 + varintSize(scopeSpansLen) + this.#scopePart.length;
    const start = room - headLen;
    w.pos = start;
    w.buf[w.pos++] = 0x0a;
    w.varint(resourceSpansLen);
    w.copy(this.#resourcePart, 0, this.#resourcePart.length);
    w.buf[w.pos++] = 0x12;
    w.varint(scopeSpansLen);
    w.copy(this.#scopePart, 0, this.#scopePart.length);
    // The exporter may still hold the bytes while the next batch is encoded: hand out a copy
    // and keep the (grown) buffer for reuse.
    return w.buf.slice(start, spansEnd);
  }
}

/** `tag <len> body`. */
function withHead(tag: number, body: Uint8Array): Uint8Array {
  const w = new Writer(body.length + 6);
  w.buf[w.pos++] = tag;
  w.varint(body.length);
  w.copy(body, 0, body.length);
  return w.buf.slice(0, w.pos);
}
