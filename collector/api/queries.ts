// The query API's SQL. Every value is a bound parameter ({name:Type}); times travel as Unix
// milliseconds and are converted in SQL, so neither side's time zone matters.

import type { ClickHouseClient } from '@clickhouse/client';
import type { LatencyPoint, RedFigures, Topology } from './topology-model.js';

export type { LatencyPoint, RedFigures, Topology } from './topology-model.js';

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

const MINUTE_RANGE = `Timestamp >= toStartOfMinute(toDateTime(intDiv({startMs:Int64}, 1000))) AND Timestamp <= toDateTime(intDiv({endMs:Int64}, 1000))`;

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

const SPAN_COLUMNS = `TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
  toString(toUnixTimestamp64Nano(Timestamp)) AS StartNs, toString(Duration) AS Duration, StatusCode, StatusMessage,
  ScopeName, ScopeVersion, SpanAttributes, ResourceAttributes,
  arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS EventTimes, Events.Name AS EventNames,
  Events.Attributes AS EventAttributes, Links.TraceId AS LinkTraceIds, Links.SpanId AS LinkSpanIds,
  Links.TraceState AS LinkTraceStates, Links.Attributes AS LinkAttributes`;

function spanView(s: SpanRow): SpanView {
  return {
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
  };
}

/** Every span of each trace (ids are 32 lowercase hex), grouped by trace id, in start order. */
export async function spansOfTraces(
  client: ClickHouseClient,
  traceIds: readonly string[],
): Promise<Map<string, SpanView[]>> {
  const out = new Map<string, SpanView[]>();
  if (traceIds.length === 0) return out;
  // The lookup table narrows the scan to the traces' time window (the exporter's pattern).
  const r = await rows<SpanRow>(
    client,
    `WITH (SELECT (min(Start), max(End)) FROM otel_traces_trace_id_ts WHERE TraceId IN {traceIds:Array(String)}) AS window
SELECT ${SPAN_COLUMNS}
FROM otel_traces
WHERE TraceId IN {traceIds:Array(String)}
  AND Timestamp >= toDateTime(tupleElement(window, 1)) AND Timestamp <= toDateTime(tupleElement(window, 2)) + 1
ORDER BY Timestamp, SpanId`,
    { traceIds },
  );
  for (const row of r) {
    const v = spanView(row);
    let list = out.get(v.traceId);
    if (list === undefined) out.set(v.traceId, (list = []));
    list.push(v);
  }
  return out;
}

export async function trace(client: ClickHouseClient, traceId: string): Promise<SpanView[]> {
  return (await spansOfTraces(client, [traceId])).get(traceId) ?? [];
}

export interface Operation {
  name: string;
  /** The stored kind (Server, Client, ...). */
  kind: string;
}

/** The span names of a service, with their kinds; one kind only when `kind` is given (Server, Client...). */
export async function operations(client: ClickHouseClient, service: string, kind?: string): Promise<Operation[]> {
  const r = await rows<{ SpanName: string; SpanKind: string }>(
    client,
    `SELECT SpanName, SpanKind FROM otel_traces
WHERE ServiceName = {service:String}${kind === undefined ? '' : ' AND SpanKind = {kind:String}'}
GROUP BY SpanName, SpanKind ORDER BY SpanName, SpanKind`,
    { service, kind },
  );
  return r.map((o) => ({ name: o.SpanName, kind: o.SpanKind }));
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount: number;
}

/** Service-to-service call counts in a range, from the service graph's per-minute table. */
export async function dependencies(
  client: ClickHouseClient,
  startMs: number,
  endMs: number,
): Promise<DependencyLink[]> {
  const r = await rows<{ Client: string; Server: string; Requests: string; Failures: string }>(
    client,
    `SELECT Client, Server, sum(Requests) AS Requests, sum(Failures) AS Failures
FROM otel_service_graph_1m WHERE ${MINUTE_RANGE}
GROUP BY Client, Server ORDER BY Client, Server`,
    { startMs: Math.floor(startMs), endMs: Math.ceil(endMs) },
  );
  return r.map((d) => ({
    parent: d.Client,
    child: d.Server,
    callCount: Number(d.Requests),
    errorCount: Number(d.Failures),
  }));
}

export interface TraceSearch {
  service?: string;
  operation?: string;
  minDurationMs?: number;
  maxDurationMs?: number;
  status?: 'ok' | 'error' | 'unset';
  /** Attribute filters: a span matches when each key has the value on the span or its resource. */
  tags?: ReadonlyMap<string, string>;
  /** Span start bounds in Unix milliseconds; fractions keep microseconds. */
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

/** One tag filter as SQL, Jaeger's special tags (error, span.kind, otel.status_code) on their columns. */
function tagCondition(i: number, key: string, value: string, params: Record<string, unknown>): string {
  params[`tk${i}`] = key;
  params[`tv${i}`] = value;
  const attr = `SpanAttributes[{tk${i}:String}] = {tv${i}:String} OR ResourceAttributes[{tk${i}:String}] = {tv${i}:String}`;
  if (key === 'error') return `(StatusCode ${value === 'true' ? '=' : '!='} 'Error' OR ${attr})`;
  if (key === 'span.kind') return `(lower(SpanKind) = lower({tv${i}:String}) OR ${attr})`;
  if (key === 'otel.status_code') return `(upper(StatusCode) = upper({tv${i}:String}) OR ${attr})`;
  return `(${attr})`;
}

/** The trace ids a search matches (a span matching every condition), the most recent first. */
export async function findTraceIds(client: ClickHouseClient, q: TraceSearch): Promise<string[]> {
  const where = [
    'Timestamp >= fromUnixTimestamp64Micro({startUs:Int64}) AND Timestamp <= fromUnixTimestamp64Micro({endUs:Int64})',
  ];
  const params: Record<string, unknown> = {
    startUs: Math.floor(q.startMs * 1000),
    endUs: Math.ceil(q.endMs * 1000),
    limit: q.limit,
  };
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
  let i = 0;
  for (const [k, v] of q.tags ?? []) where.push(tagCondition(i++, k, v, params));
  // Fast path: the most recent matching spans (a top-k, not a sort of every match), grouped. A
  // trace with any span among them has its latest there too, and every trace left out is older,
  // so when they hold `limit` traces those are exactly the answer; else group every match.
  params.scan = Math.min(q.limit * 64, 100_000);
  const recent = await rows<{ TraceId: string }>(
    client,
    `SELECT TraceId FROM (
  SELECT TraceId, Timestamp FROM otel_traces WHERE ${where.join(' AND ')} ORDER BY Timestamp DESC LIMIT {scan:UInt32}
) GROUP BY TraceId ORDER BY max(Timestamp) DESC LIMIT {limit:UInt32}`,
    params,
  );
  if (recent.length >= q.limit) return recent.map((t) => t.TraceId);
  const r = await rows<{ TraceId: string }>(
    client,
    `SELECT TraceId FROM otel_traces WHERE ${where.join(' AND ')}
GROUP BY TraceId ORDER BY max(Timestamp) DESC LIMIT {limit:UInt32}`,
    params,
  );
  return r.map((t) => t.TraceId);
}

export async function searchTraces(client: ClickHouseClient, q: TraceSearch): Promise<TraceSummary[]> {
  const traceIds = await findTraceIds(client, q);
  if (traceIds.length === 0) return [];
  // Matching spans picked the traces; each trace is summarized from all of its spans.
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
    // The traces' own window from the lookup table, as spansOfTraces reads them: the search range
    // widened by an hour each side scanned 2 h of spans for 20 traces.
    `WITH (SELECT (min(Start), max(End)) FROM otel_traces_trace_id_ts WHERE TraceId IN {traceIds:Array(String)}) AS window
SELECT TraceId,
  toString(min(toUnixTimestamp64Nano(Timestamp))) AS StartNs,
  toString(max(toUnixTimestamp64Nano(Timestamp) + Duration)) AS EndNs,
  count() AS Spans,
  argMin(ServiceName, Timestamp) AS Service,
  argMin(SpanName, Timestamp) AS Name,
  countIf(StatusCode = 'Error') AS Errors
FROM otel_traces
WHERE TraceId IN {traceIds:Array(String)}
  AND Timestamp >= toDateTime(tupleElement(window, 1)) AND Timestamp <= toDateTime(tupleElement(window, 2)) + 1
GROUP BY TraceId
ORDER BY StartNs DESC`,
    { traceIds },
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

interface RedRow {
  Requests: string;
  Failures: string;
  Q: number[];
}

const red = (r: RedRow): RedFigures => ({
  requests: Number(r.Requests),
  errors: Number(r.Failures),
  p50Ms: r.Q[0] ?? 0,
  p95Ms: r.Q[1] ?? 0,
  p99Ms: r.Q[2] ?? 0,
});

const RED_COLUMNS = `sum(Requests) AS Requests, sum(Failures) AS Failures,
  quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs) AS Q`;

/** One row of the topology's grouping sets; NULL marks a column the row's set does not group by. */
interface TopologyRow extends RedRow {
  Protocols: string[];
  Mtls: number;
  Client: string | null;
  Server: string;
  ConnectionType: string | null;
  ClientVersion: string | null;
  ServerVersion: string | null;
}

export async function topology(client: ClickHouseClient, startMs: number, endMs: number): Promise<Topology> {
  // One read of the per-minute table, four groupings (quantile states merge only within a
  // group): edges, edges by version, what each service served, what each version served.
  // group_by_use_nulls tells the sets apart: a column outside a row's set is NULL, never ''.
  const rs = await rows<TopologyRow>(
    client,
    `SELECT Client, Server, ConnectionType, ClientVersion, ServerVersion, ${RED_COLUMNS},
  arraySort(groupUniqArrayIf(Protocol, Protocol != '')) AS Protocols, min(Mtls) AS Mtls
FROM otel_service_graph_1m WHERE ${MINUTE_RANGE}
GROUP BY GROUPING SETS (
  (Client, Server, ConnectionType),
  (Client, Server, ConnectionType, ClientVersion, ServerVersion),
  (Server),
  (Server, ServerVersion))
ORDER BY Client, Server, ConnectionType, ClientVersion, ServerVersion
SETTINGS group_by_use_nulls = 1`,
    { startMs, endMs },
  );
  const zero = (): RedFigures => ({ requests: 0, errors: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0 });
  const nodes = new Map<string, Topology['nodes'][number]>();
  const node = (id: string) => {
    let n = nodes.get(id);
    if (n === undefined) {
      n = { id, ...zero(), versions: [] };
      nodes.set(id, n);
    }
    return n;
  };
  const version = (id: string, v: string) => {
    const n = node(id);
    let entry = n.versions.find((x) => x.version === v);
    if (entry === undefined) n.versions.push((entry = { version: v, ...zero() }));
    return entry;
  };
  const edges: Topology['edges'] = [];
  const byEdge = new Map<string, Topology['edges'][number]['versions']>();
  const edgeKey = (r: TopologyRow) => `${r.Client}\n${r.Server}\n${r.ConnectionType}`;
  for (const r of rs) {
    if (r.Client === null) {
      // A node's own figures are what it served: every edge into it, merged.
      if (r.ServerVersion === null) Object.assign(node(r.Server), red(r));
      else if (r.ServerVersion !== '') Object.assign(version(r.Server, r.ServerVersion), red(r));
    } else if (r.ClientVersion === null || r.ServerVersion === null) {
      node(r.Client);
      node(r.Server);
      edges.push({
        source: r.Client,
        target: r.Server,
        connectionType: r.ConnectionType ?? '',
        protocols: r.Protocols,
        mtls: r.Mtls === 1,
        ...red(r),
        versions: [],
      });
    } else {
      // A version that only calls (never served in the range) is still drawn.
      if (r.ClientVersion !== '') version(r.Client, r.ClientVersion);
      let list = byEdge.get(edgeKey(r));
      if (list === undefined) byEdge.set(edgeKey(r), (list = []));
      list.push({ sourceVersion: r.ClientVersion, targetVersion: r.ServerVersion, ...red(r) });
    }
  }
  for (const n of nodes.values()) n.versions.sort((a, b) => a.version.localeCompare(b.version));
  for (const e of edges) {
    const list = byEdge.get(`${e.source}\n${e.target}\n${e.connectionType}`) ?? [];
    // An edge with no version on either side has no breakdown to give.
    if (list.some((v) => v.sourceVersion !== '' || v.targetVersion !== '')) e.versions = list;
  }
  return { nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)), edges };
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

/**
 * An edge's latency as its server measured it, per step of whole minutes (the service graph is
 * kept per minute): request and error counts and merged p50/p95/p99.
 */
export async function edgeLatency(
  client: ClickHouseClient,
  source: string,
  target: string,
  startMs: number,
  endMs: number,
  stepSeconds: number,
): Promise<Array<LatencyPoint & { errors: number }>> {
  const r = await rows<{ T: string; N: string; F: string; Q: number[] }>(
    client,
    `SELECT toString(toUnixTimestamp(toStartOfInterval(Timestamp, INTERVAL {step:UInt32} SECOND))) AS T,
  sum(Requests) AS N, sum(Failures) AS F, quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs) AS Q
FROM otel_service_graph_1m
WHERE Client = {source:String} AND Server = {target:String} AND ${MINUTE_RANGE}
GROUP BY T ORDER BY T`,
    { source, target, startMs: Math.floor(startMs), endMs: Math.ceil(endMs), step: Math.max(60, stepSeconds) },
  );
  return r.map((p) => ({
    time: new Date(Number(p.T) * 1000).toISOString(),
    count: Number(p.N),
    errors: Number(p.F),
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

interface LogRow {
  Ns: string;
  TraceId: string;
  SpanId: string;
  SeverityText: string;
  SeverityNumber: number;
  ServiceName: string;
  Body: string;
  LogAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
}

const LOG_COLUMNS = `toString(toUnixTimestamp64Nano(Timestamp)) AS Ns, TraceId, SpanId, SeverityText, SeverityNumber,
  ServiceName, Body, LogAttributes, ResourceAttributes`;

function logView(l: LogRow): LogView {
  return {
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
  };
}

export async function logsForTrace(client: ClickHouseClient, traceId: string, limit: number): Promise<LogView[]> {
  const r = await rows<LogRow>(
    client,
    `SELECT ${LOG_COLUMNS} FROM otel_logs WHERE TraceId = {traceId:String} ORDER BY Timestamp LIMIT {limit:UInt32}`,
    { traceId, limit },
  );
  return r.map(logView);
}

export interface LogSearch {
  service?: string;
  /** A substring of the body (case-insensitive). */
  contains?: string;
  startMs: number;
  endMs: number;
  limit: number;
}

/** Access-log lines in a range, the most recent first. */
export async function logsSearch(client: ClickHouseClient, q: LogSearch): Promise<LogView[]> {
  const where = [TIME_RANGE];
  if (q.service !== undefined) where.push('ServiceName = {service:String}');
  if (q.contains !== undefined) where.push('positionCaseInsensitive(Body, {contains:String}) > 0');
  const r = await rows<LogRow>(
    client,
    `SELECT ${LOG_COLUMNS} FROM otel_logs WHERE ${where.join(' AND ')} ORDER BY Timestamp DESC LIMIT {limit:UInt32}`,
    { ...q, startMs: Math.floor(q.startMs), endMs: Math.ceil(q.endMs) },
  );
  return r.map(logView);
}
