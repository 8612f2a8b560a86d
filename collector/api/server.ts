// The query API (JSON), the collector's own /metrics, and /healthz and /readyz.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import { CollectorError, QueryParamError } from '../errors.js';
import type { CollectorMetrics } from '../telemetry.js';
import { Params, traceIdParam } from './params.js';
import { latency, logsForTrace, searchTraces, services, topology, trace } from './queries.js';

export interface ApiState {
  /** Why the collector is not ready, or undefined when it is. */
  notReady(): string | undefined;
}

type Handler = (q: URLSearchParams, match: RegExpMatchArray) => Promise<[number, unknown]>;

export function createApiServer(client: ClickHouseClient, metrics: CollectorMetrics, state: ApiState): Server {
  const routes: Array<[RegExp, Handler]> = [
    [
      /^\/api\/services$/,
      async (q) => {
        new Params(q, []);
        return [200, { services: await services(client) }];
      },
    ],
    [
      /^\/api\/traces\/([^/]+)$/,
      async (q, m) => {
        new Params(q, []);
        const traceId = traceIdParam(decodeURIComponent(m[1]!));
        const spans = await trace(client, traceId);
        if (spans.length === 0)
          return [404, { error: { code: 'MS_ERR_COLLECTOR_NOT_FOUND', message: `trace ${traceId} not found` } }];
        return [200, { traceId, spans }];
      },
    ],
    [
      /^\/api\/traces$/,
      async (q) => {
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
      },
    ],
    [
      /^\/api\/topology$/,
      async (q) => {
        const p = new Params(q, ['start', 'end']);
        const { startMs, endMs } = p.range();
        return [200, await topology(client, startMs, endMs)];
      },
    ],
    [
      /^\/api\/latency$/,
      async (q) => {
        const p = new Params(q, ['service', 'start', 'end', 'step']);
        const service = p.required('service');
        const { startMs, endMs } = p.range();
        // Default: about 60 points over the range.
        const step = Math.round(p.seconds('step', 1, 86_400) ?? Math.max(1, Math.ceil((endMs - startMs) / 1000 / 60)));
        return [200, { service, stepSeconds: step, series: await latency(client, service, startMs, endMs, step) }];
      },
    ],
    [
      /^\/api\/logs$/,
      async (q) => {
        const p = new Params(q, ['traceId', 'limit']);
        const traceId = traceIdParam(p.required('traceId'));
        return [200, { logs: await logsForTrace(client, traceId, p.number('limit', 1, 10_000) ?? 1000) }];
      },
    ],
  ];

  const send = (res: ServerResponse, code: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://collector');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url.pathname === '/readyz') {
      const why = state.notReady();
      res
        .writeHead(why === undefined ? 200 : 503, { 'content-type': 'text/plain' })
        .end(why === undefined ? 'ready\n' : `not ready: ${why}\n`);
      return;
    }
    if (url.pathname === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      return;
    }
    for (const [re, handler] of routes) {
      const m = url.pathname.match(re);
      if (m === null) continue;
      try {
        const [code, body] = await handler(url.searchParams, m);
        send(res, code, body);
      } catch (err) {
        if (err instanceof QueryParamError) send(res, 400, { error: { code: err.code, message: err.message } });
        else {
          const code = err instanceof CollectorError ? err.code : 'MS_ERR_COLLECTOR_QUERY';
          send(res, 502, { error: { code, message: `query failed: ${(err as Error).message}` } });
        }
      }
      return;
    }
    send(res, 404, { error: { code: 'MS_ERR_COLLECTOR_NOT_FOUND', message: `no route ${url.pathname}` } });
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { code: 'MS_ERR_COLLECTOR_INTERNAL', message: String(err) } });
      else res.destroy();
    });
  });
}
