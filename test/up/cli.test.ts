// `meshscope up` and `meshscope status` as a user meets them before anything runs: bad flags,
// a malformed mesh file and a mesh the local runner cannot serve are refused with a message
// naming what and where, and leave nothing behind; the Prometheus job written for the shop
// mesh scrapes every proxy and passes promtool.
import { execFile, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMeshFile } from '../../control-plane/mesh/validate.js';
import { planMesh, prometheusConfig } from '../../up/plan.js';
import { readState } from '../../up/state.js';
import { selfSignedP256 } from '../helpers/openssl.js';
import { type MappedMesh, writeMeshOnFreePorts } from './mesh-on-free-ports.js';

const dir = mkdtempSync(join(tmpdir(), 'meshscope-up-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function meshscope(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/cli/main.js', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout, stderr });
    });
  });
}

/** `up` of a mesh written on free ports, with its own state directory and the control plane's and collector's ports moved too. */
function upOnFreePorts(mesh: MappedMesh, state: string): string[] {
  return [
    'up',
    '--mesh',
    mesh.file,
    '--state-dir',
    state,
    '--no-prometheus',
    '--xds',
    mesh.shift('127.0.0.1:18000'),
    '--collector-http',
    mesh.shift('127.0.0.1:16686'),
  ];
}

describe('meshscope up / status command line', () => {
  it('rejects an unknown flag with usage (exit 2)', async () => {
    const r = await meshscope(['up', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--frobnicate/);
    expect(r.stderr).toMatch(/usage: meshscope up/);
  });

  it('rejects a malformed mesh naming the field, and starts nothing', async () => {
    const mesh = readFileSync('examples/shop/mesh.yaml', 'utf8').replace(
      'outbound_port: 15202',
      'outbound_port: "soon"',
    );
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, mesh);
    const state = join(dir, 'state-bad');
    const r = await meshscope(['up', '--mesh', file, '--state-dir', state, '--no-prometheus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/services\[2\]\.workloads\[0\]\.sidecar\.outbound_port/);
    expect(existsSync(join(state, 'state.json'))).toBe(false);
  });

  it('refuses a service that has no demo app, naming it', async () => {
    const mesh = readFileSync('examples/shop/mesh.yaml', 'utf8').replace('- name: cart\n', '- name: basket\n');
    const file = join(dir, 'basket.yaml');
    writeFileSync(file, mesh);
    const r = await meshscope(['up', '--mesh', file, '--state-dir', join(dir, 'state-basket'), '--no-prometheus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/MS_ERR_UP_PLAN: .*service 'basket' has no demo app/);
  });

  it('status says nothing runs when nothing does (exit 3, JSON with ready false)', async () => {
    const r = await meshscope(['status', '--json', '--state-dir', join(dir, 'nothing')]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ ready: false, running: false, components: [] });
  });

  it('plans the shop: every workload with its app and sidecar, all started at once, Prometheus scraping each proxy', async () => {
    const mesh = await loadMeshFile('examples/shop/mesh.yaml');
    const specs = planMesh({
      mesh,
      meshPath: 'mesh.yaml',
      stateDir: dir,
      dataDir: join(dir, 'data'),
      xds: '127.0.0.1:18000',
      collectorHttp: '127.0.0.1:16686',
      prometheus: { binary: 'prometheus', listen: '127.0.0.1:9090' },
    });
    const workloads = mesh.services.flatMap((s) => s.workloads.map((w) => w.name));
    expect(specs.filter((s) => s.kind === 'app').map((s) => s.name)).toEqual(workloads);
    expect(specs.filter((s) => s.kind === 'sidecar').map((s) => s.name)).toEqual(workloads.map((w) => `${w}-sidecar`));
    const front = specs.find((s) => s.kind === 'front-proxy')!;
    expect(front.ports).toEqual([
      { name: 'http', port: 10000 },
      { name: 'https', port: 10443 },
      { name: 'admin', port: 9901 },
    ]);
    expect(front.urls).toEqual(['http://127.0.0.1:10000/', 'https://127.0.0.1:10443/']);
    // Nothing waits: proxies retry xDS and answer 503 until their peers listen.
    expect(specs.every((s) => s.after.length === 0)).toBe(true);

    const config = join(dir, 'prometheus.yml');
    writeFileSync(config, prometheusConfig(specs, '127.0.0.1:16686'));
    execFileSync('promtool', ['check', 'config', config], { stdio: 'pipe' });
    const text = readFileSync(config, 'utf8');
    for (const port of [9901, 15003, 15103, 15113, 15203, 15303, 15403, 15503])
      expect(text).toContain(`"127.0.0.1:${port}"`);
  });

  it('refuses to start when a port of the mesh is taken, naming port and component', async () => {
    const sub = mkdtempSync(join(dir, 'busy-'));
    const mesh = await writeMeshOnFreePorts(sub);
    const taken = Number(new URL(mesh.frontProxy).port);
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(taken, '127.0.0.1', () => r()));
    try {
      const state = join(sub, 'state');
      const r = await meshscope([...upOnFreePorts(mesh, state)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`MS_ERR_UP_PORT_IN_USE: ports already in use: ${taken} (front-proxy http)`);
      expect(existsSync(join(state, 'state.json'))).toBe(false);
    } finally {
      holder.close();
    }
  });

  it("refuses the operator's HTTPS certificate when its flags or its key are wrong, naming the flag, and starts nothing", async () => {
    const half = await meshscope(['up', '--tls-cert', 'cert.pem']);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--tls-cert and --tls-key go together');
    const sub = mkdtempSync(join(dir, 'tls-'));
    const mesh = await writeMeshOnFreePorts(sub);
    for (const n of ['a', 'b'])
      selfSignedP256({ key: join(sub, `${n}.key`), cert: join(sub, `${n}.crt`), subject: `/CN=${n}`, days: 1 });
    const state = join(sub, 'state');
    const r = await meshscope([
      ...upOnFreePorts(mesh, state),
      '--tls-cert',
      join(sub, 'a.crt'),
      '--tls-key',
      join(sub, 'b.key'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `MS_ERR_UP_PLAN: --tls-key ${join(sub, 'b.key')}: does not match the certificate in --tls-cert`,
    );
    expect(existsSync(join(state, 'state.json'))).toBe(false);
  });

  it('stops what already started when SIGTERM arrives before the mesh is ready', async () => {
    const sub = mkdtempSync(join(dir, 'abort-'));
    const mesh = await writeMeshOnFreePorts(sub);
    const state = join(sub, 'state');
    const up = spawn(process.execPath, ['dist/cli/main.js', ...upOnFreePorts(mesh, state)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    up.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
    // Wait until some components run, then stop before everything is ready.
    let pids: number[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && pids.length < 3) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        pids = (readState(state)?.components ?? []).map((c) => c.pid).filter((p): p is number => p !== null);
      } catch {
        // the state file is being replaced; read it again
      }
    }
    expect(pids.length, stderr).toBeGreaterThanOrEqual(3);
    up.kill('SIGTERM');
    expect(await exited).toBe(1);
    expect(stderr).toContain('MS_ERR_UP_ABORTED');
    for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid} survived`).toThrow();
    expect(existsSync(join(state, 'state.json'))).toBe(false);
  }, 60_000);
});
