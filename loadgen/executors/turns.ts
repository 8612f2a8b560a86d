// Keeps VUs that never wait from starving the event loop. An iteration that makes no request and
// no sleep (a busy loop, a function that throws at once) completes in microtasks only, and a VU
// loop of such iterations would never let a timer (the scenario's duration, gracefulStop) or a
// signal through. k6 does not have the problem: each VU runs on its own goroutine.
//
// Each loop turn is stamped by one setImmediate, armed on demand; after an iteration a VU checks
// the stamp and, if the loop has not turned for TURN_SLICE_MS, waits for the next turn. A VU whose
// iterations make requests finds the stamp fresh (its awaits went through the loop) and pays one
// clock read per iteration; an idle process arms nothing.

/** How long VUs may run back to back before timers and I/O get their turn. */
export const TURN_SLICE_MS = 10;

let lastTurn = performance.now();
let armed = false;

function stamp(): void {
  armed = false;
  lastTurn = performance.now();
}

/** True when the loop has not turned for a slice: the caller should wait for the next turn (setImmediate). */
export function turnOverdue(): boolean {
  if (!armed) {
    armed = true;
    setImmediate(stamp);
  }
  return performance.now() - lastTurn >= TURN_SLICE_MS;
}
