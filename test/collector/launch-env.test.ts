// The collector process's own memory settings (collector/launch-env.ts). glibc's malloc variable
// reaches the process wherever meshscope starts it and is in effect there: with it a Buffer of
// 256 KiB made after a 4 MiB one was freed is mapped on its own, where glibc's default (its
// threshold raised by that free) carves it from malloc's main heap, which keeps the pages.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  COLLECTOR_MALLOC_ENV,
  COLLECTOR_V8_FLAGS,
  collectorLaunchEnv,
  collectorV8Flags,
} from '../../collector/launch-env.js';
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

  it("set V8's marking triggers unless the operator set them on node's command line", () => {
    expect(collectorV8Flags([])).toEqual([...COLLECTOR_V8_FLAGS]);
    expect(COLLECTOR_V8_FLAGS).toEqual([
      '--incremental-marking-soft-trigger=90',
      '--incremental-marking-hard-trigger=99',
    ]);
    expect(collectorV8Flags(['--incremental-marking-soft-trigger=50'])).toEqual([
      '--incremental-marking-hard-trigger=99',
    ]);
    // V8 takes either spelling. (NODE_OPTIONS cannot carry these flags: node refuses to start.)
    expect(collectorV8Flags(['--max-old-space-size=512', '--incremental_marking_hard_trigger=80'])).toEqual([
      '--incremental-marking-soft-trigger=90',
    ]);
    // A flag whose name only begins the same is not the operator's value.
    expect(collectorV8Flags(['--incremental-marking-soft-trigger-x=1'])).toEqual([...COLLECTOR_V8_FLAGS]);
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
