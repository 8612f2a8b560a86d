// A VU's event loop, as k6 keeps one per VU: an iteration ends when its function has returned
// AND the work it started with callbacks has finished (timers from k6/timers, open WebSockets,
// gRPC streams). A callback that throws ends the iteration with that error and cancels the
// rest, as in k6. Interrupting the VU cancels everything pending.
import { types } from 'node:util';

const RESOLVED = Promise.resolve();

/**
 * Runs `fn` from a microtask of V8's own (a reaction to a settled promise). Node's queueMicrotask
 * runs its callback inside an async resource scope (an async-context push and pop around it): when
 * the watchdog terminates an endless loop in there, the pop never happens and Node aborts with
 * "async hook stack has become corrupted". It also costs an AsyncResource per call. `fn` must not
 * throw (its error would become an unhandled rejection).
 */
export function inMicrotask(fn: () => void): void {
  void RESOLVED.then(fn);
}

/** Outstanding work registered by a module; `done()` when it completes by itself. */
export interface LoopTask {
  done(): void;
}

interface Entry extends LoopTask {
  readonly cancel: () => void;
}

export class VuEventLoop {
  readonly #pending = new Set<Entry>();
  /** Things a module opened that outlive iterations (gRPC connections): closed with the VU. */
  readonly #resources = new Set<() => void>();
  #error: { err: unknown } | null = null;
  #wake: (() => void) | null = null;

  /** Registers outstanding work; `cancel` stops it when the iteration is cut short. */
  add(cancel: () => void): LoopTask {
    const entry: Entry = {
      cancel,
      done: () => {
        if (this.#pending.delete(entry) && this.#pending.size === 0) this.#notify();
      },
    };
    this.#pending.add(entry);
    return entry;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Nothing pending and no error: drain() would return at once (callers skip its promise). */
  get settled(): boolean {
    return this.#pending.size === 0 && this.#error === null;
  }

  /** Runs a script callback; a throw or a rejected promise ends the iteration with that error. */
  call(fn: unknown, thisArg: unknown, ...args: unknown[]): void {
    if (typeof fn !== 'function') return;
    // Script code runs from a microtask, never inside one of Node's timer or socket callbacks, so
    // the watchdog can end an endless loop in it without corrupting Node's async-context stack.
    // Queued before any drain() continuation the same callback's done() wakes, so it runs first.
    inMicrotask(() => {
      try {
        const r: unknown = fn.apply(thisArg, args);
        // A script's promise comes from its VU's realm: not an instance of this realm's Promise.
        if (types.isPromise(r)) r.catch((err: unknown) => this.fail(err));
      } catch (err) {
        this.fail(err);
      }
    });
  }

  /** Records a callback's error (the first one wins) and cancels the remaining work. */
  fail(err: unknown): void {
    if (this.#error === null) this.#error = { err };
    this.cancelAll();
    this.#notify();
  }

  /** Waits until nothing is pending; throws the first callback error. */
  async drain(): Promise<void> {
    while (this.#error === null && this.#pending.size > 0) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const e = this.#error;
    this.#error = null;
    if (e !== null) throw e.err;
  }

  /** Cancels every pending task (an interrupted or failed iteration). */
  cancelAll(): void {
    const entries = [...this.#pending];
    this.#pending.clear();
    for (const e of entries) {
      try {
        e.cancel();
      } catch {
        // A cancel that fails leaves nothing to wait for: the task is already dropped.
      }
    }
    this.#notify();
  }

  /** Registers a resource to close with the VU; returns the function that forgets it. */
  hold(close: () => void): () => void {
    this.#resources.add(close);
    return () => this.#resources.delete(close);
  }

  /** Closes every held resource (the VU is done). */
  closeResources(): void {
    const all = [...this.#resources];
    this.#resources.clear();
    for (const close of all) {
      try {
        close();
      } catch {
        // Closing is best effort: the VU is going away either way.
      }
    }
  }

  /** Forgets a recorded error (the iteration that owned it ended another way). */
  reset(): void {
    this.#error = null;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
