// per-vu-iterations: each of `vus` VUs runs exactly `iterations` iterations, bounded by maxDuration.
import { z } from 'zod';
import { baseFields, type BaseConfig } from './config.js';
import { iterationsFields, IterationsExecutor, type StartedIterations } from './iterations.js';
import { registerExecutor } from './registry.js';

const schema = z.strictObject({
  ...baseFields,
  executor: z.literal('per-vu-iterations'),
  ...iterationsFields,
});
type Config = BaseConfig & z.output<typeof schema>;

class PerVuIterations extends IterationsExecutor<Config> {
  protected plannedIterations(): number {
    return this.config.iterations * this.config.vus;
  }
  protected gate(started: StartedIterations): () => boolean {
    const iterations = this.config.iterations;
    let mine = 0;
    return () => (mine < iterations ? (mine++, started.n++, true) : false);
  }
}

registerExecutor('per-vu-iterations', {
  schema,
  create: (name, config, hooks) => new PerVuIterations(name, config as Config, hooks),
});
