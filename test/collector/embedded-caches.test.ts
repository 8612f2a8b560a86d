// The embedded engine's caches sit inside the memory the collector gives it (--memory-limit's
// share for the engine): what an operator would check in system.server_settings. The engine
// takes its arguments from a process's first session, so the store opens in a child process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const MiB = 1024 * 1024;

it('bounds every cache of the embedded engine inside its memory ceiling', () => {
  const dir = mkdtempSync(join(tmpdir(), 'collector-embedded-caches-'));
  try {
    const client = resolve('dist/collector/storage/clickhouse/client.js');
    const script = `
const { createStorageClient } = await import(${JSON.stringify(client)});
const s = createStorageClient({ kind: 'embedded', path: ${JSON.stringify(join(dir, 'clickhouse'))} }, ${256 * MiB});
const rs = await s.client.query({
  query: "SELECT name, value FROM system.server_settings WHERE name = 'max_server_memory_usage' OR (name LIKE '%cache%size%' AND name NOT LIKE '%ratio' AND name NOT LIKE '%elements%' AND name NOT LIKE '%entries%' AND name NOT LIKE '%rows' AND name NOT LIKE '%min_size')",
  format: 'JSONEachRow',
});
process.stdout.write(JSON.stringify(await rs.json()));
await s.close();`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const settings = new Map(
      (JSON.parse(child.stdout) as { name: string; value: string }[]).map((r) => [r.name, Number(r.value)]),
    );
    expect(settings.get('max_server_memory_usage')).toBe(256 * MiB);
    const caches = [...settings].filter(([name]) => name !== 'max_server_memory_usage');
    // The server's defaults (mark and primary index caches 5 GiB, vector index 5 GiB, text
    // index postings 2 GiB, ...) are all replaced; the query is not vacuous.
    expect(caches.length).toBeGreaterThan(8);
    for (const [name, bytes] of caches) expect(bytes, name).toBeLessThanOrEqual((256 * MiB) / 16);
    const total = caches.reduce((sum, [, bytes]) => sum + bytes, 0);
    expect(total).toBeLessThanOrEqual((256 * MiB) / 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
