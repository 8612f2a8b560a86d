// How long the proxies' request threads waited for a CPU while a two-sidecar row ran, beside the
// CPU they used: the kernel's per-thread scheduler accounting (/proc/<pid>/task/<tid>/schedstat:
// time on a CPU, time runnable but waiting for one; `sched`: involuntary context switches).
// Measured (issue 21): two meshscope sidecars with telemetry at 1000 req/s open loop, each proxy
// probed for GC pauses (with their kind) and every timer and Immediate callback. With the
// benchmark's processes given most of the machine (their scheduler group at nice -20 against the
// other sessions: a quiet host's conditions), p99 was 5.4-8.1 ms through meshscope's pair and
// 3.9-4.1 ms through nginx's, and only 5 of the 178 requests over p99 overlapped a GC pause or a
// timer task of either proxy: scavenges ran about 3 a second at 0.55 ms (median, 1.6 ms the longest),
// no mark-compact on the request thread, the export batch post and the stream-idle sweep well
// under a millisecond. What grew the tail was the chain's own CPU: each sidecar's request thread
// spent 210-260 us per request (nginx's worker 55-90) and waited for a CPU 120-190 us per
// request (nginx 43-52), the two sidecars alone keeping one of the two cores busy. On the shared
// host the wait grows further: every session is its own scheduler autogroup, so the bench's
// client, sidecars and upstream share one group's fair share of the cores against the other
// sessions, and the chain that needs more CPU per request crosses it first (waits of 300-1000 us
// per request at load average 6-15). This figure says whether a round's tail was the proxies
// waiting or the proxies working.
import { readFileSync } from 'node:fs';
import { schedstat } from './cpu.js';

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
    const stat = schedstat(pid);
    if (stat === null) return null;
    const sched = readFileSync(`/proc/${pid}/task/${pid}/sched`, 'utf8');
    const involuntary = Number(/nr_involuntary_switches\s*:\s*(\d+)/.exec(sched)?.[1] ?? 0);
    return { ...stat, involuntary };
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
