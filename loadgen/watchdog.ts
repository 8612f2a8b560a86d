// Interrupts JavaScript stuck on the engine's thread past the point where k6 would have
// interrupted it: an iteration in an endless loop after its scenario's gracefulStop, a setup()
// past setupTimeout. k6 interrupts its VU's runtime from another goroutine; here VUs share the
// engine's thread, so when one never returns no timer of ours can fire. A worker thread watches
// instead: the engine publishes a deadline and a heartbeat in shared memory, and when the deadline
// has passed while the heartbeat stands still, the worker asks V8, through an inspector session
// on the main thread (Runtime.terminateExecution), to end the running JavaScript. V8 ends the
// current call and the microtasks queued with it, then the engine's thread carries on: the stuck
// iteration never settles and the executors count its VU as interrupted and drop it.
//
// Until a deadline has passed the worker sleeps (Atomics.waitAsync on the deadline slot, woken
// when the engine sets another) instead of checking 40 times a second. The session is opened only
// at the moment of a kill (an inspector session costs nothing until then) and closed right after. Only the main thread can be reached this way: elsewhere no watchdog runs.
//
// A heartbeat also stands still when the host does not run the process (a loaded machine: 300 ms
// off the CPU happens at a load average of 15 on 2 cores). Ending the JavaScript then ends
// whatever runs next, often one of Node's timer callbacks, which Node cannot survive ("async hook
// stack has become corrupted", seen in bench:loadgen's open-model rounds). So where /proc tells
// the engine thread's CPU time (Linux), a stall counts only once that thread has spent SPIN_MS of
// CPU since its last heartbeat: JavaScript that never yields spends it, a starved thread does not.
import { isMainThread, Worker } from 'node:worker_threads';

const DEADLINE = 0;
const BEAT = 1;

/** Heartbeat period; a stall is a heartbeat older than STALL_MS. */
const BEAT_MS = 50;
const STALL_MS = 300;
const CHECK_MS = 25;
/** CPU the engine's thread must have spent since its last heartbeat for a stall to be a stuck loop. */
const SPIN_MS = 150;
/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

const WORKER_SOURCE = `
const { Session } = require('node:inspector');
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const slots = new Int32Array(workerData.shared);
const base = workerData.base;
// The engine's thread (the main thread: its id is the process's) CPU time in ms, -1 when unknown.
const statPath = '/proc/' + process.pid + '/task/' + process.pid + '/stat';
const engineCpuMs = () => {
  try {
    const stat = readFileSync(statPath, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * ${1000 / CLK_TCK};
  } catch {
    return -1;
  }
};
let lastKill = -Infinity;
let seenBeat = -1;
let cpuAtBeat = -1;
// Keeps the worker's loop alive while it sleeps in Atomics.waitAsync.
setInterval(() => {}, 1 << 30);
const check = () => {
  const deadline = Atomics.load(slots, ${DEADLINE});
  const now = Date.now() - base;
  if (deadline === 0 || now < deadline) {
    // Nothing is due before the deadline passes or the engine sets another (limit() notifies).
    const waited = Atomics.waitAsync(slots, ${DEADLINE}, deadline, deadline === 0 ? Infinity : deadline - now);
    if (waited.async) waited.value.then(check);
    else setImmediate(check);
    return;
  }
  setTimeout(check, ${CHECK_MS});
  const beat = Atomics.load(slots, ${BEAT});
  if (beat !== seenBeat) {
    seenBeat = beat;
    cpuAtBeat = engineCpuMs();
  }
  // A stall that outlasts STALL_MS after the last kill is another one (or one the kill missed).
  if (now - beat < ${STALL_MS} || now - lastKill < ${STALL_MS}) return;
  // Off the CPU rather than stuck: wait for it to run (or to spin).
  if (cpuAtBeat >= 0 && engineCpuMs() - cpuAtBeat < ${SPIN_MS}) return;
  lastKill = now;
  const session = new Session();
  session.connectToMainThread();
  session.post('Runtime.terminateExecution', {}, (err) => {
    session.disconnect();
    parentPort.postMessage({ stuckMs: now - beat, error: err ? String(err) : '' });
  });
};
check();
`;

export class Watchdog {
  readonly #slots: Int32Array;
  readonly #base: number;
  readonly #worker: Worker;
  readonly #beat: NodeJS.Timeout;
  readonly #deadlines = new Map<object, number>();
  #onKill: ((stuckMs: number) => void) | undefined;
  kills = 0;

  private constructor(onKill: (stuckMs: number) => void) {
    this.#slots = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
    this.#base = Date.now();
    this.#onKill = onKill;
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { shared: this.#slots.buffer, base: this.#base },
      stdout: false,
      stderr: false,
    });
    this.#worker.unref();
    this.#worker.on('message', (m: { stuckMs: number; error: string }) => {
      if (m.error !== '') return;
      this.kills++;
      this.#onKill?.(m.stuckMs);
    });
    this.#beat = setInterval(() => this.#heartbeat(), BEAT_MS);
    this.#beat.unref();
    this.#heartbeat();
  }

  /** A watchdog for the engine's thread; undefined off the main thread, where none can reach it. */
  static start(onKill: (stuckMs: number) => void): Watchdog | undefined {
    return isMainThread ? new Watchdog(onKill) : undefined;
  }

  /** Sets (or, with undefined, clears) the hard limit `owner` needs, in ms from now. */
  limit(owner: object, ms: number | undefined): void {
    if (ms === undefined) this.#deadlines.delete(owner);
    else this.#deadlines.set(owner, Date.now() - this.#base + Math.max(0, Math.ceil(ms)));
    let earliest = 0;
    for (const d of this.#deadlines.values()) if (earliest === 0 || d < earliest) earliest = d;
    // 0 means no deadline; a deadline at the very start is 1.
    Atomics.store(this.#slots, DEADLINE, earliest === 0 ? 0 : Math.max(1, earliest));
    this.#heartbeat();
    // The worker sleeps until the deadline it last read: wake it to read this one.
    Atomics.notify(this.#slots, DEADLINE);
  }

  #heartbeat(): void {
    Atomics.store(this.#slots, BEAT, Date.now() - this.#base);
  }

  async stop(): Promise<void> {
    this.#onKill = undefined;
    clearInterval(this.#beat);
    Atomics.store(this.#slots, DEADLINE, 0);
    await this.#worker.terminate();
  }
}
