// One monotonic clock read per socket read: everything a read sets off synchronously (a request
// head's stream, its first upstream attempt; a response's head, body and end, the stream's
// completion) happens within microseconds, and each of those steps used to read the clock itself
// (performance.now(), ~35 ns each on a loaded VM): 7 reads per proxied request in 2 socket reads.
// Inside a read, readTime() is the time of the read's first ask, taken once; outside one (timers,
// Immediates, HTTP/2 codecs, TLS handshakes, tests) it is performance.now() as before. Envoy's
// dispatcher does the same with its approximate monotonic time, updated once per loop iteration;
// here it is per read, so no time kept is older than the read being handled, far below the
// milliseconds every consumer (stats, x-envoy-upstream-service-time, access logs) prints.
import { performance } from 'node:perf_hooks';

/** The read's time once asked for; -1 until then (performance.now() is never negative). */
let readAt = -1;
/** A socket read is being handled (duringRead). */
let inRead = false;

/** The monotonic time (performance.now()): the current read's when inside one. */
export function readTime(): number {
  if (!inRead) return performance.now();
  if (readAt < 0) readAt = performance.now();
  return readAt;
}

/** Handles one socket read of `n` bytes with `onBytes`, readTime() fixed for its duration. */
export function duringRead(onBytes: (n: number) => void, n: number): void {
  // A read never starts inside another (reads are I/O callbacks), so no nesting to keep.
  inRead = true;
  readAt = -1;
  try {
    onBytes(n);
  } finally {
    inRead = false;
  }
}
