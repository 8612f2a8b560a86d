// The shared executor machinery: scenario bookkeeping, VU acquisition from the test-wide pool,
// the closed-model VU loop, and the end of a scenario (stop starting iterations, wait up to
// gracefulStop for running ones, then interrupt them). Executors only drive VUs and emit samples.
import { performance } from 'node:perf_hooks';
import type { VU, IterationOutcome } from '../script/vu.js';
import type { ScenarioInfo } from '../script/context.js';
import type { BaseConfig } from './config.js';
import { inMicrotask } from '../script/event-loop.js';
import { currentTurn, turnOverdue } from './turns.js';

export interface ExecutionHooks {
  /** A VU ready to run (idle in the pool, or freshly initialized). */
  acquireVU(): Promise<VU>;
  releaseVU(vu: VU): void;
  readonly setupData: unknown;
  /** Resolves when the test is aborted (test.abort(), abortOnFail, signal). */
  readonly aborted: Promise<void>;
  isAborted(): boolean;
  onIteration(outcome: IterationOutcome): void;
  onDropped(count: number, tags: Readonly<Record<string, string>>): void;
  onActiveChange(delta: number): void;
  /**
   * Resolves once the watchdog has ended JavaScript stuck past a deadline (never when it did not):
   * from then on an interrupted VU that does not come back is taken for dead.
   */
  readonly killed: Promise<void>;
}

/** After a kill, how long interrupted VUs get to come back before they are taken for dead. */
const KILLED_SETTLE_MS = 1000;

/** A timer that can be cancelled, so a finished scenario leaves nothing holding the event loop. */
function timer(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let t: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((r) => {
    t = setTimeout(() => r('timeout'), ms);
  });
  return { promise, cancel: () => clearTimeout(t) };
}

export abstract class Executor<C extends BaseConfig = BaseConfig> {
  readonly name: string;
  readonly config: C;
  protected readonly hooks: ExecutionHooks;
  readonly info: ScenarioInfo;
  protected stopping = false;
  protected readonly running = new Set<VU>();
  readonly #tags: Readonly<Record<string, string>>;

  constructor(name: string, config: C, hooks: ExecutionHooks, openModel = false) {
    this.name = name;
    this.config = config;
    this.hooks = hooks;
    this.#tags = { ...config.tags, scenario: name };
    this.info = {
      name,
      executor: config.executor,
      startedAt: 0,
      iterations: 0,
      openModel,
      progress: () => this.progress(),
    };
  }

  /** VUs to initialize before the test starts. */
  abstract preAllocatedVUs(): number;
  /** Planned duration without gracefulStop (for progress); 0 when iteration-bound. */
  abstract plannedDuration(): number;
  /** How long after its start the scenario must be over, gracefulStop included. */
  hardLimit(): number {
    return this.plannedDuration() + this.config.gracefulStop;
  }
  /** Drives the scenario; resolves once every VU is back in the pool. */
  protected abstract execute(): Promise<void>;

  progress(): number {
    const total = this.plannedDuration();
    if (this.info.startedAt === 0 || total <= 0) return 0;
    return Math.min(1, (performance.now() - this.info.startedAt) / total);
  }

  get scenarioTags(): Readonly<Record<string, string>> {
    return this.#tags;
  }

  async run(): Promise<void> {
    this.info.startedAt = performance.now();
    const onAbort = (): void => {
      this.stopping = true;
      for (const vu of this.running) vu.interrupt();
    };
    void this.hooks.aborted.then(onAbort);
    await this.execute();
  }

  protected async takeVU(): Promise<VU> {
    const vu = await this.hooks.acquireVU();
    this.attach(vu);
    return vu;
  }

  protected attach(vu: VU): void {
    vu.enterScenario(this.info, this.config.env, this.#tags);
    this.running.add(vu);
    this.hooks.onActiveChange(1);
  }

  protected giveBack(vu: VU): void {
    if (!this.running.delete(vu)) return;
    vu.resume();
    this.hooks.onActiveChange(-1);
    this.hooks.releaseVU(vu);
  }

  /** Counts an ended iteration (the scenario's and the test's). */
  protected counted(outcome: IterationOutcome): IterationOutcome {
    if (outcome !== 'interrupted') this.info.iterations++;
    this.hooks.onIteration(outcome);
    return outcome;
  }

  /**
   * Closed model: run iterations back to back while `more()` allows. Driven by the VU's
   * completion callback rather than an async loop (no promise or await per iteration); an
   * iteration that completes without waiting continues the loop in place, not by recursion.
   */
  protected loop(vu: VU, more: () => boolean): Promise<void> {
    const exec = this.config.exec;
    const data = this.hooks.setupData;
    return new Promise<void>((resolve, reject) => {
      let starting = false;
      let completedInStart = false;
      let ended = false;
      let since = 0;
      const next = (): void => {
        try {
          while (!this.stopping && !vu.state.interrupted && more()) {
            starting = true;
            completedInStart = false;
            since = currentTurn();
            vu.start(exec, data, 0, onDone);
            starting = false;
            // Not done yet (it waits), or done and ended the loop (interrupted, aborted).
            if (!completedInStart || ended) return;
            if (turnOverdue(since)) return yieldTurn();
          }
          resolve();
        } catch (err) {
          starting = false;
          reject(err);
        }
      };
      const onDone = (outcome: IterationOutcome): void => {
        this.counted(outcome);
        if (outcome === 'aborted' || outcome === 'interrupted') {
          ended = true;
          resolve();
          return;
        }
        if (starting) completedInStart = true;
        else if (turnOverdue(since)) yieldTurn();
        else next();
      };
      // The next iteration starts from a microtask after timers and I/O had their turn.
      const fromMicrotask = (): void => inMicrotask(next);
      const yieldTurn = (): void => void setImmediate(fromMicrotask);
      inMicrotask(next);
    });
  }

  /**
   * Ends a time-bound scenario: no new iterations; running ones get `grace` ms, then are
   * interrupted. `loops` settle once each VU is done.
   */
  protected async finish(loops: Promise<unknown>, grace: number): Promise<number> {
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((r) => {
      timer = setTimeout(() => r('grace'), grace);
    });
    const first = await Promise.race([loops.then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'done') return 0;
    for (const vu of this.running) vu.interrupt();
    const settled = await Promise.race([
      loops.then(() => true),
      this.hooks.killed.then(() => new Promise<false>((r) => setTimeout(() => r(false), KILLED_SETTLE_MS))),
    ]);
    return settled ? 0 : this.#buryStuck();
  }

  /**
   * VUs whose iteration the watchdog ended never settle: count the iteration as interrupted and
   * drop the VU (its runtime is in an unknown state), as its loop will never give it back.
   */
  #buryStuck(): number {
    const stuck = [...this.running].filter((vu) => vu.busy);
    for (const vu of stuck) {
      this.running.delete(vu);
      vu.close();
      this.hooks.onActiveChange(-1);
      this.counted('interrupted');
    }
    return stuck.length;
  }

  /**
   * Ends an iteration-count scenario (shared-iterations, per-vu-iterations): `loops` run until
   * they are done, `maxDuration` passes or the test aborts, then get gracefulStop as in finish().
   * Of the `planned` iterations, those never started count as dropped, except after an abort.
   */
  protected async untilIterationsDone(
    loops: Promise<unknown>,
    maxDuration: number,
    planned: number,
    started: () => number,
  ): Promise<void> {
    const limit = timer(maxDuration);
    const first = await Promise.race([
      loops.then(() => 'done' as const),
      limit.promise,
      this.hooks.aborted.then(() => 'aborted' as const),
    ]);
    limit.cancel();
    if (first !== 'done') await this.finish(loops, this.config.gracefulStop);
    const dropped = planned - started();
    if (dropped > 0 && !this.hooks.isAborted()) this.hooks.onDropped(dropped, this.scenarioTags);
  }

  /** Waits `ms` or until the test is aborted. */
  protected async wait(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), this.hooks.aborted]);
    clearTimeout(timer);
  }
}
