// GC pauses of the proxies under test, lined up with the requests they may have delayed
// (bench:proxy-low-rate's LOWRATE_GC_TRACE=1): a preload module, passed to each meshscope
// process with --import, records every GC of every thread (V8's PerformanceObserver 'gc'
// entries: start on CLOCK_MONOTONIC, duration, kind) into a file per thread; the open-loop client
// reports each request's write time on the same clock (OPEN_LOOP_WRITTEN=1). Per row and round
// this says how often each hop's request thread stopped for a GC and for how long, and whether
// the slowest requests (at or above the row's p99 service time) are the ones a GC overlapped,
// beside how many of all requests one overlapped (what chance alone would give).
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { workDir } from './peers.js';

/** One GC of one thread: start (CLOCK_MONOTONIC ms), pause (ms), V8's kind (1 scavenge, 4 mark-compact, ...). */
interface GcEvent {
  startMs: number;
  pauseMs: number;
  kind: number;
}

const PRELOAD = (dir: string): string => `
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { appendFileSync } from 'node:fs';
const file = ${JSON.stringify(dir)} + '/' + process.pid + '-' + threadId + '.log';
const lines = [];
// performance.now() and process.hrtime share CLOCK_MONOTONIC; only their origins differ.
const origin = Number(process.hrtime.bigint()) / 1e6 - performance.now();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) lines.push((origin + e.startTime).toFixed(3) + ' ' + e.duration.toFixed(3) + ' ' + (e.detail?.kind ?? 0));
}).observe({ entryTypes: ['gc'] });
setInterval(() => {
  if (lines.length > 0) appendFileSync(file, lines.join('\\n') + '\\n');
  lines.length = 0;
}, 500).unref();
`;

export interface GcTrace {
  /** Node flags that load the recorder into a process. */
  readonly nodeArgs: string[];
  /** The GCs of `pid`'s request thread (its main thread) so far. */
  requestThreadGcs(pid: number): GcEvent[];
}

/** A recorder for this run, its files in a directory of its own. */
export function gcTrace(): GcTrace {
  const dir = mkdtempSync(join(workDir, 'gc-trace-'));
  const preload = join(dir, 'preload.mjs');
  writeFileSync(preload, PRELOAD(dir));
  return {
    nodeArgs: ['--import', preload],
    requestThreadGcs(pid) {
      const file = `${pid}-0.log`;
      if (!readdirSync(dir).includes(file)) return [];
      return readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [start, pause, kind] = l.split(' ').map(Number) as [number, number, number];
          return { startMs: start, pauseMs: pause, kind };
        });
    },
  };
}

/** Per hop, the request thread's GCs within a row's measured window. */
export interface HopGcFigures {
  scavengesPerSecond: number;
  otherGcs: number;
  maxPauseMs: number;
  pauseMsPerSecond: number;
}

export interface RowGcFigures {
  hops: HopGcFigures[];
  /** Of the requests at or above the row's p99 service time, the share a GC of any hop overlapped. */
  p99RequestsOverlappingGc: number;
  /** Of all the row's requests, the share a GC overlapped (the rate chance alone gives). */
  allRequestsOverlappingGc: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The figures of one row: its requests (from openLoop with OPEN_LOOP_WRITTEN=1) against its hops' GCs. */
export function rowGcFigures(
  requests: { writtenMs: number[]; serviceUs: number[] },
  hopGcs: GcEvent[][],
): RowGcFigures {
  const { writtenMs, serviceUs } = requests;
  const from = writtenMs[0] ?? 0;
  const to =
    writtenMs.length > 0 ? writtenMs[writtenMs.length - 1]! + (serviceUs[serviceUs.length - 1] ?? 0) / 1000 : 0;
  const seconds = Math.max(1e-3, (to - from) / 1000);
  const inWindow = hopGcs.map((gcs) => gcs.filter((g) => g.startMs + g.pauseMs >= from && g.startMs <= to));
  const all = inWindow.flat().sort((a, b) => a.startMs - b.startMs);
  const overlaps = (i: number): boolean => {
    const start = writtenMs[i]!;
    const end = start + serviceUs[i]! / 1000;
    for (const g of all) {
      if (g.startMs > end) return false;
      if (g.startMs + g.pauseMs >= start) return true;
    }
    return false;
  };
  const sorted = [...serviceUs].sort((a, b) => a - b);
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
  let slow = 0;
  let slowHit = 0;
  let hit = 0;
  for (let i = 0; i < serviceUs.length; i++) {
    const o = overlaps(i);
    if (o) hit++;
    if (serviceUs[i]! >= p99) {
      slow++;
      if (o) slowHit++;
    }
  }
  return {
    hops: inWindow.map((gcs) => ({
      scavengesPerSecond: round3(gcs.filter((g) => g.kind === 1).length / seconds),
      otherGcs: gcs.filter((g) => g.kind !== 1).length,
      maxPauseMs: round3(Math.max(0, ...gcs.map((g) => g.pauseMs))),
      pauseMsPerSecond: round3(gcs.reduce((s, g) => s + g.pauseMs, 0) / seconds),
    })),
    p99RequestsOverlappingGc: round3(slow === 0 ? 0 : slowHit / slow),
    allRequestsOverlappingGc: round3(serviceUs.length === 0 ? 0 : hit / serviceUs.length),
  };
}
