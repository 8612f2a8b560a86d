// A started proxy gives back the pages of Node's binary that its start touched
// (shared/file-pages.ts): they leave its resident set, and it goes on proxying, the code it
// runs coming back from the page cache.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { request } from './helpers.js';
import { cluster, routeTo, startProxyProcess } from './resilience/harness.js';
import { TestUpstream } from './resilience/upstreams.js';
import { fileMappings } from '../../shared/file-pages.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Resident MB of Node's binary in process `pid`. */
function nodeBinaryMb(pid: number | 'self'): number {
  const maps = fileMappings(
    (path) => path === realpathSync(process.execPath),
    readFileSync(`/proc/${pid}/smaps`, 'utf8'),
  );
  return maps.reduce((s, m) => s + m.rssKb, 0) / 1024;
}

describe.runIf(process.platform === 'linux')("Node's binary pages after start", () => {
  it('leave the resident set of a process that releases them, which keeps running', () => {
    const module = resolve('dist/shared/file-pages.js');
    const script = `
      const { readFileSync, realpathSync } = await import('node:fs');
      const { releaseNodeBinaryPages, fileMappings } = await import(${JSON.stringify(module)});
      const mb = () => fileMappings((path) => path === realpathSync(process.execPath), readFileSync('/proc/self/smaps', 'utf8')).reduce((s, m) => s + m.rssKb, 0) / 1024;
      const before = mb();
      const released = releaseNodeBinaryPages();
      const after = mb();
      const work = JSON.stringify(new Intl.DateTimeFormat('en', { month: 'long' }).format(new Date(0)).toUpperCase());
      process.stdout.write(JSON.stringify({ before, released, after, work }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { before: number; released: number; after: number; work: string };
    expect(out.released).toBeGreaterThan(10 * 1024 * 1024);
    expect(out.after).toBeLessThan(out.before / 2);
    expect(out.work).toBe('"JANUARY"');
  });

  it('is done by meshscope proxy once it has started, and requests are still proxied', async () => {
    const up = await new TestUpstream('a').start();
    cleanups.push(() => up.stop());
    const { port, pid, stop } = await startProxyProcess(
      { clusters: [cluster('backend', [up.port])], virtualHosts: routeTo('backend') },
      1,
    );
    cleanups.push(stop);
    for (let i = 0; i < 5; i++)
      expect(
        new Set(await Promise.all(Array.from({ length: 20 }, () => request(port, '/').then((r) => r.status)))),
      ).toEqual(new Set([200]));
    // A started node process holds ~40 MB of its binary (this test's own process more); the
    // proxy, having given them back, only what serving took again.
    expect(nodeBinaryMb(pid)).toBeLessThan(Math.min(30, nodeBinaryMb('self')));
  });
});
