// Finished spans as compact records: what the request thread writes per span, and how the span
// export thread turns a batch of them into OTLP `ScopeSpans.spans` fields. The request thread
// copies the raw values (ids, times, the attribute strings) with an attribute's number before
// each, and the export thread writes the protobuf around them: the attribute keys, the nested
// lengths, the ids' hex decoding and the timestamps' nanoseconds. Writing the OTLP on the
// request thread had been about half of what telemetry cost it per request (a CPU profile
// under wrk: 5.5–7.3 µs of 12 µs; in a micro-benchmark 2.4–2.9 µs per span against ~1 µs
// for the record). Attributes that are rare (gRPC, TLS, custom tags) or the same for every
// span of a tracer are written as OTLP bytes already (a raw block), so the record only has
// shapes for the attributes every span carries. The export thread's bytes are those
// beginSpan/stringAttribute/endSpan write (a test holds them together).
//
// Record: kind (1 byte); trace id and span id (a length byte and Latin-1 characters each);
// trace state (length-delimited UTF-8); parent span id (as the ids); name (as trace state);
// start and end (float64 epoch milliseconds); items until END, each an item tag and its value:
//   STRING + attribute number + length-delimited UTF-8; INT + attribute number + varint;
//   CONSTANT + constant number; RAW + 4-byte length + OTLP attribute fields;
//   END + bits (error, remote parent).
import type { ProtoWriter } from '../telemetry/proto-writer.js';
import {
  attributeKey,
  constantStringAttribute,
  endSpan,
  numberAttribute,
  stringAttributeHead,
  writeEpochNanos,
  type AttributeKey,
} from './otlp-span.js';
import { formatResponseFlags } from '../core/stream-info.js';

const STRING = 1;
const INT = 2;
const CONSTANT = 3;
const RAW = 4;
const END = 5;

/** The attributes a record carries by number (their index here): keys encoded once, on either side. */
const ATTRIBUTES = [
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
  'guid:x-request-id',
] as const;
const ATTRIBUTE_KEYS: readonly AttributeKey[] = ATTRIBUTES.map(attributeKey);
/** Key and value bytes up to which a string attribute's three lengths are one byte each (KeyValue ≤ 127). */
const SHORT_ATTRIBUTE = 123;
/**
 * Per attribute, what goes before a short value (one-byte lengths): the field tag, the
 * KeyValue's length, its key, the AnyValue's tag and length, the string's tag and length;
 * the export thread copies it (one native copy: byte loops were most of a conversion's time)
 * and fills in the three lengths.
 */
const SHORT_HEADS: readonly Uint8Array[] = ATTRIBUTE_KEYS.map((key) => {
  const head = new Uint8Array(key.length + 6);
  head[0] = 0x4a;
  head.set(key, 2);
  head[key.length + 2] = 0x12;
  head[key.length + 4] = 0x0a;
  return head;
});

export const SpanAttribute = {
  Method: 0,
  Path: 1,
  Scheme: 2,
  ServerAddress: 3,
  UserAgent: 4,
  StatusCode: 5,
  PeerAddress: 6,
  UpstreamCluster: 7,
  PeerService: 8,
  UpstreamAddress: 9,
  ResponseFlags: 10,
  RequestId: 11,
} as const satisfies Record<string, number>;

function protocolAttributes(version: string): Uint8Array {
  return Buffer.concat([
    constantStringAttribute(attributeKey('network.protocol.name'), 'http'),
    constantStringAttribute(attributeKey('network.protocol.version'), version),
  ]);
}

/** Attribute fields that never change, by number: the protocol the request arrived on, no response flags. */
const CONSTANTS: readonly Uint8Array[] = [
  protocolAttributes('1.0'),
  protocolAttributes('1.1'),
  protocolAttributes('2'),
  constantStringAttribute(attributeKey('response_flags'), formatResponseFlags(0)),
];

export const SpanConstant = { Http10: 0, Http11: 1, Http2: 2, NoResponseFlags: 3 } as const;

/** What a record starts with (the span's fields before its attributes). */
export interface SpanRecordHead {
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** Epoch milliseconds, fractional. */
  startMs: number;
  endMs: number;
}

/** An id's characters (hex digits) as they are; the export thread decodes them. */
function latin1(w: ProtoWriter, s: string): void {
  const b = w.buf;
  let p = w.pos;
  const n = s.length;
  b[p++] = n;
  for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
  w.pos = p;
}

export function beginSpanRecord(w: ProtoWriter, h: SpanRecordHead): void {
  // Ids are at most 32 hex digits (trace-context.ts validates incoming ones).
  w.ensure(1 + 3 * 33 + 16);
  w.byte(h.kind);
  latin1(w, h.traceId);
  latin1(w, h.spanId);
  w.string(h.traceState);
  latin1(w, h.parentSpanId);
  w.string(h.name);
  w.ensure(16);
  w.double(h.startMs);
  w.double(h.endMs);
}

export function recordString(w: ProtoWriter, attribute: number, v: string): void {
  w.ensure(7 + v.length * 3);
  w.byte(STRING);
  w.byte(attribute);
  w.string(v);
}

/** A non-negative integer attribute (a status code). */
export function recordInt(w: ProtoWriter, attribute: number, v: number): void {
  w.ensure(12);
  w.byte(INT);
  w.byte(attribute);
  w.varint(v);
}

export function recordConstant(w: ProtoWriter, constant: number): void {
  w.ensure(2);
  w.byte(CONSTANT);
  w.byte(constant);
}

/** Opens a block of OTLP attribute fields written as they are (otlp-span.ts's writers); returns where it starts. */
export function beginRaw(w: ProtoWriter): number {
  w.ensure(5);
  w.byte(RAW);
  const at = w.pos;
  w.pos += 4;
  return at;
}

export function endRaw(w: ProtoWriter, at: number): void {
  w.buf.writeUInt32LE(w.pos - at - 4, at);
}

/** Attribute fields already encoded (a tracer's node id), as a raw block. */
export function recordRaw(w: ProtoWriter, fields: Uint8Array): void {
  const at = beginRaw(w);
  w.append(fields);
  endRaw(w, at);
}

export function endSpanRecord(w: ProtoWriter, error: boolean, remoteParent: boolean): void {
  w.ensure(2);
  w.byte(END);
  w.byte((error ? 1 : 0) | (remoteParent ? 2 : 0));
}

/** Hex digit values by character code (either case). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = HEX_VALUE[0x41 + i] = 10 + i;

/** Strings up to this many bytes are copied by a loop, longer ones by Buffer#copy (a native call). */
const SHORT_COPY = 64;

function copyBytes(from: Buffer, start: number, end: number, w: ProtoWriter): void {
  const n = end - start;
  if (n > SHORT_COPY) from.copy(w.buf, w.pos, start, end);
  else {
    const b = w.buf;
    let p = w.pos;
    for (let i = start; i < end; i++) b[p++] = from[i]!;
  }
  w.pos += n;
}

/** Reads records and writes their OTLP spans (the export thread's side). */
class RecordReader {
  readonly #r: Buffer;
  pos: number;

  constructor(records: Uint8Array) {
    this.#r = Buffer.from(records.buffer, records.byteOffset, records.length);
    this.pos = 0;
  }

  varint(): number {
    const b = this.#r;
    let v = 0;
    let mul = 1;
    for (;;) {
      const x = b[this.pos++]!;
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 0x80;
    }
  }

  /** An id's hex characters as `length bytes` (what ProtoWriter.hexBytes writes). */
  hexId(w: ProtoWriter): void {
    const b = this.#r;
    const n = b[this.pos++]!;
    w.ensure(1 + (n >> 1));
    const out = w.buf;
    let p = w.pos;
    out[p++] = n >> 1;
    const start = this.pos;
    for (let i = 0; i + 1 < n; i += 2)
      out[p++] = (HEX_VALUE[b[start + i]! & 0x7f]! << 4) | HEX_VALUE[b[start + i + 1]! & 0x7f]!;
    w.pos = p;
    this.pos = start + n;
  }

  /** The next byte, not consumed: an id's or a string's length (0 when empty). */
  lengthByte(): number {
    return this.#r[this.pos]!;
  }

  /** A length-delimited string copied as it is (length and bytes). */
  copyString(w: ProtoWriter): void {
    const start = this.pos;
    const n = this.varint();
    const end = this.pos + n;
    w.ensure(end - start);
    copyBytes(this.#r, start, end, w);
    this.pos = end;
  }

  double(): number {
    const v = this.#r.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  byte(): number {
    return this.#r[this.pos++]!;
  }

  /** A string attribute from the record's UTF-8 bytes. */
  stringAttribute(w: ProtoWriter, attribute: number): void {
    const n = this.varint();
    const head = SHORT_HEADS[attribute]!;
    const keyLength = head.length - 6;
    w.ensure(keyLength + 16 + n);
    if (keyLength + n <= SHORT_ATTRIBUTE) {
      // The bytes stringAttributeHead writes for such a value, copied and filled in.
      const b = w.buf;
      const p = w.pos;
      b.set(head, p);
      b[p + 1] = keyLength + n + 4;
      b[p + keyLength + 3] = n + 2;
      b[p + keyLength + 5] = n;
      w.pos = p + head.length;
    } else stringAttributeHead(w, ATTRIBUTE_KEYS[attribute]!, n);
    copyBytes(this.#r, this.pos, this.pos + n, w);
    this.pos += n;
  }

  raw(w: ProtoWriter): void {
    const n = this.#r.readUInt32LE(this.pos);
    this.pos += 4;
    w.ensure(n);
    copyBytes(this.#r, this.pos, this.pos + n, w);
    this.pos += n;
  }
}

/**
 * One record's span as a `ScopeSpans.spans` field: the bytes otlp-span.ts's beginSpan, the
 * attribute writers and endSpan make of the same span (its head is beginSpan's, from bytes).
 */
function writeSpan(r: RecordReader, w: ProtoWriter): void {
  w.ensure(8);
  w.byte(0x12); // ScopeSpans.spans
  const lengthAt = w.pos;
  w.pos += 2;
  const kind = r.byte();
  w.ensure(1);
  w.byte(0x0a); // trace_id
  r.hexId(w);
  w.ensure(1);
  w.byte(0x12); // span_id
  r.hexId(w);
  // trace_state (length-delimited in the record as in the span), parent_span_id, name.
  if (r.lengthByte() > 0) {
    w.ensure(1);
    w.byte(0x1a);
    r.copyString(w);
  } else r.pos++;
  if (r.lengthByte() > 0) {
    w.ensure(1);
    w.byte(0x22);
    r.hexId(w);
  } else r.pos++;
  w.ensure(1);
  w.byte(0x2a); // name
  r.copyString(w);
  w.ensure(20);
  w.byte(0x30); // kind, offset by one (the API has no UNSPECIFIED)
  w.byte(kind + 1);
  w.byte(0x39); // start_time_unix_nano
  writeEpochNanos(w, r.double());
  w.byte(0x41); // end_time_unix_nano
  writeEpochNanos(w, r.double());
  for (;;) {
    const item = r.byte();
    if (item === STRING) r.stringAttribute(w, r.byte());
    else if (item === INT) {
      const key = ATTRIBUTE_KEYS[r.byte()]!;
      numberAttribute(w, key, r.varint());
    } else if (item === CONSTANT) {
      const c = CONSTANTS[r.byte()]!;
      w.ensure(c.length);
      w.buf.set(c, w.pos);
      w.pos += c.length;
    } else if (item === RAW) r.raw(w);
    else break;
  }
  const bits = r.byte();
  endSpan(w, lengthAt, (bits & 1) !== 0, (bits & 2) !== 0);
}

/** A batch of `count` records as OTLP span fields appended to `w`. */
export function spanRecordsToOtlp(records: Uint8Array, count: number, w: ProtoWriter): void {
  const r = new RecordReader(records);
  for (let i = 0; i < count && r.pos < records.length; i++) writeSpan(r, w);
}
