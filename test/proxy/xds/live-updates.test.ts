// Live changes under steady load through two sidecars (client → web-1's outbound sidecar →
// api-vN's inbound sidecar → app): weight shifts, endpoints leaving and returning, and a
// fault rule flipping on and off cause zero client failures; with the control plane killed, sidecars keep serving, reconnect
// when it returns, and converge on the mesh as it was edited meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyServer } from '../../../proxy/index.js';
import { freePorts, runCli, tempDir, waitFor, type Child, type TempDir } from '../../control-plane/helpers.js';
import { call, meshFixture, startSidecar, stat, type MeshFixture } from './helpers.js';

interface Load {
  stop(): Promise<{ ok: number; failures: string[] }>;
  /** Upstreams seen by requests that started after `since`. */
  seenSince(since: number): Map<string, number>;
}

function steadyLoad(port: number, concurrency: number): Load {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const log: Array<{ at: number; upstream: string }> = [];
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const at = Date.now();
      try {
        const r = await call(port, 'api', '/load');
        if (r.status === 200) {
          ok += 1;
          log.push({ at, upstream: r.upstream });
          if (log.length > 20_000) log.splice(0, 10_000);
        } else failures.push(`${r.status} ${r.body.slice(0, 120)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ok, failures };
    },
    seenSince(since) {
      const m = new Map<string, number>();
      for (const e of log) if (e.at >= since) m.set(e.upstream, (m.get(e.upstream) ?? 0) + 1);
      return m;
    },
  };
}

let fx: MeshFixture;
let dir: TempDir;
let xdsPort: number;
let cp: Child;
const proxies: ProxyServer[] = [];

function startControlPlaneChild(): Child {
  const c = runCli(['control-plane', '--mesh', dir.file('mesh.yaml'), '--xds', `127.0.0.1:${xdsPort}`]);
  return c;
}

/** Waits until every request of a 300 ms window reaches exactly the given upstreams. */
async function converged(load: Load, want: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const seen = load.seenSince(since);
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    if (total >= 20 && want.every((u) => seen.has(u)) && [...seen.keys()].every((u) => want.includes(u))) return;
    if (Date.now() > deadline)
      throw new Error(`traffic did not converge on ${want.join(', ')}: ${JSON.stringify([...seen])}`);
  }
}

beforeAll(async () => {
  fx = await meshFixture(['v1', 'v2']);
  dir = tempDir();
  [xdsPort] = await freePorts(1);
  dir.write('mesh.yaml', fx.yaml({ weights: { v1: 100, v2: 0 } }));
  cp = startControlPlaneChild();
  await cp.waitForOutput(/served over xDS/);
  for (const node of ['api-v1', 'api-v2', 'web-1'])
    proxies.push(await startSidecar(fx.yaml({ weights: { v1: 100, v2: 0 } }), node, xdsPort, 'GRPC'));
});

afterAll(async () => {
  await cp?.kill();
  await Promise.all(proxies.map((p) => p.close(500)));
  await fx?.close();
  dir?.remove();
});

describe('live xDS updates under load', () => {
  it('shifts weights, churns endpoints and flips a fault rule with zero client failures', async () => {
    const out = fx.sidecars.get('web-1')!.outbound;
    const load = steadyLoad(out, 8);
    try {
      await converged(load, ['api-v1']);
      dir.write('mesh.yaml', fx.yaml({ weights: { v1: 0, v2: 100 } }));
      await converged(load, ['api-v2']);
      dir.write('mesh.yaml', fx.yaml({ weights: { v1: 50, v2: 50 } }));
      await converged(load, ['api-v1', 'api-v2']);
      // The v2 endpoint leaves the service (its sidecar keeps running, as a pod being drained would), then returns.
      dir.write('mesh.yaml', fx.yaml({ apiWorkloads: ['v1'] }));
      await converged(load, ['api-v1']);
      dir.write('mesh.yaml', fx.yaml({}));
      await converged(load, ['api-v1', 'api-v2']);
      // A fault rule flips on and off: requests it selects are aborted, the steady load is not.
      const chaos = `      - name: chaos
        match: [{ headers: { x-chaos: { exact: "on" } } }]
        route: [{ subset: v1 }]
        fault: { abort: { percent: 100, http_status: 418 } }
`;
      dir.write('mesh.yaml', fx.yaml({ weights: { v1: 50, v2: 50 }, extraRoute: chaos }));
      await waitFor(async () => (await call(out, 'api', '/probe', { 'x-chaos': 'on' })).status === 418, 'fault active');
      await converged(load, ['api-v1', 'api-v2']);
      dir.write('mesh.yaml', fx.yaml({ weights: { v1: 50, v2: 50 } }));
      await waitFor(
        async () => (await call(out, 'api', '/probe', { 'x-chaos': 'on' })).status === 200,
        'fault removed',
      );
      await converged(load, ['api-v1', 'api-v2']);
    } finally {
      const { ok, failures } = await load.stop();
      expect(failures).toEqual([]);
      expect(ok).toBeGreaterThan(200);
    }
  });

  it('keeps serving while the control plane is down, reconnects, and converges on edits made meanwhile', async () => {
    const web = fx.sidecars.get('web-1')!;
    const load = steadyLoad(web.outbound, 4);
    try {
      await converged(load, ['api-v1', 'api-v2']);
      await cp.kill('SIGKILL');
      await waitFor(async () => (await stat(web.admin, 'control_plane.connected_state')) === 0, 'connected_state 0');
      await converged(load, ['api-v1', 'api-v2']);
      dir.write('mesh.yaml', fx.yaml({ weights: { v1: 100, v2: 0 } }));
      cp = startControlPlaneChild();
      await cp.waitForOutput(/served over xDS/);
      await waitFor(
        async () => (await stat(web.admin, 'control_plane.connected_state')) === 1,
        'connected_state 1',
        15_000,
      );
      await converged(load, ['api-v1']);
    } finally {
      const { ok, failures } = await load.stop();
      expect(failures).toEqual([]);
      expect(ok).toBeGreaterThan(100);
    }
  });
});
