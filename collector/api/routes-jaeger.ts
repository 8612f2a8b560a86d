// Jaeger's query API, as the Jaeger UI and Grafana's Jaeger data source call it: the v1 HTTP
// JSON API (/api/services, /api/operations, /api/traces, /api/dependencies, every answer in
// the {data, total, limit, offset, errors} envelope) and the v3 HTTP gateway (/api/v3/*, OTLP
// JSON under `result`). Parameters are Jaeger's: µs start/end, Go durations, tag filters.

import type { ClickHouseClient } from '@clickhouse/client';
import { QueryParamError } from '../errors.js';
import { jaegerError, jaegerResponse, jaegerSpanKind, toJaegerTrace } from './jaeger-model.js';
import { toTracesData } from './otlp-json.js';
import { jaegerTags, jaegerTraceIdParam, Params, parseGoDuration } from './params.js';
import {
  dependencies,
  findTraceIds,
  operations,
  services,
  spansOfTraces,
  type SpanView,
  type TraceSearch,
} from './queries.js';
import { segment, type Route } from './routes.js';

/** Jaeger's defaults: a search looks back 2 days, dependencies 1 day, 100 traces. */
const SEARCH_LOOKBACK_MS = 2 * 86_400_000;
const DEPENDENCIES_LOOKBACK_MS = 86_400_000;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1500;

const STORED_KIND: Record<string, string> = {
  server: 'Server',
  client: 'Client',
  producer: 'Producer',
  consumer: 'Consumer',
  internal: 'Internal',
};

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function failV1(err: unknown): [number, unknown] {
  if (err instanceof QueryParamError) return [400, jaegerError(400, err.message)];
  return [500, jaegerError(500, `query failed: ${message(err)}`)];
}

function failV3(err: unknown): [number, unknown] {
  const code = err instanceof QueryParamError ? 400 : 500;
  return [code, { error: { httpCode: code, message: message(err) } }];
}

const v1 = (path: string, handle: Route['handle']): Route => ({
  pattern: new RegExp(`^${path}$`),
  handle,
  fail: failV1,
});
const v3 = (path: string, handle: Route['handle']): Route => ({
  pattern: new RegExp(`^${path}$`),
  handle,
  fail: failV3,
});

function spanKindParam(p: Params, ...names: string[]): string | undefined {
  for (const name of names) {
    const kind = p.oneOf(name, ['server', 'client', 'producer', 'consumer', 'internal'] as const);
    if (kind !== undefined) return STORED_KIND[kind];
  }
  return undefined;
}

/** The first of several accepted names (v3's camelCase and its snake_case aliases) that is set. */
function first<T>(p: Params, read: (p: Params, name: string) => T | undefined, ...names: string[]): T | undefined {
  for (const name of names) {
    const v = read(p, name);
    if (v !== undefined) return v;
  }
  return undefined;
}

function checkDurations(min: number | undefined, max: number | undefined, minName: string, maxName: string): void {
  if (min !== undefined && max !== undefined && max < min)
    throw new QueryParamError(`'${maxName}' (${max} ms) should be greater than '${minName}' (${min} ms)`);
}

/** Jaeger UI's lookback (1h, 2d, custom): a Go duration, or days, or 'custom' (start/end rule). */
function lookbackMs(p: Params): number | undefined {
  const v = p.string('lookback');
  if (v === undefined || v === 'custom') return undefined;
  const days = /^(\d+)d$/.exec(v);
  const ms = days !== null ? Number(days[1]) * 86_400_000 : parseGoDuration(v);
  if (ms === undefined)
    throw new QueryParamError(`'lookback' must be a duration like 1h or 2d, or 'custom', got '${v}'`);
  return ms;
}

async function tracesOf(client: ClickHouseClient, ids: readonly string[]): Promise<Array<[string, SpanView[]]>> {
  const byId = await spansOfTraces(client, ids);
  return ids.flatMap((id): Array<[string, SpanView[]]> => {
    const spans = byId.get(id);
    return spans === undefined ? [] : [[id, spans]];
  });
}

export function jaegerRoutes(client: ClickHouseClient): Route[] {
  return [
    v1('/api/services', async (q) => {
      new Params(q, []);
      return [200, jaegerResponse(await services(client))];
    }),
    v1('/api/services/([^/]+)/operations', async (q, m) => {
      new Params(q, []);
      const names = [...new Set((await operations(client, segment(m, 1))).map((o) => o.name))];
      return [200, jaegerResponse(names)];
    }),
    v1('/api/operations', async (q) => {
      const p = new Params(q, ['service', 'spanKind']);
      const service = p.required('service');
      const ops = await operations(client, service, spanKindParam(p, 'spanKind'));
      return [200, jaegerResponse(ops.map((o) => ({ name: o.name, spanKind: jaegerSpanKind(o.kind) })))];
    }),
    v1('/api/traces/([^/]+)', async (q, m) => {
      // Grafana sends the panel's range as start/end (µs) when its traceIdTimeParams is on; the
      // lookup table finds the trace's own window, so they are checked, not needed.
      const p = new Params(q, ['prettyPrint', 'start', 'end']);
      p.micros('start');
      p.micros('end');
      const traceId = jaegerTraceIdParam(segment(m, 1));
      const found = await tracesOf(client, [traceId]);
      if (found.length === 0) return [404, jaegerError(404, 'trace not found')];
      return [200, jaegerResponse(found.map(([id, spans]) => toJaegerTrace(id, spans)))];
    }),
    v1('/api/traces', async (q) => {
      const p = new Params(q, [
        'service',
        'operation',
        'tag',
        'tags',
        'start',
        'end',
        'limit',
        'minDuration',
        'maxDuration',
        'lookback',
        'traceID',
        'prettyPrint',
      ]);
      const ids = p.all('traceID').map(jaegerTraceIdParam);
      const search = traceSearchV1(p);
      if (ids.length === 0 && search.service === undefined)
        throw new QueryParamError("parameter 'service' is required");
      const found = await tracesOf(client, ids.length > 0 ? ids : await findTraceIds(client, search));
      return [200, jaegerResponse(found.map(([id, spans]) => toJaegerTrace(id, spans)))];
    }),
    v1('/api/dependencies', async (q) => {
      const p = new Params(q, ['endTs', 'lookback']);
      const endMs = p.number('endTs', 0, 1e16) ?? Date.now();
      const lookback = p.number('lookback', 0, 1e16) ?? DEPENDENCIES_LOOKBACK_MS;
      const links = await dependencies(client, endMs - lookback, endMs);
      return [200, jaegerResponse(links.map((l) => ({ parent: l.parent, child: l.child, callCount: l.callCount })))];
    }),
    v3('/api/v3/services', async (q) => {
      new Params(q, []);
      return [200, { services: await services(client) }];
    }),
    v3('/api/v3/operations', async (q) => {
      const p = new Params(q, ['service', 'spanKind', 'span_kind']);
      const ops = await operations(client, p.required('service'), spanKindParam(p, 'spanKind', 'span_kind'));
      return [200, { operations: ops.map((o) => ({ name: o.name, spanKind: jaegerSpanKind(o.kind) || 'internal' })) }];
    }),
    v3('/api/v3/traces/([^/]+)', async (q, m) => {
      new Params(q, ['startTime', 'endTime', 'start_time', 'end_time', 'rawTraces', 'raw_traces']);
      const traceId = jaegerTraceIdParam(segment(m, 1));
      const found = await tracesOf(client, [traceId]);
      if (found.length === 0) return [404, { error: { httpCode: 404, message: 'trace not found' } }];
      return [200, { result: toTracesData(found[0]![1]) }];
    }),
    v3('/api/v3/traces', async (q) => {
      const found = await tracesOf(client, await findTraceIds(client, traceSearchV3(q)));
      if (found.length === 0) return [404, { error: { httpCode: 404, message: 'No traces found' } }];
      return [200, { result: toTracesData(found.flatMap(([, spans]) => spans)) }];
    }),
  ];
}

/** /api/traces parameters: µs start/end (or lookback before end), Go durations, tags. */
function traceSearchV1(p: Params): TraceSearch {
  const endMs = p.micros('end') ?? Date.now();
  const startMs = p.micros('start') ?? endMs - (lookbackMs(p) ?? SEARCH_LOOKBACK_MS);
  if (startMs > endMs) throw new QueryParamError(`'start' (${startMs * 1000} µs) is after 'end' (${endMs * 1000} µs)`);
  const minDurationMs = p.goDuration('minDuration');
  const maxDurationMs = p.goDuration('maxDuration');
  checkDurations(minDurationMs, maxDurationMs, 'minDuration', 'maxDuration');
  return {
    service: p.string('service'),
    operation: p.string('operation'),
    tags: jaegerTags(p),
    minDurationMs,
    maxDurationMs,
    startMs,
    endMs,
    limit: p.number('limit', 0, MAX_LIMIT) || DEFAULT_LIMIT,
  };
}

/** /api/v3/traces parameters: query.* in camelCase (or the deprecated snake_case), RFC 3339 times. */
function traceSearchV3(q: URLSearchParams): TraceSearch {
  const names = {
    service: ['query.serviceName', 'query.service_name'],
    operation: ['query.operationName', 'query.operation_name'],
    min: ['query.startTimeMin', 'query.start_time_min'],
    max: ['query.startTimeMax', 'query.start_time_max'],
    depth: ['query.searchDepth', 'query.search_depth', 'query.num_traces'],
    dmin: ['query.durationMin', 'query.duration_min'],
    dmax: ['query.durationMax', 'query.duration_max'],
    raw: ['query.rawTraces', 'query.raw_traces'],
  };
  const p = new Params(q, Object.values(names).flat());
  const startMs = first(p, (p, n) => p.time(n), ...names.min);
  const endMs = first(p, (p, n) => p.time(n), ...names.max);
  if (startMs === undefined || endMs === undefined)
    throw new QueryParamError('query.startTimeMin and query.startTimeMax are required');
  if (startMs > endMs) throw new QueryParamError('query.startTimeMin is after query.startTimeMax');
  const minDurationMs = first(p, (p, n) => p.goDuration(n), ...names.dmin);
  const maxDurationMs = first(p, (p, n) => p.goDuration(n), ...names.dmax);
  checkDurations(minDurationMs, maxDurationMs, 'query.durationMin', 'query.durationMax');
  return {
    service: first(p, (p, n) => p.string(n), ...names.service),
    operation: first(p, (p, n) => p.string(n), ...names.operation),
    minDurationMs,
    maxDurationMs,
    startMs,
    endMs,
    limit: first(p, (p, n) => p.number(n, 1, MAX_LIMIT), ...names.depth) ?? DEFAULT_LIMIT,
  };
}
