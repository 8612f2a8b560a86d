// What the in-process A/B benches (tracing-cpu, access-log-cpu) share: this build's dist/ and,
// when BENCH_BASELINE names a checkout with dist/ built, that one's, loaded side by side; CPU per
// operation from process.cpuUsage (user + system, which on a shared host moves less with the
// other tenants' load than wall time); bytes allocated per operation from V8's sampling heap
// profiler, objects a GC collected meanwhile included; and the median of the paired rounds' ratios.
import type { Session } from 'node:inspector/promises';
import { median } from './median.js';

/** This build (the working directory) first, then the baseline's when BENCH_BASELINE is set. */
export async function loadBuilds<B>(load: (root: string) => Promise<B>): Promise<Array<{ name: string; build: B }>> {
  const builds = [{ name: 'this', build: await load(process.cwd()) }];
  const baseline = process.env.BENCH_BASELINE;
  if (baseline !== undefined && baseline !== '') builds.push({ name: 'baseline', build: await load(baseline) });
  return builds;
}

/** CPU nanoseconds per operation of `run`, which performs `ops` operations. */
export function cpuNsPerOp(ops: number, run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / ops;
}

/** Bytes allocated per operation of `run`, which performs `ops` operations; `session` is connected. */
export async function bytesAllocatedPerOp(session: Session, ops: number, run: () => void): Promise<number> {
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 128,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  run();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  let total = 0;
  const stack = [profile.head];
  while (stack.length > 0) {
    const node = stack.pop()!;
    total += node.selfSize;
    stack.push(...node.children);
  }
  return total / ops;
}

/** The median of this/baseline over rounds run in pairs, to three decimals. */
export function medianRatio(self: number[], baseline: number[]): number {
  return Math.round(median(self.map((v, i) => v / baseline[i]!)) * 1000) / 1000;
}
