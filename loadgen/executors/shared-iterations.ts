// shared-iterations: `vus` VUs share a fixed number of `iterations`, bounded by maxDuration.
import { z } from 'zod';
import { baseFields, duration, type BaseConfig } from './config.js';
import { Executor } from './base.js';
import { registerExecutor } from './registry.js';

const schema = z
  .strictObject({
    ...baseFields,
    executor: z.literal('shared-iterations'),
    vus: z.number().int().positive().default(1),
    iterations: z.number().int().positive().default(1),
    maxDuration: duration.default(600_000),
  })
  .refine((c) => c.iterations >= c.vus, {
    message: 'iterations must be at least vus (every VU needs one)',
    path: ['iterations'],
  });
type Config = BaseConfig & z.output<typeof schema>;

class SharedIterations extends Executor<Config> {
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
    return this.info.iterations / this.config.iterations;
  }
  protected async execute(): Promise<void> {
    const vus = await Promise.all(Array.from({ length: this.config.vus }, () => this.takeVU()));
    let started = 0;
    const more = (): boolean => (started < this.config.iterations ? (started++, true) : false);
    const loops = Promise.all(vus.map((vu) => this.loop(vu, more).then(() => this.giveBack(vu))));
    await this.untilIterationsDone(loops, this.config.maxDuration, this.config.iterations, () => started);
  }
}

registerExecutor('shared-iterations', {
  schema,
  create: (name, config, hooks) => new SharedIterations(name, config as Config, hooks),
});
