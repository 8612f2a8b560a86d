// The query API's SQL. Every value is a bound parameter ({name:Type}); times travel as Unix
// milliseconds and are converted in SQL, so neither side's time zone matters.

import type { ClickHouseClient } from '@clickhouse/client';

export interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: string;
  serviceName: string;
  startTimeUnixNano: string;
  startTime: string;
  durationNs: string;
  durationMs: number;
  statusCode: string;
  statusMessage: string;
  scopeName: string;
  scopeVersion: string;
  attributes: Record<string, string>;
  resourceAttributes: Record<string, string>;
  events: Array<{ timeUnixNano: string; name: string; attributes: Record<string, string> }>;
  links: Array<{ traceId: string; spanId: string; traceState: string; attributes: Record<string, string> }>;
}

interface SpanRow {
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  TraceState: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  StartNs: string;
  Duration: string;
  StatusCode: string;
  StatusMessage: string;
  ScopeName: string;
  ScopeVersion: string;
  SpanAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
  EventTimes: string[];
  EventNames: string[];
  EventAttributes: Array<Record<string, string>>;
  LinkTraceIds: string[];
  LinkSpanIds: string[];
  LinkTraceStates: string[];
  LinkAttributes: Array<Record<string, string>>;
}

const TIME_RANGE = `Timestamp >= fromUnixTimestamp64Milli({startMs:Int64}) AND Timestamp <= fromUnixTimestamp64Milli({endMs:Int64})`;

function isoFromNanos(ns: string): string {
  const n = BigInt(ns);
  const ms = Number(n / 1_000_000n);
  const frac = (n % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

async function rows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

export async function services(client: ClickHouseClient): Promise<string[]> {
  const r = await rows<{ ServiceName: string }>(
    client,
    `SELECT DISTINCT ServiceName FROM otel_traces WHERE ServiceName != '' ORDER BY ServiceName`,
    {},
  );
  return r.map((x) => x.ServiceName);
}

export async function trace(client: ClickHouseClient, traceId: string): Promise<SpanView[]> {
  // The lookup table narrows the scan to the trace's time window (the exporter's pattern).
  const r = await rows<SpanRow>(
    client,
    `WITH (SELECT (min(Start), max(End)) FROM otel_traces_trace_id_ts WHERE TraceId = {traceId:String}) AS window
SELECT TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
  toString(toUnixTimestamp64Nano(Timestamp)) AS StartNs, toString(Duration) AS Duration, StatusCode, StatusMessage,
  ScopeName, ScopeVersion, SpanAttributes, ResourceAttributes,
  arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS EventTimes, Events.Name AS EventNames,
  Events.Attributes AS EventAttributes, Links.TraceId AS LinkTraceIds, Links.SpanId AS LinkSpanIds,
  Links.TraceState AS LinkTraceStates, Links.Attributes AS LinkAttributes
FROM otel_traces
WHERE TraceId = {traceId:String}
  AND Timestamp >= toDateTime(tupleElement(window, 1)) AND Timestamp <= toDateTime(tupleElement(window, 2)) + 1
ORDER BY Timestamp, SpanId`,
    { traceId },
  );
  return r.map((s) => ({
    traceId: s.TraceId,
    spanId: s.SpanId,
    parentSpanId: s.ParentSpanId,
    traceState: s.TraceState,
    name: s.SpanName,
    kind: s.SpanKind,
    serviceName: s.ServiceName,
    startTimeUnixNano: s.StartNs,
    startTime: isoFromNanos(s.StartNs),
    durationNs: s.Duration,
    durationMs: Number(s.Duration) / 1e6,
    statusCode: s.StatusCode,
    statusMessage: s.StatusMessage,
    scopeName: s.ScopeName,
    scopeVersion: s.ScopeVersion,
    attributes: s.SpanAttributes,
    resourceAttributes: s.ResourceAttributes,
    events: s.EventNames.map((name, i) => ({
      timeUnixNano: s.EventTimes[i]!,
      name,
      attributes: s.EventAttributes[i] ?? {},
    })),
    links: s.LinkTraceIds.map((traceId, i) => ({
      traceId,
      spanId: s.LinkSpanIds[i]!,
      traceState: s.LinkTraceStates[i] ?? '',
      attributes: s.LinkAttributes[i] ?? {},
    })),
  }));
}

export interface TraceSearch {
  service?: string;
  operation?: string;
  minDurationMs?: number;
  maxDurationMs?: number;
  status?: 'ok' | 'error' | 'unset';
  startMs: number;
  endMs: number;
  limit: number;
}

export interface TraceSummary {
  traceId: string;
  startTime: string;
  durationMs: number;
  spanCount: number;
  serviceName: string;
  name: string;
  hasError: boolean;
}

export async function searchTraces(client: ClickHouseClient, q: TraceSearch): Promise<TraceSummary[]> {
  const where = [TIME_RANGE];
  const params: Record<string, unknown> = { startMs: q.startMs, endMs: q.endMs, limit: q.limit };
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  if (q.operation !== undefined) {
    where.push('SpanName = {operation:String}');
    params.operation = q.operation;
  }
  if (q.minDurationMs !== undefined) {
    where.push('Duration >= {minNs:UInt64}');
    params.minNs = Math.round(q.minDurationMs * 1e6);
  }
  if (q.maxDurationMs !== undefined) {
    where.push('Duration <= {maxNs:UInt64}');
    params.maxNs = Math.round(q.maxDurationMs * 1e6);
  }
  if (q.status !== undefined) {
    where.push('StatusCode = {status:String}');
    params.status = q.status === 'ok' ? 'Ok' : q.status === 'error' ? 'Error' : 'Unset';
  }
  // Matching spans pick the traces; each trace is then summarized from all of its spans.
  const r = await rows<{
    TraceId: string;
    StartNs: string;
    EndNs: string;
    Spans: string;
    Service: string;
    Name: string;
    Errors: string;
  }>(
    client,
    `SELECT TraceId,
  toString(min(toUnixTimestamp64Nano(Timestamp))) AS StartNs,
  toString(max(toUnixTimestamp64Nano(Timestamp) + Duration)) AS EndNs,
  count() AS Spans,
  argMin(ServiceName, Timestamp) AS Service,
  argMin(SpanName, Timestamp) AS Name,
  countIf(StatusCode = 'Error') AS Errors
FROM otel_traces
WHERE TraceId IN (
  SELECT TraceId FROM otel_traces WHERE ${where.join(' AND ')}
  GROUP BY TraceId ORDER BY max(Timestamp) DESC LIMIT {limit:UInt32}
) AND Timestamp >= fromUnixTimestamp64Milli({startMs:Int64}) - INTERVAL 1 HOUR
  AND Timestamp <= fromUnixTimestamp64Milli({endMs:Int64}) + INTERVAL 1 HOUR
GROUP BY TraceId
ORDER BY StartNs DESC`,
    params,
  );
  return r.map((t) => ({
    traceId: t.TraceId,
    startTime: isoFromNanos(t.StartNs),
    durationMs: Number(BigInt(t.EndNs) - BigInt(t.StartNs)) / 1e6,
    spanCount: Number(t.Spans),
    serviceName: t.Service,
    name: t.Name,
    hasError: Number(t.Errors) > 0,
  }));
}

export interface Topology {
  nodes: Array<{ id: string; requests: number; errors: number; p50Ms: number; p95Ms: number; p99Ms: number }>;
  edges: Array<{
    source: string;
    target: string;
    connectionType: string;
    requests: number;
    errors: number;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
  }>;
}

const MINUTE_RANGE = `Timestamp >= toStartOfMinute(toDateTime(intDiv({startMs:Int64}, 1000))) AND Timestamp <= toDateTime(intDiv({endMs:Int64}, 1000))`;

export async function topology(client: ClickHouseClient, startMs: number, endMs: number): Promise<Topology> {
  const params = { startMs, endMs };
  const edges = await rows<{
    Client: string;
    Server: string;
    ConnectionType: string;
    Requests: string;
    Failures: string;
    Q: number[];
  }>(
    client,
    `SELECT Client, Server, ConnectionType, sum(Requests) AS Requests, sum(Failures) AS Failures,
  quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs) AS Q
FROM otel_service_graph_1m WHERE ${MINUTE_RANGE}
GROUP BY Client, Server, ConnectionType ORDER BY Client, Server, ConnectionType`,
    params,
  );
  // A node's own figures are what it served: every edge into it, merged.
  const served = await rows<{ Server: string; Requests: string; Failures: string; Q: number[] }>(
    client,
    `SELECT Server, sum(Requests) AS Requests, sum(Failures) AS Failures, quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs) AS Q
FROM otel_service_graph_1m WHERE ${MINUTE_RANGE} GROUP BY Server`,
    params,
  );
  const nodes = new Map<string, Topology['nodes'][number]>();
  const node = (id: string) => {
    let n = nodes.get(id);
    if (n === undefined) {
      n = { id, requests: 0, errors: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0 };
      nodes.set(id, n);
    }
    return n;
  };
  for (const e of edges) {
    node(e.Client);
    node(e.Server);
  }
  for (const s of served) {
    const n = node(s.Server);
    n.requests = Number(s.Requests);
    n.errors = Number(s.Failures);
    [n.p50Ms, n.p95Ms, n.p99Ms] = [s.Q[0] ?? 0, s.Q[1] ?? 0, s.Q[2] ?? 0];
  }
  return {
    nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
    edges: edges.map((e) => ({
      source: e.Client,
      target: e.Server,
      connectionType: e.ConnectionType,
      requests: Number(e.Requests),
      errors: Number(e.Failures),
      p50Ms: e.Q[0] ?? 0,
      p95Ms: e.Q[1] ?? 0,
      p99Ms: e.Q[2] ?? 0,
    })),
  };
}

export interface LatencyPoint {
  time: string;
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** Server-side latency of a service (its SERVER and CONSUMER spans), per step. */
export async function latency(
  client: ClickHouseClient,
  service: string,
  startMs: number,
  endMs: number,
  stepSeconds: number,
): Promise<LatencyPoint[]> {
  const r = await rows<{ T: string; N: string; Q: number[] }>(
    client,
    `SELECT toString(toUnixTimestamp(toStartOfInterval(toDateTime(Timestamp), INTERVAL {step:UInt32} SECOND))) AS T, count() AS N,
  quantiles(0.5, 0.95, 0.99)(Duration / 1e6) AS Q
FROM otel_traces
WHERE ServiceName = {service:String} AND SpanKind IN ('Server', 'Consumer') AND ${TIME_RANGE}
GROUP BY T ORDER BY T`,
    { service, startMs, endMs, step: stepSeconds },
  );
  return r.map((p) => ({
    time: new Date(Number(p.T) * 1000).toISOString(),
    count: Number(p.N),
    p50Ms: p.Q[0] ?? 0,
    p95Ms: p.Q[1] ?? 0,
    p99Ms: p.Q[2] ?? 0,
  }));
}

export interface LogView {
  timeUnixNano: string;
  time: string;
  traceId: string;
  spanId: string;
  severityText: string;
  severityNumber: number;
  serviceName: string;
  body: string;
  attributes: Record<string, string>;
  resourceAttributes: Record<string, string>;
}

export async function logsForTrace(client: ClickHouseClient, traceId: string, limit: number): Promise<LogView[]> {
  const r = await rows<{
    Ns: string;
    TraceId: string;
    SpanId: string;
    SeverityText: string;
    SeverityNumber: number;
    ServiceName: string;
    Body: string;
    LogAttributes: Record<string, string>;
    ResourceAttributes: Record<string, string>;
  }>(
    client,
    `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS Ns, TraceId, SpanId, SeverityText, SeverityNumber, ServiceName, Body,
  LogAttributes, ResourceAttributes
FROM otel_logs WHERE TraceId = {traceId:String} ORDER BY Timestamp LIMIT {limit:UInt32}`,
    { traceId, limit },
  );
  return r.map((l) => ({
    timeUnixNano: l.Ns,
    time: isoFromNanos(l.Ns),
    traceId: l.TraceId,
    spanId: l.SpanId,
    severityText: l.SeverityText,
    severityNumber: Number(l.SeverityNumber),
    serviceName: l.ServiceName,
    body: l.Body,
    attributes: l.LogAttributes,
    resourceAttributes: l.ResourceAttributes,
  }));
}
