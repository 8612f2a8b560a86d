// The router's per-request timeouts run on one coarse timer wheel: a timer never fires before
// its deadline, a cancelled one never fires, one re-armed from another's callback fires at its
// new deadline only, and timers longer than a turn of the wheel wait for their own turn. The wheel
// sleeps until its earliest armed slot: a shorter timer armed after a long one still fires on
// time, and one armed after every other was cancelled (the wheel asleep) fires.
import { describe, expect, it } from 'vitest';
import { WheelTimer, type WheelTimerOwner } from '../../proxy/core/timer-wheel.js';

interface Fired {
  kind: number;
  at: number;
}

function recorder(): WheelTimerOwner & { fired: Fired[]; next: () => Promise<Fired> } {
  const fired: Fired[] = [];
  let wake: (() => void) | null = null;
  return {
    fired,
    onWheelTimer(kind: number) {
      fired.push({ kind, at: performance.now() });
      wake?.();
    },
    async next() {
      const n = fired.length;
      while (fired.length === n) await new Promise<void>((r) => (wake = r));
      return fired[n]!;
    },
  };
}

describe('timer wheel', () => {
  it('fires each timer after its deadline, in deadline order, and never a cancelled one', async () => {
    const owner = recorder();
    const start = performance.now();
    const a = new WheelTimer(owner, 1);
    const b = new WheelTimer(owner, 2);
    const cancelled = new WheelTimer(owner, 3);
    b.arm(60);
    a.arm(20);
    cancelled.arm(10);
    cancelled.cancel();
    expect(cancelled.armed).toBe(false);
    const first = await owner.next();
    const second = await owner.next();
    expect([first.kind, second.kind]).toEqual([1, 2]);
    expect(first.at - start).toBeGreaterThanOrEqual(20);
    expect(second.at - start).toBeGreaterThanOrEqual(60);
    expect(a.armed || b.armed).toBe(false);
    expect(owner.fired.map((f) => f.kind)).toEqual([1, 2]);
  });

  it('lets a callback cancel or re-arm a timer due in the same turn', async () => {
    const owner = recorder();
    const start = performance.now();
    const timers = [new WheelTimer(owner, 0), new WheelTimer(owner, 1)];
    const inner = owner.onWheelTimer.bind(owner);
    owner.onWheelTimer = (kind) => {
      inner(kind);
      // The first to fire pushes the other one back, although both were due in this turn.
      if (owner.fired.length === 1) timers[1 - kind]!.arm(50);
    };
    timers[0]!.arm(10);
    timers[1]!.arm(10);
    const first = await owner.next();
    const second = await owner.next();
    expect(second.kind).toBe(1 - first.kind);
    expect(second.at - start).toBeGreaterThanOrEqual(60);
    await new Promise((r) => setTimeout(r, 30));
    expect(owner.fired.length).toBe(2);
  });

  it('keeps a timer longer than one turn of the wheel until its own deadline', async () => {
    const owner = recorder();
    const start = performance.now();
    const long = new WheelTimer(owner, 9);
    long.arm(4500);
    const fired = await owner.next();
    expect(fired.at - start).toBeGreaterThanOrEqual(4500);
  });

  it('fires a short timer armed after a long one without waiting for the long one', async () => {
    const owner = recorder();
    const start = performance.now();
    const long = new WheelTimer(owner, 1);
    const short = new WheelTimer(owner, 2);
    long.arm(60_000);
    short.arm(30);
    const fired = await owner.next();
    expect(fired.kind).toBe(2);
    expect(fired.at - start).toBeGreaterThanOrEqual(30);
    expect(long.armed).toBe(true);
    long.cancel();
  });

  it('fires a timer armed after every other was cancelled', async () => {
    const owner = recorder();
    const gone = new WheelTimer(owner, 1);
    gone.arm(20);
    gone.cancel();
    // Past the cancelled timer's slot: the wheel has woken, found nothing, and gone to sleep.
    await new Promise((r) => setTimeout(r, 60));
    const start = performance.now();
    const again = new WheelTimer(owner, 2);
    again.arm(20);
    const fired = await owner.next();
    expect(fired.kind).toBe(2);
    expect(fired.at - start).toBeGreaterThanOrEqual(20);
    expect(owner.fired.map((f) => f.kind)).toEqual([2]);
  });
});
