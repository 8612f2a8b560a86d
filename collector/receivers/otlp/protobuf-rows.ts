// ExportTraceServiceRequest straight to otel_traces rows (RowBinary) or columns (the ingest
// path's decoder, decodeTracesToColumns). decodeTracesProto builds a SpanRecord per span (a string for every id, name and
// attribute) that writeSpanRow then encodes; this walks each span once to find its fields and
// writes its row from the wire bytes: ids hex-encoded into the row, ASCII copied, timestamps'
// bytes as they are. JS strings are made only for the spans the service graph pairs (SERVER,
// CLIENT, PRODUCER, CONSUMER) and, of their attributes, only for the keys it reads. The rows
// are byte for byte what writeSpanRow writes for decodeTracesProto's records, and the same
// spans are refused for the same reasons (test/collector/protobuf-rows.test.ts holds both).
// decodeTracesToColumns walks the spans the same way and writes each
// field into its column's stream instead (storage/clickhouse/span-columns.ts); its rows are
// stored exactly as these (test/collector/native-columns.test.ts).

import type { RowBinaryWriter } from '../../storage/clickhouse/rowbinary.js';
import { S, type SpanColumnsWriter, secondsOf } from '../../storage/clickhouse/span-columns.js';
import {
  type Refusals,
  SPAN_KIND_CLIENT,
  SPAN_KIND_CONSUMER,
  SPAN_KIND_PRODUCER,
  SPAN_KIND_SERVER,
  STATUS_CODE_ERROR,
  findAttribute,
  spanKindName,
  spanResourceBytes,
  spanScopeBytes,
  statusCodeName,
  writeEventsAndLinks,
  type Attributes,
  type GraphSpan,
  type ResourceContext,
  type ScopeContext,
  type SpanEvent,
  type SpanLink,
} from './model.js';
import {
  anyValueOther,
  anyValueString,
  decimal,
  event,
  keyValue,
  link,
  type Reader,
  walkEnvelope,
  WT_I64,
  WT_LEN,
  WT_VARINT,
} from './protobuf.js';

export interface SpanRowsOptions {
  /** Span attributes the service graph reads: the only ones made into JS strings. */
  graphKeys: ReadonlySet<string>;
  /** Accepted start times, nanoseconds, inclusive. */
  minNs: bigint;
  maxNs: bigint;
  /** The refusal reason for a start time outside [minNs, maxNs]. */
  outside(startNs: bigint): string;
}

export interface SpanRows {
  /** Rows written: the accepted spans. */
  count: number;
  /** The accepted spans the service graph pairs, with only the attributes it reads. */
  graph: GraphSpan[];
  rejected: number;
  /** First few refusal reasons, for the partial-success error_message. */
  reasons: string[];
}

const NO_EVENTS: SpanEvent[] = [];
const NO_LINKS: SpanLink[] = [];
const TWO_32 = 4294967296;
/** DateTime64(9) ends at Int64's top: the high word of a later time has its top bit set. */
const MAX_HIGH_WORD = 0x7fffffff;
const MAX_NANOS = 2n ** 63n - 1n;

/** Where one span's fields sit in the body (the last occurrence of each, as a decoder keeps). */
class SpanFields {
  traceId = -1;
  traceIdEnd = -1;
  spanId = -1;
  spanIdEnd = -1;
  traceState = 0;
  traceStateEnd = 0;
  parent = 0;
  parentEnd = 0;
  name = 0;
  nameEnd = 0;
  kind = 0;
  /** Offsets of the 8 bytes of start/end_time_unix_nano, or -1. */
  start = -1;
  end = -1;
  statusCode = 0;
  statusMessage = 0;
  statusMessageEnd = 0;
  /**
   * [start, end) of each KeyValue of Span.attributes, flattened, in the first `attributeEnds`
   * slots. A typed array kept across spans: a JS array emptied per span (length = 0 drops its
   * backing store) was regrown for every span, 550 of the decode's 1,260 allocated bytes per
   * sidecar span.
   */
  attributes = new Int32Array(64);
  attributeEnds = 0;
  events: SpanEvent[] = NO_EVENTS;
  links: SpanLink[] = NO_LINKS;

  reset(): void {
    this.traceId = this.traceIdEnd = this.spanId = this.spanIdEnd = -1;
    this.traceState = this.traceStateEnd = this.parent = this.parentEnd = this.name = this.nameEnd = 0;
    this.kind = this.statusCode = this.statusMessage = this.statusMessageEnd = 0;
    this.start = this.end = -1;
    this.attributeEnds = 0;
    this.events = NO_EVENTS;
    this.links = NO_LINKS;
  }
}

// One decode at a time on the event loop: the field table is reused for every span.
const f = new SpanFields();

/** A length-delimited field's [start, end): returns its end, leaves r.pos at its start. */
function delimited(r: Reader, wt: number, end: number, name: string): number {
  r.expect(wt, WT_LEN, name);
  return r.len(end);
}

function scanSpan(r: Reader, end: number): void {
  f.reset();
  while (r.pos < end) {
    const tag = r.varint(end);
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        f.traceIdEnd = delimited(r, wt, end, 'Span.trace_id');
        f.traceId = r.pos;
        r.pos = f.traceIdEnd;
        break;
      case 2:
        f.spanIdEnd = delimited(r, wt, end, 'Span.span_id');
        f.spanId = r.pos;
        r.pos = f.spanIdEnd;
        break;
      case 3:
        f.traceStateEnd = delimited(r, wt, end, 'Span.trace_state');
        f.traceState = r.pos;
        r.pos = f.traceStateEnd;
        break;
      case 4:
        f.parentEnd = delimited(r, wt, end, 'Span.parent_span_id');
        f.parent = r.pos;
        r.pos = f.parentEnd;
        break;
      case 5:
        f.nameEnd = delimited(r, wt, end, 'Span.name');
        f.name = r.pos;
        r.pos = f.nameEnd;
        break;
      case 6:
        r.expect(wt, WT_VARINT, 'Span.kind');
        f.kind = r.varint(end);
        break;
      case 7:
        r.expect(wt, WT_I64, 'Span.start_time_unix_nano');
        if (r.pos + 8 > end) r.fail('truncated fixed64');
        f.start = r.pos;
        r.pos += 8;
        break;
      case 8:
        r.expect(wt, WT_I64, 'Span.end_time_unix_nano');
        if (r.pos + 8 > end) r.fail('truncated fixed64');
        f.end = r.pos;
        r.pos += 8;
        break;
      case 9: {
        const e = delimited(r, wt, end, 'Span.attributes');
        if (f.attributeEnds === f.attributes.length) {
          const grown = new Int32Array(f.attributes.length * 2);
          grown.set(f.attributes);
          f.attributes = grown;
        }
        f.attributes[f.attributeEnds++] = r.pos;
        f.attributes[f.attributeEnds++] = e;
        r.pos = e;
        break;
      }
      case 11: {
        const e = delimited(r, wt, end, 'Span.events');
        if (f.events === NO_EVENTS) f.events = [];
        f.events.push(event(r, e));
        r.pos = e;
        break;
      }
      case 13: {
        const e = delimited(r, wt, end, 'Span.links');
        if (f.links === NO_LINKS) f.links = [];
        f.links.push(link(r, e));
        r.pos = e;
        break;
      }
      case 15:
        scanStatus(r, delimited(r, wt, end, 'Span.status'));
        break;
      default:
        r.skip(wt, end);
    }
  }
}

function scanStatus(r: Reader, end: number): void {
  while (r.pos < end) {
    const t = r.varint(end);
    if (t >>> 3 === 2) {
      f.statusMessageEnd = delimited(r, t & 7, end, 'Status.message');
      f.statusMessage = r.pos;
      r.pos = f.statusMessageEnd;
    } else if (t >>> 3 === 3) {
      r.expect(t & 7, WT_VARINT, 'Status.code');
      f.statusCode = r.varint(end);
    } else r.skip(t & 7, end);
  }
}

const high = (r: Reader, at: number): number => (at < 0 ? 0 : r.view.getUint32(at + 4, true));
const low = (r: Reader, at: number): number => (at < 0 ? 0 : r.view.getUint32(at, true));
const nanos = (r: Reader, at: number): bigint => (at < 0 ? 0n : r.view.getBigUint64(at, true));

function allZero(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

function eventAfterMax(events: readonly SpanEvent[]): boolean {
  for (let i = 0; i < events.length; i++) if (events[i]!.timeNs > MAX_NANOS) return true;
  return false;
}

/** checkSpan's rules and the time window, on the scanned fields: the refusal reason, or undefined. */
function refusal(
  r: Reader,
  opts: SpanRowsOptions,
  minHi: number,
  minLo: number,
  maxHi: number,
  maxLo: number,
): string | undefined {
  const buf = r.buf;
  const sHi = high(r, f.start);
  if (sHi > MAX_HIGH_WORD || high(r, f.end) > MAX_HIGH_WORD || eventAfterMax(f.events))
    return `span '${nameOf(buf)}': timestamps must be before 2262-04-11 (DateTime64(9))`;
  if (f.traceIdEnd - f.traceId !== 16 || allZero(buf, f.traceId, f.traceIdEnd))
    return `span '${nameOf(buf)}': trace_id must be 16 non-zero bytes`;
  if (f.spanIdEnd - f.spanId !== 8 || allZero(buf, f.spanId, f.spanIdEnd))
    return `span '${nameOf(buf)}' of trace ${hexOf(buf, f.traceId, f.traceIdEnd)}: span_id must be 8 non-zero bytes`;
  const parentBytes = f.parentEnd - f.parent;
  if (parentBytes !== 0 && parentBytes !== 8)
    return `span ${hexOf(buf, f.spanId, f.spanIdEnd)} of trace ${hexOf(buf, f.traceId, f.traceIdEnd)}: parent_span_id must be empty or 8 bytes`;
  const sLo = low(r, f.start);
  if (sHi < minHi || (sHi === minHi && sLo < minLo) || sHi > maxHi || (sHi === maxHi && sLo > maxLo))
    return opts.outside(nanos(r, f.start));
  return undefined;
}

const discarded: Attributes = [];

function checkAttributes(r: Reader): void {
  const kvs = f.attributes;
  const n = f.attributeEnds;
  for (let i = 0; i < n; i += 2) {
    r.pos = kvs[i]!;
    keyValue(r, kvs[i + 1]!, discarded);
  }
  discarded.length = 0;
}

const nameOf = (buf: Buffer): string => buf.toString('utf8', f.name, f.nameEnd).slice(0, 64);
const hexOf = (buf: Buffer, s: number, e: number): string => (s < 0 ? '' : buf.toString('hex', s, e));

/**
 * An AnyValue as the exporter's AsString renders it, as a String column: a string_value's
 * bytes copied, the other kinds rendered as anyValueString renders them.
 */
function writeAnyValue(r: Reader, end: number, w: RowBinaryWriter): void {
  let text = '';
  let bytes = -1;
  let bytesEnd = -1;
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    if (field === 1) {
      bytesEnd = delimited(r, tag & 7, end, 'AnyValue.string_value');
      bytes = r.pos;
      r.pos = bytesEnd;
    } else {
      const v = anyValueOther(r, field, tag & 7, end);
      if (v !== undefined) {
        text = v;
        bytes = -1;
      }
    }
  }
  if (bytes >= 0) w.utf8(r.buf, bytes, bytesEnd, r.view);
  else w.string(text);
}

/** Where one KeyValue's key and value sit in the body; `keyAt` is -1 when it has no key field. */
class KeyValueFields {
  keyAt = -1;
  key = 0;
  keyEnd = 0;
  value = -1;
  valueEnd = -1;
}

// Reused for every attribute, as `f` is for every span.
const kv = new KeyValueFields();

/** Finds the key and value of the KeyValue at r.pos (ending at kvEnd) into `kv`. */
function scanKeyValue(r: Reader, kvEnd: number): void {
  kv.keyAt = -1;
  kv.key = kv.keyEnd = 0;
  kv.value = kv.valueEnd = -1;
  while (r.pos < kvEnd) {
    const tag = r.varint(kvEnd);
    const field = tag >>> 3;
    if (field === 1) {
      kv.keyAt = r.pos;
      kv.keyEnd = delimited(r, tag & 7, kvEnd, 'KeyValue.key');
      kv.key = r.pos;
      r.pos = kv.keyEnd;
    } else if (field === 2) {
      kv.valueEnd = delimited(r, tag & 7, kvEnd, 'KeyValue.value');
      kv.value = r.pos;
      r.pos = kv.valueEnd;
    } else r.skip(tag & 7, kvEnd);
  }
}

/** The scanned KeyValue into `graph` at graphCount when its key is one the service graph keeps. */
function pushGraphAttribute(r: Reader, graph: Attributes, graphKeys: KeyMatcher): void {
  if (kv.keyAt < 0) return;
  const k = graphKeys.at(r.buf, r.view, kv.key, kv.keyEnd);
  if (k === undefined) return;
  let v = '';
  if (kv.value >= 0) {
    r.pos = kv.value;
    v = anyValueString(r, kv.valueEnd);
  }
  graph[graphCount++] = k;
  graph[graphCount++] = v;
}

/** Span.attributes as a Map column; the graph's keys (and values) also into `graph` (at graphCount) when given. */
function writeSpanAttributes(
  r: Reader,
  w: RowBinaryWriter,
  graph: Attributes | undefined,
  graphKeys: KeyMatcher,
): void {
  const kvs = f.attributes;
  const n = f.attributeEnds;
  w.varint(n >>> 1);
  for (let i = 0; i < n; i += 2) {
    const kvEnd = kvs[i + 1]!;
    r.pos = kvs[i]!;
    scanKeyValue(r, kvEnd);
    const { key, keyEnd, value, valueEnd } = kv;
    w.utf8(r.buf, key, keyEnd, r.view);
    if (value < 0) w.varint(0);
    else {
      r.pos = value;
      writeAnyValue(r, valueEnd, w);
    }
    if (graph !== undefined) pushGraphAttribute(r, graph, graphKeys);
    r.pos = kvEnd;
  }
}

/** Finds a key of a set by its UTF-8 bytes, without making a string of every key it is asked about. */
class KeyMatcher {
  /** By byte length: the keys of that length and their bytes. */
  readonly #byLength: { bytes: Buffer; words: Uint32Array; key: string }[][] = [];

  constructor(keys: ReadonlySet<string>) {
    for (const key of keys) {
      const bytes = Buffer.from(key, 'utf8');
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      const words = Uint32Array.from({ length: bytes.length >>> 2 }, (_, i) => view.getUint32(i * 4));
      (this.#byLength[bytes.length] ??= []).push({ bytes, words, key });
    }
  }

  /** The key whose bytes are `buf[start, end)` (`view` is buf's DataView), compared four bytes at a time. */
  at(buf: Buffer, view: DataView, start: number, end: number): string | undefined {
    const candidates = this.#byLength[end - start];
    if (candidates === undefined) return undefined;
    for (const c of candidates) {
      const words = c.words;
      let i = 0;
      while (i < words.length && words[i] === view.getUint32(start + i * 4)) i++;
      if (i < words.length) continue;
      const b = c.bytes;
      let j = i * 4;
      while (j < b.length && b[j] === buf[start + j]) j++;
      if (j === b.length) return c.key;
    }
    return undefined;
  }
}

const matchers = new WeakMap<ReadonlySet<string>, KeyMatcher>();

function matcherOf(keys: ReadonlySet<string>): KeyMatcher {
  let m = matchers.get(keys);
  if (m === undefined) matchers.set(keys, (m = new KeyMatcher(keys)));
  return m;
}

const isGraphKind = (k: number): boolean =>
  k === SPAN_KIND_SERVER || k === SPAN_KIND_CLIENT || k === SPAN_KIND_PRODUCER || k === SPAN_KIND_CONSUMER;

/** One otel_traces row (SPAN_COLUMNS) from the scanned fields. */
function writeRow(
  r: Reader,
  w: RowBinaryWriter,
  res: ResourceContext,
  sc: ScopeContext,
  graph: Attributes | undefined,
  graphKeys: KeyMatcher,
): void {
  const buf = r.buf;
  const sHi = high(r, f.start);
  const sLo = low(r, f.start);
  w.u32(sLo);
  w.u32(sHi);
  w.hex(buf, f.traceId, f.traceIdEnd);
  w.hex(buf, f.spanId, f.spanIdEnd);
  w.hex(buf, f.parent, f.parentEnd);
  w.utf8(buf, f.traceState, f.traceStateEnd, r.view);
  w.utf8(buf, f.name, f.nameEnd, r.view);
  w.string(spanKindName(f.kind));
  w.bytes(spanResourceBytes(res));
  w.bytes(spanScopeBytes(sc));
  writeSpanAttributes(r, w, graph, graphKeys);
  // Duration: end - start when end is later, in 32-bit halves (no BigInt per span).
  const eHi = high(r, f.end);
  const eLo = low(r, f.end);
  if (eHi > sHi || (eHi === sHi && eLo > sLo)) {
    const borrow = eLo < sLo ? 1 : 0;
    w.u32((eLo - sLo + (borrow ? TWO_32 : 0)) >>> 0);
    w.u32(eHi - sHi - borrow);
  } else {
    w.u32(0);
    w.u32(0);
  }
  w.string(statusCodeName(f.statusCode));
  w.utf8(buf, f.statusMessage, f.statusMessageEnd, r.view);
  writeEventsAndLinks(w, f.events, f.links);
}

/**
 * Writes one accepted span's row; for a span the graph pairs (`graph` given), also sets
 * graphTraceId and graphPairId to the ids the graph keys it by (GraphSpan's traceId, pairId).
 */
type RowSink = (r: Reader, res: ResourceContext, sc: ScopeContext, graph: Attributes | undefined) => void;

/**
 * A graph span's attributes, in the first graphCount slots, copied out at their exact size once
 * the span is written: an array grown by push per span (its first push reserves 17 slots) was
 * ~170 of the decode's ~630 allocated bytes per sidecar span. Never shortened (length = 0 would
 * drop its backing store); slots past graphCount are stale.
 */
const graphScratch: Attributes = [];
let graphCount = 0;

// The last graph span's ids, set by a RowSink (one decode at a time, as with `f`).
let graphTraceId = '';
let graphPairId = '';

/** A root SERVER or CONSUMER span: the graph reads none of its ids (GraphSpan). */
const isRootServer = (): boolean =>
  f.parentEnd === f.parent && (f.kind === SPAN_KIND_SERVER || f.kind === SPAN_KIND_CONSUMER);
const isClientKind = (): boolean => f.kind === SPAN_KIND_CLIENT || f.kind === SPAN_KIND_PRODUCER;

// The resource whose service.version was looked up last: every span under it has that version.
let versionResource: ResourceContext | undefined;
let version = '';

function versionOf(res: ResourceContext): string {
  if (res !== versionResource) {
    version = findAttribute(res.attributes, 'service.version') ?? '';
    versionResource = res;
  }
  return version;
}

/** The scanned span as the service graph reads it (graphTraceId and graphPairId set by the sink). */
function graphSpan(r: Reader, res: ResourceContext, attributes: Attributes): GraphSpan {
  const sHi = high(r, f.start);
  const sLo = low(r, f.start);
  const eHi = high(r, f.end);
  const eLo = low(r, f.end);
  // end - start in ns as a double, rounded once: the value Number() of the BigInt difference gives.
  const later = eHi > sHi || (eHi === sHi && eLo > sLo);
  return {
    kind: f.kind,
    traceId: graphTraceId,
    pairId: graphPairId,
    service: res.serviceName,
    version: versionOf(res),
    startHi: sHi,
    startLo: sLo,
    durationMs: later ? ((eHi - sHi) * TWO_32 + (eLo - sLo)) / 1e6 : 0,
    failed: f.statusCode === STATUS_CODE_ERROR,
    attributes,
  };
}

/** The walk both encoders share: spans scanned, refused or handed to `sink`; the graph's spans made. */
function decodeSpans(body: Buffer, opts: SpanRowsOptions, sink: RowSink, undo: () => void): SpanRows {
  const minHi = Number(opts.minNs >> 32n);
  const minLo = Number(opts.minNs & 0xffffffffn);
  const maxHi = Number(opts.maxNs >> 32n);
  const maxLo = Number(opts.maxNs & 0xffffffffn);
  let count = 0;
  let rejected = 0;
  const reasons: string[] = [];
  try {
    const decoded = walkEnvelope(
      body,
      (r: Reader, end: number, res: ResourceContext, sc: ScopeContext, refusals: Refusals): GraphSpan | undefined => {
        scanSpan(r, end);
        const why = refusal(r, opts, minHi, minLo, maxHi, maxLo);
        if (why !== undefined) {
          // A refused span's attributes are still decoded: an undecodable one refuses the whole
          // body (400), as with every other decoder.
          checkAttributes(r);
          refusals.add(why);
          return undefined;
        }
        count++;
        if (!isGraphKind(f.kind)) {
          sink(r, res, sc, undefined);
          return undefined;
        }
        graphCount = 0;
        sink(r, res, sc, graphScratch);
        return graphSpan(r, res, graphScratch.slice(0, graphCount));
      },
    );
    rejected = decoded.rejected;
    for (const reason of decoded.reasons) reasons.push(reason);
    return { count, graph: decoded.items, rejected, reasons };
  } catch (err) {
    undo();
    throw err;
  }
}

/**
 * Decodes an ExportTraceServiceRequest into otel_traces rows appended to `w`. Throws
 * OtlpDecodeError for an undecodable body, with nothing appended.
 */
export function decodeTracesToRows(body: Buffer, w: RowBinaryWriter, opts: SpanRowsOptions): SpanRows {
  const graphKeys = matcherOf(opts.graphKeys);
  const before = w.length;
  return decodeSpans(
    body,
    opts,
    (r, res, sc, graph) => {
      const row = w.length;
      writeRow(r, w, res, sc, graph, graphKeys);
      if (graph === undefined) return;
      if (isRootServer()) {
        graphTraceId = graphPairId = '';
        return;
      }
      // The ids as the row holds them in hex, read back in one string (three hex encodes
      // were a tenth of the decode's time): past the start time, a one-byte length and 32
      // digits at row + 9, then 1 + 16, then 1 + 16 or 1 (checked lengths: 16, 8, 8 or 0 bytes).
      const client = isClientKind();
      const ids = w.latin1(row + 9, row + (client ? 58 : 75));
      graphTraceId = ids.slice(0, 32);
      graphPairId = client ? ids.slice(33, 49) : ids.slice(50, 66);
    },
    () => w.truncate(before),
  );
}

/**
 * Decodes an ExportTraceServiceRequest into otel_traces columns appended to `c` (the ingest
 * path: the rows of the next c.take()). Throws OtlpDecodeError for an undecodable body, with
 * nothing appended.
 */
export function decodeTracesToColumns(body: Buffer, c: SpanColumnsWriter, opts: SpanRowsOptions): SpanRows {
  const graphKeys = matcherOf(opts.graphKeys);
  const mark = c.mark();
  return decodeSpans(
    body,
    opts,
    (r, res, sc, graph) => {
      if (graph === undefined || isRootServer()) {
        writeColumns(r, c, res, sc, graph, graphKeys);
        if (graph !== undefined) graphTraceId = graphPairId = '';
        return;
      }
      // The graph's ids: hex-encoded once into one scratch row, copied into their columns, and
      // read back as one string (a string per id was a tenth of the decode) holding the trace
      // id and the pair's span id, or only the latter when the trace is the last graph span's.
      const buf = r.buf;
      let n = hexInto(buf, f.traceId, f.traceIdEnd, 0);
      n = hexInto(buf, f.spanId, f.spanIdEnd, n);
      n = hexInto(buf, f.parent, f.parentEnd, n);
      writeColumns(r, c, res, sc, graph, graphKeys, n);
      // idsHex: trace id digits at [1, 33), span id's at [34, 50), parent's at [51, 67).
      const pair = isClientKind() ? 34 : 51;
      if (sameTraceAsLast(r.view, f.traceId)) {
        graphTraceId = lastTraceHex;
        graphPairId = idsHex.toString('latin1', pair, pair + 16);
      } else {
        const all = idsHex.toString('latin1', 1, pair + 16);
        graphTraceId = lastTraceHex = all.slice(0, 32);
        graphPairId = all.slice(pair - 1, pair + 15);
      }
    },
    () => c.truncate(mark),
  );
}

// The trace id (16 bytes, as four words) of the last graph span decodeTracesToColumns gave ids,
// and its hex.
const lastTrace = new Uint32Array(4);
let haveLastTrace = false;
let lastTraceHex = '';

/**
 * Whether the 16-byte trace id at `at` is that of the last graph span given ids (lastTraceHex
 * holds its hex); remembers this one's words otherwise (the caller sets lastTraceHex). Spans of a trace often sit together.
 */
function sameTraceAsLast(view: DataView, at: number): boolean {
  const w0 = view.getUint32(at);
  const w1 = view.getUint32(at + 4);
  const w2 = view.getUint32(at + 8);
  const w3 = view.getUint32(at + 12);
  if (haveLastTrace && lastTrace[0] === w0 && lastTrace[1] === w1 && lastTrace[2] === w2 && lastTrace[3] === w3)
    return true;
  lastTrace[0] = w0;
  lastTrace[1] = w1;
  lastTrace[2] = w2;
  lastTrace[3] = w3;
  haveLastTrace = true;
  return false;
}

/** Span.attributes as SpanAttributes' streams; the graph's keys (and values) also into `graph` (at graphCount) when given. */
function writeAttributeColumns(
  r: Reader,
  c: SpanColumnsWriter,
  graph: Attributes | undefined,
  graphKeys: KeyMatcher,
): void {
  const kvs = f.attributes;
  const keys = c.s[S.attributeKeys]!;
  const dict = c.d[S.attributeKeys]!;
  const values = c.s[S.attributeValues]!;
  if (c.firstKeyDict !== dict || c.graphKeysOf !== graphKeys) {
    c.firstKey.fill(0);
    c.firstKeyDict = dict;
    c.graphKeyOfId = [];
    c.graphKeysOf = graphKeys;
  }
  const graphKeyOfId = c.graphKeyOfId;
  const kind = f.kind & 7;
  const next = dict.next;
  // The guessed id + 1 of this key: after the previous key, what followed it last time.
  let guess = c.firstKey[kind]!;
  let prev = -1;
  const n = f.attributeEnds;
  c.s[S.attributeSizes]!.u32(n >>> 1);
  const buf = r.buf;
  for (let i = 0; i < n; i += 2) {
    const kvEnd = kvs[i + 1]!;
    const at = kvs[i]!;
    // What every SDK writes: KeyValue{1: key, 2: AnyValue{1: string_value or 3: int_value}},
    // lengths under 128 (one byte each), an int under 2^14 (one or two varint bytes), nothing
    // else. Read in place; anything else goes the general way (scanKeyValue, writeAnyValue),
    // which gives the same key and bytes for this layout.
    let keyEnd = at + 2 + buf[at + 1]!;
    const valueTag = buf[keyEnd + 2];
    // The int value, or -1 for a string value (at `str`), or undefined for any other layout.
    let int: number | undefined;
    const str = keyEnd + 4;
    if (
      buf[at] === 0x0a &&
      buf[at + 1]! < 0x80 &&
      buf[keyEnd] === 0x12 &&
      buf[keyEnd + 1]! < 0x80 &&
      keyEnd + 2 + buf[keyEnd + 1]! === kvEnd
    ) {
      if (valueTag === 0x0a) {
        if (buf[keyEnd + 3]! < 0x80 && str <= kvEnd && str + buf[keyEnd + 3]! === kvEnd) int = -1;
      } else if (valueTag === 0x18) {
        const b0 = buf[keyEnd + 3]!;
        if (b0 < 0x80) {
          if (str === kvEnd) int = b0;
        } else if (str + 1 === kvEnd && buf[str]! < 0x80) int = (b0 & 0x7f) | (buf[str]! << 7);
      }
    }
    // The key's bytes and the AnyValue's ([value, valueEnd); value -1 when the KeyValue has none,
    // keyAt -1 when it has no key): in place for that layout, else as scanKeyValue finds them.
    let key = at + 2;
    let keyAt = at;
    let value = keyEnd + 2;
    let valueEnd = kvEnd;
    if (int === undefined) {
      r.pos = at;
      scanKeyValue(r, kvEnd);
      key = kv.key;
      keyEnd = kv.keyEnd;
      keyAt = kv.keyAt;
      value = kv.value;
      valueEnd = kv.valueEnd;
    }
    let id = guess - 1;
    if (id < 0 || !dict.is(id, buf, r.view, key, keyEnd)) {
      id = dict.idOf(buf, r.view, key, keyEnd);
      if (prev < 0) c.firstKey[kind] = id + 1;
      else dict.next[prev] = id + 1;
    }
    keys.u32(id);
    prev = id;
    guess = dict.next === next ? next[id]! : dict.next[id]!;
    if (int === undefined) {
      if (value < 0) values.varint(0);
      else {
        r.pos = value;
        writeAnyValue(r, valueEnd, values);
      }
    } else if (int < 0) values.utf8(buf, str, kvEnd, r.view);
    else values.string(decimal(int));
    if (graph !== undefined) {
      let k = graphKeyOfId[id];
      if (k === undefined) {
        k = keyAt < 0 ? null : (graphKeys.at(buf, r.view, key, keyEnd) ?? null);
        graphKeyOfId[id] = k;
      }
      if (k !== null) {
        graph[graphCount++] = k;
        // Read in place, the value is a string at [str, kvEnd) or a small int: taken as it is,
        // without parsing the AnyValue again (what anyValueString renders for either).
        graph[graphCount++] =
          int === undefined
            ? value < 0
              ? ''
              : graphValue(r, value, valueEnd)
            : int < 0
              ? r.stringAt(str, kvEnd)
              : decimal(int);
      }
    }
    r.pos = kvEnd;
  }
}

/** A graph attribute's value as the service graph reads it. */
function graphValue(r: Reader, value: number, valueEnd: number): string {
  r.pos = value;
  return anyValueString(r, valueEnd);
}

/** A graph span's ids as String values of hex digits: 1 + 32, 1 + 16, 1 + 16 or 1 bytes. */
const idsHex = Buffer.alloc(67);
const idsView = new DataView(idsHex.buffer, idsHex.byteOffset, idsHex.length);
const HEX = Uint8Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0));

/** `src[start, end)` (at most 16 bytes, checked) as a String of hex digits at `at` in idsHex; returns its end. */
function hexInto(src: Buffer, start: number, end: number, at: number): number {
  idsHex[at++] = (end - start) * 2;
  for (let i = start; i < end; i++) {
    const v = src[i]!;
    idsHex[at++] = HEX[v >>> 4]!;
    idsHex[at++] = HEX[v & 15]!;
  }
  return at;
}

/** One otel_traces row's columns from the scanned fields. */
function writeColumns(
  r: Reader,
  c: SpanColumnsWriter,
  res: ResourceContext,
  sc: ScopeContext,
  graph: Attributes | undefined,
  graphKeys: KeyMatcher,
  /** When the ids are already in idsHex as three String values (graph spans): their length. */
  hexIds = -1,
): void {
  const buf = r.buf;
  const sHi = high(r, f.start);
  const sLo = low(r, f.start);
  const name = c.d[S.spanName]!.idOf(buf, r.view, f.name, f.nameEnd);
  c.lane(c.serviceId(res), name, secondsOf(sHi, sLo));
  const s = c.s;
  const ts = s[S.timestamp]!;
  ts.u32(sLo);
  ts.u32(sHi);
  if (hexIds < 0) {
    s[S.traceId]!.hex(buf, f.traceId, f.traceIdEnd);
    s[S.spanId]!.hex(buf, f.spanId, f.spanIdEnd);
    s[S.parentSpanId]!.hex(buf, f.parent, f.parentEnd);
  } else {
    // Lengths checked: 16, 8 and 8 or 0 bytes, i.e. 1 + 32, 1 + 16, 1 + 16 or 1.
    s[S.traceId]!.raw(idsHex, 0, 33, idsView);
    s[S.spanId]!.raw(idsHex, 33, 50, idsView);
    s[S.parentSpanId]!.raw(idsHex, 50, hexIds, idsView);
  }
  s[S.traceState]!.utf8(buf, f.traceState, f.traceStateEnd, r.view);
  s[S.spanName]!.u32(name);
  c.spanKind(f.kind);
  c.resource(res);
  c.scope(sc);
  writeAttributeColumns(r, c, graph, graphKeys);
  const d = s[S.duration]!;
  const eHi = high(r, f.end);
  const eLo = low(r, f.end);
  if (eHi > sHi || (eHi === sHi && eLo > sLo)) {
    const borrow = eLo < sLo ? 1 : 0;
    d.u32((eLo - sLo + (borrow ? TWO_32 : 0)) >>> 0);
    d.u32(eHi - sHi - borrow);
  } else {
    d.u32(0);
    d.u32(0);
  }
  c.statusCode(f.statusCode);
  s[S.statusMessage]!.utf8(buf, f.statusMessage, f.statusMessageEnd, r.view);
  c.eventsAndLinks(f.events, f.links);
}
