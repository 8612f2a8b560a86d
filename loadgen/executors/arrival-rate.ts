// The open model shared by constant- and ramping-arrival-rate. Iterations start on a schedule
// that does not depend on how fast the system answers. A due iteration runs on a free VU; if none
// is free it waits in a bounded backlog (a ring of scheduled start times) while a new VU is
// initialized (up to maxVUs) or a running one frees up; when the backlog is full it is dropped and
// counted in dropped_iterations, and backlog entries left when the schedule ends are dropped too.
//
// An iteration that starts late carries its lag (actual start - scheduled start) and every
// request in it adds the lag to http_req_duration: latency is measured from when the request was
// due, as wrk2 does, so a stall shows in the percentiles instead of vanishing into requests that
// were never sent (coordinated omission). http_req_duration_uncorrected keeps the time from the
// actual send. The backlog holds at most max(maxVUs, one second of arrivals).
import { performance } from 'node:perf_hooks';
import { Executor } from './base.js';
import type { BaseConfig } from './config.js';
import type { IterationOutcome, VU } from '../script/vu.js';
import { inMicrotask } from '../script/event-loop.js';
import { currentTurn, turnOverdue } from './turns.js';

export interface RateSegment {
  /** ms */
  readonly duration: number;
  /** iterations per ms at the segment's start and end */
  readonly from: number;
  readonly to: number;
}

/** Start offsets (ms) of iterations 0, 1, 2 … for piecewise-linear rates; Infinity past the end. */
export class ArrivalSchedule {
  readonly #segments: readonly RateSegment[];
  #seg = 0;
  #segStart = 0;
  #countAtSegStart = 0;

  constructor(segments: readonly RateSegment[]) {
    this.#segments = segments;
  }

  /** Offset of iteration `i`; calls must come with non-decreasing i. */
  at(i: number): number {
    while (this.#seg < this.#segments.length) {
      const s = this.#segments[this.#seg]!;
      const need = i - this.#countAtSegStart;
      const a = (s.to - s.from) / (2 * s.duration);
      let t: number;
      if (Math.abs(a) < 1e-15) t = s.from > 0 ? need / s.from : Infinity;
      else {
        const disc = s.from * s.from + 4 * a * need;
        t = disc < 0 ? Infinity : (-s.from + Math.sqrt(disc)) / (2 * a);
      }
      if (t >= 0 && t < s.duration) return this.#segStart + t;
      this.#countAtSegStart += s.from * s.duration + a * s.duration * s.duration;
      this.#segStart += s.duration;
      this.#seg++;
    }
    return Infinity;
  }

  get totalDuration(): number {
    return this.#segments.reduce((a, s) => a + s.duration, 0);
  }
}

/** A VU taken by the scenario, with its iteration's schedule and the callbacks that run it. */
interface Slot {
  readonly vu: VU;
  /** The running (or next) iteration's scheduled start, ms after the scenario's. */
  due: number;
  lag: number;
  /** The loop turn it started in (turns.ts). */
  since: number;
  readonly begin: () => void;
  readonly end: (outcome: IterationOutcome) => void;
  readonly again: () => void;
}

export interface ArrivalConfig extends BaseConfig {
  preAllocatedVUs: number;
  maxVUs: number;
  timeUnit: number;
}

export abstract class ArrivalRateExecutor<C extends ArrivalConfig> extends Executor<C> {
  protected abstract segments(): RateSegment[];
  protected abstract peakRatePerSecond(): number;

  preAllocatedVUs(): number {
    return this.config.preAllocatedVUs;
  }
  plannedDuration(): number {
    return this.segments().reduce((a, s) => a + s.duration, 0);
  }

  protected async execute(): Promise<void> {
    const schedule = new ArrivalSchedule(this.segments());
    const exec = this.config.exec;
    const data = this.hooks.setupData;
    const free: Slot[] = [];
    const capacity = Math.max(1, this.config.maxVUs, Math.ceil(this.peakRatePerSecond()));
    const backlog = new Float64Array(capacity);
    let head = 0;
    let size = 0;
    let dropped = 0;
    let owned = 0;
    let inFlight = 0;
    let settle: (() => void) | null = null;

    // What follows an iteration on its VU: the next backlogged one, or back to the free list.
    const after = (slot: Slot): void => {
      if (size > 0 && !this.stopping && !slot.vu.state.interrupted) {
        slot.due = backlog[head]!;
        head = (head + 1) % capacity;
        size--;
        // A backlog served by iterations that never wait would otherwise hold the loop; the
        // VU stays in flight until it runs again.
        if (turnOverdue(slot.since)) setImmediate(slot.again);
        else slot.again();
        return;
      }
      free.push(slot);
      inFlight--;
      if (inFlight === 0) settle?.();
    };
    // Each VU's iteration callbacks are made once, when the scenario takes it: an iteration costs
    // no closure, promise or async frame of its own (they were about a quarter of what one
    // iteration of http.get allocated, and each scavenge they bring on stalls the requests in
    // flight).
    const slotFor = (vu: VU): Slot => {
      const slot: Slot = {
        vu,
        due: 0,
        lag: 0,
        since: 0,
        // From a microtask, as VU.start asks. A throw (the script lost its exec function) is an
        // unhandled rejection, as the promise form's was.
        begin: () => vu.start(exec, data, slot.lag, slot.end),
        end: (outcome) => {
          this.counted(outcome);
          after(slot);
        },
        again: () => {
          inFlight--;
          run(slot);
        },
      };
      return slot;
    };
    for (let i = 0; i < this.config.preAllocatedVUs; i++) free.push(slotFor(await this.takeVU()));
    owned = free.length;
    const start = performance.now();

    // Starts the slot's VU on its due iteration, late by the time since it was due (its lag).
    const run = (slot: Slot): void => {
      inFlight++;
      slot.lag = Math.max(0, performance.now() - start - slot.due);
      slot.since = currentTurn();
      inMicrotask(slot.begin);
    };
    // One VU initializes at a time, the next after timers and I/O had a turn. A VU's init (its
    // context and init code) runs on the loop's thread, so initializing one per backlogged
    // iteration, as a stall of a few ms queues many, blocked the loop for all of them at once:
    // the running VUs' responses waited, more iterations fell behind and asked for more VUs
    // (measured at 1000/s on a loaded host: maxVUs reached, p99 from schedule 262 ms).
    let growing = false;
    const grow = (): void => {
      if (growing || this.stopping) return;
      growing = true;
      owned++;
      void this.takeVU().then((vu) => {
        growing = false;
        const slot = slotFor(vu);
        if (size > 0 && !this.stopping) {
          slot.due = backlog[head]!;
          head = (head + 1) % capacity;
          size--;
          run(slot);
          if (size > 0 && owned < this.config.maxVUs) setImmediate(grow);
        } else free.push(slot);
      });
    };
    const dispatch = (due: number): void => {
      const slot = free.pop();
      if (slot !== undefined) {
        slot.due = due;
        return run(slot);
      }
      if (size < capacity) {
        backlog[(head + size) % capacity] = due;
        size++;
        if (owned < this.config.maxVUs) grow();
      } else dropped++;
    };

    let i = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        if (this.stopping || this.hooks.isAborted()) return resolve();
        const now = performance.now() - start;
        let due = schedule.at(i);
        while (due <= now) {
          dispatch(due);
          i++;
          due = schedule.at(i);
        }
        if (due === Infinity) return resolve();
        setTimeout(tick, Math.max(0, due - (performance.now() - start)));
      };
      tick();
    });
    dropped += size;
    size = 0;
    if (dropped > 0) this.hooks.onDropped(dropped, this.scenarioTags);
    const allDone = new Promise<void>((r) => {
      if (inFlight === 0) r();
      else settle = r;
    });
    owned -= await this.finish(allDone, this.config.gracefulStop);
    // VUs still initializing when the schedule ended arrive later; wait for them to come home.
    while (free.length < owned && !this.hooks.isAborted()) await new Promise((r) => setTimeout(r, 5));
    for (const slot of free) this.giveBack(slot.vu);
  }
}
