// Typed errors of the stats component: one base class, one subclass per failure, stable codes.
import { MeshscopeError } from '../../shared/errors.js';

export class StatsError extends MeshscopeError {}

/** Two snapshots disagree on a histogram's bucket bounds, so their buckets cannot be added. */
export class StatsHistogramBoundsMismatchError extends StatsError {
  constructor(name: string) {
    super('MS_ERR_STATS_HISTOGRAM_BOUNDS_MISMATCH', `histogram '${name}': snapshots carry different bucket bounds`);
  }
}

/** Histogram bounds must be finite, strictly increasing numbers. */
export class StatsInvalidBoundsError extends StatsError {
  constructor(name: string, detail: string) {
    super('MS_ERR_STATS_INVALID_BOUNDS', `histogram '${name}': invalid bucket bounds: ${detail}`);
  }
}

/** A `?filter=` that is not a valid regular expression. */
export class StatsInvalidFilterError extends StatsError {
  constructor(filter: string, detail: string) {
    super('MS_ERR_STATS_INVALID_FILTER', `invalid filter regex '${filter}': ${detail}`);
  }
}
