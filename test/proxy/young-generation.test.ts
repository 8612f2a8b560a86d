// The proxy's young-generation bound (proxy/core/young-generation.ts): held at a size, and
// grown back to it after V8 shrank it (as V8 does to a process that has been idle). Each case
// runs in a fresh node process, since V8's flags are process-wide.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULE = resolve(import.meta.dirname, '../../dist/proxy/core/young-generation.js');

/**
 * Holds the young generation at semi-spaces of `targetMb` from wherever it starts (1 MB in a
 * fresh node, as after V8's idle shrink), then allocates the way a proxy does (short-lived
 * garbage, a little surviving, the event loop turning) and reports the semi-space's capacity.
 */
function sizesUnderChurn(targetMb: number, withWorkerThread = false): { start: number; sizes: number[] } {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { holdYoungGenerationAt, semiSpaceBytes } from ${JSON.stringify(MODULE)};
    const semiSpaceMb = () => semiSpaceBytes() / 1048576;
    const start = semiSpaceMb();
    holdYoungGenerationAt(${targetMb} * 1048576);
    let live = [];
    const sizes = [];
    for (let turn = 0; turn < 2000; turn++) {
      const end = performance.now() + 1;
      while (performance.now() < end) {
        live.push({ fields: new Array(20).fill(turn) });
        if (live.length > 2000) live = [];
      }
      await new Promise((r) => setImmediate(r));
      if (turn % 50 === 0) sizes.push(semiSpaceMb());
      if (${withWorkerThread} && turn === 500) {
        // As the telemetry export threads start, once the young generation is at its size.
        const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
        await new Promise((r) => worker.once('online', r));
        worker.unref();
      }
    }
    process.stdout.write(JSON.stringify({ start, sizes }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { start: number; sizes: number[] };
}

describe('young generation bound', () => {
  it('grows a shrunk young generation back to the held size, and no further', () => {
    const { start, sizes } = sizesUnderChurn(4);
    expect(start).toBeLessThan(4);
    expect(sizes.at(-1)).toBe(4);
    expect(Math.max(...sizes)).toBe(4);
  });

  it("keeps holding once a worker thread has started (starting one resets V8's growth factor)", () => {
    const { sizes } = sizesUnderChurn(2, true);
    expect(sizes.at(-1)).toBe(2);
    expect(Math.max(...sizes)).toBe(2);
  });

  it('holds a smaller size too', () => {
    const { sizes } = sizesUnderChurn(2);
    expect(sizes.at(-1)).toBe(2);
    expect(Math.max(...sizes)).toBe(2);
  });
});
