// Export threads run at a low CPU priority (nice 10). Their work (serializing batches,
// talking to the collector) can wait; the request thread's cannot. On a machine with few cores
// an export thread at normal priority competes with the request thread and with the processes
// it wakes (the upstream, the client), and a request arriving while a batch is being encoded
// waits a scheduler slice for a core: at 1000 req/s through two sidecars that put p99 at
// 2.1-3.2 ms, against 1.8-2.0 ms at a low priority, where the scheduler gives the core to any
// normal-priority thread that wakes up. Why 10 and not 19: when every core is busy, nice 19
// left the thread too small a share to keep up at full wrk load on 2 cores (1,813 and 3,158
// spans dropped in two runs), while nice 10 kept up (none dropped) with the same p99 at 1000
// req/s and the same requests/s. Should it still fall behind, the bounded queue drops spans
// and counts them, as for a slow collector.
import { setPriority } from 'node:os';

/** Low enough to yield to every normal-priority thread, high enough to keep up under full load. */
const BACKGROUND_NICE = 10;

/**
 * Lowers the calling thread's priority. Only on Linux, where the nice value belongs to the
 * thread (setpriority on the calling thread's id); elsewhere it would apply to the whole
 * process, request thread included, so it is left alone.
 */
export function lowerThisThreadsPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    setPriority(BACKGROUND_NICE);
  } catch {
    // A sandbox that forbids setpriority leaves the thread at normal priority: slower tails, no harm.
  }
}
