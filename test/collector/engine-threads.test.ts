// Embedded chDB's threads run the configured number of nice levels below the event loop: after
// an export is stored, every thread of the process that chDB named (its pools, merges,
// schedulers) has that nice value, including pool threads the insert started, while the
// event loop's own thread keeps its priority. Out-of-range values are refused at the edge.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { makeSidecarBodies } from '../../bench/lib/span-shapes.js';
import { CollectorConfigError, startCollector, type Collector } from '../../collector/index.js';

const dir = mkdtempSync(join(tmpdir(), 'collector-nice-'));
let collector: Collector | undefined;

afterAll(async () => {
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Thread {
  tid: string;
  name: string;
  nice: number;
}

function threads(): Thread[] {
  const out: Thread[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Field 19 of stat (nice), the 17th after the command's closing parenthesis.
      out.push({ tid, name: readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(), nice: Number(fields[16]) });
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

it('runs chDB threads the configured nice levels below the event loop and leaves the loop alone', async () => {
  const own = readFileSync('/proc/self/comm', 'utf8').trim();
  const loopNice = threads().find((t) => t.tid === String(process.pid))!.nice;
  const nice = Math.min(19, loopNice + 7);
  collector = await startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir: dir,
    embeddedThreadNice: 7,
    batchMaxDelayMs: 50,
  });
  const res = await fetch(`${collector.otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: makeSidecarBodies()[0]!,
  });
  expect(res.status).toBe(200);
  expect(await collector.flush(30_000)).toBe(true);
  // Threads an insert starts take the priority of the thread that ran it until the next look.
  const engine = (): Thread[] => threads().filter((t) => t.name !== own);
  for (let i = 0; i < 100 && engine().some((t) => t.nice !== nice); i++) await new Promise((r) => setTimeout(r, 100));
  const names = new Set(engine().map((t) => t.name.replace(/\d+$/, '')));
  expect(names).toContain('MergeMutate');
  expect(engine().filter((t) => t.nice !== nice)).toEqual([]);
  expect(threads().find((t) => t.tid === String(process.pid))!.nice).toBe(loopNice);
});

it('refuses a nice value outside 0-19', async () => {
  await expect(startCollector({ dataDir: dir, embeddedThreadNice: 20 })).rejects.toThrow(CollectorConfigError);
  await expect(startCollector({ dataDir: dir, embeddedThreadNice: -1 })).rejects.toThrow(/embeddedThreadNice/);
});
