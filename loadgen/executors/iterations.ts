// The closed model bounded by a count of iterations, shared by shared-iterations and
// per-vu-iterations (k6's two iteration executors, which take the same vus/iterations/maxDuration):
// every VU is taken at the start and loops while the executor's gate lets it start one more; the
// whole is bounded by maxDuration, and iterations not started by then are counted as dropped. The
// two differ only in the gate (one count shared by all VUs, or one per VU) and so in the total.
import { z } from 'zod';
import { Executor } from './base.js';
import { type BaseConfig, duration } from './config.js';

/** The fields of both iteration executors (k6's vus, iterations and maxDuration). */
export const iterationsFields = {
  vus: z.number().int().positive().default(1),
  iterations: z.number().int().positive().default(1),
  maxDuration: duration.default(600_000),
};

export interface IterationsConfig extends BaseConfig {
  vus: number;
  iterations: number;
  maxDuration: number;
}

/** Iterations started so far by all the scenario's VUs: the gates count into it. */
export interface StartedIterations {
  n: number;
}

export abstract class IterationsExecutor<C extends IterationsConfig> extends Executor<C> {
  preAllocatedVUs(): number {
    return this.config.vus;
  }
  plannedDuration(): number {
    return 0;
  }
  override hardLimit(): number {
    return this.config.maxDuration + this.config.gracefulStop;
  }
  override progress(): number {
    return this.info.iterations / this.plannedIterations();
  }

  /** All iterations the scenario is to run: those not started by maxDuration are dropped. */
  protected abstract plannedIterations(): number;
  /**
   * One VU's loop condition: true (after adding one to `started.n`) when the VU may start another
   * iteration. Called once per VU; the gate itself runs once per iteration, so it stays a closure
   * over plain counters.
   */
  protected abstract gate(started: StartedIterations): () => boolean;

  protected async execute(): Promise<void> {
    const vus = await Promise.all(Array.from({ length: this.config.vus }, () => this.takeVU()));
    const started: StartedIterations = { n: 0 };
    const loops = Promise.all(vus.map((vu) => this.loop(vu, this.gate(started)).then(() => this.giveBack(vu))));
    await this.untilIterationsDone(loops, this.config.maxDuration, this.plannedIterations(), () => started.n);
  }
}
