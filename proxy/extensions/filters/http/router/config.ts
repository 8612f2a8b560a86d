// envoy.filters.http.router: config schema and factory; the router itself is core
// (core/router/router.ts), as in Envoy. The factory binds the worker's cluster manager once;
// each stream gets a fresh RouterFilter.
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import type { StreamFilterFactory } from '../../../../core/http/filter.js';
import { RouterFilter, type RouterConfig } from '../../../../core/router/router.js';

export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const routerSchema = z
  .object({
    '@type': z.literal(ROUTER_TYPE_URL).optional(),
    suppress_envoy_headers: z.boolean().optional(),
    // A CLIENT span per upstream request even where the tracer would not make one (Envoy's
    // older switch; HCM tracing's spawn_upstream_span is the newer, listener-wide one).
    start_child_span: z.boolean().optional(),
  })
  .strict();

registries.httpFilters.register(
  defineExtension({
    name: 'envoy.filters.http.router',
    typeUrls: [ROUTER_TYPE_URL],
    configSchema: routerSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      const scope = context.stats.scope(`http.${context.statPrefix}`);
      const shared: RouterConfig = {
        clusterManager: context.clusterManager,
        stats: {
          no_route: scope.counter('no_route'),
          no_cluster: scope.counter('no_cluster'),
          rq_direct_response: scope.counter('rq_direct_response'),
          rq_redirect: scope.counter('rq_redirect'),
        },
        runtime: context.runtime,
        suppressEnvoyHeaders: config.suppress_envoy_headers === true,
        startChildSpan: config.start_child_span === true,
      };
      return (callbacks) => ({ decoder: new RouterFilter(shared, callbacks) });
    },
  }),
);
