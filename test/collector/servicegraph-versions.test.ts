// Workload versions in the service graph, on a store written before versions existed: a data
// directory migrated to schema version 5 with edges in the old shape is opened by the
// collector (which migrates it in place), spans from versioned workloads (resource
// service.version, as the proxies write it) arrive over OTLP/HTTP, and the topology keeps the
// old edges' figures while breaking the new calls down by caller and server version, and marks
// each edge with the protocols its servers received calls on.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import type { Topology } from '../../collector/api/queries.js';
import { renderTop } from '../../collector/client/index.js';
import { storeAtSchemaVersion } from '../helpers/store-at-version.js';

const dir = mkdtempSync(join(tmpdir(), 'collector-versions-'));
let collector: Collector | undefined;

afterAll(async () => {
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SERVER = 2;
const CLIENT = 3;
const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const HTTP = attr('network.protocol.name', 'http');

/**
 * One frontend → catalog call (a root SERVER span on frontend, its CLIENT span, catalog's SERVER
 * span), over HTTP or, when `grpc`, as a gRPC call.
 */
function call(i: number, catalogVersion: string, failed: boolean, grpc = false) {
  const traceId = hex(0xabc000 + i, 32);
  const startNs = BigInt(Date.now() - 5_000) * 1_000_000n + BigInt(i) * 1_000_000n;
  const span = (id: number, parent: number, kind: number, ms: number, code = 0, attributes = [HTTP]) => ({
    traceId,
    spanId: hex(i * 16 + id, 16),
    parentSpanId: parent === 0 ? '' : hex(i * 16 + parent, 16),
    name: 'GET /',
    kind,
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(startNs + BigInt(ms * 1_000_000)),
    attributes,
    status: { code },
  });
  return {
    frontend: [span(1, 0, SERVER, 5), span(2, 1, CLIENT, 4)],
    catalog: {
      version: catalogVersion,
      spans: [span(3, 2, SERVER, 3, failed ? 2 : 0, grpc ? [HTTP, attr('rpc.system', 'grpc')] : [HTTP])],
    },
  };
}

const resourceSpans = (service: string, version: string, spans: object[]) => ({
  resource: { attributes: [attr('service.name', service), attr('service.version', version)] },
  scopeSpans: [{ spans }],
});

describe('workload versions in the service graph', () => {
  it('migrates a store written before versions in place and breaks new calls down by version', async () => {
    // The store as schema version 5 left it, with two frontend → catalog calls (one failed).
    const old = await storeAtSchemaVersion(join(dir, 'clickhouse'), 5);
    const ts = new Date(Date.now() - 60_000).toISOString().replace('T', ' ').replace('Z', '');
    await old.client.insert({
      table: 'otel_service_graph_edges',
      values: [
        { Timestamp: ts, Client: 'frontend', Server: 'catalog', ConnectionType: '', Failed: 0 },
        { Timestamp: ts, Client: 'frontend', Server: 'catalog', ConnectionType: '', Failed: 1 },
      ].map((e) => ({ ...e, ServerDurationMs: 2, ClientDurationMs: 3 })),
      format: 'JSONEachRow',
    });
    await old.close();

    collector = await startCollector({
      otlpHttp: '127.0.0.1:0',
      http: '127.0.0.1:0',
      dataDir: dir,
      batchMaxDelayMs: 20,
      serviceGraph: { maxItems: 1000, ttlMs: 60_000 },
    });
    // catalog v1 answers three HTTP calls, v2 one gRPC call (which fails).
    const calls = [call(1, 'v1', false), call(2, 'v1', false), call(3, 'v1', false), call(4, 'v2', true, true)];
    const res = await fetch(`${collector.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          resourceSpans(
            'frontend',
            'v1',
            calls.flatMap((c) => c.frontend),
          ),
          ...calls.map((c) => resourceSpans('catalog', c.catalog.version, c.catalog.spans)),
        ],
      }),
    });
    expect(res.status).toBe(200);
    collector.flushServiceGraph();
    expect(await collector.flush(30_000)).toBe(true);

    const topo = (await (
      await fetch(`${collector.apiUrl}/api/meshscope/topology?start=${Date.now() - 600_000}&end=${Date.now() + 60_000}`)
    ).json()) as Topology;
    const edge = topo.edges.find((e) => e.source === 'frontend' && e.target === 'catalog');
    // The old rows still count, without a version; the new calls by version.
    expect(edge).toMatchObject({ requests: 6, errors: 2, protocols: ['grpc', 'http'] });
    expect(edge!.versions.map((v) => [v.sourceVersion, v.targetVersion, v.requests, v.errors])).toEqual([
      ['', '', 2, 1],
      ['v1', 'v1', 3, 0],
      ['v1', 'v2', 1, 1],
    ]);
    const user = topo.edges.find((e) => e.source === 'user' && e.target === 'frontend');
    expect(user!.protocols).toEqual(['http']);
    expect(user!.versions.map((v) => [v.sourceVersion, v.targetVersion, v.requests])).toEqual([['', 'v1', 4]]);
    const catalog = topo.nodes.find((n) => n.id === 'catalog')!;
    expect(catalog).toMatchObject({ requests: 6, errors: 2 });
    expect(catalog.versions.map((v) => [v.version, v.requests, v.errors])).toEqual([
      ['v1', 3, 0],
      ['v2', 1, 1],
    ]);
    expect(topo.nodes.find((n) => n.id === 'frontend')!.versions.map((v) => [v.version, v.requests])).toEqual([
      ['v1', 4],
    ]);
    expect(topo.nodes.find((n) => n.id === 'user')!.versions).toEqual([]);
    // meshscope top: a row per version under its service.
    const top = renderTop(topo, 600, new Date()).split('\n');
    const at = top.findIndex((l) => l.startsWith('catalog '));
    expect(top.slice(at + 1, at + 3).map((l) => l.trim().split(/\s+/))).toEqual([
      ['v1', '0.0', '0.0', expect.any(String), expect.any(String), expect.any(String), '3'],
      ['v2', '0.0', '100.0', expect.any(String), expect.any(String), expect.any(String), '1'],
    ]);
  });
});
