// CPU a process spent, split into its main thread (a meshscope proxy's request thread) and the
// rest (telemetry export threads, V8's GC helpers, libuv's pool), from /proc's per-thread
// utime + stime. On a shared host requests/s moves with whatever else runs; CPU per request moves
// much less, so the rows that judge a change report it beside requests/s.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface ThreadCpu {
  /** Microseconds of CPU of the process's main thread. */
  mainUs: number;
  /** Microseconds of CPU of every other thread (one started meanwhile counts from zero). */
  othersUs: number;
}

function ticksByThread(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // The thread ended while we looked.
    }
  }
  return out;
}

/** Starts counting `pid`'s CPU; the returned function gives what it spent since, by thread. */
export function threadCpuMeter(pid: number): () => ThreadCpu {
  const start = ticksByThread(pid);
  return () => {
    const end = ticksByThread(pid);
    let main = 0;
    let others = 0;
    for (const [tid, ticks] of end) {
      const before = start.get(tid) ?? 0;
      if (tid === String(pid)) main += ticks - before;
      else others += ticks - before;
    }
    const us = 1e6 / TICKS_PER_SECOND;
    return { mainUs: main * us, othersUs: others * us };
  };
}

/**
 * A thread's scheduler accounting (/proc/<pid>/task/<tid>/schedstat): nanoseconds on a CPU and
 * runnable but waiting for one. To the nanosecond, where stat's utime and stime come in 10 ms
 * ticks. `tid` defaults to the main thread (its id is the process id); null once the thread is
 * gone, or on a kernel without schedstats.
 */
export function schedstat(pid: number, tid: number | string = pid): { runNs: number; waitNs: number } | null {
  try {
    const [runNs, waitNs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return { runNs: runNs!, waitNs: waitNs! };
  } catch {
    return null;
  }
}

/** CPU nanoseconds so far of each live thread of `pid` (schedstat), by thread id. */
export function threadCpuNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const s = schedstat(pid, tid);
    if (s !== null) out.set(tid, s.runNs);
  }
  return out;
}
