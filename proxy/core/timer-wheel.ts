// One coarse timer wheel per thread for per-request timeouts (the router's route and per-try
// timeouts), in the spirit of Envoy's dispatcher handing streams cheap timers: arming and
// cancelling are O(1) list operations on an entry its owner keeps, where a setTimeout per request
// allocated a Timeout and a closure and inserted both into Node's timer lists (with clearTimeout,
// about 1% of the request thread's CPU). An entry fires after its deadline, at most one tick
// (plus the event loop's lateness) after it, never before.
// The wheel wakes its thread only when a slot holding timers comes due: one Node timer is set for
// the earliest such slot, moved earlier when an earlier deadline is armed, and never touched when a
// timer is cancelled (a wake-up that finds its timers gone looks for the next). It used to turn
// every tick while anything was armed: at 1000 req/s through a sidecar, where each request arms a
// 15 s route timeout and cancels it within a millisecond, that was 125 wake-ups a second (each a
// context switch and a run of Node's timers for nothing due) between the requests' own.
import { performance } from 'node:perf_hooks';

/** What a timer calls when it fires; `kind` tells an owner's timers apart without a closure each. */
export interface WheelTimerOwner {
  onWheelTimer(kind: number): void;
}

/** Milliseconds per slot: the resolution of the timeouts armed on the wheel. */
const TICK_MS = 8;
/** Slots in the ring (a power of two): one turn covers about 4 s; longer timeouts wait a turn or more. */
const SLOTS = 512;
const MASK = SLOTS - 1;

export class WheelTimer {
  readonly #owner: WheelTimerOwner;
  readonly #kind: number;
  /** performance.now() at which the timer is due; -1 while disarmed. */
  deadline = -1;
  /** The slot the timer sits in, or -1. */
  slot = -1;
  prev: WheelTimer | null = null;
  next: WheelTimer | null = null;

  constructor(owner: WheelTimerOwner, kind: number) {
    this.#owner = owner;
    this.#kind = kind;
  }

  get armed(): boolean {
    return this.slot !== -1;
  }

  /** (Re)arms the timer to fire `ms` from now. */
  arm(ms: number): void {
    wheel.add(this, performance.now() + ms);
  }

  /** Disarms the timer (a no-op when it is not armed). */
  cancel(): void {
    if (this.slot !== -1) wheel.remove(this);
  }

  /** @internal */
  fire(): void {
    this.#owner.onWheelTimer(this.#kind);
  }
}

class TimerWheel {
  readonly #heads: Array<WheelTimer | null> = new Array<WheelTimer | null>(SLOTS).fill(null);
  #count = 0;
  /** The last tick whose slot was turned (ticks count TICK_MS periods of performance.now()). */
  #tick = Math.floor(performance.now() / TICK_MS);
  /** The Node timer that turns the wheel at #wakeTick, or null while it sleeps. */
  #driver: NodeJS.Timeout | null = null;
  #wakeTick = 0;
  /** Due timers collected while a slot is turned (reused, so turning allocates nothing). */
  readonly #due: WheelTimer[] = [];

  add(t: WheelTimer, deadline: number): void {
    if (t.slot !== -1) this.remove(t);
    // The first tick at or after the deadline, and never one already turned.
    const tick = Math.max(Math.ceil(deadline / TICK_MS), this.#tick + 1);
    const slot = tick & MASK;
    t.deadline = deadline;
    t.slot = slot;
    t.prev = null;
    const head = this.#heads[slot]!;
    t.next = head;
    if (head !== null) head.prev = t;
    this.#heads[slot] = t;
    this.#count++;
    if (this.#driver === null || tick < this.#wakeTick) this.#wakeAt(tick);
  }

  remove(t: WheelTimer): void {
    if (t.prev === null) this.#heads[t.slot] = t.next;
    else t.prev.next = t.next;
    if (t.next !== null) t.next.prev = t.prev;
    t.prev = t.next = null;
    t.slot = -1;
    t.deadline = -1;
    this.#count--;
  }

  #wakeAt(tick: number): void {
    if (this.#driver !== null) clearTimeout(this.#driver);
    this.#wakeTick = tick;
    // Node's timers count whole milliseconds of a loop time that may lag performance.now(): a
    // wake-up a little early finds the slot not yet due and waits for it again.
    this.#driver = setTimeout(this.#turn, Math.max(1, Math.ceil(tick * TICK_MS - performance.now())));
    // The driver may outlive every timer it was set for (a cancel leaves it in place, and a 15 s
    // route timeout sets it 15 s out): held, it kept a proxy that had shut down alive until then.
    // What a wheel timer guards (a stream, its sockets) keeps the process alive by itself.
    this.#driver.unref();
  }

  readonly #turn = (): void => {
    this.#driver = null;
    const now = performance.now();
    const target = Math.floor(now / TICK_MS);
    // After a long sleep or stall every slot is turned once: what is due fires, the rest waits.
    const from = Math.max(this.#tick + 1, target - MASK);
    const due = this.#due;
    if (this.#count > 0) {
      for (let tick = from; tick <= target; tick++) {
        for (let t: WheelTimer | null = this.#heads[tick & MASK]!; t !== null; t = t.next)
          if (t.deadline <= now) due.push(t);
      }
    }
    this.#tick = Math.max(this.#tick, target);
    // Fired one by one, each unlinked first: a callback may cancel or re-arm timers (its own or
    // others still to fire), so each is checked again before it fires.
    try {
      for (let i = 0; i < due.length; i++) {
        const t = due[i]!;
        if (t.slot === -1 || t.deadline > now) continue;
        this.remove(t);
        t.fire();
      }
    } finally {
      due.length = 0;
      this.#sleepUntilNextSlot();
    }
  };

  /**
   * Sets the driver for the first slot after the current tick that holds timers (they may be due
   * in a later turn of the ring: that wake-up then finds nothing due and looks again), unless a
   * callback already set it earlier; with no timers armed, the wheel sleeps until the next add().
   */
  #sleepUntilNextSlot(): void {
    if (this.#count === 0) return;
    const tick = this.#tick;
    for (let k = 1; k <= SLOTS; k++) {
      if (this.#heads[(tick + k) & MASK] !== null) {
        if (this.#driver === null || tick + k < this.#wakeTick) this.#wakeAt(tick + k);
        return;
      }
    }
  }
}

const wheel = new TimerWheel();
