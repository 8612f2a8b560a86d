// The demo shop as processes: six services started from dist/ with their OpenTelemetry SDK
// exporting to a real OTLP/HTTP endpoint, calling each other through an egress that routes by
// Host (here a plain forwarding proxy standing in for the sidecars' outbound listener).
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_SERVICES, shopCallGraph } from '../../examples/shop/shop.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
}
interface ExportedSpan extends OtlpSpan {
  service: string;
}

const children: ChildProcess[] = [];
const servers: http.Server[] = [];
const spans: ExportedSpan[] = [];
const addresses = new Map<string, number>();
let egressPort = 0;
let otlpPort = 0;

function listen(server: http.Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function startService(
  service: string,
  extraEnv: Record<string, string> = {},
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['dist/examples/shop/main.js'], {
    env: {
      ...process.env,
      SHOP_SERVICE: service,
      SHOP_LISTEN: '127.0.0.1:0',
      SHOP_EGRESS: `127.0.0.1:${egressPort}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      SHOP_LATENCY_MS: '1',
      SHOP_JITTER_MS: '1',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m !== null) resolve({ port: Number(m[1]), child });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`${service} exited ${code}: ${err}`)));
  });
}

function request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function spansOf(traceId: string, count: number): Promise<ExportedSpan[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = spans.filter((s) => s.traceId === traceId);
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  otlpPort = await listen(
    http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const parsed = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: OtlpSpan[] }>;
          }>;
        };
        for (const rs of parsed.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    }),
  );
  // Routes by Host to the service's port, as the sidecar's outbound listener does.
  egressPort = await listen(
    http.createServer((req, res) => {
      const port = addresses.get((req.headers.host ?? '').split(':')[0] ?? '');
      if (port === undefined) return void res.writeHead(404).end();
      const up = http.request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.writeHead(503).end());
      req.pipe(up);
    }),
  );
  const started = await Promise.all(
    SHOP_SERVICES.map((s) =>
      startService(
        s,
        s === 'payment'
          ? { SHOP_BEHAVIOR: JSON.stringify({ 'POST /charge': { error_percent: 0 } }) }
          : { SHOP_ERROR_PERCENT: '0' },
      ),
    ),
  );
  SHOP_SERVICES.forEach((s, i) => addresses.set(s, started[i]!.port));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) => (c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)))),
  );
  for (const s of servers) s.close();
});

describe('demo shop', () => {
  it('has fan-out and depth of at least three', () => {
    const graph = shopCallGraph();
    const out = (s: string): number => graph.filter(([c]) => c === s).length;
    expect(out('frontend')).toBeGreaterThanOrEqual(2);
    expect(out('checkout')).toBeGreaterThanOrEqual(2);
    expect(graph).toContainEqual(['frontend', 'checkout']);
    expect(graph).toContainEqual(['checkout', 'payment']);
  });

  it('serves the storefront through its dependencies and traces every hop in one trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await request(addresses.get('frontend')!, 'GET', '/', {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { calls: Array<{ service: string; status: number }> };
    expect(body.calls.map((c) => `${c.service}:${c.status}`).sort()).toEqual(['cart:200', 'catalog:200']);

    // frontend, catalog, cart, inventory: a server span and a manual span each. Calls leave
    // through the egress (the sidecar in the mesh, which spans them), so the apps make no
    // CLIENT spans, and each callee's server span is a child of the caller's manual span.
    const trace = await spansOf(traceId, 8);
    const server = trace
      .filter((s) => s.kind === 2)
      .map((s) => s.service)
      .sort();
    expect(server).toEqual(['cart', 'catalog', 'frontend', 'inventory']);
    expect(trace.filter((s) => s.kind === 3)).toEqual([]);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    for (const s of trace.filter((x) => x.kind === 2 && x.service !== 'frontend')) {
      const parent = byId.get(s.parentSpanId ?? '');
      expect(parent?.kind, `${s.service} server span's parent`).toBe(1);
      expect(parent?.service).not.toBe(s.service);
    }
    expect(
      trace
        .filter((s) => s.kind === 1)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['cart GET /cart', 'catalog GET /products', 'frontend GET /', 'inventory GET /stock']);
    // Every span but the incoming request's is parented inside the trace.
    const ids = new Set(trace.map((s) => s.spanId));
    expect(trace.filter((s) => !ids.has(s.parentSpanId ?? '')).map((s) => s.parentSpanId)).toEqual([
      '00f067aa0ba902b7',
    ]);
  });

  it('answers 503 when its configured error rate fires, and marks the span as an error', async () => {
    const failing = await startService('cart', { SHOP_ERROR_PERCENT: '100' });
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const res = await request(failing.port, 'GET', '/cart', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(res.status).toBe(503);
    const trace = await spansOf(traceId, 2);
    expect(trace.find((s) => s.kind === 1)?.status?.code).toBe(2);
  });

  it('rejects a bad behaviour override naming the variable and the endpoint', async () => {
    await expect(
      startService('payment', { SHOP_BEHAVIOR: JSON.stringify({ 'GET /nope': { latency_ms: 1 } }) }),
    ).rejects.toThrow(/SHOP_BEHAVIOR: no endpoint GET \/nope/);
    await expect(startService('payment', { SHOP_ERROR_PERCENT: '140' })).rejects.toThrow(/SHOP_ERROR_PERCENT=140/);
  });

  it('applies SHOP_BEHAVIOR to the service that has the endpoint; the others start and pass it by', async () => {
    // `meshscope up` gives every service the same environment (README: SHOP_BEHAVIOR=… npm start).
    const behavior = { SHOP_BEHAVIOR: JSON.stringify({ 'POST /charge': { error_percent: 100 } }) };
    const payment = await startService('payment', behavior);
    const cart = await startService('cart', behavior);
    expect((await request(payment.port, 'POST', '/charge', {})).status).toBe(503);
    expect((await request(cart.port, 'GET', '/cart', {})).status).toBe(200);
  });
});
