// Every ClickHouse query in the generated dashboards, expanded as Grafana and the ClickHouse
// plugin expand it, runs on embedded ClickHouse (chDB) with the collector's schema and shop
// telemetry, and returns frames of the shape its panel draws.
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  clickhouseQueries,
  frameProblems,
  loadGeneratedBoards,
  type DashboardQuery,
  type Frame,
} from './dashboard-queries.js';
import { expandQuery, type ExpandContext } from './plugin-macros.js';
import { SHOP_CALLS, writeShopTelemetry } from './shop-telemetry.js';
import { useEmbeddedStore } from '../helpers/embedded-store.js';

const boards = loadGeneratedBoards(join(process.cwd(), 'dashboards', 'generated'));
const queries = clickhouseQueries(boards);
const SERVICES = ['cart', 'catalog', 'checkout', 'frontend', 'inventory', 'payment'];

const now = Date.now();

async function runFrame(c: ClickHouseClient, sql: string): Promise<Frame> {
  const rs = await c.query({ query: sql, format: 'JSON' });
  const body = await rs.json<Record<string, unknown>>();
  return { columns: body.meta ?? [], rows: body.data };
}

function context(service: string[] | 'All', scoped?: Record<string, string>): ExpandContext {
  return {
    from: new Date(now - 15 * 60_000),
    to: new Date(now + 60_000),
    intervalMs: 15_000,
    variables: {
      service: { values: service === 'All' ? ['$__all'] : service, options: SERVICES, allValue: '.*' },
      min_duration_ms: { values: ['0'], options: [] },
      trace_id: { values: [scoped?.['trace_id'] ?? ''], options: [] },
    },
    ...(scoped !== undefined ? { scoped } : {}),
  };
}

const store = useEmbeddedStore('meshscope-dash-');

beforeAll(async () => {
  await writeShopTelemetry(store.storage.client, now, 120, 10 * 60_000);
});

describe('generated dashboards on ClickHouse', () => {
  it('has the panels each board promises', () => {
    const byBoard = (title: string): DashboardQuery[] => queries.filter((q) => q.board === title);
    expect(byBoard('Mesh topology').map((q) => `${q.panelType}:${q.refId}`)).toEqual(
      expect.arrayContaining(['nodeGraph:nodes', 'nodeGraph:edges', 'table:A']),
    );
    expect(byBoard('Service latency').map((q) => q.panelType)).toEqual(
      expect.arrayContaining(['variable', 'timeseries', 'heatmap', 'table', 'traces']),
    );
    expect(byBoard('Traces and logs').map((q) => q.panelType)).toEqual(
      expect.arrayContaining(['table', 'traces', 'logs']),
    );
  });

  // A trace id taken from the panel the link sits on, as the click would pass it.
  async function scopedFor(q: DashboardQuery, service: string[] | 'All'): Promise<Record<string, string> | undefined> {
    const source = queries.find(
      (s) => s.board === q.board && q.panel.startsWith(`${s.panel} → `) && s.refId === q.linkFrom?.refId,
    );
    if (q.linkFrom !== undefined && source !== undefined) {
      const frame = await runFrame(store.storage.client, expandQuery(source.rawSql, context(service)));
      const value = String(frame.rows[0]?.[q.linkFrom.field] ?? '');
      return { '__value.raw': value };
    }
    if (q.rawSql.includes('${trace_id}')) {
      const frame = await runFrame(
        store.storage.client,
        `SELECT TraceId FROM otel_traces WHERE ParentSpanId = '' LIMIT 1`,
      );
      return { trace_id: String(frame.rows[0]?.['TraceId']) };
    }
    return undefined;
  }

  for (const service of ['All', ['checkout', 'payment']] as const) {
    const label = service === 'All' ? 'service=All' : `service=${service.join(',')}`;
    for (const q of queries) {
      it(`${q.board} / ${q.panel} [${q.refId}] with ${label}`, async () => {
        const scoped = await scopedFor(q, service === 'All' ? 'All' : [...service]);
        const sql = expandQuery(q.rawSql, context(service === 'All' ? 'All' : [...service], scoped));
        expect(sql).not.toMatch(/\$__|\$\{|\$\w/);
        const frame = await runFrame(store.storage.client, sql);
        expect(frameProblems(q, frame), sql).toEqual([]);
      });
    }
  }

  it('draws exactly the shop call graph, with counts from the data', async () => {
    const nodes = queries.find((q) => q.panelType === 'nodeGraph' && q.refId === 'nodes')!;
    const edges = queries.find((q) => q.panelType === 'nodeGraph' && q.refId === 'edges')!;
    const nodeFrame = await runFrame(store.storage.client, expandQuery(nodes.rawSql, context('All')));
    const edgeFrame = await runFrame(store.storage.client, expandQuery(edges.rawSql, context('All')));
    expect(nodeFrame.rows.map((r) => r['id']).sort()).toEqual(SERVICES);
    expect(edgeFrame.rows.map((r) => `${String(r['source'])}->${String(r['target'])}`).sort()).toEqual(
      SHOP_CALLS.map(([a, b]) => `${a}->${b}`).sort(),
    );
    for (const r of edgeFrame.rows) expect(Number(r['detail__requests'])).toBe(120);
    // Every shop call is sidecar to sidecar under mtls STRICT: drawn solid, named mTLS.
    for (const r of edgeFrame.rows) expect([r['detail__security'], r['strokeDasharray']]).toEqual(['mTLS', 'none']);
    const payment = nodeFrame.rows.find((r) => r['id'] === 'payment')!;
    expect(Number(payment['arc__errors'])).toBeCloseTo(5 / 120, 6);
  });
});
