// The collector process's own memory settings (collector/launch-env.ts). glibc's malloc variable
// reaches the process wherever meshscope starts it and is in effect there: with it a Buffer of
// 256 KiB made after a 4 MiB one was freed is mapped on its own, where glibc's default (its
// threshold raised by that free) carves it from malloc's main heap, which keeps the pages. A
// running `meshscope collector` holds V8's new space at two semi-spaces of 4 MiB under load,
// where it grows past that by default.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeSidecarBodies } from '../../bench/lib/span-shapes.js';
import { parse } from 'yaml';
import { COLLECTOR_MALLOC_ENV, collectorLaunchEnv } from '../../collector/launch-env.js';
import { loadMeshFile } from '../../control-plane/mesh/validate.js';
import { planMesh } from '../../up/plan.js';

// Frees a 4 MiB Buffer, then keeps 64 of 256 KiB (16 MiB): prints how many KiB [heap] grew.
const PROBE = `
const { readFileSync } = require('node:fs');
const heapKiB = () => {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]');
  return at < 0 ? 0 : Number(/Rss:\\s+(\\d+)/.exec(smaps.slice(at))[1]);
};
let big = Buffer.alloc(4 << 20);
big = null;
gc();
setTimeout(() => {
  gc();
  const before = heapKiB();
  const kept = Array.from({ length: 64 }, () => Buffer.alloc(256 << 10));
  const grew = heapKiB() - before;
  kept.length = 0;
  process.stdout.write(JSON.stringify({ heapGrewKiB: grew }));
}, 50);
`;

/** The probe run with `env` over this environment less malloc's variables. */
function probe(env: Record<string, string>): { heapGrewKiB: number } {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => !k.startsWith('MALLOC_') && v !== undefined),
  ) as Record<string, string>;
  return JSON.parse(
    execFileSync(process.execPath, ['--expose-gc', '-e', PROBE], { env: { ...base, ...env }, encoding: 'utf8' }),
  );
}

describe("the collector's launch settings", () => {
  it('are in the environment meshscope up starts its collector with, and take effect there', async () => {
    const mesh = await loadMeshFile('examples/shop/mesh.yaml');
    const collector = planMesh({
      mesh,
      meshPath: 'examples/shop/mesh.yaml',
      stateDir: '/tmp/unused',
      dataDir: '/tmp/unused/data',
      xds: '127.0.0.1:18000',
      collectorHttp: '127.0.0.1:16686',
      prometheus: null,
    }).find((s) => s.kind === 'collector')!;
    // What the supervisor passes over its own environment (up/supervisor.ts).
    expect(collector.env).toEqual(collectorLaunchEnv(process.env));
    const launched = probe(collectorLaunchEnv({}));
    // 16 MiB of Buffers: outside the heap with the settings (a few KiB of bookkeeping), inside without.
    expect(launched.heapGrewKiB).toBeLessThan(1024);
    const plain = probe({});
    expect(plain.heapGrewKiB).toBeGreaterThan(4096);
  });

  it("keep an operator's own value", () => {
    expect(collectorLaunchEnv({})).toEqual(COLLECTOR_MALLOC_ENV);
    expect(collectorLaunchEnv({ MALLOC_MMAP_THRESHOLD_: '65536' })).toEqual({});
  });

  it("are in docker-compose.yml's collector service", () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
      services: Record<string, { environment?: Record<string, string> }>;
    };
    expect(compose.services['collector']?.environment).toMatchObject(collectorLaunchEnv({}));
    // The export settings every meshscope container has stay.
    expect(compose.services['collector']?.environment?.['OTEL_BSP_SCHEDULE_DELAY']).toBe('500');
  });
});

/** A `meshscope collector` on free ports under `nodeArgs`; resolves with its URLs and a stop function. */
async function startCollector(nodeArgs: string[]): Promise<{ otlp: string; api: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'collector-launch-env-'));
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      'dist/cli/main.js',
      'collector',
      '--otlp-http',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--data',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let out = '';
  const urls = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /OTLP\/HTTP on (\S+), query API on (\S+)/.exec(out);
      if (m !== null) resolve([m[1]!, m[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}`)));
  });
  return { otlp: urls[0], api: urls[1], stop };
}

/** V8's new space in MiB after 160 requests of 512 sidecar-shaped spans, 4 at a time. */
async function newSpaceUnderLoad(nodeArgs: string[]): Promise<number> {
  const c = await startCollector(nodeArgs);
  try {
    for (let i = 0; i < 40; i++) {
      await Promise.all(
        [0, 1, 2, 3].map(async (k) => {
          const res = await fetch(`${c.otlp}/v1/traces`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-protobuf' },
            body: bodies[(i * 4 + k) % bodies.length],
          });
          await res.arrayBuffer();
        }),
      );
    }
    const metrics = await (await fetch(`${c.api}/metrics`)).text();
    const m = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(metrics);
    return Number(m?.[1]) / 1048576;
  } finally {
    await c.stop();
  }
}

const bodies = makeSidecarBodies();

it("holds a running collector's young generation at two semi-spaces of 4 MiB, unless the operator sized it", async () => {
  expect(await newSpaceUnderLoad([])).toBeLessThanOrEqual(8);
  // An operator's growth factor of their own: V8 grows it past that.
  expect(await newSpaceUnderLoad(['--semi-space-growth-factor=2'])).toBeGreaterThan(8);
}, 60_000);
