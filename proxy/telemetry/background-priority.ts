// Export threads run at the lowest CPU priority (nice 19). Their work (serializing batches,
// talking to the collector) can wait; the request thread's cannot. On a machine with few cores
// an export thread at normal priority competes with the request thread and with the processes
// it wakes (the upstream, the client), and a request arriving while a batch is being encoded
// waits a scheduler slice for a core: at 1000 req/s through two sidecars that put p99 at
// 2.1-3.2 ms, against 1.8-2.0 ms at nice 19, where the scheduler gives the core to any
// normal-priority thread that wakes up. When every core is busy the thread gets only a small
// share, and if that falls short the bounded queue drops spans and counts them, as for a slow
// collector (0.1-0.5% of spans at full wrk load on 2 cores).
import { setPriority } from 'node:os';

const LOWEST = 19;

/**
 * Lowers the calling thread's priority. Only on Linux, where the nice value belongs to the
 * thread (setpriority on the calling thread's id); elsewhere it would apply to the whole
 * process, request thread included, so it is left alone.
 */
export function lowerThisThreadsPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    setPriority(LOWEST);
  } catch {
    // A sandbox that forbids setpriority leaves the thread at normal priority: slower tails, no harm.
  }
}
