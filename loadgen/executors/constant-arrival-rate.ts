// constant-arrival-rate: `rate` iterations per `timeUnit` for `duration` (open model; see arrival-rate.ts).
import { z } from 'zod';
import { arrivalRateVUFields, baseFields, positiveDuration, type BaseConfig, withArrivalRateVUs } from './config.js';
import { ArrivalRateExecutor, type RateSegment } from './arrival-rate.js';
import { registerExecutor } from './registry.js';

const schema = withArrivalRateVUs(
  z.strictObject({
    ...baseFields,
    executor: z.literal('constant-arrival-rate'),
    rate: z.number().positive(),
    timeUnit: positiveDuration.default(1000),
    duration: positiveDuration,
    ...arrivalRateVUFields,
  }),
);
type Config = BaseConfig & z.output<typeof schema>;

class ConstantArrivalRate extends ArrivalRateExecutor<Config> {
  constructor(name: string, config: Config, hooks: ConstructorParameters<typeof ArrivalRateExecutor<Config>>[2]) {
    super(name, config, hooks, true);
  }
  protected segments(): RateSegment[] {
    const perMs = this.config.rate / this.config.timeUnit;
    return [{ duration: this.config.duration, from: perMs, to: perMs }];
  }
  protected peakRatePerSecond(): number {
    return (this.config.rate * 1000) / this.config.timeUnit;
  }
}

registerExecutor('constant-arrival-rate', {
  schema,
  create: (name, config, hooks) => new ConstantArrivalRate(name, config as Config, hooks),
});
