// mTLS on the service graph, on a store written before the column existed: a data directory
// migrated to schema version 7 with an edge in the old shape is opened by the collector (which
// migrates it in place), then spans arrive over OTLP/HTTP as the sidecars write them: catalog's
// inbound SERVER spans say tls.established (a bool) and the caller's SPIFFE identity, cart's say
// nothing (plaintext). The topology marks frontend → catalog mTLS and frontend → cart not.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import type { Topology } from '../../collector/api/queries.js';
import { storeAtSchemaVersion } from '../helpers/store-at-version.js';

const dir = mkdtempSync(join(tmpdir(), 'collector-mtls-'));
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
const TLS = [
  { key: 'tls.established', value: { boolValue: true } },
  attr('source.principal', 'spiffe://cluster.local/ns/default/sa/frontend'),
  attr('destination.principal', 'spiffe://cluster.local/ns/default/sa/catalog'),
];

/** One frontend → `server` call: frontend's root SERVER span, its CLIENT span, the server's SERVER span. */
function call(i: number, server: string, mtls: boolean) {
  const traceId = hex(0xfee000 + i, 32);
  const startNs = BigInt(Date.now() - 5_000) * 1_000_000n + BigInt(i) * 1_000_000n;
  const span = (id: number, parent: number, kind: number, attributes: object[]) => ({
    traceId,
    spanId: hex(i * 16 + id, 16),
    parentSpanId: parent === 0 ? '' : hex(i * 16 + parent, 16),
    name: 'GET /',
    kind,
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(startNs + 3_000_000n),
    attributes,
    status: { code: 0 },
  });
  return {
    frontend: [span(1, 0, SERVER, [HTTP]), span(2, 1, CLIENT, [HTTP])],
    server: { service: server, spans: [span(3, 2, SERVER, mtls ? [HTTP, ...TLS] : [HTTP])] },
  };
}

const resourceSpans = (service: string, spans: object[]) => ({
  resource: { attributes: [attr('service.name', service), attr('service.version', 'v1')] },
  scopeSpans: [{ spans }],
});

describe('mTLS in the service graph', () => {
  it('migrates a store written before mTLS in place and marks the edges whose calls were mutual TLS', async () => {
    const old = await storeAtSchemaVersion(join(dir, 'clickhouse'), 7);
    const ts = new Date(Date.now() - 60_000).toISOString().replace('T', ' ').replace('Z', '');
    await old.client.insert({
      table: 'otel_service_graph_edges',
      values: [
        {
          Timestamp: ts,
          Client: 'frontend',
          Server: 'cart',
          ConnectionType: '',
          Failed: 0,
          ServerDurationMs: 2,
          ClientDurationMs: 3,
          Protocol: 'http',
        },
      ],
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
    const calls = [call(1, 'catalog', true), call(2, 'catalog', true), call(3, 'cart', false)];
    const res = await fetch(`${collector.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          resourceSpans(
            'frontend',
            calls.flatMap((c) => c.frontend),
          ),
          ...calls.map((c) => resourceSpans(c.server.service, c.server.spans)),
        ],
      }),
    });
    expect(res.status).toBe(200);
    collector.flushServiceGraph();
    expect(await collector.flush(30_000)).toBe(true);

    const topo = (await (
      await fetch(`${collector.apiUrl}/api/meshscope/topology?start=${Date.now() - 600_000}&end=${Date.now() + 60_000}`)
    ).json()) as Topology;
    const edge = (target: string) => topo.edges.find((e) => e.source === 'frontend' && e.target === target);
    expect(edge('catalog')).toMatchObject({ requests: 2, mtls: true, protocols: ['http'] });
    // The old row and the plaintext call: not mTLS.
    expect(edge('cart')).toMatchObject({ requests: 2, mtls: false });
    // The front door's root spans came in plaintext.
    expect(topo.edges.find((e) => e.source === 'user' && e.target === 'frontend')).toMatchObject({
      requests: 3,
      mtls: false,
    });
  });
});
