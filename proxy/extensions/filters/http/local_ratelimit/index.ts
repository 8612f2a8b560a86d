// envoy.filters.http.local_ratelimit: factory. The HCM-level config (when it has a token
// bucket) and each route's `typed_per_filter_config` own one bucket each, shared by every
// stream of this worker; per-route configs are compiled on first use.
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import type { StreamFilterCallbacks, StreamFilterFactory } from '../../../../core/http/filter.js';
import {
  LOCAL_RATELIMIT_FILTER_NAME,
  LOCAL_RATELIMIT_TYPE_URL,
  LocalRateLimitConfig,
  localRateLimitSchema,
} from './config.js';
import { LocalRateLimitFilter } from './filter.js';

registries.httpFilters.register(
  defineExtension({
    name: LOCAL_RATELIMIT_FILTER_NAME,
    typeUrls: [LOCAL_RATELIMIT_TYPE_URL],
    configSchema: localRateLimitSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      const listenerConfig = new LocalRateLimitConfig(config, context.stats);
      const perRoute = new WeakMap<object, LocalRateLimitConfig>();
      const routeConfig = (cb: StreamFilterCallbacks): LocalRateLimitConfig | undefined => {
        const raw = cb.route()?.perFilterConfig.get(LOCAL_RATELIMIT_FILTER_NAME);
        if (raw === undefined) return undefined;
        let compiled = perRoute.get(raw);
        if (compiled === undefined) {
          compiled = new LocalRateLimitConfig(localRateLimitSchema.parse(raw), context.stats);
          perRoute.set(raw, compiled);
        }
        return compiled;
      };
      const runtime = context.runtime;
      return (callbacks) => new LocalRateLimitFilter(callbacks, listenerConfig, runtime, routeConfig);
    },
  }),
);
