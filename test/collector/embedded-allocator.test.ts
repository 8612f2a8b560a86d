// Embedded chDB's allocator (its own jemalloc inside libchdb.so) runs with the options the
// collector sets before the library loads (storage/clickhouse/jemalloc-options.ts): one arena,
// the built-in decay of freed pages kept. What an operator would check: jemalloc's own
// report of its options, and that options of their own in JE_MALLOC_CONF are kept.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { useEmbeddedStore } from '../helpers/embedded-store.js';

const store = useEmbeddedStore('collector-embedded-allocator-');

/** jemalloc's options as it reports them (system.jemalloc_stats), e.g. { 'opt.narenas': '1' }. */
function options(stats: string): Record<string, string> {
  return Object.fromEntries(
    [...stats.matchAll(/^\s*(opt\.(?:narenas|percpu_arena|dirty_decay_ms)): (\S+)/gm)].map((m) => [m[1]!, m[2]!]),
  );
}

it('runs the embedded engine on one arena', async () => {
  const rs = await store.storage.client.query({
    query: 'SELECT * FROM system.jemalloc_stats',
    format: 'TabSeparatedRaw',
  });
  expect(options(await rs.text())).toEqual({
    'opt.narenas': '1',
    'opt.percpu_arena': '"disabled"',
    'opt.dirty_decay_ms': '5000',
  });
});

it("keeps an operator's own JE_MALLOC_CONF", () => {
  const dir = mkdtempSync(join(tmpdir(), 'collector-embedded-allocator-env-'));
  try {
    const client = resolve('dist/collector/storage/clickhouse/client.js');
    const script = `
const { createStorageClient } = await import(${JSON.stringify(client)});
const s = createStorageClient({ kind: 'embedded', path: ${JSON.stringify(join(dir, 'clickhouse'))} });
const rs = await s.client.query({ query: 'SELECT * FROM system.jemalloc_stats', format: 'TabSeparatedRaw' });
process.stdout.write(await rs.text());
await s.close();`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, JE_MALLOC_CONF: 'dirty_decay_ms:3000' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.status, child.stderr).toBe(0);
    // Theirs in place of the collector's: the built-in arena per CPU, and their decay.
    expect(options(child.stdout)).toMatchObject({ 'opt.percpu_arena': '"percpu"', 'opt.dirty_decay_ms': '3000' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
