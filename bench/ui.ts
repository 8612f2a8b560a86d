// `npm run bench:ui`: how long Chromium takes to draw the collector's topology and trace list
// with many spans stored (the issue's goal: 1 million spans, each view in ≤ 1 s, median of 5).
// The spans are shop-shaped traces of 8 spans over the last 30 minutes, generated inside
// ClickHouse (INSERT … SELECT FROM numbers(), through the exporter's tables and views) so the
// bench measures reading, not ingest; the service graph gets the edges those traces make.
// Each run opens a fresh page and times navigation until the view is drawn. Prints JSON.
// BENCH_SPANS (default 1000000) and BENCH_RUNS (default 5) shorten it.

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../test/helpers/chromium.js';
import { startCollector } from '../collector/index.js';
import { createStorageClient } from '../collector/storage/clickhouse/client.js';

const SPANS = Number(process.env.BENCH_SPANS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const GOAL_MS = 1000;
const TRACES = Math.max(1, Math.floor(SPANS / 8));
/** Spans per seeding INSERT (whole traces). */
const SEED_CHUNK = 8 * 16_384;

// One trace: front-proxy SERVER → CLIENT → frontend SERVER → CLIENTs to catalog and cart → their
// SERVER spans; catalog's SERVER span parents inventory's. Index i's parent is PARENT[i].
const SERVICES = "['front-proxy','front-proxy','frontend','frontend','catalog','frontend','cart','inventory']";
const KINDS = "['Server','Client','Server','Client','Server','Client','Server','Server']";
const NAMES =
  "['GET /','router frontend egress','frontend.default.svc.cluster.local:8080/*','GET /products'," +
  "'catalog.default.svc.cluster.local:8080/*','GET /cart','cart.default.svc.cluster.local:8080/*'," +
  "'inventory.default.svc.cluster.local:8080/*']";
const PARENT = '[0,0,1,2,3,2,5,4]';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshscope-bench-ui-'));
  const collector = await startCollector({ otlpHttp: '127.0.0.1:0', http: '127.0.0.1:0', dataDir: dir });
  const sql = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') }).client;
  try {
    const insertStart = performance.now();
    const now = Math.floor(Date.now() / 1000);
    const spanId = (n: string) => `leftPad(lower(hex(sipHash64(${n}))), 16, '0')`;
    // In chunks of whole traces, so one INSERT's working set stays well inside the collector's
    // chDB memory budget whatever the total.
    for (let from = 0; from < TRACES * 8; from += SEED_CHUNK) {
      await sql.command({
        query: `INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
  ResourceAttributes, SpanAttributes, Duration, StatusCode)
SELECT
  fromUnixTimestamp64Milli(toInt64((${now} - intDiv(number, 8) % 1800) * 1000 + number % 8)) AS Timestamp,
  lower(hex(sipHash128(intDiv(number, 8)))) AS TraceId,
  ${spanId('number')} AS SpanId,
  if(number % 8 = 0, '', ${spanId(`intDiv(number, 8) * 8 + arrayElement(${PARENT}, number % 8 + 1)`)}) AS ParentSpanId,
  arrayElement(${NAMES}, number % 8 + 1) AS SpanName,
  arrayElement(${KINDS}, number % 8 + 1) AS SpanKind,
  arrayElement(${SERVICES}, number % 8 + 1) AS ServiceName,
  map('service.name', arrayElement(${SERVICES}, number % 8 + 1)) AS ResourceAttributes,
  map('http.request.method', 'GET', 'component', 'proxy') AS SpanAttributes,
  toUInt64((100 - number % 8 * 10) * 1000000 + sipHash64(number) % 5000000) AS Duration,
  if(sipHash64(intDiv(number, 8)) % 100 = 0 AND number % 8 = 6, 'Error', 'Unset') AS StatusCode
FROM numbers(${from}, ${Math.min(SEED_CHUNK, TRACES * 8 - from)})`,
      });
    }
    await sql.command({
      // Every workload is v1 but catalog, split 90/10 between v1 and v2 (the shop's canary).
      query: `INSERT INTO otel_service_graph_edges (Timestamp, Client, Server, ConnectionType, Failed,
  ServerDurationMs, ClientDurationMs, ClientVersion, ServerVersion, Protocol)
SELECT
  fromUnixTimestamp64Milli(toInt64((${now} - number % ${TRACES} % 1800) * 1000)) AS Timestamp,
  arrayElement(['user','front-proxy','frontend','frontend','catalog'], intDiv(number, ${TRACES}) + 1) AS Client,
  arrayElement(['front-proxy','frontend','catalog','cart','inventory'], intDiv(number, ${TRACES}) + 1) AS Server,
  if(intDiv(number, ${TRACES}) = 0, 'virtual_node', '') AS ConnectionType,
  toUInt8(sipHash64(number) % 100 = 0) AS Failed,
  toFloat64(sipHash64(number) % 50) AS ServerDurationMs,
  toFloat64(sipHash64(number) % 60) AS ClientDurationMs,
  multiIf(Client IN ('user', 'front-proxy'), '', Client = 'catalog' AND number % ${TRACES} % 10 = 0, 'v2', 'v1') AS ClientVersion,
  multiIf(Server = 'front-proxy', '', Server = 'catalog' AND number % ${TRACES} % 10 = 0, 'v2', 'v1') AS ServerVersion,
  'http' AS Protocol
FROM numbers(${TRACES * 5})`,
    });
    const insertSeconds = (performance.now() - insertStart) / 1000;

    const browser = await launchChromium();
    const timeView = async (path: string, ready: string): Promise<number> => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const t0 = performance.now();
      await page.goto(collector.apiUrl + path);
      await page.waitForSelector(ready, { timeout: 120_000 });
      const ms = performance.now() - t0;
      await page.close();
      return ms;
    };
    // The API calls behind each view, timed alone (so a slow view says whether it waited on them).
    const api: Record<string, number[]> = {};
    const hour = `start=${Date.now() - 3_600_000}&end=${Date.now()}`;
    const us = `start=${(Date.now() - 3_600_000) * 1000}&end=${Date.now() * 1000}`;
    for (const path of [
      `/api/meshscope/topology?${hour}`,
      '/api/services',
      '/api/services/frontend/operations',
      `/api/traces?service=frontend&limit=20&${us}`,
    ]) {
      api[path] = [];
      for (let i = 0; i < RUNS + 1; i++) {
        const t0 = performance.now();
        const res = await fetch(collector.apiUrl + path);
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${path}: ${res.status}`);
        if (i > 0) api[path]!.push(performance.now() - t0);
      }
    }
    const topology: number[] = [];
    const traceList: number[] = [];
    // One warm-up of each (chDB's first query of a table loads its parts' marks).
    await timeView('/', '.graph canvas');
    await timeView('/traces?service=frontend', '[aria-label^="trace "]');
    for (let i = 0; i < RUNS; i++) {
      topology.push(await timeView('/', '.graph canvas'));
      traceList.push(await timeView('/traces?service=frontend', '[aria-label^="trace "]'));
    }
    await browser.close();
    const round = (xs: number[]) => xs.map((x) => Math.round(x));
    process.stdout.write(
      `${JSON.stringify(
        {
          bench: 'ui',
          spans: TRACES * 8,
          traces: TRACES,
          insertSeconds: Number(insertSeconds.toFixed(1)),
          topologyMs: { median: Math.round(median(topology)), runs: round(topology) },
          traceListMs: { median: Math.round(median(traceList)), runs: round(traceList) },
          apiMs: Object.fromEntries(
            Object.entries(api).map(([k, v]) => [k.replace(/\?.*/, ''), Math.round(median(v))]),
          ),
          goalMs: GOAL_MS,
          met: median(topology) <= GOAL_MS && median(traceList) <= GOAL_MS,
          host: { cpus: cpus().length, loadavg1: Number(loadavg()[0]!.toFixed(2)) },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await sql.close();
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
