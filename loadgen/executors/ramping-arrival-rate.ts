// ramping-arrival-rate: the iteration rate follows `stages` linearly from startRate (open model; see arrival-rate.ts).
import { z } from 'zod';
import {
  arrivalRateVUFields,
  baseFields,
  positiveDuration,
  rateStage,
  type BaseConfig,
  withArrivalRateVUs,
} from './config.js';
import { ArrivalRateExecutor, type RateSegment } from './arrival-rate.js';
import { registerExecutor } from './registry.js';

const schema = withArrivalRateVUs(
  z.strictObject({
    ...baseFields,
    executor: z.literal('ramping-arrival-rate'),
    startRate: z.number().nonnegative().default(0),
    timeUnit: positiveDuration.default(1000),
    stages: z.array(rateStage).min(1),
    ...arrivalRateVUFields,
  }),
);
type Config = BaseConfig & z.output<typeof schema>;

class RampingArrivalRate extends ArrivalRateExecutor<Config> {
  constructor(name: string, config: Config, hooks: ConstructorParameters<typeof ArrivalRateExecutor<Config>>[2]) {
    super(name, config, hooks, true);
  }
  protected segments(): RateSegment[] {
    const unit = this.config.timeUnit;
    let from = this.config.startRate;
    return this.config.stages.map((s) => {
      const seg = { duration: s.duration, from: from / unit, to: s.target / unit };
      from = s.target;
      return seg;
    });
  }
  protected peakRatePerSecond(): number {
    return (Math.max(this.config.startRate, ...this.config.stages.map((s) => s.target)) * 1000) / this.config.timeUnit;
  }
}

registerExecutor('ramping-arrival-rate', {
  schema,
  create: (name, config, hooks) => new RampingArrivalRate(name, config as Config, hooks),
});
