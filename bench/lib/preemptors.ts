// Who takes the CPU from the request threads under test (bench:proxy-low-rate's
// LOWRATE_PREEMPTORS=1): the kernel's sched_switch tracepoint on every CPU (`perf record -a`)
// for a row's window, read back with `perf script`. Each switch away from a request thread that
// leaves it runnable is a preemption, charged to the task switched in: the same process's other
// threads (V8's platform threads, libuv's pool, the telemetry workers), the chain's other hops,
// or another process by its name (the upstream and the client: nginx, node; other sessions' work
// on a shared host). This says whether a proxy's own helper threads are what delays its requests
// or the processes around it are: per request, not a share of an absolute count, so rows of
// different lengths compare.
// What it found (issue 21, telemetry, two hops at 1000 req/s, load average 10-17, steal <= 0.3%):
// each meshscope hop pair's request threads were preempted 1.1-1.8 times per request, by the other
// hop's request thread (0.34-1.2: the write that hands a request or response on wakes the next hop,
// which takes the CPU while the writer finishes its turn), the open-loop client and other node
// processes (0.22-0.33), nginx (0.22-0.45); their own process's other threads 0.004-0.005 in
// rounds 2-3 and 0.04 in round 1 (JIT warm-up: V8's compiler threads), 0.3-3% of the total.
// nginx's pair: 0.97-1.33, 0.6-0.73 of it by the other hop; the bare Node pipe 1.2-1.5. One
// meshscope sidecar under wrk -c50 (perf by hand, 6 s, 53,056 preemptions): wrk 26,786, nginx
// 25,649, its own threads none. So the proxy's helper threads at a lower priority (nice 19 on V8's
// and libuv's threads, tried) or fewer of them (--v8-pool-size, --single-threaded-gc) have little
// to win on the tail: it is made where the processes of the chain preempt each other.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { workDir } from './peers.js';

export interface PreemptorFigures {
  /** Preemptions of the chain's request threads, summed over its hops, per request. */
  preemptionsPerRequest: number;
  /** The same by who was switched in, per request, largest first (at most 8 entries). */
  byWhom: Record<string, number>;
}

/** The thread ids of `pid` now (empty once it is gone). */
function threadIds(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

const SWITCH = /prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)/;

/**
 * Starts recording every CPU's context switches; the returned function stops, reads and removes
 * the recording and returns who preempted the request threads `pids` (one per hop, each its
 * process's main thread), per each of `requests`.
 */
export function recordPreemptors(pids: readonly number[]): (requests: number) => Promise<PreemptorFigures> {
  const dir = mkdtempSync(join(workDir, 'preemptors-'));
  const file = join(dir, 'perf.data');
  const owner = new Map<number, number>();
  const noteThreads = (): void => {
    for (const pid of pids) for (const tid of threadIds(pid)) owner.set(tid, pid);
  };
  noteThreads();
  const perf: ChildProcess = spawn('perf', ['record', '-q', '-e', 'sched:sched_switch', '-a', '-o', file], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => perf.once('exit', () => r()));
  return async (requests) => {
    noteThreads();
    perf.kill('SIGINT');
    await exited;
    const script = spawnSync('perf', ['script', '-i', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
    rmSync(dir, { recursive: true, force: true });
    if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
    const requestThreads = new Set(pids);
    const counts = new Map<string, number>();
    let total = 0;
    for (const line of script.stdout.split('\n')) {
      const m = SWITCH.exec(line);
      if (m === null) continue;
      const prev = Number(m[2]);
      if (!requestThreads.has(prev) || !m[3]!.startsWith('R')) continue;
      const next = Number(m[5]);
      const nextOwner = owner.get(next);
      const who =
        nextOwner === prev
          ? 'own process: other threads'
          : nextOwner === undefined
            ? `other process: ${m[4]}`
            : requestThreads.has(next)
              ? 'other hop: request thread'
              : 'other hop: other threads';
      counts.set(who, (counts.get(who) ?? 0) + 1);
      total++;
    }
    const per = (n: number): number => Math.round((n / requests) * 1000) / 1000;
    const byWhom = Object.fromEntries(
      [...counts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([who, n]) => [who, per(n)]),
    );
    return { preemptionsPerRequest: per(total), byWhom };
  };
}

/** Whether `perf record` can trace scheduler switches here (perf installed, tracepoints readable). */
export function perfCanTraceSwitches(): boolean {
  const r = spawnSync('perf', ['record', '-q', '-e', 'sched:sched_switch', '-a', '-o', '/dev/null', '--', 'true'], {
    stdio: 'ignore',
  });
  return r.status === 0;
}
