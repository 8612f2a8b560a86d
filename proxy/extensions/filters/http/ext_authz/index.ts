// envoy.filters.http.ext_authz: factory. One client (HTTP or gRPC) and one set of counters per
// HCM (`http.<stat_prefix>.ext_authz.[<filter stat_prefix>.]`); a route's ExtAuthzPerRoute
// disables the check there or adds its check_settings, compiled on first use.
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import type { StreamFilterCallbacks, StreamFilterFactory } from '../../../../core/http/filter.js';
import {
  EXT_AUTHZ_FILTER_NAME,
  EXT_AUTHZ_PER_ROUTE_TYPE_URL,
  EXT_AUTHZ_TYPE_URL,
  extAuthzFilterConfigSchema,
  extAuthzPerRouteSchema,
  extAuthzSchema,
} from './config.js';
import { ExtAuthzFilter, ExtAuthzStats, type RouteSettings, sharedConfig } from './filter.js';
import { GrpcAuthzClient } from './grpc-client.js';
import { HttpAuthzClient } from './http-client.js';

registries.httpFilters.register(
  defineExtension({
    name: EXT_AUTHZ_FILTER_NAME,
    typeUrls: [EXT_AUTHZ_TYPE_URL, EXT_AUTHZ_PER_ROUTE_TYPE_URL],
    configSchema: extAuthzFilterConfigSchema,
    create(raw, context: HttpFilterContext): StreamFilterFactory {
      if (raw['@type'] === EXT_AUTHZ_PER_ROUTE_TYPE_URL)
        throw new Error(`${EXT_AUTHZ_FILTER_NAME}: ExtAuthzPerRoute belongs in a route's typed_per_filter_config`);
      const config = extAuthzSchema.parse(raw);
      const base = `http.${context.statPrefix}.ext_authz`;
      const stats = new ExtAuthzStats(
        context.stats.scope(config.stat_prefix === '' ? base : `${base}.${config.stat_prefix}`),
      );
      const client =
        config.grpc_service !== undefined
          ? new GrpcAuthzClient(config, context.clusterManager)
          : new HttpAuthzClient(config, context.clusterManager);
      const shared = sharedConfig(config, client, stats);
      const listenerSettings: RouteSettings = {
        disabled: false,
        contextExtensions: {},
        withRequestBody: config.with_request_body,
      };
      const perRoute = new WeakMap<object, RouteSettings>();
      const route = (cb: StreamFilterCallbacks): RouteSettings => {
        const rawRoute = cb.route()?.perFilterConfig.get(EXT_AUTHZ_FILTER_NAME);
        if (rawRoute === undefined) return listenerSettings;
        let compiled = perRoute.get(rawRoute);
        if (compiled === undefined) {
          const parsed = extAuthzPerRouteSchema.parse(rawRoute);
          const check = parsed.check_settings;
          compiled =
            parsed.disabled === true || check === undefined
              ? { disabled: true }
              : {
                  disabled: false,
                  contextExtensions: check.context_extensions ?? {},
                  withRequestBody: check.disable_request_body_buffering
                    ? undefined
                    : (check.with_request_body ?? config.with_request_body),
                };
          perRoute.set(rawRoute, compiled);
        }
        return compiled;
      };
      return (callbacks) => new ExtAuthzFilter(callbacks, shared, route);
    },
  }),
);
