// Service graph: a synthetic multi-service trace set sent over OTLP/HTTP yields exactly the
// expected edges, counts and failures, and edge latency quantiles agree with the raw
// durations within 1%. The bounded pairing store is checked on its own.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { startCollector, type Collector } from '../../collector/index.js';
import { createStorageClient } from '../../collector/storage/clickhouse/client.js';
import { ServiceGraph, serviceOfCluster, type Edge } from '../../collector/servicegraph/store.js';
import { graphSpanOf, type GraphSpan, type SpanRecord } from '../../collector/receivers/otlp/model.js';

const N = 1200;
let dir: string;
let collector: Collector;
let sql: ClickHouseClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-graph-'));
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    batchMaxDelayMs: 50,
    serviceGraph: { maxItems: 100_000, ttlMs: 60_000 },
  });
  sql = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') }).client;
});

afterAll(async () => {
  await sql?.close();
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<ReturnType<typeof attr>>;
  status: { code: number };
}

function span(
  trace: number,
  id: number,
  parent: number,
  name: string,
  kind: number,
  startMs: number,
  durationMs: number,
  extra: Partial<JsonSpan> = {},
): JsonSpan {
  const start = BigInt(Math.round(startMs * 1000)); // microseconds
  return {
    traceId: hex(trace + 1, 32),
    spanId: hex(id, 16),
    parentSpanId: parent === 0 ? '' : hex(parent, 16),
    name,
    kind,
    startTimeUnixNano: String(start * 1000n),
    endTimeUnixNano: String((start + BigInt(Math.round(durationMs * 1000))) * 1000n),
    attributes: [],
    status: { code: 0 },
    ...extra,
  };
}

function body(service: string, spans: JsonSpan[]): string {
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: [attr('service.name', service)] }, scopeSpans: [{ spans }] }],
  });
}

/** Linear interpolation between closest ranks (what a reservoir below its capacity computes). */
function quantile(sorted: number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

describe('service graph from a synthetic multi-service trace set', () => {
  it('yields exactly the expected edges, counts, failures and latency quantiles', async () => {
    const SERVER = 2;
    const CLIENT = 3;
    const PRODUCER = 4;
    const CONSUMER = 5;
    const frontend: JsonSpan[] = [];
    const catalog: JsonSpan[] = [];
    const worker: JsonSpan[] = [];
    const catalogServerMs: number[] = [];
    const frontendToCatalogClientMs: number[] = [];
    const base = Date.now() - 120_000;
    for (let t = 0; t < N; t++) {
      const id = t * 10;
      const at = base + t * 50; // spread over ~a minute: several per-minute rows to merge
      const serverMs = 5 + ((t * 7919) % 1000) / 10;
      catalogServerMs.push(serverMs);
      frontendToCatalogClientMs.push(serverMs + 1.5);
      frontend.push(span(t, id + 1, 0, 'GET /', SERVER, at, serverMs + 10));
      frontend.push(span(t, id + 2, id + 1, 'GET catalog', CLIENT, at + 1, serverMs + 1.5));
      frontend.push(
        span(t, id + 3, id + 1, 'POST payments', CLIENT, at + 2, 3, {
          attributes: [attr('peer.service', 'payments'), attr('server.address', 'pay.internal')],
        }),
      );
      catalog.push(
        span(t, id + 4, id + 2, 'GET /items', SERVER, at + 1.5, serverMs, { status: { code: t % 10 === 0 ? 2 : 0 } }),
      );
      catalog.push(
        span(t, id + 5, id + 4, 'SELECT items', CLIENT, at + 2, 2, {
          attributes: [attr('db.system', 'postgresql'), attr('db.name', 'catalogdb')],
        }),
      );
      catalog.push(span(t, id + 6, id + 4, 'publish', PRODUCER, at + 3, 1));
      worker.push(span(t, id + 7, id + 6, 'consume', CONSUMER, at + 5, 4));
    }
    // An orphan server span whose client never reports: counted as unpaired, no edge.
    worker.push(span(N + 5, 999_999, 888_888, 'orphan', SERVER, base, 1));
    // Halves of one edge arrive in different requests, servers before clients for some.
    const chunks = 6;
    for (let c = 0; c < chunks; c++) {
      const part = <T>(a: T[]) =>
        a.slice(Math.floor((a.length * c) / chunks), Math.floor((a.length * (c + 1)) / chunks));
      for (const [service, spans] of c % 2 === 0
        ? ([
            ['catalog', catalog],
            ['frontend', frontend],
            ['worker', worker],
          ] as const)
        : ([
            ['worker', worker],
            ['frontend', frontend],
            ['catalog', catalog],
          ] as const)) {
        const res = await fetch(`${collector.otlpUrl}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: body(service, part(spans as JsonSpan[])),
        });
        expect(res.status).toBe(200);
      }
    }
    collector.flushServiceGraph();
    expect(await collector.flush(30_000)).toBe(true);

    const res = await fetch(
      `${collector.apiUrl}/api/meshscope/topology?start=${base - 3_600_000}&end=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    expect(res.status).toBe(200);
    const topo = (await res.json()) as {
      nodes: Array<{ id: string; requests: number; errors: number; p50Ms: number }>;
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
    };
    expect(topo.edges.map((e) => [e.source, e.target, e.connectionType, e.requests, e.errors])).toEqual([
      ['catalog', 'catalogdb', 'database', N, 0],
      ['catalog', 'worker', 'messaging_system', N, 0],
      ['frontend', 'catalog', '', N, N / 10],
      ['frontend', 'payments', 'virtual_node', N, 0],
      ['user', 'frontend', 'virtual_node', N, 0],
    ]);
    expect(topo.nodes.map((n) => [n.id, n.requests, n.errors])).toEqual([
      ['catalog', N, N / 10],
      ['catalogdb', N, 0],
      ['frontend', N, 0],
      ['payments', N, 0],
      ['user', 0, 0],
      ['worker', N, 0],
    ]);
    const sorted = [...catalogServerMs].sort((a, b) => a - b);
    const edge = topo.edges.find((e) => e.source === 'frontend' && e.target === 'catalog')!;
    for (const [q, got] of [
      [0.5, edge.p50Ms],
      [0.95, edge.p95Ms],
      [0.99, edge.p99Ms],
    ] as const) {
      const want = quantile(sorted, q);
      expect(Math.abs(got - want) / want, `p${q * 100}: ${got} vs ${want}`).toBeLessThan(0.01);
    }

    // The dashboards' contract query on the per-minute table, client side this time.
    const rs = await sql.query({
      query: `SELECT Client, Server, sum(Requests) AS R, sum(Failures) AS F, quantilesMerge(0.5, 0.95, 0.99)(ClientDurationMs) AS Q
              FROM otel_service_graph_1m WHERE Client = 'frontend' AND Server = 'catalog' GROUP BY Client, Server`,
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ R: string; F: string; Q: number[] }>();
    expect([Number(row!.R), Number(row!.F)]).toEqual([N, N / 10]);
    const clientSorted = [...frontendToCatalogClientMs].sort((a, b) => a - b);
    [0.5, 0.95, 0.99].forEach((q, i) => {
      const want = quantile(clientSorted, q);
      expect(Math.abs(row!.Q[i]! - want) / want).toBeLessThan(0.01);
    });
    const minutes = await sql.query({
      query: `SELECT count() AS n FROM otel_service_graph_1m WHERE Client = 'frontend' AND Server = 'catalog'`,
      format: 'JSONEachRow',
    });
    expect(Number((await minutes.json<{ n: string }>())[0]!.n)).toBeGreaterThan(1);

    const metrics = await (await fetch(`${collector.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/traces_service_graph_unpaired_spans_total\{kind="server"\} 1\b/);
  });
});

describe('service-graph pairing store', () => {
  const resource = { serviceName: 'a', schemaUrl: '', attributes: [] };
  const scope = { name: '', version: '', schemaUrl: '', attributes: [] };
  const client = (id: string, attrs: string[]): SpanRecord => ({
    resource,
    scope,
    traceId: '1'.repeat(32),
    spanId: id,
    parentSpanId: '',
    traceState: '',
    name: 'call',
    kind: 3,
    startNs: 1_000_000_000n,
    endNs: 1_004_000_000n,
    attributes: attrs,
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
  });
  const clientSpan = (id: string, attrs: string[]): GraphSpan => graphSpanOf(client(id, attrs));

  it('pairs by trace id and span id when two traces reuse a span id', () => {
    const span = (service: string, traceId: string, spanId: string, parentSpanId: string, kind: number): GraphSpan =>
      graphSpanOf({
        ...client(spanId, []),
        resource: { serviceName: service, schemaUrl: '', attributes: [] },
        traceId,
        parentSpanId,
        kind,
      });
    const edges: Edge[] = [];
    const graph = new ServiceGraph(
      { maxItems: 10, ttlMs: 1000 },
      { edge: (e) => edges.push({ ...e }), dropped: () => undefined, unpaired: () => undefined },
    );
    const shared = '00000000000000aa';
    graph.observe(
      [
        span('web', '1'.repeat(32), shared, '00000000000000f1', 3),
        span('cron', '2'.repeat(32), shared, '00000000000000f2', 3),
      ],
      0,
    );
    expect(graph.size).toBe(2);
    // The second trace's server arrives first, while the first trace's client is still waiting.
    graph.observe([span('billing', '2'.repeat(32), '00000000000000b2', shared, 2)], 0);
    graph.observe([span('catalog', '1'.repeat(32), '00000000000000b1', shared, 2)], 0);
    // A third trace with the same id, after the collision is resolved, pairs as well.
    graph.observe(
      [span('api', '3'.repeat(32), shared, '', 3), span('search', '3'.repeat(32), '00000000000000b3', shared, 2)],
      0,
    );
    expect(graph.size).toBe(0);
    expect(edges.map((e) => `${e.client}->${e.server}`)).toEqual(['cron->billing', 'web->catalog', 'api->search']);
  });

  it('is bounded (drops counted), expires by TTL, and names virtual servers by attribute priority', () => {
    const edges: Edge[] = [];
    let dropped = 0;
    let unpaired = 0;
    const graph = new ServiceGraph(
      { maxItems: 3, ttlMs: 1000 },
      { edge: (l) => edges.push({ ...l }), dropped: () => dropped++, unpaired: () => unpaired++ },
    );
    graph.observe(
      [
        clientSpan('0000000000000001', ['net.peer.name', 'legacy-host', 'db.name', 'shop']),
        clientSpan('0000000000000002', ['db.system', 'redis']),
        clientSpan('0000000000000003', []),
        clientSpan('0000000000000004', ['peer.service', 'never-tracked']),
      ],
      0,
    );
    expect(graph.size).toBe(3);
    expect(dropped).toBe(1);
    graph.expire(999);
    expect(edges).toEqual([]);
    graph.expire(1000);
    expect(graph.size).toBe(0);
    expect(unpaired).toBe(1);
    expect(edges).toEqual([
      expect.objectContaining({
        client: 'a',
        server: 'legacy-host',
        connectionType: 'virtual_node',
        clientDurationMs: 4,
      }),
      expect.objectContaining({ client: 'a', server: 'redis', connectionType: 'database' }),
    ]);
  });

  describe('where a mesh differs from the connector', () => {
    const T = 'c'.repeat(32);
    const sp = (
      service: string,
      spanId: string,
      parentSpanId: string,
      kind: number,
      failed: boolean,
      attrs: string[] = [],
      startMs = 1000,
    ): GraphSpan =>
      graphSpanOf({
        ...client(spanId, attrs),
        resource: { serviceName: service, schemaUrl: '', attributes: [] },
        traceId: T,
        parentSpanId,
        kind,
        startNs: BigInt(startMs) * 1_000_000n,
        endNs: BigInt(startMs + 2) * 1_000_000n,
        statusCode: failed ? 2 : 0,
      });
    const collect = () => {
      const edges: Edge[] = [];
      let unpairedServers = 0;
      const graph = new ServiceGraph(
        { maxItems: 100, ttlMs: 1000 },
        {
          edge: (e) => edges.push({ ...e }),
          dropped: () => undefined,
          unpaired: (k) => (k === 'server' ? unpairedServers++ : 0),
        },
      );
      return { graph, edges, unpairedServers: () => unpairedServers };
    };
    const line = (e: Edge) => `${e.client}->${e.server}${e.failed ? ' failed' : ''}`;

    it('counts a retried 503 on the server that answered it, whichever half arrives first', () => {
      for (const order of ['servers first', 'client first', 'client between']) {
        const { graph, edges } = collect();
        const c = sp('frontend', '00000000000000c1', '00000000000000a1', 3, false);
        const s503 = sp('payment', '00000000000000d1', '00000000000000c1', 2, true, [], 1000);
        const s200 = sp('payment', '00000000000000d2', '00000000000000c1', 2, false, [], 1001);
        const batches =
          order === 'servers first'
            ? [[s503, s200], [c]]
            : order === 'client first'
              ? [[c], [s503], [s200]]
              : [[s503], [c], [s200]];
        for (const b of batches) graph.observe(b, 0);
        expect(edges.map(line).sort(), order).toEqual(['frontend->payment', 'frontend->payment failed']);
        graph.expire(0, true);
        expect(edges, order).toHaveLength(2);
      }
    });

    it('a failed client counts once, on its last attempt', () => {
      const { graph, edges } = collect();
      graph.observe(
        [
          sp('payment', '00000000000000d1', '00000000000000c1', 2, false, [], 1000),
          sp('payment', '00000000000000d2', '00000000000000c1', 2, false, [], 1005),
          sp('frontend', '00000000000000c1', '00000000000000a1', 3, true),
        ],
        0,
      );
      expect(edges.map((e) => [e.failed, Number(e.serverDurationMs)])).toEqual([
        [false, 2],
        [true, 2],
      ]);
    });

    it("gives an edge proxy's expired server half whose parent never came the client `user`, and no one else's", () => {
      const { graph, edges, unpairedServers } = collect();
      // front-proxy: its parent is the load generator's span, never exported.
      const front = ['component', 'proxy', 'upstream_cluster', 'outbound|8080||default/frontend'];
      graph.observe([sp('front-proxy', '00000000000000f1', '0000000000000099', 2, false, front)], 0);
      // catalog's sidecar: its caller's spans are lost (a restarted sidecar) or late.
      const inbound = ['component', 'proxy', 'upstream_cluster', 'inbound|8080||'];
      graph.observe([sp('frontend', '00000000000000c1', '00000000000000a1', 3, false)], 0);
      graph.observe([sp('catalog', '00000000000000d1', '00000000000000c1', 2, false, inbound)], 0);
      graph.observe([sp('catalog', '00000000000000d2', '00000000000000c9', 2, false, inbound)], 0);
      // The cart app's own SERVER span, parented by its sidecar's span.
      graph.observe([sp('cart', '00000000000000e2', '00000000000000e1', 2, false)], 0);
      graph.expire(1000);
      expect(edges.map(line)).toEqual(['frontend->catalog', 'user->front-proxy']);
      expect(edges[1]!.connectionType).toBe('virtual_node');
      expect(unpairedServers()).toBe(2);
    });

    it('names the virtual server of a mesh cluster by its service, never by the cluster', () => {
      expect(serviceOfCluster('outbound|8080|v1|default/catalog')).toBe('catalog');
      expect(serviceOfCluster('outbound|9080||reviews.bookinfo.svc.cluster.local')).toBe('reviews');
      expect(serviceOfCluster('outbound|8080||payment')).toBe('payment');
      expect(serviceOfCluster('inbound|8080||')).toBeUndefined();
      expect(serviceOfCluster('service_backend')).toBeUndefined();
      const { graph, edges } = collect();
      graph.observe(
        [
          sp('frontend', '00000000000000c1', '00000000000000a1', 3, true, [
            'peer.service',
            'outbound|8080|v1|default/catalog',
          ]),
          sp('frontend', '00000000000000c2', '00000000000000a1', 3, false, ['upstream_cluster', 'inbound|8080||']),
          sp('frontend', '00000000000000c3', '00000000000000a1', 3, false, ['peer.service', 'static_backend']),
        ],
        0,
      );
      graph.expire(1000);
      expect(edges.map((e) => `${line(e)} (${e.connectionType})`)).toEqual([
        'frontend->catalog failed ()',
        'frontend->static_backend (virtual_node)',
      ]);
    });
  });
});
