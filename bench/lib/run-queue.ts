// How long the proxies' request threads waited for a CPU while a two-sidecar row ran, beside the
// CPU they used: the kernel's per-thread scheduler accounting (/proc/<pid>/task/<tid>/schedstat:
// time on a CPU, time runnable but waiting for one; `sched`: involuntary context switches).
// Measured (issue 21, one meshscope sidecar and two at 1000 req/s open loop, load average 6-13
// from the other engineers' work, each proxy probed for GC pauses and timer callbacks): the
// requests over p99 coincided with no GC pause or periodic task of the proxies in most cases,
// while their request threads waited for a CPU about as long as they ran (meshscope 150-500 us
// per request, nginx 50-140 us). Every engineer's session is its own scheduler autogroup here,
// so the benchmark's whole process tree (client, sidecars, upstream) shares one group's fair
// share of the two cores against the others': a chain whose CPU per request times the rate
// crosses it waits in slices of the other groups (~1.4 ms each on this kernel) and its tail
// grows with every request behind. This figure says whether a round's tail was the proxies
// waiting or the proxies working.
import { readFileSync } from 'node:fs';

export interface RunQueueFigures {
  /** CPU time of the request threads, µs per request. */
  cpuUs: number;
  /** Time the request threads were runnable but not running, µs per request. */
  runQueueWaitUs: number;
  /** Involuntary context switches (preempted while runnable) per request. */
  preemptions: number;
}

interface Sample {
  runNs: number;
  waitNs: number;
  involuntary: number;
}

function sample(pid: number): Sample | null {
  try {
    const [runNs, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    const sched = readFileSync(`/proc/${pid}/task/${pid}/sched`, 'utf8');
    const involuntary = Number(/nr_involuntary_switches\s*:\s*(\d+)/.exec(sched)?.[1] ?? 0);
    return { runNs: runNs!, waitNs: waitNs!, involuntary };
  } catch {
    // A kernel without schedstats, or the process is gone: not measured.
    return null;
  }
}

/** The process serving an nginx master's connections (its one worker), or the master while none is forked yet. */
export function nginxWorkerPid(masterPid: number): number {
  try {
    const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim();
    return children === '' ? masterPid : Number(children.split(' ')[0]);
  } catch {
    return masterPid;
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Starts counting the main threads of `pids` (a meshscope sidecar's request thread; an nginx
 * worker's only thread); the returned function gives their sum per request over `requests`, or
 * null when the kernel does not expose the figures.
 */
export function runQueueMeter(pids: readonly number[]): (requests: number) => RunQueueFigures | null {
  const start = pids.map(sample);
  return (requests) => {
    let runNs = 0;
    let waitNs = 0;
    let involuntary = 0;
    for (let i = 0; i < pids.length; i++) {
      const before = start[i];
      const after = sample(pids[i]!);
      if (before === null || before === undefined || after === null || requests <= 0) return null;
      runNs += after.runNs - before.runNs;
      waitNs += after.waitNs - before.waitNs;
      involuntary += after.involuntary - before.involuntary;
    }
    return {
      cpuUs: round1(runNs / 1000 / requests),
      runQueueWaitUs: round1(waitNs / 1000 / requests),
      preemptions: Math.round((involuntary / requests) * 1000) / 1000,
    };
  };
}
