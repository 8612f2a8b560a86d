// chDB's library pages (and Node's binary's) that start touched leave the collector's resident set
// once it has started (collector/storage/clickhouse/library-pages.ts), and the engine still
// answers; where koffi cannot load, the collector starts all the same and says so once. Each
// collector runs in its own process: the pages are the process's, and the engine is one per
// process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'collector-library-pages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  /** Resident MiB of libchdb.so's read-only mappings once the collector has started. */
  afterStartMb: number;
  /** The same of Node's binary. */
  nodeAfterStartMb: number;
  /** The same after a span was stored and queried back. */
  afterQueryMb: number;
  services: string[];
  stderr: string;
}

/** Starts a collector in a child process (with `nodeArgs`), stores one span and queries it back. */
function run(name: string, nodeArgs: string[] = []): Run {
  const index = resolve('dist/collector/index.js');
  const script = `
const { readFileSync, realpathSync } = await import('node:fs');
const { startCollector } = await import(${JSON.stringify(index)});
const node = realpathSync(process.execPath);
const residentMb = (file = '/libchdb.so') => {
  let kb = 0;
  let counted = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\\S+) \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
    if (head) counted = head[2].endsWith(file) && head[1][1] === '-';
    else if (counted && line.startsWith('Rss:')) kb += Number.parseInt(line.slice(4), 10);
  }
  return kb / 1024;
};
const collector = await startCollector({
  otlpHttp: '127.0.0.1:0',
  http: '127.0.0.1:0',
  dataDir: ${JSON.stringify(join(dir, name))},
});
const afterStartMb = residentMb();
const nodeAfterStartMb = residentMb(node);
const now = BigInt(Date.now()) * 1000000n;
const res = await fetch(collector.otlpUrl + '/v1/traces', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ resourceSpans: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'library-pages-${name}' } }] },
    scopeSpans: [{ spans: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'GET /',
      kind: 2, startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000000n) }] }],
  }] }),
});
if (res.status !== 200) throw new Error('export answered ' + res.status);
if (!(await collector.flush(20000))) throw new Error('not stored');
const services = (await (await fetch(collector.apiUrl + '/api/services')).json()).data;
const afterQueryMb = residentMb();
await collector.close();
process.stdout.write(JSON.stringify({ afterStartMb, nodeAfterStartMb, afterQueryMb, services }));`;
  const child = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(child.status, child.stderr).toBe(0);
  return { ...(JSON.parse(child.stdout) as Omit<Run, 'stderr'>), stderr: child.stderr };
}

describe("chDB's library pages", () => {
  it.skipIf(process.platform !== 'linux')('leave the resident set once the collector has started', () => {
    const r = run('released');
    // ~175 MiB are resident after the engine's start (the run below without koffi); what stays
    // is what the first statements after the release touched again.
    expect(r.afterStartMb).toBeLessThan(48);
    // Node's binary the same way: ~39 MiB without, ~17 with.
    expect(r.nodeAfterStartMb).toBeLessThan(30);
    // The engine still runs from the pages it faults back in: a span stored and queried.
    expect(r.services).toContain('library-pages-released');
    expect(r.afterQueryMb).toBeLessThan(120);
    expect(r.stderr).not.toContain('madvise');
  });

  it.skipIf(process.platform !== 'linux')('leave it too when the collector writes to a ClickHouse server', () => {
    // chDB's library is loaded in URL mode as well, and never runs there. Nothing listens on the
    // discard port: the collector starts and retries its migrations in the background.
    const index = resolve('dist/collector/index.js');
    const script = `
const { readFileSync } = await import('node:fs');
const { startCollector } = await import(${JSON.stringify(index)});
const collector = await startCollector({
  otlpHttp: '127.0.0.1:0',
  http: '127.0.0.1:0',
  dataDir: ${JSON.stringify(join(dir, 'url'))},
  clickhouse: { url: 'http://127.0.0.1:9' },
});
let kb = 0;
let counted = false;
for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
  const head = /^[0-9a-f]+-[0-9a-f]+ (\\S+) \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
  if (head) counted = head[2].endsWith('/libchdb.so') && head[1][1] === '-';
  else if (counted && line.startsWith('Rss:')) kb += Number.parseInt(line.slice(4), 10);
}
await collector.close(1000);
process.stdout.write(String(kb / 1024));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    // ~137 MiB without the release.
    expect(Number(child.stdout)).toBeLessThan(48);
  });

  it('stay resident, and the collector works, where koffi cannot load', () => {
    // A preload that makes resolving 'koffi' fail, as on a platform it has no binary for.
    const preload = join(dir, 'no-koffi.cjs');
    writeFileSync(
      preload,
      `const Module = require('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'koffi') throw Object.assign(new Error("Cannot find module 'koffi'"), { code: 'MODULE_NOT_FOUND' });
  return resolveFilename.call(this, request, ...rest);
};`,
    );
    const r = run('kept', ['--require', preload]);
    expect(r.services).toContain('library-pages-kept');
    if (process.platform === 'linux') {
      expect(r.afterStartMb).toBeGreaterThan(100);
      expect(r.nodeAfterStartMb).toBeGreaterThan(30);
      // Said once, with the reason.
      expect(r.stderr.match(/madvise through koffi is not available/g)).toHaveLength(1);
      expect(r.stderr).toContain("Cannot find module 'koffi'");
    }
  });
});
