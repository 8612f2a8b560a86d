// meshscope's own JSON under /api/meshscope/: trace summaries and spans as stored, the
// service graph with its figures, per-service latency series, and a trace's access logs.
// (Jaeger's API owns /api/services and /api/traces.)

import type { ClickHouseClient } from '@clickhouse/client';
import { CollectorError, QueryParamError } from '../errors.js';
import { Params, traceIdParam } from './params.js';
import { edgeLatency, latency, logsForTrace, logsSearch, searchTraces, services, topology, trace } from './queries.js';
import { segment, type Route } from './routes.js';

export const MESHSCOPE_PREFIX = '/api/meshscope';

function fail(err: unknown): [number, unknown] {
  if (err instanceof QueryParamError) return [400, { error: { code: err.code, message: err.message } }];
  const code = err instanceof CollectorError ? err.code : 'MS_ERR_COLLECTOR_QUERY';
  return [502, { error: { code, message: `query failed: ${(err as Error).message}` } }];
}

const route = (path: string, handle: Route['handle']): Route => ({
  pattern: new RegExp(`^${MESHSCOPE_PREFIX}${path}$`),
  handle,
  fail,
});

export function meshscopeRoutes(client: ClickHouseClient): Route[] {
  return [
    route('/services', async (q) => {
      new Params(q, []);
      return [200, { services: await services(client) }];
    }),
    route('/traces/([^/]+)', async (q, m) => {
      new Params(q, []);
      const traceId = traceIdParam(segment(m, 1));
      const spans = await trace(client, traceId);
      if (spans.length === 0)
        return [404, { error: { code: 'MS_ERR_COLLECTOR_NOT_FOUND', message: `trace ${traceId} not found` } }];
      return [200, { traceId, spans }];
    }),
    route('/traces', async (q) => {
      const p = new Params(q, [
        'service',
        'operation',
        'minDurationMs',
        'maxDurationMs',
        'status',
        'start',
        'end',
        'limit',
      ]);
      const { startMs, endMs } = p.range();
      const search = {
        service: p.string('service'),
        operation: p.string('operation'),
        minDurationMs: p.number('minDurationMs', 0, 1e9),
        maxDurationMs: p.number('maxDurationMs', 0, 1e9),
        status: p.oneOf('status', ['ok', 'error', 'unset'] as const),
        startMs,
        endMs,
        limit: p.number('limit', 1, 1000) ?? 20,
      };
      if (
        search.minDurationMs !== undefined &&
        search.maxDurationMs !== undefined &&
        search.minDurationMs > search.maxDurationMs
      ) {
        throw new QueryParamError(
          `'minDurationMs' (${search.minDurationMs}) is above 'maxDurationMs' (${search.maxDurationMs})`,
        );
      }
      return [200, { traces: await searchTraces(client, search) }];
    }),
    route('/topology', async (q) => {
      const p = new Params(q, ['start', 'end']);
      const { startMs, endMs } = p.range();
      return [200, await topology(client, startMs, endMs)];
    }),
    route('/latency', async (q) => {
      const p = new Params(q, ['service', 'start', 'end', 'step']);
      const service = p.required('service');
      const { startMs, endMs } = p.range();
      // Default: about 60 points over the range.
      const step = Math.round(p.seconds('step', 1, 86_400) ?? Math.max(1, Math.ceil((endMs - startMs) / 1000 / 60)));
      return [200, { service, stepSeconds: step, series: await latency(client, service, startMs, endMs, step) }];
    }),
    route('/edge-latency', async (q) => {
      const p = new Params(q, ['source', 'target', 'start', 'end', 'step']);
      const source = p.required('source');
      const target = p.required('target');
      const { startMs, endMs } = p.range();
      // Whole minutes (the graph's grain); about 60 points over the range by default.
      const step = 60 * Math.max(1, Math.round((p.seconds('step', 60, 86_400) ?? (endMs - startMs) / 1000 / 60) / 60));
      const series = await edgeLatency(client, source, target, startMs, endMs, step);
      return [200, { source, target, stepSeconds: step, series }];
    }),
    route('/logs', async (q) => {
      const p = new Params(q, ['traceId', 'limit']);
      const traceId = traceIdParam(p.required('traceId'));
      return [200, { logs: await logsForTrace(client, traceId, p.number('limit', 1, 10_000) ?? 1000) }];
    }),
    route('/logs/search', async (q) => {
      const p = new Params(q, ['service', 'contains', 'start', 'end', 'limit']);
      const { startMs, endMs } = p.range();
      const search = { service: p.string('service'), contains: p.string('contains'), startMs, endMs };
      return [200, { logs: await logsSearch(client, { ...search, limit: p.number('limit', 1, 10_000) ?? 200 }) }];
    }),
  ];
}
