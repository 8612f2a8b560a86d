// envoy.filters.http.grpc_stats: factory. One compiled config (and its counter cache) per
// filter config on each worker; a filter object per stream.
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import type { StreamFilterFactory } from '../../../../core/http/filter.js';
import { GRPC_STATS_FILTER_NAME, GRPC_STATS_TYPE_URL, GrpcStatsConfig, grpcStatsSchema } from './config.js';
import { grpcStatsFilterFactory } from './filter.js';

registries.httpFilters.register(
  defineExtension({
    name: GRPC_STATS_FILTER_NAME,
    typeUrls: [GRPC_STATS_TYPE_URL],
    configSchema: grpcStatsSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      return grpcStatsFilterFactory(new GrpcStatsConfig(config, context.stats));
    },
  }),
);
