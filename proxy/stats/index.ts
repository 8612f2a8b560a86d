// The stats component's public face: the store each process records into, the merge the
// main process runs over its workers' snapshots, and the admin renderers.
export type * from './types.js';
export { createStatsStore, DEFAULT_HISTOGRAM_BOUNDS } from './store.js';
export { mergeSnapshots } from './merge.js';
export { extractTags, type ExtractedName } from './tag-extraction.js';
export { quantile, computedQuantiles, SUPPORTED_QUANTILES } from './quantiles.js';
export {
  compileStatsFilter,
  displayName,
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  sanitizePrometheusName,
  type StatsQuery,
  type StatsTypeFilter,
} from './render.js';
export {
  StatsError,
  StatsHistogramBoundsMismatchError,
  StatsInvalidBoundsError,
  StatsInvalidFilterError,
} from './errors.js';
