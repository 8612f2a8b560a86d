// envoy.filters.http.fault: factory. One FaultConfig per HCM (stats under
// `http.<stat_prefix>.fault.`), per-route configs compiled on first use and kept with the
// route's config object, a fresh FaultFilter per stream.
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import type { StreamFilterCallbacks, StreamFilterFactory } from '../../../../core/http/filter.js';
import { FAULT_FILTER_NAME, FAULT_TYPE_URL, FaultConfig, faultSchema, faultStats } from './config.js';
import { FaultFilter, type FaultRouteInfo } from './filter.js';

registries.httpFilters.register(
  defineExtension({
    name: FAULT_FILTER_NAME,
    typeUrls: [FAULT_TYPE_URL],
    configSchema: faultSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      const scope = context.stats.scope(`http.${context.statPrefix}.fault`);
      const stats = faultStats(scope);
      const listenerConfig = new FaultConfig(config, scope, stats);
      const perRoute = new WeakMap<object, FaultConfig>();
      const route: FaultRouteInfo = {
        clusterName: (cb: StreamFilterCallbacks) => cb.route()?.clusterName ?? null,
        perRouteConfig(cb: StreamFilterCallbacks): FaultConfig | undefined {
          const raw = cb.route()?.perFilterConfig.get(FAULT_FILTER_NAME);
          if (raw === undefined) return undefined;
          let compiled = perRoute.get(raw);
          if (compiled === undefined) {
            compiled = new FaultConfig(faultSchema.parse(raw), scope, stats);
            perRoute.set(raw, compiled);
          }
          return compiled;
        },
      };
      const runtime = context.runtime;
      return (callbacks) => new FaultFilter(callbacks, listenerConfig, runtime, route);
    },
  }),
);
