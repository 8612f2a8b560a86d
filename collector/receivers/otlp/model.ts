// The decoded shape shared by the protobuf and JSON decoders, and its serialization to rows of
// the ClickHouse exporter's tables (JSONCompactEachRow lines). Resource and scope columns are
// serialized once per ResourceSpans/ScopeSpans and reused by every span under them.

/**
 * Attributes as a flat list [key0, value0, key1, value1, …], every value already rendered as
 * the exporter renders it (AsString). Flat, not pairs: one array per span instead of one per
 * attribute is most of the garbage ingest used to make.
 */
export type Attributes = string[];

export interface ResourceContext {
  serviceName: string;
  schemaUrl: string;
  /** The ResourceAttributes column, already JSON. */
  attributesJson: string;
}

export interface ScopeContext {
  name: string;
  version: string;
  schemaUrl: string;
  /** The ScopeAttributes column (logs only), already JSON. */
  attributesJson: string;
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

// Attribute keys repeat across spans (semantic conventions): their JSON is computed once.
// Bounded: a flood of distinct keys only resets the cache.
const keyJson = new Map<string, string>();
const KEY_CACHE_MAX = 4096;

function jsonKey(key: string): string {
  let j = keyJson.get(key);
  if (j === undefined) {
    if (keyJson.size >= KEY_CACHE_MAX) keyJson.clear();
    j = JSON.stringify(key) + ':';
    keyJson.set(key, j);
  }
  return j;
}

export function attributesJson(attrs: Attributes): string {
  if (attrs.length === 0) return '{}';
  let out = '{';
  for (let i = 0; i < attrs.length; i += 2) {
    if (i > 0) out += ',';
    out += jsonKey(attrs[i]!) + JSON.stringify(attrs[i + 1]!);
  }
  return out + '}';
}

export function findAttribute(attrs: Attributes, key: string): string | undefined {
  for (let i = 0; i < attrs.length; i += 2) if (attrs[i] === key) return attrs[i + 1];
  return undefined;
}

export function serviceNameOf(attrs: Attributes): string {
  return findAttribute(attrs, 'service.name') ?? '';
}

// Rows are JSONCompactEachRow (positional, no keys: measured cheaper than JSONEachRow for
// chDB to parse and for V8 to build, see bench/collector.ts); these are their column lists.
export const SPAN_COLUMNS = [
  'Timestamp', 'TraceId', 'SpanId', 'ParentSpanId', 'TraceState', 'SpanName', 'SpanKind',
  'ServiceName', 'ResourceAttributes', 'ScopeName', 'ScopeVersion', 'SpanAttributes', 'Duration',
  'StatusCode', 'StatusMessage', 'Events.Timestamp', 'Events.Name', 'Events.Attributes',
  'Links.TraceId', 'Links.SpanId', 'Links.TraceState', 'Links.Attributes',
] as const;

export const LOG_COLUMNS = [
  'Timestamp', 'TraceId', 'SpanId', 'TraceFlags', 'SeverityText', 'SeverityNumber', 'Body',
  'LogAttributes', 'EventName', 'ServiceName', 'ResourceSchemaUrl', 'ResourceAttributes',
  'ScopeSchemaUrl', 'ScopeName', 'ScopeVersion', 'ScopeAttributes',
] as const;

// Resource and scope columns are the same for every item under them: serialized once each.
const spanResource = new WeakMap<ResourceContext, string>();
const spanScope = new WeakMap<ScopeContext, string>();
const logResource = new WeakMap<ResourceContext, string>();
const logScope = new WeakMap<ScopeContext, string>();

function cached<K extends object>(cache: WeakMap<K, string>, key: K, build: (k: K) => string): string {
  let j = cache.get(key);
  if (j === undefined) {
    j = build(key);
    cache.set(key, j);
  }
  return j;
}

/** ServiceName, ResourceAttributes */
const spanResourceJson = (r: ResourceContext): string => ',' + JSON.stringify(r.serviceName) + ',' + r.attributesJson;
/** ScopeName, ScopeVersion */
const spanScopeJson = (sc: ScopeContext): string => ',' + JSON.stringify(sc.name) + ',' + JSON.stringify(sc.version);
/** ServiceName, ResourceSchemaUrl, ResourceAttributes */
const logResourceJson = (r: ResourceContext): string => ',' + JSON.stringify(r.serviceName) + ',' + JSON.stringify(r.schemaUrl) + ',' + r.attributesJson;
/** ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes */
const logScopeJson = (sc: ScopeContext): string =>
  ',' + JSON.stringify(sc.schemaUrl) + ',' + JSON.stringify(sc.name) + ',' + JSON.stringify(sc.version) + ',' + sc.attributesJson;

/** One otel_traces row (SPAN_COLUMNS) as a JSONCompactEachRow line with its newline. */
export function spanRow(s: SpanRecord): string {
  const duration = s.endNs > s.startNs ? s.endNs - s.startNs : 0n;
  let evTs = '[';
  let evName = '[';
  let evAttrs = '[';
  for (let i = 0; i < s.events.length; i++) {
    const e = s.events[i]!;
    const sep = i > 0 ? ',' : '';
    evTs += sep + e.timeNs.toString();
    evName += sep + JSON.stringify(e.name);
    evAttrs += sep + attributesJson(e.attributes);
  }
  let lTrace = '[';
  let lSpan = '[';
  let lState = '[';
  let lAttrs = '[';
  for (let i = 0; i < s.links.length; i++) {
    const l = s.links[i]!;
    const sep = i > 0 ? ',' : '';
    lTrace += sep + '"' + l.traceId + '"';
    lSpan += sep + '"' + l.spanId + '"';
    lState += sep + JSON.stringify(l.traceState);
    lAttrs += sep + attributesJson(l.attributes);
  }
  return (
    '[' + s.startNs.toString() +
    ',"' + s.traceId + '","' + s.spanId + '","' + s.parentSpanId + '",' +
    JSON.stringify(s.traceState) + ',' +
    JSON.stringify(s.name) +
    ',"' + spanKindName(s.kind) + '"' +
    cached(spanResource, s.resource, spanResourceJson) +
    cached(spanScope, s.scope, spanScopeJson) +
    ',' + attributesJson(s.attributes) +
    ',' + duration.toString() +
    ',"' + statusCodeName(s.statusCode) + '",' +
    JSON.stringify(s.statusMessage) +
    ',' + evTs + '],' + evName + '],' + evAttrs +
    '],' + lTrace + '],' + lSpan + '],' + lState + '],' + lAttrs + ']]\n'
  );
}

/** One otel_logs row (LOG_COLUMNS) as a JSONCompactEachRow line with its newline. */
export function logRow(l: LogRecord): string {
  // The exporter stores the event time, falling back to the observed time when unset.
  const ts = l.timeNs !== 0n ? l.timeNs : l.observedNs;
  return (
    '[' + ts.toString() +
    ',"' + l.traceId + '","' + l.spanId + '",' +
    (l.flags & 0xff) + ',' +
    JSON.stringify(l.severityText) + ',' +
    (l.severityNumber & 0xff) + ',' +
    JSON.stringify(l.body) + ',' +
    attributesJson(l.attributes) + ',' +
    JSON.stringify(l.eventName) +
    cached(logResource, l.resource, logResourceJson) +
    cached(logScope, l.scope, logScopeJson) +
    ']\n'
  );
}
