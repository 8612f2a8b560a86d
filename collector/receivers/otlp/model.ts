// The decoded shape shared by the protobuf and JSON decoders, and its serialization to the
// ClickHouse exporter's row format (JSONEachRow lines). Resource and scope columns are
// serialized once per ResourceSpans/ScopeSpans and reused by every span under them.

/** Attribute list with every value already rendered as the exporter renders it (AsString). */
export type Attributes = Array<[string, string]>;

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
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (i > 0) out += ',';
    out += jsonKey(a[0]) + JSON.stringify(a[1]);
  }
  return out + '}';
}

// Resource and scope columns are the same for every span under them: serialized once each.
const resourceColumns = new WeakMap<ResourceContext, string>();
const scopeColumns = new WeakMap<ScopeContext, string>();

function resourceJson(r: ResourceContext): string {
  let j = resourceColumns.get(r);
  if (j === undefined) {
    j = ',"ServiceName":' + JSON.stringify(r.serviceName) + ',"ResourceAttributes":' + r.attributesJson;
    resourceColumns.set(r, j);
  }
  return j;
}

function scopeJson(sc: ScopeContext): string {
  let j = scopeColumns.get(sc);
  if (j === undefined) {
    j = ',"ScopeName":' + JSON.stringify(sc.name) + ',"ScopeVersion":' + JSON.stringify(sc.version);
    scopeColumns.set(sc, j);
  }
  return j;
}

export function findAttribute(attrs: Attributes, key: string): string | undefined {
  for (let i = 0; i < attrs.length; i++) if (attrs[i]![0] === key) return attrs[i]![1];
  return undefined;
}

export function serviceNameOf(attrs: Attributes): string {
  return findAttribute(attrs, 'service.name') ?? '';
}

/** One otel_traces row as a JSONEachRow line (with trailing newline). */
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
    '{"Timestamp":' + s.startNs.toString() +
    ',"TraceId":"' + s.traceId +
    '","SpanId":"' + s.spanId +
    '","ParentSpanId":"' + s.parentSpanId +
    '","TraceState":' + JSON.stringify(s.traceState) +
    ',"SpanName":' + JSON.stringify(s.name) +
    ',"SpanKind":"' + spanKindName(s.kind) + '"' +
    resourceJson(s.resource) +
    scopeJson(s.scope) +
    ',"SpanAttributes":' + attributesJson(s.attributes) +
    ',"Duration":' + duration.toString() +
    ',"StatusCode":"' + statusCodeName(s.statusCode) +
    '","StatusMessage":' + JSON.stringify(s.statusMessage) +
    ',"Events.Timestamp":' + evTs + '],"Events.Name":' + evName + '],"Events.Attributes":' + evAttrs +
    '],"Links.TraceId":' + lTrace + '],"Links.SpanId":' + lSpan + '],"Links.TraceState":' + lState +
    '],"Links.Attributes":' + lAttrs + ']}\n'
  );
}

/** One otel_logs row as a JSONEachRow line (with trailing newline). */
export function logRow(l: LogRecord): string {
  // The exporter stores the event time, falling back to the observed time when unset.
  const ts = l.timeNs !== 0n ? l.timeNs : l.observedNs;
  return (
    '{"Timestamp":' + ts.toString() +
    ',"TraceId":"' + l.traceId +
    '","SpanId":"' + l.spanId +
    '","TraceFlags":' + (l.flags & 0xff) +
    ',"SeverityText":' + JSON.stringify(l.severityText) +
    ',"SeverityNumber":' + (l.severityNumber & 0xff) +
    ',"ServiceName":' + JSON.stringify(l.resource.serviceName) +
    ',"Body":' + JSON.stringify(l.body) +
    ',"ResourceSchemaUrl":' + JSON.stringify(l.resource.schemaUrl) +
    ',"ResourceAttributes":' + l.resource.attributesJson +
    ',"ScopeSchemaUrl":' + JSON.stringify(l.scope.schemaUrl) +
    ',"ScopeName":' + JSON.stringify(l.scope.name) +
    ',"ScopeVersion":' + JSON.stringify(l.scope.version) +
    ',"ScopeAttributes":' + l.scope.attributesJson +
    ',"LogAttributes":' + attributesJson(l.attributes) +
    ',"EventName":' + JSON.stringify(l.eventName) +
    '}\n'
  );
}
