// Keeps VUs that never wait from starving the event loop. An iteration that makes no request and
// no sleep (a busy loop, a function that throws at once) completes in microtasks only, and a VU
// loop of such iterations would never let a timer (the scenario's duration, gracefulStop) or a
// signal through. k6 does not have the problem: each VU runs on its own goroutine.
//
// Each loop turn is counted by one setImmediate, armed on demand when an iteration starts. After
// the iteration, a VU whose iteration went through the loop (a request, a sleep: the count moved)
// carries on without reading the clock; one that stayed within a turn yields (waits for the next
// turn) once the loop has not turned for TURN_SLICE_MS. Judging by the clock alone made VUs whose
// every iteration waits on I/O yield too whenever one poll phase's batch of responses took more
// than a slice (a loaded host): a setImmediate, a microtask and a delayed request each. An idle
// process arms nothing.

import { performance } from 'node:perf_hooks';

/** How long VUs may run back to back before timers and I/O get their turn. */
export const TURN_SLICE_MS = 10;

let turn = 0;
let lastTurn = performance.now();
let armed = false;

function stamp(): void {
  armed = false;
  turn++;
  lastTurn = performance.now();
}

/** The current loop turn, for turnOverdue() after the iteration (arms the turn's stamp). */
export function currentTurn(): number {
  if (!armed) {
    armed = true;
    setImmediate(stamp);
  }
  return turn;
}

/**
 * True when an iteration that started in turn `since` should let timers and I/O through before
 * the next one (the caller waits for the next turn with setImmediate).
 */
export function turnOverdue(since: number): boolean {
  return since === turn && performance.now() - lastTurn >= TURN_SLICE_MS;
}
