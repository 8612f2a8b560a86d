// Finished spans as OTLP protobuf, written by the request thread straight into the export
// pipeline's batch buffer: each span is one `ScopeSpans.spans` field (tag, length, Span
// message), with the fields, order and encoding of the SDK's ProtobufTraceSerializer (byte for
// byte; a test holds them together). The export thread wraps a batch of them in an
// ExportTraceServiceRequest for its resource (OtlpTraceRequestFramer) and sends it as it is;
// only exporters that need the SDK's span objects (gRPC, Zipkin) decode them (decodeSpans).
// Writing the protobuf once, here, costs the request thread about what building a transport
// string did, and leaves the export thread no per-span work: on 2 cores its decoding and
// re-encoding took CPU from the request path.
import type { Attributes, HrTime, SpanKind } from '@opentelemetry/api';
import { ProtoWriter, varintSize } from '../telemetry/proto-writer.js';

export const SCOPE = { name: 'meshscope', version: '0.1.0' } as const;

/** A KeyValue's key part, `0x0a <len> <key>`, computed once per key. */
export type AttributeKey = Uint8Array & { readonly __attributeKey: true };

const utf8 = new TextEncoder();

export function attributeKey(key: string): AttributeKey {
  const k = utf8.encode(key);
  const w = new ProtoWriter(k.length + 6);
  w.byte(0x0a);
  w.varint(k.length);
  w.bytes(k);
  return new Uint8Array(w.buf.subarray(0, w.pos)) as AttributeKey;
}

/** What the request thread knows of a finished span besides its attributes. */
export interface SpanHead {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  /** Epoch milliseconds, fractional. */
  startMs: number;
  endMs: number;
  /**
   * Where an id's bytes already are (ids.ts's pool), for ids this process made: copied as they
   * are rather than decoded from their hex strings. Absent or null: the hex string is decoded.
   */
  traceIdBytes?: Uint8Array | null;
  traceIdAt?: number;
  spanIdBytes?: Uint8Array | null;
  spanIdAt?: number;
  parentSpanIdBytes?: Uint8Array | null;
  parentSpanIdAt?: number;
}

/**
 * Epoch milliseconds as fixed64 nanoseconds, rounded as the SDK rounds them (to HrTime
 * [seconds, nanoseconds] first).
 */
function writeEpochNanos(w: ProtoWriter, epochMs: number): void {
  const seconds = Math.floor(epochMs / 1000);
  const nanos = Math.round((epochMs - seconds * 1000) * 1e6);
  // seconds × 1e9 exceeds 2^53: multiply the high and low 16 bits of the seconds apart. No `%`
  // on these doubles (V8 compiles a double modulo to a C call, fmod): a split by a power of two
  // with a division and floor is exact below 2^53 and stays inline.
  const secondsHigh = Math.floor(seconds / 0x10000);
  const hiPart = secondsHigh * 1e9; // to be scaled by 2^16
  const loPart = (seconds - secondsHigh * 0x10000) * 1e9 + nanos;
  const hiHigh = Math.floor(hiPart / 0x10000);
  const hiLow16 = hiPart - hiHigh * 0x10000; // hiPart × 2^16 = hiHigh × 2^32 + hiLow16 × 2^16
  const loHigh = Math.floor(loPart / 0x100000000);
  const low = hiLow16 * 0x10000 + (loPart - loHigh * 0x100000000);
  const high = hiHigh + loHigh + Math.floor(low / 0x100000000);
  w.fixed64(low >>> 0, high >>> 0);
}

/**
 * Opens a span: its field tag, two reserved length bytes (the usual size) and the fields
 * before the attributes. Returns where the length goes, for endSpan.
 */
export function beginSpan(w: ProtoWriter, h: SpanHead): number {
  return beginSpanFields(
    w,
    h.name,
    h.kind,
    h.traceId,
    h.spanId,
    h.parentSpanId,
    h.traceState,
    h.startMs,
    h.endMs,
    h.traceIdBytes ?? null,
    h.traceIdAt ?? 0,
    h.spanIdBytes ?? null,
    h.spanIdAt ?? 0,
    h.parentSpanIdBytes ?? null,
    h.parentSpanIdAt ?? 0,
  );
}

/**
 * beginSpan with the head's fields as arguments: the tracer passes them from its span rather
 * than through a head object, whose stores of a request's young strings and buffers into a
 * long-lived object each took the write barrier's slow path (remembered-set inserts).
 */
export function beginSpanFields(
  w: ProtoWriter,
  name: string,
  kind: SpanKind,
  traceId: string,
  spanId: string,
  parentSpanId: string,
  traceState: string,
  startMs: number,
  endMs: number,
  traceIdBytes: Uint8Array | null,
  traceIdAt: number,
  spanIdBytes: Uint8Array | null,
  spanIdAt: number,
  parentSpanIdBytes: Uint8Array | null,
  parentSpanIdAt: number,
): number {
  w.ensure(96);
  w.byte(0x12); // ScopeSpans.spans
  const lengthAt = w.pos;
  w.pos += 2;
  w.byte(0x0a); // trace_id
  if (traceIdBytes !== null) w.idBytes(traceIdBytes, traceIdAt, 16);
  else w.hexBytes(traceId);
  w.byte(0x12); // span_id
  if (spanIdBytes !== null) w.idBytes(spanIdBytes, spanIdAt, 8);
  else w.hexBytes(spanId);
  if (traceState !== '') {
    w.byte(0x1a); // trace_state
    w.string(traceState);
  }
  if (parentSpanId !== '') {
    w.ensure(20);
    w.byte(0x22); // parent_span_id
    if (parentSpanIdBytes !== null) w.idBytes(parentSpanIdBytes, parentSpanIdAt, 8);
    else w.hexBytes(parentSpanId);
  }
  w.byte(0x2a); // name
  w.string(name);
  w.ensure(24);
  w.byte(0x30); // kind, offset by one (the API has no UNSPECIFIED)
  w.byte(kind + 1);
  w.byte(0x39); // start_time_unix_nano
  writeEpochNanos(w, startMs);
  w.byte(0x41); // end_time_unix_nano
  writeEpochNanos(w, endMs);
  return lengthAt;
}

/** Key and value bytes up to which a string attribute's three lengths are one byte each (KeyValue ≤ 127). */
const SHORT_ATTRIBUTE = 123;

/**
 * `Span.attributes` field head and key, then the AnyValue's tag, length and its value's tag:
 * sized for a string of `valueLength` bytes.
 */
function stringHead(w: ProtoWriter, key: AttributeKey, valueLength: number): void {
  const anyLength = 1 + varintSize(valueLength) + valueLength;
  w.byte(0x4a);
  w.varint(key.length + 1 + varintSize(anyLength) + anyLength);
  w.bytes(key);
  w.byte(0x12);
  w.varint(anyLength);
  w.byte(0x0a);
  w.varint(valueLength);
}

function stringHeadSize(key: AttributeKey, valueLength: number): number {
  const anyLength = 1 + varintSize(valueLength) + valueLength;
  const kvLength = key.length + 1 + varintSize(anyLength) + anyLength;
  return 1 + varintSize(kvLength) + kvLength - valueLength;
}

/** A string attribute. Its UTF-8 length is taken to be its length (ASCII) and fixed up if not. */
export function stringAttribute(w: ProtoWriter, key: AttributeKey, v: string): void {
  w.ensure(key.length + 16 + v.length * 3);
  const at = w.pos;
  if (key.length + v.length <= SHORT_ATTRIBUTE) {
    // The usual case: every length is one byte, filled in once the value is written.
    const b = w.buf;
    b[at] = 0x4a;
    w.pos = at + 2;
    w.bytes(key);
    const anyAt = w.pos;
    b[anyAt] = 0x12;
    b[anyAt + 2] = 0x0a;
    w.pos = anyAt + 4;
    const n = w.utf8(v);
    if (key.length + n <= SHORT_ATTRIBUTE) {
      b[at + 1] = key.length + n + 4;
      b[anyAt + 1] = n + 2;
      b[anyAt + 3] = n;
      return;
    }
    // Multi-byte text too long for one-byte lengths: write it again the general way.
    w.pos = at;
  }
  // Lengths sized for ASCII; multi-byte text moves once if its lengths need other sizes.
  const guess = stringHeadSize(key, v.length);
  w.pos = at + guess;
  const n = w.utf8(v);
  const size = n === v.length ? guess : stringHeadSize(key, n);
  if (size !== guess) w.buf.copyWithin(at + size, at + guess, at + guess + n);
  w.pos = at;
  stringHead(w, key, n);
  w.pos = at + size + n;
}

/** int_value's varint size: a negative int64 is ten bytes of two's complement. */
function int64Size(v: number): number {
  return v >= 0 ? varintSize(v) : 10;
}

function writeInt64(w: ProtoWriter, v: number): void {
  if (v >= 0) {
    w.varint(v);
    return;
  }
  let u = BigInt.asUintN(64, BigInt(v));
  while (u > 0x7fn) {
    w.byte(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  w.byte(Number(u));
}

/** A string attribute whose value never changes (node id, literal custom tags), encoded once. */
export function constantStringAttribute(key: AttributeKey, v: string): Uint8Array {
  const w = new ProtoWriter(key.length + 16 + v.length * 3);
  stringAttribute(w, key, v);
  return new Uint8Array(w.buf.subarray(0, w.pos));
}

/** Values a StringAttributeCache encodes once, per key; past it, a value is encoded per call. */
const CACHED_VALUES_PER_KEY = 256;
/** Longer values are not cached (a client's method token can be long): ~40 KB per key at most. */
const CACHED_VALUE_MAX_LENGTH = 128;

/**
 * Whole string attributes of one key, encoded on first use and appended after: for values that
 * repeat from span to span (the method, the scheme, the upstream cluster and host). Appending
 * the bytes costs about half of encoding them again (~150 against ~280 ns per attribute in a
 * micro-benchmark). A key holds at most CACHED_VALUES_PER_KEY values of at most
 * CACHED_VALUE_MAX_LENGTH characters, so a client choosing values (a method token) cannot grow
 * it without bound; other values are written as before. The bytes are those stringAttribute
 * writes.
 */
export class StringAttributeCache {
  readonly #key: AttributeKey;
  readonly #derive: ((v: string) => string) | null;
  readonly #encoded = new Map<string, Uint8Array>();
  /**
   * The value written last and its bytes, checked before the map: a request's header values
   * are new strings each time, whose hash the map lookup would compute again, where comparing
   * them with the last one's is a length check and a memcmp.
   */
  #lastValue = '';
  #lastBytes: Uint8Array | null = null;

  /**
   * With `derive`, the attribute's value is `derive(v)`, cached by `v`: e.g. server.address by
   * the whole authority, so a repeated authority is neither sliced nor encoded again.
   */
  constructor(key: AttributeKey, derive: ((v: string) => string) | null = null) {
    this.#key = key;
    this.#derive = derive;
  }

  write(w: ProtoWriter, v: string): void {
    if (v === this.#lastValue && this.#lastBytes !== null) return w.append(this.#lastBytes);
    let bytes = this.#encoded.get(v);
    if (bytes === undefined) {
      const value = this.#derive === null ? v : this.#derive(v);
      if (this.#encoded.size >= CACHED_VALUES_PER_KEY || v.length > CACHED_VALUE_MAX_LENGTH)
        return stringAttribute(w, this.#key, value);
      bytes = constantStringAttribute(this.#key, value);
      this.#encoded.set(v, bytes);
    }
    this.#lastValue = v;
    this.#lastBytes = bytes;
    w.append(bytes);
  }
}

/** A number attribute: int_value for a safe integer (as the SDK does), double_value otherwise. */
export function numberAttribute(w: ProtoWriter, key: AttributeKey, v: number): void {
  w.ensure(key.length + 24);
  const isInt = Number.isSafeInteger(v);
  const anyLength = isInt ? 1 + int64Size(v) : 9;
  w.byte(0x4a);
  w.varint(key.length + 1 + varintSize(anyLength) + anyLength);
  w.bytes(key);
  w.byte(0x12);
  w.varint(anyLength);
  if (isInt) {
    w.byte(0x18);
    writeInt64(w, v);
  } else {
    w.byte(0x21);
    w.double(v);
  }
}

export function boolAttribute(w: ProtoWriter, key: AttributeKey, v: boolean): void {
  w.ensure(key.length + 8);
  w.byte(0x4a);
  w.varint(key.length + 4);
  w.bytes(key);
  w.byte(0x12);
  w.byte(2);
  w.byte(0x10);
  w.byte(v ? 1 : 0);
}

/** Closes a span opened by beginSpan: the fields after the attributes, then its length. */
export function endSpan(w: ProtoWriter, lengthAt: number, error: boolean, remoteParent: boolean): void {
  w.ensure(24);
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
  b[p++] = error ? 2 : 0;
  // flags (fixed32): sampled, "has is_remote", and is_remote for a remote parent
  b[p++] = 0x85;
  b[p++] = 0x01;
  b[p++] = 0x01;
  b[p++] = remoteParent ? 0x03 : 0x01;
  b[p++] = 0;
  b[p++] = 0;
  // The length into its two reserved bytes, moving the body when it needs one or 3+.
  const n = p - lengthAt - 2;
  const size = varintSize(n);
  if (size !== 2) {
    w.pos = p;
    w.ensure(size);
    w.buf.copyWithin(lengthAt + size, lengthAt + 2, p);
  }
  w.pos = lengthAt;
  w.varint(n);
  w.pos = lengthAt + size + n;
}

/** Attributes given as an object (a resource's), encoded as span attributes are. */
function writeAttributes(w: ProtoWriter, field: number, attributes: Attributes): void {
  for (const name in attributes) {
    const v = attributes[name];
    const key = attributeKey(name);
    const at = w.pos;
    if (typeof v === 'string') stringAttribute(w, key, v);
    else if (typeof v === 'number') numberAttribute(w, key, v);
    else if (typeof v === 'boolean') boolAttribute(w, key, v);
    // The span encoders write Span.attributes (field 9); other messages number it otherwise.
    if (w.pos > at) w.buf[at] = (field << 3) | 2;
  }
}

/** `tag <len> body`. */
function withHead(tag: number, body: Uint8Array): Uint8Array {
  const w = new ProtoWriter(body.length + 6);
  w.byte(tag);
  w.varint(body.length);
  w.bytes(body);
  return new Uint8Array(w.buf.subarray(0, w.pos));
}

/**
 * Wraps batches of span fields in ExportTraceServiceRequests for one resource and
 * instrumentation scope, whose bytes are computed once.
 */
export class OtlpTraceRequestFramer {
  /** `0x0a <len> Resource`: ResourceSpans.resource. */
  readonly #resourcePart: Uint8Array;
  /** `0x0a <len> InstrumentationScope`: ScopeSpans.scope. */
  readonly #scopePart: Uint8Array;

  constructor(resourceAttributes: Attributes, scope: { readonly name: string; readonly version: string }) {
    const r = new ProtoWriter(256);
    writeAttributes(r, 1, resourceAttributes);
    r.ensure(2);
    r.byte(0x10); // dropped_attributes_count
    r.byte(0);
    this.#resourcePart = withHead(0x0a, r.buf.subarray(0, r.pos));
    const s = new ProtoWriter(64);
    s.byte(0x0a);
    s.string(scope.name);
    if (scope.version !== '') {
      s.byte(0x12);
      s.string(scope.version);
    }
    this.#scopePart = withHead(0x0a, s.buf.subarray(0, s.pos));
  }

  /** The most bytes that go before the spans (lengths as five-byte varints): leave this much free ahead of them. */
  get maxPrefixLength(): number {
    return 1 + 5 + this.#resourcePart.length + 1 + 5 + this.#scopePart.length;
  }

  /**
   * One request: resource_spans { resource, scope_spans { scope, spans } }. Written in place,
   * into the bytes just before `spans` in its buffer, when they are free (the export pipeline
   * leaves maxPrefixLength there); else into a new buffer.
   */
  frame(spans: Uint8Array): Uint8Array {
    const scopeSpansLength = this.#scopePart.length + spans.length;
    const resourceSpansLength = this.#resourcePart.length + 1 + varintSize(scopeSpansLength) + scopeSpansLength;
    const prefixLength = 1 + varintSize(resourceSpansLength) + resourceSpansLength - spans.length;
    const inPlace = spans.byteOffset >= prefixLength;
    const w = new ProtoWriter(
      inPlace
        ? Buffer.from(spans.buffer, spans.byteOffset - prefixLength, prefixLength + spans.length)
        : Buffer.allocUnsafe(prefixLength + spans.length),
    );
    w.byte(0x0a);
    w.varint(resourceSpansLength);
    w.bytes(this.#resourcePart);
    w.byte(0x12);
    w.varint(scopeSpansLength);
    w.bytes(this.#scopePart);
    if (!inPlace) w.bytes(spans);
    return new Uint8Array(w.buf.buffer, w.buf.byteOffset, prefixLength + spans.length);
  }
}

/** A span decoded from its OTLP bytes, for exporters that take the SDK's span objects. */
export interface DecodedSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  parentIsRemote: boolean;
  traceState: string;
  startTime: HrTime;
  endTime: HrTime;
  error: boolean;
  attributes: Attributes;
}

const text = new TextDecoder();

/** A reader for the messages this module writes; it trusts them (they never cross a process). */
class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  }

  int64(): number {
    const start = this.pos;
    const v = this.varint();
    if (this.pos - start < 8) return v;
    // Beyond 49 bits (a negative int64 is ten bytes of two's complement): exactly, in BigInt.
    let u = 0n;
    for (let i = this.pos - 1; i >= start; i--) u = (u << 7n) | BigInt(this.buf[i]! & 0x7f);
    return Number(BigInt.asIntN(64, u));
  }

  /** A length-delimited field's [start, end). */
  range(): [number, number] {
    const n = this.varint();
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }

  string(): string {
    const [s, e] = this.range();
    return text.decode(this.buf.subarray(s, e));
  }

  hex(): string {
    const [s, e] = this.range();
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + s, e - s).toString('hex');
  }

  fixed64(): bigint {
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readBigUInt64LE(0);
    this.pos += 8;
    return v;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.range();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unexpected wire type ${wireType} at byte ${this.pos}`);
  }
}

function hrTime(nanos: bigint): HrTime {
  return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
}

function decodeAttribute(r: Reader, end: number, into: Attributes): void {
  let key = '';
  let value: string | number | boolean | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) {
      const [anyStart, anyEnd] = r.range();
      r.pos = anyStart;
      while (r.pos < anyEnd) {
        const t = r.varint();
        if (t === 0x0a) value = r.string();
        else if (t === 0x10) value = r.varint() === 1;
        else if (t === 0x18) value = r.int64();
        else if (t === 0x21) {
          value = Buffer.from(r.buf.buffer, r.buf.byteOffset + r.pos, 8).readDoubleLE(0);
          r.pos += 8;
        } else r.skip(t & 7);
      }
    } else r.skip(tag & 7);
  }
  if (value !== undefined) into[key] = value;
}

/** Span.flags: field 16, fixed32. */
const FLAGS_TAG = (16 << 3) | 5;

function decodeSpan(r: Reader, end: number): DecodedSpan {
  const s: DecodedSpan = {
    name: '',
    kind: 0 as SpanKind,
    traceId: '',
    spanId: '',
    parentSpanId: '',
    parentIsRemote: false,
    traceState: '',
    startTime: [0, 0],
    endTime: [0, 0],
    error: false,
    attributes: {},
  };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        s.traceId = r.hex();
        break;
      case 0x12:
        s.spanId = r.hex();
        break;
      case 0x1a:
        s.traceState = r.string();
        break;
      case 0x22:
        s.parentSpanId = r.hex();
        break;
      case 0x2a:
        s.name = r.string();
        break;
      case 0x30:
        s.kind = (r.varint() - 1) as SpanKind;
        break;
      case 0x39:
        s.startTime = hrTime(r.fixed64());
        break;
      case 0x41:
        s.endTime = hrTime(r.fixed64());
        break;
      case 0x4a: {
        const [attrStart, attrEnd] = r.range();
        r.pos = attrStart;
        decodeAttribute(r, attrEnd, s.attributes);
        r.pos = attrEnd;
        break;
      }
      case 0x7a: {
        const [statusStart, statusEnd] = r.range();
        const status = new Reader(r.buf, statusStart);
        while (status.pos < statusEnd) {
          const t = status.varint();
          if (t === 0x18) s.error = status.varint() === 2;
          else status.skip(t & 7);
        }
        break;
      }
      case FLAGS_TAG:
        // flags (fixed32): bit 9 is is_remote
        s.parentIsRemote = (r.buf[r.pos + 1]! & 0x02) !== 0;
        r.pos += 4;
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return s;
}

/** The spans of a batch of `ScopeSpans.spans` fields, as beginSpan/endSpan wrote them. */
export function decodeSpans(batch: Uint8Array): DecodedSpan[] {
  const r = new Reader(batch, 0);
  const spans: DecodedSpan[] = [];
  while (r.pos < batch.length) {
    const tag = r.varint();
    if (tag !== 0x12) {
      r.skip(tag & 7);
      continue;
    }
    const [start, end] = r.range();
    r.pos = start;
    spans.push(decodeSpan(r, end));
    r.pos = end;
  }
  return spans;
}
