// ramping-vus: the number of looping VUs follows `stages` linearly from startVUs. VUs ramped down
// finish their iteration within gracefulRampDown, then are interrupted.
import { z } from 'zod';
import { baseFields, duration, stage, type BaseConfig } from './config.js';
import { Executor } from './base.js';
import { registerExecutor } from './registry.js';
import type { VU } from '../script/vu.js';

const schema = z.strictObject({
  ...baseFields,
  executor: z.literal('ramping-vus'),
  startVUs: z.number().int().nonnegative().default(1),
  stages: z.array(stage).min(1),
  gracefulRampDown: duration.default(30_000),
});
type Config = BaseConfig & z.output<typeof schema>;

const TICK_MS = 20;

/** VUs wanted at `t` ms into the scenario; -1 once every stage is over. */
function targetVUs(startVUs: number, stages: ReadonlyArray<{ duration: number; target: number }>, t: number): number {
  let from = startVUs;
  let at = 0;
  for (const s of stages) {
    if (t < at + s.duration) return Math.floor(from + ((s.target - from) * (t - at)) / s.duration + 1e-9);
    at += s.duration;
    from = s.target;
  }
  return -1;
}

interface Slot {
  vu: VU;
  stop: boolean;
  done: Promise<void>;
}

class RampingVus extends Executor<Config> {
  preAllocatedVUs(): number {
    return Math.max(this.config.startVUs, ...this.config.stages.map((s) => s.target));
  }
  plannedDuration(): number {
    return this.config.stages.reduce((a, s) => a + s.duration, 0);
  }
  protected async execute(): Promise<void> {
    const slots: Slot[] = [];
    const all: Array<Promise<void>> = [];
    let pending = 0;
    const start = performance.now();
    while (!this.stopping && !this.hooks.isAborted()) {
      const want = targetVUs(this.config.startVUs, this.config.stages, performance.now() - start);
      if (want < 0) break;
      const have = slots.length + pending;
      for (let i = have; i < want; i++) {
        pending++;
        const vu = await this.takeVU();
        pending--;
        const slot: Slot = { vu, stop: false, done: Promise.resolve() };
        slot.done = this.loop(vu, () => !slot.stop).then(() => this.giveBack(vu));
        slots.push(slot);
        all.push(slot.done);
      }
      while (slots.length > want) {
        const slot = slots.pop()!;
        slot.stop = true;
        const timer = setTimeout(() => slot.vu.interrupt(), this.config.gracefulRampDown);
        void slot.done.then(() => clearTimeout(timer));
      }
      await this.wait(TICK_MS);
    }
    await this.finish(Promise.all(all), this.config.gracefulStop);
  }
}

registerExecutor('ramping-vus', {
  schema,
  create: (name, config, hooks) => new RampingVus(name, config as Config, hooks),
});
