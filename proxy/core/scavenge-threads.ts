// Scavenges (V8's young-generation GCs) run on the request thread alone in a proxy process.
//
// V8 splits a scavenge into as many parallel tasks as the semi-space has megabytes plus one,
// capped by its worker threads plus one: five for the proxy's 4 MB semi-spaces and Node's four
// platform threads, on whatever cores the host has. The request thread then waits, paused, until
// every task that took a share of the work has finished, so a pause lasts as long as the helper
// thread the scheduler serves last. A sidecar shares its cores with its workload and the other
// sidecars, and at 1000 req/s a pause lands on a request: with --trace-gc, one proxy at 1000
// req/s for 10 s on this 2-core host while other benchmarks ran (load average 14-17), interleaved,
// four runs each: median scavenge pause 0.52-5.89 ms in parallel against 0.37-0.53 ms on the
// request thread alone; pauses summed to 24-462 ms against 13-81 ms. Under wrk -c50 (a scavenge
// every few milliseconds) scavenges took 1.3-3.6 ms per thousand requests either way, 3-7% of the
// CPU time, with medians of 0.56-0.73 ms against 0.53-0.59 ms: what little a scavenge has to copy
// in a proxy (a request's objects die young) leaves the helpers little to win.
// V8 reads the flag at every scavenge, so setting it here applies from the next one on. An
// operator's own setting on node's command line always wins (NODE_OPTIONS refuses these flags).
//
// The same holds for the young ArrayBuffers a scavenge frees: by default V8 hands their sweeping
// to a helper thread and the next scavenge first waits for that job to finish. Under wrk -c50 on
// this loaded 2-core host (--trace-gc-nvp, one proxy, 115 scavenges) the sweep phase had a median
// of 0.03 ms but a p90 of 1.5 ms and a p99 of 54 ms, 205 of the 337 ms all pauses took: the
// request thread waiting for a helper the scheduler had not run. Swept on the request thread
// the phase took 0.8 ms in all over 51 scavenges (p99 0.43 ms): the proxy's requests leave few
// young ArrayBuffers behind, so the sweep itself is short.
import { setFlagsFromString } from 'node:v8';

/**
 * Sets a V8 flag in this process unless the operator put a choice matching `operatorChoices` on
 * node's command line; returns the flag a forked worker process needs for the same (empty when
 * the operator chose).
 */
function setUnlessOperatorChose(flag: string, operatorChoices: RegExp): string[] {
  if (process.execArgv.some((a) => operatorChoices.test(a))) return [];
  setFlagsFromString(flag);
  return [flag];
}

const SCAVENGE_THREAD_FLAGS = /--(no-)?(parallel-scavenge|single-threaded-gc|single-threaded)\b/;

/**
 * Makes scavenges run on the request thread alone unless the operator chose; returns the node
 * flag a forked worker process needs for the same (empty when the operator chose).
 */
export function scavengeOnRequestThread(): string[] {
  return setUnlessOperatorChose('--no-parallel-scavenge', SCAVENGE_THREAD_FLAGS);
}

const ARRAY_BUFFER_SWEEPING_FLAGS = /--(no-)?(concurrent-array-buffer-sweeping|single-threaded-gc|single-threaded)\b/;

/**
 * Makes a scavenge sweep its young ArrayBuffers on the request thread unless the operator chose;
 * returns the node flag a forked worker process needs for the same (empty when the operator chose).
 */
export function sweepArrayBuffersOnRequestThread(): string[] {
  return setUnlessOperatorChose('--no-concurrent-array-buffer-sweeping', ARRAY_BUFFER_SWEEPING_FLAGS);
}

const MINOR_GC_TASK_FLAGS = /--(no-)?minor-gc-task\b/;

/**
 * V8 scavenges a young generation 80% full from a task it posts (the rest of the space unused
 * until then), and when it is full otherwise. A proxy's young generation fills with garbage at a
 * steady rate, so the task only makes scavenges more frequent: under wrk -c50 (--trace-gc, one
 * sidecar, 4 MB semi-spaces) nearly every scavenge was a task's, 190 per 100k requests, against
 * 159 with the task off, each pausing the request thread about as long (0.3-0.4 ms: the copying
 * is the in-flight requests' objects either way). Unless the operator chose, scavenges wait for a
 * full young generation; returns the node flag a forked worker process needs for the same.
 */
export function scavengeWhenYoungGenerationFull(): string[] {
  return setUnlessOperatorChose('--no-minor-gc-task', MINOR_GC_TASK_FLAGS);
}
