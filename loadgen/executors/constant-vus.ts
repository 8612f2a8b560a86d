// constant-vus: `vus` VUs loop iterations for `duration`.
import { z } from 'zod';
import { baseFields, positiveDuration, type BaseConfig } from './config.js';
import { Executor } from './base.js';
import { registerExecutor } from './registry.js';

const schema = z.strictObject({
  ...baseFields,
  executor: z.literal('constant-vus'),
  vus: z.number().int().positive().default(1),
  duration: positiveDuration,
});
type Config = BaseConfig & z.output<typeof schema>;

class ConstantVus extends Executor<Config> {
  preAllocatedVUs(): number {
    return this.config.vus;
  }
  plannedDuration(): number {
    return this.config.duration;
  }
  protected async execute(): Promise<void> {
    const vus = await Promise.all(Array.from({ length: this.config.vus }, () => this.takeVU()));
    const loops = Promise.all(vus.map((vu) => this.loop(vu, () => true).then(() => this.giveBack(vu))));
    await this.wait(this.config.duration);
    await this.finish(loops, this.config.gracefulStop);
  }
}

registerExecutor('constant-vus', {
  schema,
  create: (name, config, hooks) => new ConstantVus(name, config as Config, hooks),
});
