// The proxy's scavenges run on its request thread alone (proxy/core/scavenge-threads.ts) unless
// the operator chose otherwise on node's command line. Each case runs in a fresh node
// process, since V8's flags are process-wide.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULE = resolve(import.meta.dirname, '../../dist/proxy/core/scavenge-threads.js');

/** The flags `fn` (scavengeOnRequestThread unless named) hands forked workers, in a node started with `nodeArgs`. */
function workerFlags(nodeArgs: string[], fn = 'scavengeOnRequestThread'): string[] {
  const script = `
    import { ${fn} } from ${JSON.stringify(MODULE)};
    process.stdout.write(JSON.stringify(${fn}()));
  `;
  const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as string[];
}

describe('scavenges on the request thread', () => {
  it('turns parallel scavenging off and hands forked workers the same flag', () => {
    expect(workerFlags([])).toEqual(['--no-parallel-scavenge']);
  });

  it("leaves the operator's choice alone", () => {
    expect(workerFlags(['--parallel-scavenge'])).toEqual([]);
    expect(workerFlags(['--no-parallel-scavenge'])).toEqual([]);
    expect(workerFlags(['--single-threaded-gc'])).toEqual([]);
  });
});

describe('young ArrayBuffers swept on the request thread', () => {
  const fn = 'sweepArrayBuffersOnRequestThread';

  it('turns concurrent ArrayBuffer sweeping off and hands forked workers the same flag', () => {
    expect(workerFlags([], fn)).toEqual(['--no-concurrent-array-buffer-sweeping']);
  });

  it("leaves the operator's choice alone", () => {
    expect(workerFlags(['--concurrent-array-buffer-sweeping'], fn)).toEqual([]);
    expect(workerFlags(['--no-concurrent-array-buffer-sweeping'], fn)).toEqual([]);
    expect(workerFlags(['--single-threaded-gc'], fn)).toEqual([]);
  });
});

describe('scavenges when the young generation is full', () => {
  const fn = 'scavengeWhenYoungGenerationFull';

  it("turns V8's scavenge task off and hands forked workers the same flag", () => {
    expect(workerFlags([], fn)).toEqual(['--no-minor-gc-task']);
  });

  it("leaves the operator's choice alone", () => {
    expect(workerFlags(['--minor-gc-task'], fn)).toEqual([]);
    expect(workerFlags(['--no-minor-gc-task'], fn)).toEqual([]);
  });
});
