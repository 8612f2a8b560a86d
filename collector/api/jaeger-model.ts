// Stored spans in Jaeger's JSON model (the shape of jaeger's model/json, which the Jaeger UI and
// Grafana's Jaeger data source read), translated as Jaeger translates OTLP: µs times, parent as
// a CHILD_OF reference and links as FOLLOWS_FROM, events as logs, the resource as the process,
// and the span's kind, status and scope as the tags Jaeger gives them.

import type { SpanView } from './queries.js';

export interface JaegerKeyValue {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: string | boolean | number;
}

export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  flags: number;
  operationName: string;
  references: JaegerReference[];
  /** Unix microseconds. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  tags: JaegerKeyValue[];
  logs: Array<{ timestamp: number; fields: JaegerKeyValue[] }>;
  processID: string;
  warnings: string[] | null;
}

export interface JaegerProcess {
  serviceName: string;
  tags: JaegerKeyValue[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, JaegerProcess>;
  warnings: string[] | null;
}

/** Jaeger's envelope for every /api answer. */
export interface JaegerResponse<T> {
  data: T;
  total: number;
  limit: number;
  offset: number;
  errors: Array<{ code: number; msg: string; traceID?: string }> | null;
}

export function jaegerResponse<T>(data: T, total = Array.isArray(data) ? data.length : 0): JaegerResponse<T> {
  return { data, total, limit: 0, offset: 0, errors: null };
}

export function jaegerError(code: number, msg: string): JaegerResponse<null> {
  return { data: null, total: 0, limit: 0, offset: 0, errors: [{ code, msg }] };
}

const ZERO_HIGH = '0000000000000000';

/** Jaeger prints a trace id whose high 64 bits are zero as 16 hex digits. */
export function jaegerTraceId(id: string): string {
  return id.length === 32 && id.startsWith(ZERO_HIGH) ? id.slice(16) : id;
}

const str = (key: string, value: string): JaegerKeyValue => ({ key, type: 'string', value });

function attributeTags(attrs: Record<string, string>): JaegerKeyValue[] {
  return Object.keys(attrs)
    .sort()
    .map((k) => str(k, attrs[k]!));
}

const KIND_TAG: Record<string, string> = {
  Server: 'server',
  Client: 'client',
  Producer: 'producer',
  Consumer: 'consumer',
  Internal: 'internal',
};

/** The lowercase kind Jaeger uses (span.kind tag, spanKind of operations); '' when unspecified. */
export function jaegerSpanKind(kind: string): string {
  return KIND_TAG[kind] ?? '';
}

const micros = (ns: string): number => Number(BigInt(ns) / 1000n);

function spanTags(s: SpanView): JaegerKeyValue[] {
  const tags = attributeTags(s.attributes);
  const kind = jaegerSpanKind(s.kind);
  if (kind !== '') tags.push(str('span.kind', kind));
  if (s.statusCode === 'Error') {
    tags.push({ key: 'error', type: 'bool', value: true });
    tags.push(str('otel.status_code', 'ERROR'));
    if (s.statusMessage !== '') tags.push(str('otel.status_description', s.statusMessage));
  } else if (s.statusCode === 'Ok') tags.push(str('otel.status_code', 'OK'));
  if (s.scopeName !== '') tags.push(str('otel.scope.name', s.scopeName));
  if (s.scopeVersion !== '') tags.push(str('otel.scope.version', s.scopeVersion));
  if (s.traceState !== '') tags.push(str('w3c.tracestate', s.traceState));
  return tags;
}

/** One trace's spans (from one query) as a Jaeger trace. */
export function toJaegerTrace(traceId: string, spans: readonly SpanView[]): JaegerTrace {
  const processes: Record<string, JaegerProcess> = {};
  const processIds = new Map<string, string>();
  const processOf = (s: SpanView): string => {
    const { 'service.name': _service, ...rest } = s.resourceAttributes;
    const tags = attributeTags(rest);
    const key = `${s.serviceName}\u0000${JSON.stringify(tags)}`;
    let id = processIds.get(key);
    if (id === undefined) {
      id = `p${processIds.size + 1}`;
      processIds.set(key, id);
      processes[id] = { serviceName: s.serviceName, tags };
    }
    return id;
  };
  const id = jaegerTraceId(traceId);
  return {
    traceID: id,
    spans: spans.map((s) => {
      const references: JaegerReference[] = [];
      if (s.parentSpanId !== '') references.push({ refType: 'CHILD_OF', traceID: id, spanID: s.parentSpanId });
      for (const l of s.links)
        references.push({ refType: 'FOLLOWS_FROM', traceID: jaegerTraceId(l.traceId), spanID: l.spanId });
      return {
        traceID: id,
        spanID: s.spanId,
        flags: 1,
        operationName: s.name,
        references,
        startTime: micros(s.startTimeUnixNano),
        duration: micros(s.durationNs),
        tags: spanTags(s),
        logs: s.events.map((e) => ({
          timestamp: micros(e.timeUnixNano),
          fields: [str('event', e.name), ...attributeTags(e.attributes)],
        })),
        processID: processOf(s),
        warnings: null,
      };
    }),
    processes,
    warnings: null,
  };
}
