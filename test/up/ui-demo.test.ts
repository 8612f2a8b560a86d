// The web UI in real Chromium against the running demo: `meshscope up` runs the shop mesh (as
// `npm start` does, on free ports so it cannot collide with a developer's mesh), the real
// `meshscope load` sends a bounded load through the front proxy, and then:
//   - the topology page names every service, every call and every workload version of the shop
//     (mesh.yaml's versions, drawn as sub-nodes) and every call between versions;
//   - `/trace/<id>` of the load's slowest request, read from the link the load summary prints,
//     shows every span and every service of that trace;
//   - no page errors; screenshots under reports/ for review.
// Needs `npm run build` (dist/cli and the UI bundle).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { JaegerResponse, JaegerSpan, JaegerTrace } from '../../collector/api/jaeger-model.js';
import type { Topology } from '../../collector/api/queries.js';
import { shopCallGraph } from '../../examples/shop/shop.js';
import { writeMeshOnFreePorts, type MappedMesh } from './mesh-on-free-ports.js';

const REPORTS = join(import.meta.dirname, '../../reports');
// Enough browsing that catalog v2 (10% of catalog's traffic) is all but sure to be hit: 0.9^120.
const BROWSE = 120;
const CHECKOUT = 20;

const dir = mkdtempSync(join(tmpdir(), 'meshscope-ui-demo-'));
let mesh: MappedMesh;
let collectorHttp = '';
let up: ChildProcess | undefined;
let upExit: Promise<number | null> | undefined;
let upOutput = '';
let browser: Browser | undefined;
let slowestTraceId = '';

/** The shop's workload versions by service, as mesh.yaml labels them. */
function shopVersions(): Map<string, string[]> {
  const m = parse(readFileSync('examples/shop/mesh.yaml', 'utf8')) as {
    services: Array<{ name: string; workloads: Array<{ labels: { version: string } }> }>;
  };
  return new Map(m.services.map((s) => [s.name, s.workloads.map((w) => w.labels.version).sort()]));
}

const VERSIONS = shopVersions();
const SERVICES = ['front-proxy', ...VERSIONS.keys()].sort();
const EDGES: Array<[string, string]> = [['user', 'front-proxy'], ['front-proxy', 'frontend'], ...shopCallGraph()];
/** Every call between versions: the front proxy (no version) into each frontend version, then every pair. */
const VERSION_CALLS: Array<[string, string]> = EDGES.filter(([a]) => a !== 'user').flatMap(([a, b]) =>
  (VERSIONS.get(b) ?? []).flatMap((vb) =>
    (VERSIONS.get(a) ?? ['']).map((va): [string, string] => [va === '' ? a : `${a} ${va}`, `${b} ${vb}`]),
  ),
);

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['dist/cli/main.js', ...args],
      { timeout: 60_000, maxBuffer: 16 << 20, env: { ...process.env, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

async function getJson<T>(path: string): Promise<T | undefined> {
  const res = await fetch(collectorHttp + path);
  return res.ok ? ((await res.json()) as T) : undefined;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const tag = (s: JaegerSpan, key: string) => s.tags.find((t) => t.key === key)?.value;

/**
 * The trace once every hop is stored: each CLIENT span has its server below it, and each
 * sidecar's inbound SERVER span has its app's span below it.
 */
function complete(t: JaegerTrace): boolean {
  const parents = new Set(t.spans.flatMap((s) => s.references.map((r) => r.spanID)));
  return t.spans.every((s) => {
    if (tag(s, 'span.kind') === 'client') return parents.has(s.spanID);
    const inbound = String(tag(s, 'upstream_cluster') ?? '').startsWith('inbound|');
    return tag(s, 'span.kind') !== 'server' || !inbound || parents.has(s.spanID);
  });
}

beforeAll(async () => {
  mkdirSync(REPORTS, { recursive: true });
  mesh = await writeMeshOnFreePorts(dir);
  collectorHttp = `http://${mesh.shift('127.0.0.1:16686')}`;
  const began = Date.now();
  up = spawn(
    process.execPath,
    [
      'dist/cli/main.js',
      'up',
      '--mesh',
      mesh.file,
      '--state-dir',
      join(dir, 'state'),
      '--xds',
      mesh.shift('127.0.0.1:18000'),
      '--collector-http',
      mesh.shift('127.0.0.1:16686'),
      '--no-prometheus',
      '--ready-timeout',
      '90',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  upExit = new Promise((resolve) => up!.once('exit', (code) => resolve(code)));
  up.stdout!.on('data', (d: Buffer) => (upOutput += d.toString()));
  up.stderr!.on('data', (d: Buffer) => (upOutput += d.toString()));
  await until(
    'meshscope up to be ready',
    async () => {
      if (up!.exitCode !== null) throw new Error(`meshscope up exited ${up!.exitCode}:\n${upOutput}`);
      return /ready in [\d.]+ s/.test(upOutput) ? true : undefined;
    },
    90_000,
  );
  const readyMs = Date.now() - began;

  const script = join(dir, 'load.js');
  writeFileSync(
    script,
    `import http from 'k6/http';
import { check } from 'k6';
export const options = {
  // Every request carries a sampled traceparent, so each slow one is linked to its trace.
  tracing: { propagator: 'w3c', sampling: 1 },
  scenarios: {
    browse: { executor: 'shared-iterations', vus: 8, iterations: ${BROWSE}, exec: 'browse' },
    checkout: { executor: 'shared-iterations', vus: 2, iterations: ${CHECKOUT}, exec: 'checkout' },
  },
};
export function browse() { check(http.get('${mesh.frontProxy}/'), { ok: (r) => r.status === 200 }); }
export function checkout() { check(http.post('${mesh.frontProxy}/checkout', '{}', { headers: { 'content-type': 'application/json' } }), { ok: (r) => r.status === 200 }); }
`,
  );
  const load = await run(['load', script], { MESHSCOPE_TRACE_UI: collectorHttp });
  if (load.code !== 0) throw new Error(`meshscope load exited ${load.code}:\n${load.stdout}\n${load.stderr}`);
  // The summary lists the slowest requests, slowest first, each linked to its waterfall.
  const link = new RegExp(`↳ ${collectorHttp.replace(/[.]/g, '\\.')}/trace/([0-9a-f]{32})`).exec(load.stdout);
  if (link === null) throw new Error(`no trace link in the load summary:\n${load.stdout}`);
  slowestTraceId = link[1]!;
  process.stdout.write(`ui-demo: mesh ready in ${readyMs} ms, load done ${Date.now() - began - readyMs} ms later\n`);

  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (up !== undefined && up.exitCode === null) {
    up.kill('SIGTERM');
    await upExit;
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A page of the collector's UI that records every page error and console error. */
async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(collectorHttp + path);
  return { page, errors };
}

describe('the web UI in Chromium, against the running demo', () => {
  it('names every service, call, version and call between versions of the shop in the topology', async () => {
    // Spans reach the collector in batches: wait until the graph holds every request of the load
    // on the client edge and every call between versions.
    const since = Date.now() - 600_000;
    await until('the load in the service graph', async () => {
      const t = await getJson<Topology>(`/api/meshscope/topology?start=${since}&end=${Date.now() + 60_000}`);
      const requests = t?.edges.find((e) => e.source === 'user' && e.target === 'front-proxy')?.requests ?? 0;
      const named = new Set(
        t?.edges.flatMap((e) =>
          e.versions.map((v) =>
            [
              v.sourceVersion === '' ? e.source : `${e.source} ${v.sourceVersion}`,
              `${e.target} ${v.targetVersion}`,
            ].join(' to '),
          ),
        ),
      );
      return requests >= BROWSE + CHECKOUT && VERSION_CALLS.every((c) => named.has(c.join(' to '))) ? t : undefined;
    });
    const { page, errors } = await open('/');
    await page.waitForSelector('.graph canvas');
    for (const s of SERVICES) expect(await page.getByLabel(`service ${s}`, { exact: true }).count(), s).toBe(1);
    // Every call says its protocol (checkout charges payment over gRPC, the rest is HTTP), and
    // every call inside the mesh says mTLS (the shop runs mtls STRICT); the load's calls into the
    // front proxy are plaintext.
    const lead = (a: string, b: string): string =>
      `${b.startsWith('payment') ? 'gRPC' : 'HTTP'} · ${a === 'user' ? '' : 'mTLS · '}`;
    for (const [a, b] of EDGES) {
      expect(await page.locator(`[aria-label^="edge ${a} to ${b}: ${lead(a, b)}"]`).count(), `${a} -> ${b}`).toBe(1);
    }
    expect(await page.locator('[aria-label^="edge user to front-proxy: HTTP · mTLS"]').count()).toBe(0);
    for (const [s, versions] of VERSIONS) {
      for (const v of versions) {
        expect(await page.getByLabel(`service ${s} version ${v}`, { exact: true }).count(), `${s} ${v}`).toBe(1);
      }
    }
    for (const [a, b] of VERSION_CALLS) {
      expect(await page.locator(`[aria-label^="edge ${a} to ${b}: ${lead(a, b)}"]`).count(), `${a} -> ${b}`).toBe(1);
    }
    const graph = await page.locator('.graph').getAttribute('aria-label');
    for (const [a, b] of EDGES) expect(graph).toContain(`${a} → ${b}`);
    const mtls = graph!.slice(graph!.indexOf('; mutual TLS on '));
    for (const [a, b] of EDGES) if (a !== 'user') expect(mtls).toContain(`${a} → ${b}`);
    for (const [a, b] of VERSION_CALLS) expect(graph).toContain(`${a} → ${b}`);
    expect(graph).toContain(`catalog (versions ${VERSIONS.get('catalog')!.join(', ')})`);
    await page.screenshot({ path: join(REPORTS, 'ui-demo-topology.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows every span and service of the load's slowest request at /trace/<id>", async () => {
    const trace = await until(`trace ${slowestTraceId} with every hop stored`, async () => {
      const t = (await getJson<JaegerResponse<JaegerTrace[]>>(`/api/traces/${slowestTraceId}`))?.data[0];
      return t !== undefined && complete(t) ? t : undefined;
    });
    const services = [...new Set(trace.spans.map((s) => trace.processes[s.processID]!.serviceName))];
    expect(services).toEqual(expect.arrayContaining(['front-proxy', 'frontend']));
    const { page, errors } = await open(`/trace/${slowestTraceId}`);
    await page.waitForSelector('.waterfall .row');
    expect(await page.locator('.waterfall .row').count()).toBe(trace.spans.length);
    for (const s of trace.spans) {
      const service = trace.processes[s.processID]!.serviceName;
      const row = page.locator(`[data-span-id="${s.spanID}"]`);
      expect(await row.getAttribute('aria-label'), s.operationName).toContain(`span ${s.operationName} of ${service}`);
    }
    const text = (await page.locator('.waterfall').textContent()) ?? '';
    for (const s of services) expect(text, s).toContain(s);
    await page.screenshot({ path: join(REPORTS, 'ui-demo-trace.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
