// The topology tells the truth, on real proxies (`meshscope proxy` child processes) sending
// spans to a real collector: a front proxy, the frontend's sidecar (inbound + outbound, which
// retries 5xx) and the catalog's sidecar, with two small apps in this process.
//   - load through the front proxy, with and without a traceparent from the client: the client
//     edge user → front-proxy is there, with every request;
//   - a 503 retried into success: the error counts on catalog (the server that answered it);
//   - the catalog sidecar restarted under load: no node is ever named after a cluster.
// Span times are microseconds (read back through Jaeger's API).

import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import type { JaegerResponse, JaegerTrace } from '../../collector/api/jaeger-model.js';
import type { Topology } from '../../collector/api/queries.js';
import {
  bootstrap,
  closeServer,
  freePort,
  listen,
  otelTracing,
  startSidecar,
  staticCluster,
  waitFor,
  type Sidecar,
} from '../proxy/telemetry/helpers.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};
const CATALOG_CLUSTER = 'outbound|8080|v1|default/catalog';
const PROPAGATED = [
  'traceparent',
  'tracestate',
  'x-request-id',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-sampled',
  'x-fail-first',
];

let dir: string;
let collector: Collector;
const proxies: Sidecar[] = [];
let catalogSidecar: Sidecar;
let catalogBootstrap: object;
let frontendSidecar: Sidecar;
let frontendBootstrap: object;
let frontPort = 0;
let outboundPort = 0;

const failedOnce = new Set<string>();
const catalogApp = createServer((req, res) => {
  const id = String(req.headers['x-request-id']);
  // The first try of a request marked x-fail-first answers 503; the sidecar's retry succeeds.
  if (req.headers['x-fail-first'] === '1' && !failedOnce.has(id)) {
    failedOnce.add(id);
    res.statusCode = 503;
  }
  res.end('catalog');
});

function forward(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = { host: 'catalog:8080' };
  for (const h of PROPAGATED) if (typeof headers[h] === 'string') out[h] = headers[h];
  return out;
}

const frontendApp = createServer((req, res) => {
  const up = httpRequest(
    { host: '127.0.0.1', port: outboundPort, path: '/items', headers: forward(req.headers), agent: false },
    (r) => {
      r.resume();
      r.on('end', () => {
        res.statusCode = r.statusCode ?? 502;
        res.end('frontend');
      });
    },
  );
  up.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  up.end();
});

function hcmListener(
  name: string,
  port: number,
  direction: 'INBOUND' | 'OUTBOUND' | undefined,
  service: string,
  route: object,
): object {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    ...(direction === undefined ? {} : { traffic_direction: direction }),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              tracing: otelTracing(service),
              route_config: {
                virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, ...route }] }],
              },
              http_filters: [ROUTER],
            },
          },
        ],
      },
    ],
  };
}

async function send(n: number, opts: { traceparent?: boolean; failFirst?: boolean } = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const headers: Record<string, string> = {};
    if (opts.traceparent === true) {
      headers.traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    }
    if (opts.failFirst === true) headers['x-fail-first'] = '1';
    const r = await fetch(`http://127.0.0.1:${frontPort}/`, { headers });
    await r.arrayBuffer();
    statuses.push(r.status);
  }
  return statuses;
}

async function topology(): Promise<Topology> {
  const r = await fetch(
    `${collector.apiUrl}/api/meshscope/topology?start=${Date.now() - 3_600_000}&end=${Date.now() + 60_000}`,
  );
  return (await r.json()) as Topology;
}

const edge = (t: Topology, source: string, target: string) =>
  t.edges.find((e) => e.source === source && e.target === target) ?? { requests: 0, errors: 0 };

/** Waits until the edge has at least `requests` (spans arrive in batches, unpaired halves after the TTL). */
async function settle(source: string, target: string, requests: number): Promise<Topology> {
  let last: Topology | undefined;
  try {
    return await waitFor(`${source}->${target} to reach ${requests} requests`, async () => {
      last = await topology();
      return edge(last, source, target).requests >= requests ? last : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; the graph: ${JSON.stringify(last?.edges)}`);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collector-topology-'));
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    batchMaxDelayMs: 20,
    serviceGraph: { maxItems: 10_000, ttlMs: 1000 },
  });
  const otlpPort = Number(new URL(collector.otlpUrl).port);
  const [frontendAppPort, catalogAppPort] = await Promise.all([listen(frontendApp), listen(catalogApp)]);
  const ports = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const [front, frontAdmin, feIn, feOut, feAdmin, catIn, catAdmin] = ports as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  frontPort = front;
  outboundPort = feOut;
  const collectorCluster = staticCluster('collector', otlpPort);

  catalogBootstrap = bootstrap(
    'catalog-v1',
    'catalog',
    catAdmin,
    [hcmListener('inbound|15101', catIn, 'INBOUND', 'catalog', { route: { cluster: 'inbound|8080||' } })],
    [staticCluster('inbound|8080||', catalogAppPort), collectorCluster],
  );
  catalogSidecar = await startSidecar('catalog', catalogBootstrap);
  frontendBootstrap = bootstrap(
    'frontend-v1',
    'frontend',
    feAdmin,
    [
      hcmListener('inbound|15001', feIn, 'INBOUND', 'frontend', { route: { cluster: 'inbound|8080||' } }),
      hcmListener('outbound|15002', feOut, 'OUTBOUND', 'frontend', {
        route: { cluster: CATALOG_CLUSTER, retry_policy: { retry_on: '5xx,connect-failure', num_retries: 2 } },
      }),
    ],
    [staticCluster('inbound|8080||', frontendAppPort), staticCluster(CATALOG_CLUSTER, catIn), collectorCluster],
  );
  frontendSidecar = await startSidecar('frontend', frontendBootstrap);
  proxies.push(
    await startSidecar(
      'front',
      bootstrap(
        'front-proxy',
        'front-proxy',
        frontAdmin,
        [
          hcmListener('ingress|10000', front, undefined, 'front-proxy', {
            route: { cluster: 'outbound|8080||default/frontend' },
          }),
        ],
        [staticCluster('outbound|8080||default/frontend', feIn), collectorCluster],
      ),
    ),
  );
}, 90_000);

afterAll(async () => {
  await Promise.all([...proxies, catalogSidecar, frontendSidecar].map((p) => p?.stop()));
  await Promise.all([closeServer(frontendApp), closeServer(catalogApp)]);
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('the topology, on real proxies', () => {
  it('shows clients outside the mesh as `user` feeding the front proxy, with or without a traceparent', async () => {
    expect(await send(10)).toEqual(Array(10).fill(200));
    expect(await send(10, { traceparent: true })).toEqual(Array(10).fill(200));
    const t = await settle('user', 'front-proxy', 20);
    expect(edge(t, 'user', 'front-proxy')).toMatchObject({ requests: 20, errors: 0, connectionType: 'virtual_node' });
    expect(await settle('frontend', 'catalog', 20)).toBeDefined();
    const now = await topology();
    expect(edge(now, 'front-proxy', 'frontend')).toMatchObject({ requests: 20, errors: 0 });
    expect(edge(now, 'frontend', 'catalog')).toMatchObject({ requests: 20, errors: 0 });
    expect(now.nodes.map((n) => n.id).sort()).toEqual(['catalog', 'front-proxy', 'frontend', 'user']);
  }, 60_000);

  it('counts a 503 retried into success on the server that answered it', async () => {
    const before = edge(await topology(), 'frontend', 'catalog');
    expect(await send(5, { failFirst: true })).toEqual(Array(5).fill(200));
    // Two attempts each: one 503, one 200.
    const t = await settle('frontend', 'catalog', before.requests + 10);
    expect(edge(t, 'frontend', 'catalog')).toMatchObject({ requests: before.requests + 10, errors: before.errors + 5 });
    expect(t.nodes.find((n) => n.id === 'catalog')).toMatchObject({ errors: before.errors + 5 });
    // The client was answered 200: no error in front of the frontend.
    expect(edge(t, 'front-proxy', 'frontend').errors).toBe(0);
    expect(edge(t, 'user', 'front-proxy').errors).toBe(0);
  }, 60_000);

  /**
   * Load while `restart` stops a sidecar and starts it again; ends once 10 more requests
   * succeeded after it is back. Bounded per phase rather than in total, so a slow restart on a
   * loaded host cannot use up the budget before the sidecar is back: up to 400 requests before
   * it is back (then the loop waits for the restart to finish), and 400 more after. Resolves
   * with the requests sent and served.
   */
  async function underLoad(
    restart: (downWhile: () => Promise<void>) => Promise<void>,
  ): Promise<{ sent: number; ok: number }> {
    let stop = false;
    let sent = 0;
    let ok = 0;
    let limit = 400;
    let wake: (() => void) | undefined;
    const load = (async () => {
      while (!stop) {
        if (sent >= limit) {
          await new Promise<void>((r) => {
            wake = r;
          });
          continue;
        }
        const [status] = await send(1);
        sent++;
        if (status === 200) ok++;
      }
    })();
    await waitFor('some load before the restart', () => (sent >= 10 ? true : undefined));
    await restart(async () => {
      const during = sent;
      await waitFor('load while the sidecar is down', () => (sent >= during + 5 ? true : undefined));
    });
    const after = ok;
    limit = sent + 400;
    wake?.();
    await waitFor('requests served after the restart', () => (ok >= after + 10 || sent >= limit ? true : undefined));
    stop = true;
    wake?.();
    await load;
    expect(ok, 'requests served after the restart').toBeGreaterThanOrEqual(after + 10);
    return { sent, ok };
  }

  const EDGES = ['front-proxy->frontend', 'frontend->catalog', 'user->front-proxy'];
  const edgeNames = (t: Topology) => t.edges.map((e) => `${e.source}->${e.target}`).sort();

  it('keeps service nodes (never a cluster name) when the catalog sidecar restarts under load', async () => {
    const before = edge(await topology(), 'frontend', 'catalog').requests;
    const { sent } = await underLoad(async (downWhile) => {
      await catalogSidecar.stop();
      await downWhile();
      catalogSidecar = await startSidecar('catalog-restarted', catalogBootstrap);
    });
    // Every request reached catalog or failed trying: each is on the frontend → catalog edge.
    const t = await settle('frontend', 'catalog', before + sent);
    for (const n of t.nodes) expect(n.id).not.toMatch(/\|/);
    expect(t.nodes.map((n) => n.id).sort()).toEqual(['catalog', 'front-proxy', 'frontend', 'user']);
    expect(edgeNames(t)).toEqual(EDGES);
    expect(edge(t, 'frontend', 'catalog').errors).toBeGreaterThan(0);
  }, 90_000);

  it("keeps the same graph when the caller's sidecar (frontend) restarts under load", async () => {
    const before = edge(await topology(), 'front-proxy', 'frontend').requests;
    const { ok } = await underLoad(async (downWhile) => {
      await frontendSidecar.stop();
      await downWhile();
      frontendSidecar = await startSidecar('frontend-restarted', frontendBootstrap);
    });
    // Every request served went through the frontend (those refused at the front proxy while the
    // frontend's sidecar was down never reached it: no client span, no edge).
    const t = await settle('front-proxy', 'frontend', before + ok);
    // No phantom caller for catalog (`user`) and no cluster-named node, though spans were lost.
    expect(t.nodes.map((n) => n.id).sort()).toEqual(['catalog', 'front-proxy', 'frontend', 'user']);
    expect(edgeNames(t)).toEqual(EDGES);
    expect(edge(t, 'user', 'front-proxy').errors).toBeGreaterThan(0);
  }, 90_000);

  it('times spans in microseconds', async () => {
    // Its own requests, each with a known trace id, read back once every hop's spans are stored.
    const ids = Array.from({ length: 10 }, () => randomBytes(16).toString('hex'));
    for (const id of ids) {
      const r = await fetch(`http://127.0.0.1:${frontPort}/`, {
        headers: { traceparent: `00-${id}-${randomBytes(8).toString('hex')}-01` },
      });
      await r.arrayBuffer();
      expect(r.status).toBe(200);
    }
    const SERVICES = ['catalog', 'front-proxy', 'frontend'];
    const traces = await Promise.all(
      ids.map((id) =>
        waitFor(`trace ${id} with spans of ${SERVICES.join(', ')}`, async () => {
          const r = await fetch(`${collector.apiUrl}/api/traces/${id}`);
          if (r.status !== 200) return undefined;
          const [trace] = ((await r.json()) as JaegerResponse<JaegerTrace[]>).data;
          const services = new Set(trace?.spans.map((s) => trace.processes[s.processID]?.serviceName));
          return SERVICES.every((s) => services.has(s)) ? trace : undefined;
        }),
      ),
    );
    const starts = traces.flatMap((t) => t.spans.map((s) => s.startTime));
    expect(starts.length).toBeGreaterThanOrEqual(ids.length * SERVICES.length);
    // Whole milliseconds would make every start a multiple of 1000 µs.
    expect(starts.filter((us) => us % 1000 !== 0).length).toBeGreaterThan(starts.length / 2);
  }, 60_000);
});
