// The collector's HTTP port (16686, Jaeger's): Jaeger's query API, meshscope's own JSON under
// /api/meshscope/, the web UI, the collector's own /metrics, and /healthz and /readyz.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import type { CollectorMetrics } from '../telemetry.js';
import type { Route } from './routes.js';
import { jaegerRoutes } from './routes-jaeger.js';
import { meshscopeRoutes } from './routes-meshscope.js';
import { UiFiles } from './ui.js';

export interface ApiState {
  /** Why the collector is not ready, or undefined when it is. */
  notReady(): string | undefined;
}

export function createApiServer(client: ClickHouseClient, metrics: CollectorMetrics, state: ApiState): Server {
  const routes: Route[] = [...jaegerRoutes(client), ...meshscopeRoutes(client)];
  const ui = new UiFiles();

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
    for (const route of routes) {
      const m = url.pathname.match(route.pattern);
      if (m === null) continue;
      let answer: [number, unknown];
      try {
        answer = await route.handle(url.searchParams, m);
      } catch (err) {
        answer = route.fail(err);
      }
      send(res, answer[0], answer[1]);
      return;
    }
    if (ui.isUiPath(url.pathname)) {
      const asset = ui.lookup(url.pathname);
      if (asset !== undefined) {
        res.writeHead(200, {
          'content-type': asset.type,
          'content-length': asset.body.length,
          'cache-control': 'no-cache',
        });
        res.end(req.method === 'HEAD' ? undefined : asset.body);
        return;
      }
      if (!ui.available) {
        res
          .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`the web UI is not built: run 'npm run build' (looked in ${ui.searched.join(', ')})\n`);
        return;
      }
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
