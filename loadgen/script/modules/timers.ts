// k6/timers: setTimeout/clearTimeout/setInterval/clearInterval on the VU's event loop. A pending
// timer is work the iteration waits for (an interval until it is cleared), as in k6; callbacks
// run as event-loop callbacks, so a throw fails the iteration. Ids are per VU.
import type { ModuleContext } from '../context.js';
import type { LoopTask } from '../event-loop.js';
import { registerVuGlobals } from '../globals.js';

// k6 makes the timers globals too: a script may call setTimeout without importing k6/timers.
registerVuGlobals('k6/timers', ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval']);

type Callback = (...args: unknown[]) => unknown;

export function createTimersModule(ctx: ModuleContext): Record<string, unknown> {
  const { vu } = ctx;
  const timers = new Map<number, { handle: NodeJS.Timeout; task: LoopTask }>();
  let nextId = 1;

  const check = (fn: unknown, what: string): Callback => {
    if (typeof fn !== 'function') throw new TypeError(`${what}: the first argument must be a function`);
    return fn as Callback;
  };
  const clear = (id: unknown): void => {
    const t = timers.get(Number(id));
    if (t === undefined) return;
    timers.delete(Number(id));
    clearTimeout(t.handle);
    t.task.done();
  };

  const setTimeoutK6 = (fn: unknown, delay?: number, ...args: unknown[]): number => {
    const cb = check(fn, 'setTimeout');
    const id = nextId++;
    const handle = setTimeout(
      () => {
        const t = timers.get(id);
        timers.delete(id);
        vu.loop.call(cb, undefined, ...args);
        // Done after the callback, so timers it sets keep the iteration going without a gap.
        t?.task.done();
      },
      Math.max(0, Number(delay) || 0),
    );
    timers.set(id, { handle, task: vu.loop.add(() => clear(id)) });
    return id;
  };

  const setIntervalK6 = (fn: unknown, delay?: number, ...args: unknown[]): number => {
    const cb = check(fn, 'setInterval');
    const id = nextId++;
    const handle = setInterval(() => vu.loop.call(cb, undefined, ...args), Math.max(1, Number(delay) || 0));
    timers.set(id, { handle, task: vu.loop.add(() => clear(id)) });
    return id;
  };

  const mod: Record<string, unknown> = {
    setTimeout: setTimeoutK6,
    clearTimeout: clear,
    setInterval: setIntervalK6,
    clearInterval: clear,
  };
  mod.default = mod;
  return mod;
}
