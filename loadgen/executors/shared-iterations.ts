// shared-iterations: `vus` VUs share a fixed number of `iterations`, bounded by maxDuration.
import { z } from 'zod';
import { baseFields, type BaseConfig } from './config.js';
import { iterationsFields, IterationsExecutor, type StartedIterations } from './iterations.js';
import { registerExecutor } from './registry.js';

const schema = z
  .strictObject({
    ...baseFields,
    executor: z.literal('shared-iterations'),
    ...iterationsFields,
  })
  .refine((c) => c.iterations >= c.vus, {
    message: 'iterations must be at least vus (every VU needs one)',
    path: ['iterations'],
  });
type Config = BaseConfig & z.output<typeof schema>;

class SharedIterations extends IterationsExecutor<Config> {
  protected plannedIterations(): number {
    return this.config.iterations;
  }
  protected gate(started: StartedIterations): () => boolean {
    const iterations = this.config.iterations;
    return () => (started.n < iterations ? (started.n++, true) : false);
  }
}

registerExecutor('shared-iterations', {
  schema,
  create: (name, config, hooks) => new SharedIterations(name, config as Config, hooks),
});
