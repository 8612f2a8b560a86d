// Envoy's locality-load-balancing sandbox, scenario 2 (start/sandboxes/locality_load_balancing):
// local-1 scaled to 5 replicas of which 4 are down (priority 0 is 20% healthy), local-2 and
// remote-1 at priority 1, remote-2 at priority 2. Envoy's priority load comes from each
// level's availability (min(100, 1.4 × healthy%)), normalised by their capped sum
// (intro/arch_overview/upstream/load_balancing/priority), and "the panic threshold is
// disregarded when the total health across all priorities is 100%" (…/load_balancing/panic_threshold):
// - P0 available 28, P1 100 → P0 28%, P1 72% split by locality weight (36% / 36%); the
//   sandbox documents 27% / 36% / 37% from 100 requests;
// - then all of priority 1 down: P0 28%, P2 72%; the sandbox documents 23% / 77% from 100
//   requests (Envoy's own split is 28 / 72: both within 5 points).
// meshscope used to put P0 in panic here and answer 0% / 52% / 48%, then 0% / 100%.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../proxy/index.js';
import { freePort, startTestProxy, startUpstream, type RunningProxy, type Upstream } from './helpers.js';

const REQUESTS = 1_000;
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface LbEndpoint {
  endpoint: { address: { socket_address: { address: string; port_value: number } } };
  health_status?: string;
}
interface Locality {
  lb_endpoints: LbEndpoint[];
}

async function scenario(downPriority1: boolean): Promise<Record<string, number>> {
  const names = ['local-1', 'local-2', 'remote-1', 'remote-2'];
  const ups: Upstream[] = [];
  for (const n of names) ups.push(await startUpstream(n));
  cleanups.push(async () => {
    for (const u of ups) await u.close();
  });
  let text = readFileSync(fileURLToPath(new URL('./fixtures/locality-load-balancing.yaml', import.meta.url)), 'utf8');
  ['LOCAL_1_PORT', 'LOCAL_2_PORT', 'REMOTE_1_PORT', 'REMOTE_2_PORT'].forEach((k, i) => {
    text = text.replaceAll(`\${${k}}`, String(ups[i]!.port));
  });
  const config = parseConfigText(text, 'locality-load-balancing.yaml') as {
    static_resources: { clusters: Array<{ load_assignment: { endpoints: Locality[] } }> };
  };
  const localities = config.static_resources.clusters[0]!.load_assignment.endpoints;
  // Four more local-1 replicas, down: EDS health status, as a failed health check would leave them.
  const dead = await freePort();
  for (let i = 0; i < 4; i++)
    localities[0]!.lb_endpoints.push({
      endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: dead } } },
      health_status: 'UNHEALTHY',
    });
  if (downPriority1) for (const l of [localities[1]!, localities[2]!]) l.lb_endpoints[0]!.health_status = 'UNHEALTHY';
  const proxy: RunningProxy = await startTestProxy(config);
  cleanups.push(() => proxy.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  cleanups.push(async () => agent.destroy());
  const counts: Record<string, number> = {};
  const one = () =>
    new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxy.port, path: '/', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            resolve(res.statusCode === 200 ? (JSON.parse(body) as { upstream: string }).upstream : `${res.statusCode}`),
          );
        })
        .on('error', reject);
    });
  for (let sent = 0; sent < REQUESTS; sent += 8) {
    for (const who of await Promise.all(Array.from({ length: 8 }, one))) counts[who] = (counts[who] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, (v * 100) / REQUESTS]));
}

describe('priority load with total health 100% (panic threshold disregarded)', () => {
  it('P0 at 20% healthy keeps its 28% share; priority 1 splits the rest by locality', async () => {
    const pct = await scenario(false);
    expect(Object.keys(pct).sort()).toEqual(['local-1', 'local-2', 'remote-1']);
    expect(Math.abs(pct['local-1']! - 28)).toBeLessThanOrEqual(5);
    expect(Math.abs(pct['local-2']! - 36)).toBeLessThanOrEqual(5);
    expect(Math.abs(pct['remote-1']! - 36)).toBeLessThanOrEqual(5);
  });

  it('with priority 1 down, P0 keeps 28% and priority 2 takes 72%', async () => {
    const pct = await scenario(true);
    expect(Object.keys(pct).sort()).toEqual(['local-1', 'remote-2']);
    expect(Math.abs(pct['local-1']! - 28)).toBeLessThanOrEqual(5);
    expect(Math.abs(pct['remote-2']! - 72)).toBeLessThanOrEqual(5);
  });
});
