// envoy.filters.http.rbac: factory. The HCM-level RBAC message is compiled once (counters under
// `http.<stat_prefix>.rbac.`); a route's RBACPerRoute replaces it on that route, or disables
// the filter there when it carries no `rbac`. Per-route configs are compiled on first use.
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import type { StreamFilterCallbacks, StreamFilterFactory } from '../../../../core/http/filter.js';
import {
  RBAC_FILTER_NAME,
  RBAC_PER_ROUTE_TYPE_URL,
  RBAC_TYPE_URL,
  rbacFilterConfigSchema,
  rbacPerRouteSchema,
  rbacSchema,
} from './config.js';
import { RbacFilter, RbacFilterConfig } from './filter.js';

registries.httpFilters.register(
  defineExtension({
    name: RBAC_FILTER_NAME,
    typeUrls: [RBAC_TYPE_URL, RBAC_PER_ROUTE_TYPE_URL],
    configSchema: rbacFilterConfigSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      const scope = context.stats.scope(`http.${context.statPrefix}.rbac`);
      if (config['@type'] === RBAC_PER_ROUTE_TYPE_URL)
        throw new Error(`${RBAC_FILTER_NAME}: RBACPerRoute belongs in a route's typed_per_filter_config`);
      const listener = new RbacFilterConfig(rbacSchema.parse(config), scope);
      const perRoute = new WeakMap<object, RbacFilterConfig | null>();
      const resolve = (cb: StreamFilterCallbacks): RbacFilterConfig | null => {
        const raw = cb.route()?.perFilterConfig.get(RBAC_FILTER_NAME);
        if (raw === undefined) return listener;
        let compiled = perRoute.get(raw);
        if (compiled === undefined) {
          const parsed = rbacFilterConfigSchema.parse(raw);
          const message = parsed['@type'] === RBAC_PER_ROUTE_TYPE_URL ? rbacPerRouteSchema.parse(parsed).rbac : parsed;
          compiled = message === undefined ? null : new RbacFilterConfig(rbacSchema.parse(message), scope);
          perRoute.set(raw, compiled);
        }
        return compiled;
      };
      return (callbacks) => new RbacFilter(callbacks, resolve);
    },
  }),
);
