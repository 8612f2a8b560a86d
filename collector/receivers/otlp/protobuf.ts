// Hand-written decoder for ExportTraceServiceRequest and ExportLogsServiceRequest
// (opentelemetry-proto field numbers). It goes straight from wire bytes to span and log
// records: no generic message objects, ids rendered to hex once, repeated short strings
// interned, resource and scope contexts decoded once for all their items. Every length is
// checked against the enclosing message, nesting is capped, and wire-type mismatches are
// decode errors, so hostile bodies end in a 400, never a hang.

import { OtlpDecodeError } from '../../errors.js';
import { checkLog, checkSpan } from './validate.js';
import {
  Refusals,
  serviceNameOf,
  type Attributes,
  type Decoded,
  type LogRecord,
  type ResourceContext,
  type ScopeContext,
  type SpanEvent,
  type SpanLink,
  type SpanRecord,
} from './model.js';

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_I32 = 5;
/**
 * AnyValue arrays/kvlists nested up to this deep are stored in full (the OpenTelemetry
 * Collector stores them: protobuf-go's recursion limit is 10,000); deeper ones are refused
 * (400), which keeps the decoder's recursion far from the stack's limit.
 */
const MAX_ANY_DEPTH = 128;

// Short strings repeat across spans (attribute keys, most values, span and service names): a
// direct-mapped cache keyed by their bytes returns the same string without decoding (no
// utf8 slice call, no new string to collect). Bounded: a fixed number of slots, overwritten.
const INTERN_MAX_BYTES = 48;
const INTERN_SLOTS = 4096;
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
const internLength = new Int32Array(INTERN_SLOTS).fill(-1);
const internString: string[] = new Array<string>(INTERN_SLOTS).fill('');

// Decimal renderings of small non-negative integers (status codes, ports), made once.
const SMALL_INT_MAX = 65_536;
const smallInts: string[] = [];

/** A non-negative integer's decimal text, as int64() renders it (small ones made once). */
export function decimal(v: number): string {
  return v < SMALL_INT_MAX ? (smallInts[v] ??= String(v)) : String(v);
}

export class Reader {
  readonly buf: Buffer;
  /** The body as a DataView: fixed-width reads are builtins (Buffer's 64-bit reads go through BigInt arithmetic). */
  readonly view: DataView;
  pos: number;
  constructor(buf: Buffer) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
  }

  fail(what: string): never {
    throw new OtlpDecodeError(`invalid protobuf at byte ${this.pos}: ${what}`);
  }

  varint(end: number): number {
    // One byte (every tag of these messages, most lengths): one load and one store of pos,
    // integer only; the loop below does double arithmetic and updates pos per byte.
    const at = this.pos;
    if (at < end) {
      const b0 = this.buf[at]!;
      if (b0 < 0x80) {
        this.pos = at + 1;
        return b0;
      }
    }
    // Values above 2^53 lose precision here; only used for tags, lengths, enums and counts.
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** int64 varint, exact, as a decimal string (negative values arrive as 10-byte two's complement). */
  int64(end: number): string {
    const start = this.pos;
    // Up to 7 bytes (< 2^49) is exact in a double: no BigInt arithmetic for everyday values.
    let small = 0;
    let mul = 1;
    for (let i = 0; i < 7 && this.pos < end; i++) {
      const b = this.buf[this.pos++]!;
      small += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (small < SMALL_INT_MAX) return (smallInts[small] ??= String(small));
        return String(small);
      }
      mul *= 128;
    }
    this.pos = start;
    let lo = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      lo |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, lo).toString();
      shift += 7n;
    }
    this.pos = start;
    return this.fail('varint longer than 10 bytes');
  }

  fixed64(end: number): bigint {
    if (this.pos + 8 > end) this.fail('truncated fixed64');
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed32(end: number): number {
    if (this.pos + 4 > end) this.fail('truncated fixed32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(end: number): number {
    if (this.pos + 8 > end) this.fail('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Reads a length prefix and returns the end offset of the delimited field. */
  len(end: number): number {
    const n = this.varint(end);
    const e = this.pos + n;
    if (e > end) this.fail(`length ${n} exceeds the enclosing message`);
    return e;
  }

  string(end: number): string {
    const e = this.len(end);
    const start = this.pos;
    this.pos = e;
    return this.stringAt(start, e);
  }

  /** The UTF-8 bytes `[start, e)` of the body as a string (short ones interned); pos unchanged. */
  stringAt(start: number, e: number): string {
    const n = e - start;
    if (n > INTERN_MAX_BYTES || n === 0) return n === 0 ? '' : this.buf.toString('utf8', start, e);
    const buf = this.buf;
    // FNV-1a over the bytes picks the slot; a hit needs the same length and the same bytes.
    let h = 0x811c9dc5;
    for (let i = start; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    const slot = (h >>> 0) & (INTERN_SLOTS - 1);
    const base = slot * INTERN_MAX_BYTES;
    if (internLength[slot] === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (internBytes[base + i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return internString[slot]!;
    }
    const str = buf.toString('utf8', start, e);
    // By hand: at these sizes a loop beats a subarray view plus a native copy.
    for (let i = 0; i < n; i++) internBytes[base + i] = buf[start + i]!;
    internLength[slot] = n;
    internString[slot] = str;
    return str;
  }

  /** bytes field rendered as lower-case hex (ids). */
  hex(end: number): string {
    const e = this.len(end);
    const s = this.buf.toString('hex', this.pos, e);
    this.pos = e;
    return s;
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case WT_VARINT:
        this.varint(end);
        return;
      case WT_I64:
        if (this.pos + 8 > end) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.len(end);
        return;
      case WT_I32:
        if (this.pos + 4 > end) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
  }

  expect(wireType: number, want: number, field: string): void {
    if (wireType !== want) this.fail(`field ${field} has wire type ${wireType}, expected ${want}`);
  }
}

type AnyJson = string | number | boolean | null | AnyJson[] | { [k: string]: AnyJson };

/** AnyValue as the exporter's AsString renders it: scalars as text, arrays/maps as JSON. */
export function anyValueString(r: Reader, end: number): string {
  let out = '';
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      r.expect(wt, WT_LEN, 'AnyValue.string_value');
      out = r.string(end);
    } else {
      const v = anyValueOther(r, field, wt, end);
      if (v !== undefined) out = v;
    }
  }
  return out;
}

/**
 * AnyValue's fields other than string_value, rendered as AsString does; undefined for an
 * unknown field (skipped).
 */
export function anyValueOther(r: Reader, field: number, wt: number, end: number): string | undefined {
  switch (field) {
    case 2:
      r.expect(wt, WT_VARINT, 'AnyValue.bool_value');
      return r.varint(end) !== 0 ? 'true' : 'false';
    case 3:
      r.expect(wt, WT_VARINT, 'AnyValue.int_value');
      return r.int64(end);
    case 4:
      r.expect(wt, WT_I64, 'AnyValue.double_value');
      return String(r.double(end));
    case 5:
    case 6: {
      r.expect(wt, WT_LEN, field === 5 ? 'AnyValue.array_value' : 'AnyValue.kvlist_value');
      const e = r.len(end);
      const out = JSON.stringify(field === 5 ? arrayValue(r, e, 1) : kvlistValue(r, e, 1));
      r.pos = e;
      return out;
    }
    case 7: {
      r.expect(wt, WT_LEN, 'AnyValue.bytes_value');
      const e = r.len(end);
      const out = r.buf.toString('base64', r.pos, e);
      r.pos = e;
      return out;
    }
    default:
      r.skip(wt, end);
      return undefined;
  }
}

function anyValueJson(r: Reader, end: number, depth: number): AnyJson {
  let out: AnyJson = null;
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        r.expect(wt, WT_LEN, 'AnyValue.string_value');
        out = r.string(end);
        break;
      case 2:
        r.expect(wt, WT_VARINT, 'AnyValue.bool_value');
        out = r.varint(end) !== 0;
        break;
      case 3: {
        r.expect(wt, WT_VARINT, 'AnyValue.int_value');
        const s = r.int64(end);
        const n = Number(s);
        out = Number.isSafeInteger(n) ? n : s;
        break;
      }
      case 4:
        r.expect(wt, WT_I64, 'AnyValue.double_value');
        out = r.double(end);
        break;
      case 5:
      case 6: {
        r.expect(wt, WT_LEN, field === 5 ? 'AnyValue.array_value' : 'AnyValue.kvlist_value');
        const e = r.len(end);
        out = field === 5 ? arrayValue(r, e, depth + 1) : kvlistValue(r, e, depth + 1);
        r.pos = e;
        break;
      }
      case 7: {
        r.expect(wt, WT_LEN, 'AnyValue.bytes_value');
        const e = r.len(end);
        out = r.buf.toString('base64', r.pos, e);
        r.pos = e;
        break;
      }
      default:
        r.skip(wt, end);
    }
  }
  return out;
}

function arrayValue(r: Reader, end: number, depth: number): AnyJson[] {
  if (depth > MAX_ANY_DEPTH) r.fail(`AnyValue nested deeper than ${MAX_ANY_DEPTH}`);
  const out: AnyJson[] = [];
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag >>> 3 === 1) {
      r.expect(tag & 7, WT_LEN, 'ArrayValue.values');
      const e = r.len(end);
      out.push(anyValueJson(r, e, depth));
      r.pos = e;
    } else r.skip(tag & 7, end);
  }
  return out;
}

function kvlistValue(r: Reader, end: number, depth: number): { [k: string]: AnyJson } {
  if (depth > MAX_ANY_DEPTH) r.fail(`AnyValue nested deeper than ${MAX_ANY_DEPTH}`);
  const out: { [k: string]: AnyJson } = {};
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag >>> 3 === 1) {
      r.expect(tag & 7, WT_LEN, 'KeyValueList.values');
      const e = r.len(end);
      let key = '';
      let value: AnyJson = null;
      while (r.pos < e) {
        const t = r.varint(e);
        if (t >>> 3 === 1) {
          r.expect(t & 7, WT_LEN, 'KeyValue.key');
          key = r.string(e);
        } else if (t >>> 3 === 2) {
          r.expect(t & 7, WT_LEN, 'KeyValue.value');
          const ve = r.len(e);
          value = anyValueJson(r, ve, depth);
          r.pos = ve;
        } else r.skip(t & 7, e);
      }
      out[key] = value;
      r.pos = e;
    } else r.skip(tag & 7, end);
  }
  return out;
}

export function keyValue(r: Reader, end: number, into: Attributes): void {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    if (field === 1) {
      r.expect(tag & 7, WT_LEN, 'KeyValue.key');
      key = r.string(end);
    } else if (field === 2) {
      r.expect(tag & 7, WT_LEN, 'KeyValue.value');
      const e = r.len(end);
      value = anyValueString(r, e);
      r.pos = e;
    } else r.skip(tag & 7, end);
  }
  into.push(key, value);
}

function attributeField(r: Reader, wt: number, end: number, into: Attributes, name: string): void {
  r.expect(wt, WT_LEN, name);
  const e = r.len(end);
  keyValue(r, e, into);
  r.pos = e;
}

export function resource(r: Reader, end: number, schemaUrl: string): ResourceContext {
  const attrs: Attributes = [];
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag >>> 3 === 1) attributeField(r, tag & 7, end, attrs, 'Resource.attributes');
    else r.skip(tag & 7, end);
  }
  return { serviceName: serviceNameOf(attrs), schemaUrl, attributes: attrs };
}

export function scope(r: Reader, end: number, schemaUrl: string): ScopeContext {
  let name = '';
  let version = '';
  const attrs: Attributes = [];
  while (r.pos < end) {
    const tag = r.varint(end);
    switch (tag >>> 3) {
      case 1:
        r.expect(tag & 7, WT_LEN, 'InstrumentationScope.name');
        name = r.string(end);
        break;
      case 2:
        r.expect(tag & 7, WT_LEN, 'InstrumentationScope.version');
        version = r.string(end);
        break;
      case 3:
        attributeField(r, tag & 7, end, attrs, 'InstrumentationScope.attributes');
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  return { name, version, schemaUrl, attributes: attrs };
}

export const EMPTY_RESOURCE: ResourceContext = { serviceName: '', schemaUrl: '', attributes: [] };
export const EMPTY_SCOPE: ScopeContext = { name: '', version: '', schemaUrl: '', attributes: [] };

/**
 * The fields of one envelope level: ResourceX{resource=1, scope_x=2, schema_url=3} and
 * ScopeX{scope=1, items=2, schema_url=3} share this shape. The context message (field 1) may
 * follow its children on the wire, so both are located first and decoded once all is known.
 */
class EnvelopeLevel {
  /** Byte range of field 1 (Resource / InstrumentationScope), or -1 when absent. */
  contextStart = -1;
  contextEnd = -1;
  schemaUrl = '';
  /**
   * [start, end) byte ranges of the repeated field 2, flattened, in the first `childEnds` slots.
   * Kept across bodies: a JS array grown by push per body was ~60 of the decode's ~630 allocated
   * bytes per sidecar span.
   */
  children = new Int32Array(1024);
  childEnds = 0;

  push(start: number, end: number): void {
    if (this.childEnds === this.children.length) {
      const grown = new Int32Array(this.children.length * 2);
      grown.set(this.children);
      this.children = grown;
    }
    this.children[this.childEnds++] = start;
    this.children[this.childEnds++] = end;
  }

  /** Reads one ResourceX/ScopeX message ending at `end` into this level. */
  read(r: Reader, end: number, contextName: string, childrenName: string): void {
    this.contextStart = this.contextEnd = -1;
    this.schemaUrl = '';
    this.childEnds = 0;
    while (r.pos < end) {
      const t = r.varint(end);
      const f = t >>> 3;
      if (f === 1) {
        r.expect(t & 7, WT_LEN, contextName);
        this.contextEnd = r.len(end);
        this.contextStart = r.pos;
        r.pos = this.contextEnd;
      } else if (f === 2) {
        r.expect(t & 7, WT_LEN, childrenName);
        const e = r.len(end);
        this.push(r.pos, e);
        r.pos = e;
      } else if (f === 3) {
        r.expect(t & 7, WT_LEN, 'schema_url');
        this.schemaUrl = r.string(end);
      } else r.skip(t & 7, end);
    }
  }
}

// One walk at a time on the event loop (decodeItem never walks another body): a level each.
const resourceLevel = new EnvelopeLevel();
const scopeLevel = new EnvelopeLevel();

/** Walks Resource{X} → Scope{X} → items, decoding each item with its resource and scope context. */
export function walkEnvelope<T>(
  body: Buffer,
  decodeItem: (r: Reader, end: number, res: ResourceContext, sc: ScopeContext, refusals: Refusals) => T | undefined,
): Decoded<T> {
  const r = new Reader(body);
  const items: T[] = [];
  const refusals = new Refusals();
  const top = body.length;
  while (r.pos < top) {
    const tag = r.varint(top);
    if (tag >>> 3 !== 1) {
      r.skip(tag & 7, top);
      continue;
    }
    r.expect(tag & 7, WT_LEN, 'resource_spans/resource_logs');
    const rEnd = r.len(top);
    resourceLevel.read(r, rEnd, 'resource', 'scope_spans/scope_logs');
    let res = EMPTY_RESOURCE;
    if (resourceLevel.contextStart >= 0) {
      r.pos = resourceLevel.contextStart;
      res = resource(r, resourceLevel.contextEnd, resourceLevel.schemaUrl);
    } else if (resourceLevel.schemaUrl !== '') res = { ...EMPTY_RESOURCE, schemaUrl: resourceLevel.schemaUrl };
    const scopes = resourceLevel.children;
    const scopeEnds = resourceLevel.childEnds;
    for (let i = 0; i < scopeEnds; i += 2) {
      r.pos = scopes[i]!;
      scopeLevel.read(r, scopes[i + 1]!, 'scope', 'spans/log_records');
      let sc = EMPTY_SCOPE;
      if (scopeLevel.contextStart >= 0) {
        r.pos = scopeLevel.contextStart;
        sc = scope(r, scopeLevel.contextEnd, scopeLevel.schemaUrl);
      } else if (scopeLevel.schemaUrl !== '') sc = { ...EMPTY_SCOPE, schemaUrl: scopeLevel.schemaUrl };
      const children = scopeLevel.children;
      const childEnds = scopeLevel.childEnds;
      for (let j = 0; j < childEnds; j += 2) {
        r.pos = children[j]!;
        const item = decodeItem(r, children[j + 1]!, res, sc, refusals);
        if (item !== undefined) items.push(item);
      }
    }
    r.pos = rEnd;
  }
  return { items, rejected: refusals.count, reasons: refusals.reasons };
}

export function event(r: Reader, end: number): SpanEvent {
  const ev: SpanEvent = { timeNs: 0n, name: '', attributes: [] };
  while (r.pos < end) {
    const tag = r.varint(end);
    switch (tag >>> 3) {
      case 1:
        r.expect(tag & 7, WT_I64, 'Event.time_unix_nano');
        ev.timeNs = r.fixed64(end);
        break;
      case 2:
        r.expect(tag & 7, WT_LEN, 'Event.name');
        ev.name = r.string(end);
        break;
      case 3:
        attributeField(r, tag & 7, end, ev.attributes, 'Event.attributes');
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  return ev;
}

export function link(r: Reader, end: number): SpanLink {
  const l: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: [] };
  while (r.pos < end) {
    const tag = r.varint(end);
    switch (tag >>> 3) {
      case 1:
        r.expect(tag & 7, WT_LEN, 'Link.trace_id');
        l.traceId = r.hex(end);
        break;
      case 2:
        r.expect(tag & 7, WT_LEN, 'Link.span_id');
        l.spanId = r.hex(end);
        break;
      case 3:
        r.expect(tag & 7, WT_LEN, 'Link.trace_state');
        l.traceState = r.string(end);
        break;
      case 4:
        attributeField(r, tag & 7, end, l.attributes, 'Link.attributes');
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  return l;
}

// Most spans have neither: one shared empty list each, replaced by its own list at the first
// event or link (two fewer allocations per span).
const NO_EVENTS: SpanEvent[] = [];
const NO_LINKS: SpanLink[] = [];

function span(
  r: Reader,
  end: number,
  res: ResourceContext,
  sc: ScopeContext,
  refusals: Refusals,
): SpanRecord | undefined {
  const s: SpanRecord = {
    resource: res,
    scope: sc,
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    name: '',
    kind: 0,
    startNs: 0n,
    endNs: 0n,
    attributes: [],
    events: NO_EVENTS,
    links: NO_LINKS,
    statusCode: 0,
    statusMessage: '',
  };
  while (r.pos < end) {
    const tag = r.varint(end);
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        r.expect(wt, WT_LEN, 'Span.trace_id');
        s.traceId = r.hex(end);
        break;
      case 2:
        r.expect(wt, WT_LEN, 'Span.span_id');
        s.spanId = r.hex(end);
        break;
      case 3:
        r.expect(wt, WT_LEN, 'Span.trace_state');
        s.traceState = r.string(end);
        break;
      case 4:
        r.expect(wt, WT_LEN, 'Span.parent_span_id');
        s.parentSpanId = r.hex(end);
        break;
      case 5:
        r.expect(wt, WT_LEN, 'Span.name');
        s.name = r.string(end);
        break;
      case 6:
        r.expect(wt, WT_VARINT, 'Span.kind');
        s.kind = r.varint(end);
        break;
      case 7:
        r.expect(wt, WT_I64, 'Span.start_time_unix_nano');
        s.startNs = r.fixed64(end);
        break;
      case 8:
        r.expect(wt, WT_I64, 'Span.end_time_unix_nano');
        s.endNs = r.fixed64(end);
        break;
      case 9:
        attributeField(r, wt, end, s.attributes, 'Span.attributes');
        break;
      case 11: {
        r.expect(wt, WT_LEN, 'Span.events');
        const e = r.len(end);
        if (s.events === NO_EVENTS) s.events = [];
        s.events.push(event(r, e));
        r.pos = e;
        break;
      }
      case 13: {
        r.expect(wt, WT_LEN, 'Span.links');
        const e = r.len(end);
        if (s.links === NO_LINKS) s.links = [];
        s.links.push(link(r, e));
        r.pos = e;
        break;
      }
      case 15: {
        r.expect(wt, WT_LEN, 'Span.status');
        const e = r.len(end);
        while (r.pos < e) {
          const t = r.varint(e);
          if (t >>> 3 === 2) {
            r.expect(t & 7, WT_LEN, 'Status.message');
            s.statusMessage = r.string(e);
          } else if (t >>> 3 === 3) {
            r.expect(t & 7, WT_VARINT, 'Status.code');
            s.statusCode = r.varint(e);
          } else r.skip(t & 7, e);
        }
        break;
      }
      default:
        r.skip(wt, end);
    }
  }
  return checkSpan(s, refusals) ? s : undefined;
}

function logRecord(
  r: Reader,
  end: number,
  res: ResourceContext,
  sc: ScopeContext,
  refusals: Refusals,
): LogRecord | undefined {
  const l: LogRecord = {
    resource: res,
    scope: sc,
    timeNs: 0n,
    observedNs: 0n,
    traceId: '',
    spanId: '',
    flags: 0,
    severityText: '',
    severityNumber: 0,
    body: '',
    attributes: [],
    eventName: '',
  };
  while (r.pos < end) {
    const tag = r.varint(end);
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        r.expect(wt, WT_I64, 'LogRecord.time_unix_nano');
        l.timeNs = r.fixed64(end);
        break;
      case 2:
        r.expect(wt, WT_VARINT, 'LogRecord.severity_number');
        l.severityNumber = r.varint(end);
        break;
      case 3:
        r.expect(wt, WT_LEN, 'LogRecord.severity_text');
        l.severityText = r.string(end);
        break;
      case 5: {
        r.expect(wt, WT_LEN, 'LogRecord.body');
        const e = r.len(end);
        l.body = anyValueString(r, e);
        r.pos = e;
        break;
      }
      case 6:
        attributeField(r, wt, end, l.attributes, 'LogRecord.attributes');
        break;
      case 8:
        r.expect(wt, WT_I32, 'LogRecord.flags');
        l.flags = r.fixed32(end);
        break;
      case 9:
        r.expect(wt, WT_LEN, 'LogRecord.trace_id');
        l.traceId = r.hex(end);
        break;
      case 10:
        r.expect(wt, WT_LEN, 'LogRecord.span_id');
        l.spanId = r.hex(end);
        break;
      case 11:
        r.expect(wt, WT_I64, 'LogRecord.observed_time_unix_nano');
        l.observedNs = r.fixed64(end);
        break;
      case 12:
        r.expect(wt, WT_LEN, 'LogRecord.event_name');
        l.eventName = r.string(end);
        break;
      default:
        r.skip(wt, end);
    }
  }
  return checkLog(l, refusals) ? l : undefined;
}

export function decodeTracesProto(body: Buffer): Decoded<SpanRecord> {
  return walkEnvelope(body, span);
}

export function decodeLogsProto(body: Buffer): Decoded<LogRecord> {
  return walkEnvelope(body, logRecord);
}
