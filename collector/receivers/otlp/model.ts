// The decoded shape shared by the protobuf and JSON decoders, and its encoding to rows of the
// ClickHouse exporter's tables (RowBinary). Resource and scope columns are encoded once per
// ResourceSpans/ScopeSpans and reused by every item under them.

import { RowBinaryWriter } from '../../storage/clickhouse/rowbinary.js';

/**
 * Attributes as a flat list [key0, value0, key1, value1, …], every value already rendered as
 * the exporter renders it (AsString). Flat, not pairs: one array per span instead of one per
 * attribute is most of the garbage ingest used to make.
 */
export type Attributes = string[];

export interface ResourceContext {
  serviceName: string;
  schemaUrl: string;
  attributes: Attributes;
}

export interface ScopeContext {
  name: string;
  version: string;
  schemaUrl: string;
  /** The ScopeAttributes column (logs only). */
  attributes: Attributes;
}

export interface SpanEvent {
  timeNs: bigint;
  name: string;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
}

export interface SpanRecord {
  resource: ResourceContext;
  scope: ScopeContext;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  statusCode: number;
  statusMessage: string;
}

/**
 * What the service graph reads of a span: the ingest decoder's hand-off, one object per span it
 * pairs (SERVER, CLIENT, PRODUCER, CONSUMER), and the graph's half of an edge as it is. Times
 * are two 32-bit halves and a duration in ms, not BigInts; ids are hex strings made only where
 * the graph keys by them.
 */
export interface GraphSpan {
  kind: number;
  /** Hex; '' for a root SERVER or CONSUMER span, which the graph does not key. */
  traceId: string;
  /**
   * The span id the pair meets at: a CLIENT or PRODUCER span's own, a SERVER or CONSUMER span's
   * parent ('' for a root).
   */
  pairId: string;
  service: string;
  /** The resource's service.version, or ''. */
  version: string;
  /** start_time_unix_nano's high and low 32 bits. */
  startHi: number;
  startLo: number;
  /** end - start when end is later, else 0, in ms. */
  durationMs: number;
  failed: boolean;
  /** The span's attributes, or (from the ingest decoder) only those the graph reads. */
  attributes: Attributes;
}

export interface LogRecord {
  resource: ResourceContext;
  scope: ScopeContext;
  timeNs: bigint;
  observedNs: bigint;
  traceId: string;
  spanId: string;
  flags: number;
  severityText: string;
  severityNumber: number;
  body: string;
  attributes: Attributes;
  eventName: string;
}

export interface Decoded<T> {
  items: T[];
  rejected: number;
  /** First few refusal reasons, for the partial-success error_message. */
  reasons: string[];
}

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const SPAN_KIND_PRODUCER = 4;
export const SPAN_KIND_CONSUMER = 5;
export const STATUS_CODE_ERROR = 2;

// The exporter's traceutil names for the enums.
const SPAN_KIND_NAMES = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUS_CODE_NAMES = ['Unset', 'Ok', 'Error'];

export const spanKindName = (kind: number): string => SPAN_KIND_NAMES[kind] ?? 'Unspecified';
export const statusCodeName = (code: number): string => STATUS_CODE_NAMES[code] ?? 'Unset';

/** Collects refusals without letting a hostile body grow the reason list. */
export class Refusals {
  count = 0;
  readonly reasons: string[] = [];
  add(reason: string): void {
    this.count++;
    if (this.reasons.length < 5) this.reasons.push(reason);
  }
}

export function findAttribute(attrs: Attributes, key: string): string | undefined {
  for (let i = 0; i < attrs.length; i += 2) if (attrs[i] === key) return attrs[i + 1];
  return undefined;
}

/** A decoded span as the service graph reads it (the object decoders' path). */
export function graphSpanOf(s: SpanRecord): GraphSpan {
  const root = s.parentSpanId === '' && (s.kind === SPAN_KIND_SERVER || s.kind === SPAN_KIND_CONSUMER);
  const duration = s.endNs > s.startNs ? s.endNs - s.startNs : 0n;
  return {
    kind: s.kind,
    traceId: root ? '' : s.traceId,
    pairId: s.kind === SPAN_KIND_CLIENT || s.kind === SPAN_KIND_PRODUCER ? s.spanId : s.parentSpanId,
    service: s.resource.serviceName,
    version: findAttribute(s.resource.attributes, 'service.version') ?? '',
    startHi: Number(s.startNs >> 32n),
    startLo: Number(s.startNs & 0xffffffffn),
    durationMs: Number(duration) / 1e6,
    failed: s.statusCode === STATUS_CODE_ERROR,
    attributes: s.attributes,
  };
}

export function serviceNameOf(attrs: Attributes): string {
  return findAttribute(attrs, 'service.name') ?? '';
}

// The columns each encoder writes, in order (the INSERT's explicit column list).
export const SPAN_COLUMNS = [
  'Timestamp',
  'TraceId',
  'SpanId',
  'ParentSpanId',
  'TraceState',
  'SpanName',
  'SpanKind',
  'ServiceName',
  'ResourceAttributes',
  'ScopeName',
  'ScopeVersion',
  'SpanAttributes',
  'Duration',
  'StatusCode',
  'StatusMessage',
  'Events.Timestamp',
  'Events.Name',
  'Events.Attributes',
  'Links.TraceId',
  'Links.SpanId',
  'Links.TraceState',
  'Links.Attributes',
] as const;

export const LOG_COLUMNS = [
  'Timestamp',
  'TraceId',
  'SpanId',
  'TraceFlags',
  'SeverityText',
  'SeverityNumber',
  'Body',
  'LogAttributes',
  'EventName',
  'ServiceName',
  'ResourceSchemaUrl',
  'ResourceAttributes',
  'ScopeSchemaUrl',
  'ScopeName',
  'ScopeVersion',
  'ScopeAttributes',
] as const;

/** Map(LowCardinality(String), String): pair count, then key and value of each pair. */
function writeAttributes(w: RowBinaryWriter, attrs: Attributes): void {
  w.varint(attrs.length >>> 1);
  for (let i = 0; i < attrs.length; i++) w.string(attrs[i]!);
}

// Resource and scope columns are the same for every item under them: encoded once each.
const spanResource = new WeakMap<ResourceContext, Buffer>();
const spanScope = new WeakMap<ScopeContext, Buffer>();
const logResource = new WeakMap<ResourceContext, Buffer>();
const logScope = new WeakMap<ScopeContext, Buffer>();
const scratch = new RowBinaryWriter(4096);

function cached<K extends object>(
  cache: WeakMap<K, Buffer>,
  key: K,
  build: (w: RowBinaryWriter, k: K) => void,
): Buffer {
  let b = cache.get(key);
  if (b === undefined) {
    build(scratch, key);
    b = scratch.take();
    cache.set(key, b);
  }
  return b;
}

/** ServiceName, ResourceAttributes */
function spanResourceColumns(w: RowBinaryWriter, r: ResourceContext): void {
  w.string(r.serviceName);
  writeAttributes(w, r.attributes);
}
/** ScopeName, ScopeVersion */
function spanScopeColumns(w: RowBinaryWriter, sc: ScopeContext): void {
  w.string(sc.name);
  w.string(sc.version);
}
/** ServiceName, ResourceSchemaUrl, ResourceAttributes */
function logResourceColumns(w: RowBinaryWriter, r: ResourceContext): void {
  w.string(r.serviceName);
  w.string(r.schemaUrl);
  writeAttributes(w, r.attributes);
}
/** ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes */
function logScopeColumns(w: RowBinaryWriter, sc: ScopeContext): void {
  w.string(sc.schemaUrl);
  w.string(sc.name);
  w.string(sc.version);
  writeAttributes(w, sc.attributes);
}

/** ServiceName and ResourceAttributes of an otel_traces row, encoded once per resource. */
export const spanResourceBytes = (r: ResourceContext): Buffer => cached(spanResource, r, spanResourceColumns);
/** ScopeName and ScopeVersion of an otel_traces row, encoded once per scope. */
export const spanScopeBytes = (sc: ScopeContext): Buffer => cached(spanScope, sc, spanScopeColumns);

/** One otel_traces row (SPAN_COLUMNS) in RowBinary. */
export function writeSpanRow(w: RowBinaryWriter, s: SpanRecord): void {
  w.i64(s.startNs);
  w.string(s.traceId);
  w.string(s.spanId);
  w.string(s.parentSpanId);
  w.string(s.traceState);
  w.string(s.name);
  w.string(spanKindName(s.kind));
  w.bytes(spanResourceBytes(s.resource));
  w.bytes(spanScopeBytes(s.scope));
  writeAttributes(w, s.attributes);
  w.i64(s.endNs > s.startNs ? s.endNs - s.startNs : 0n);
  w.string(statusCodeName(s.statusCode));
  w.string(s.statusMessage);
  writeEventsAndLinks(w, s.events, s.links);
}

/** The Events.* and Links.* columns of an otel_traces row, the last ones (SPAN_COLUMNS). */
export function writeEventsAndLinks(
  w: RowBinaryWriter,
  events: readonly SpanEvent[],
  links: readonly SpanLink[],
): void {
  w.varint(events.length);
  for (let i = 0; i < events.length; i++) w.i64(events[i]!.timeNs);
  w.varint(events.length);
  for (let i = 0; i < events.length; i++) w.string(events[i]!.name);
  w.varint(events.length);
  for (let i = 0; i < events.length; i++) writeAttributes(w, events[i]!.attributes);
  w.varint(links.length);
  for (let i = 0; i < links.length; i++) w.string(links[i]!.traceId);
  w.varint(links.length);
  for (let i = 0; i < links.length; i++) w.string(links[i]!.spanId);
  w.varint(links.length);
  for (let i = 0; i < links.length; i++) w.string(links[i]!.traceState);
  w.varint(links.length);
  for (let i = 0; i < links.length; i++) writeAttributes(w, links[i]!.attributes);
}

/** One otel_logs row (LOG_COLUMNS) in RowBinary. */
export function writeLogRow(w: RowBinaryWriter, l: LogRecord): void {
  // The exporter stores the event time, falling back to the observed time when unset.
  w.i64(l.timeNs !== 0n ? l.timeNs : l.observedNs);
  w.string(l.traceId);
  w.string(l.spanId);
  w.u8(l.flags);
  w.string(l.severityText);
  w.u8(l.severityNumber);
  w.string(l.body);
  writeAttributes(w, l.attributes);
  w.string(l.eventName);
  w.bytes(cached(logResource, l.resource, logResourceColumns));
  w.bytes(cached(logScope, l.scope, logScopeColumns));
}
