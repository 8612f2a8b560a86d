// One coarse timer wheel per thread for per-request timeouts (the router's route and per-try
// timeouts), in the spirit of Envoy's dispatcher handing streams cheap timers: arming and
// cancelling are O(1) list operations on an entry its owner keeps, where a setTimeout per request
// allocated a Timeout and a closure and inserted both into Node's timer lists (with clearTimeout,
// about 1% of the request thread's CPU). One interval turns the wheel while entries are armed and
// stops when none are, so an idle proxy does not wake up for it. An entry fires after its
// deadline, at most one tick (plus the event loop's lateness) after it, never before.

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
  #tick = 0;
  #driver: NodeJS.Timeout | null = null;
  /** Due timers collected while a slot is turned (reused, so turning allocates nothing). */
  readonly #due: WheelTimer[] = [];

  add(t: WheelTimer, deadline: number): void {
    if (t.slot !== -1) this.remove(t);
    if (this.#driver === null) {
      this.#tick = Math.floor(performance.now() / TICK_MS);
      this.#driver = setInterval(this.#turn, TICK_MS);
    }
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

  readonly #turn = (): void => {
    if (this.#count === 0) {
      clearInterval(this.#driver!);
      this.#driver = null;
      return;
    }
    const now = performance.now();
    const target = Math.floor(now / TICK_MS);
    // After a long stall every slot is turned once: what is due fires, the rest waits its turn.
    const from = Math.max(this.#tick + 1, target - MASK);
    const due = this.#due;
    for (let tick = from; tick <= target; tick++) {
      for (let t: WheelTimer | null = this.#heads[tick & MASK]!; t !== null; t = t.next)
        if (t.deadline <= now) due.push(t);
    }
    this.#tick = target;
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
    }
  };
}

const wheel = new TimerWheel();
