// Stored spans as OTLP JSON (TracesData: resourceSpans → scopeSpans → spans), the body of
// Jaeger's v3 API: hex ids, nanosecond times as decimal strings, enums as integers, the
// protobuf JSON mapping's lowerCamelCase names. Attribute values are stored as strings, so
// they come back as stringValue.

import type { SpanView } from './queries.js';

interface KeyValue {
  key: string;
  value: { stringValue: string };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  traceState?: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  events: Array<{ timeUnixNano: string; name: string; attributes: KeyValue[] }>;
  links: Array<{ traceId: string; spanId: string; traceState?: string; attributes: KeyValue[] }>;
  status: { code?: number; message?: string };
}

export interface TracesData {
  resourceSpans: Array<{
    resource: { attributes: KeyValue[] };
    scopeSpans: Array<{ scope: { name: string; version?: string }; spans: OtlpSpan[] }>;
  }>;
}

const KINDS: Record<string, number> = { Internal: 1, Server: 2, Client: 3, Producer: 4, Consumer: 5 };
const STATUS: Record<string, number> = { Ok: 1, Error: 2 };

const attributes = (a: Record<string, string>): KeyValue[] =>
  Object.keys(a)
    .sort()
    .map((key) => ({ key, value: { stringValue: a[key]! } }));

function otlpSpan(s: SpanView): OtlpSpan {
  const code = STATUS[s.statusCode];
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.traceState === '' ? {} : { traceState: s.traceState }),
    ...(s.parentSpanId === '' ? {} : { parentSpanId: s.parentSpanId }),
    name: s.name,
    kind: KINDS[s.kind] ?? 0,
    startTimeUnixNano: s.startTimeUnixNano,
    endTimeUnixNano: (BigInt(s.startTimeUnixNano) + BigInt(s.durationNs)).toString(),
    attributes: attributes(s.attributes),
    events: s.events.map((e) => ({ timeUnixNano: e.timeUnixNano, name: e.name, attributes: attributes(e.attributes) })),
    links: s.links.map((l) => ({
      traceId: l.traceId,
      spanId: l.spanId,
      ...(l.traceState === '' ? {} : { traceState: l.traceState }),
      attributes: attributes(l.attributes),
    })),
    status: {
      ...(code === undefined ? {} : { code }),
      ...(s.statusMessage === '' ? {} : { message: s.statusMessage }),
    },
  };
}

/** Spans grouped by resource (service and resource attributes) and scope, in the order given. */
export function toTracesData(spans: Iterable<SpanView>): TracesData {
  const resources = new Map<string, TracesData['resourceSpans'][number]>();
  const scopes = new Map<string, OtlpSpan[]>();
  for (const s of spans) {
    const resource = attributes({ 'service.name': s.serviceName, ...s.resourceAttributes });
    const resourceKey = JSON.stringify(resource);
    let r = resources.get(resourceKey);
    if (r === undefined) {
      r = { resource: { attributes: resource }, scopeSpans: [] };
      resources.set(resourceKey, r);
    }
    const scopeKey = `${resourceKey}\u0000${s.scopeName}\u0000${s.scopeVersion}`;
    let list = scopes.get(scopeKey);
    if (list === undefined) {
      list = [];
      scopes.set(scopeKey, list);
      r.scopeSpans.push({
        scope: { name: s.scopeName, ...(s.scopeVersion === '' ? {} : { version: s.scopeVersion }) },
        spans: list,
      });
    }
    list.push(otlpSpan(s));
  }
  return { resourceSpans: [...resources.values()] };
}
