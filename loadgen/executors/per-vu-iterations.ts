// per-vu-iterations: each of `vus` VUs runs exactly `iterations` iterations, bounded by maxDuration.
import { z } from 'zod';
import { baseFields, duration, type BaseConfig } from './config.js';
import { Executor } from './base.js';
import { registerExecutor } from './registry.js';

const schema = z.strictObject({
  ...baseFields,
  executor: z.literal('per-vu-iterations'),
  vus: z.number().int().positive().default(1),
  iterations: z.number().int().positive().default(1),
  maxDuration: duration.default(600_000),
});
type Config = BaseConfig & z.output<typeof schema>;

class PerVuIterations extends Executor<Config> {
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
    return this.info.iterations / (this.config.iterations * this.config.vus);
  }
  protected async execute(): Promise<void> {
    const vus = await Promise.all(Array.from({ length: this.config.vus }, () => this.takeVU()));
    let started = 0;
    const loops = Promise.all(
      vus.map((vu) => {
        let mine = 0;
        return this.loop(vu, () => (mine < this.config.iterations ? (mine++, started++, true) : false)).then(() =>
          this.giveBack(vu),
        );
      }),
    );
    await this.untilIterationsDone(
      loops,
      this.config.maxDuration,
      this.config.iterations * this.config.vus,
      () => started,
    );
  }
}

registerExecutor('per-vu-iterations', {
  schema,
  create: (name, config, hooks) => new PerVuIterations(name, config as Config, hooks),
});
