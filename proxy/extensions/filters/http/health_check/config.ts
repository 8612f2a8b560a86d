// envoy.filters.http.health_check: answers load-balancer health checks (requests matching
// `headers`, e.g. `:path` = /healthz) from the proxy itself, 200 while healthy and 503 with
// `x-envoy-immediate-health-check-fail` once the admin's /healthcheck/fail was called or the
// server is draining — so a load balancer takes this proxy out before it stops. In
// pass-through mode healthy checks go on to the upstream and only the failure is answered here.
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { registries, type HttpFilterContext } from '../../../../core/extension-points.js';
import { FilterDataStatus, FilterHeadersStatus, type StreamFilterFactory } from '../../../../core/http/filter.js';
import { HeaderMap } from '../../../../core/http/headers.js';
import { headerMatcherSchema } from '../../../../api/schema.js';
import { compileHeaderMatcher, headerMatches } from '../../../../core/router/route-table.js';

export const HEALTH_CHECK_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck';

const healthCheckSchema = z
  .object({
    '@type': z.literal(HEALTH_CHECK_TYPE_URL).optional(),
    pass_through_mode: z.union([z.boolean(), z.object({ value: z.boolean() }).strict()]),
    headers: z.array(headerMatcherSchema).min(1),
  })
  .strict();

registries.httpFilters.register(
  defineExtension({
    name: 'envoy.filters.http.health_check',
    typeUrls: [HEALTH_CHECK_TYPE_URL],
    configSchema: healthCheckSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      const passThrough =
        typeof config.pass_through_mode === 'boolean' ? config.pass_through_mode : config.pass_through_mode.value;
      const matchers = config.headers.map(compileHeaderMatcher);
      const state = context.serverState ?? { healthCheckFailed: false, draining: false };
      const scope = context.stats.scope(`http.${context.statPrefix}.health_check`);
      const requests = scope.counter('request_total');
      const failed = scope.counter('failed');
      return (cb) => ({
        decoder: {
          decodeHeaders(headers) {
            if (!matchers.every((m) => headerMatches(m, headers))) return FilterHeadersStatus.Continue;
            requests.inc();
            const unhealthy = state.healthCheckFailed || state.draining;
            if (!unhealthy && passThrough) return FilterHeadersStatus.Continue;
            const reply = new HeaderMap();
            reply.add(':status', unhealthy ? '503' : '200');
            reply.add('content-length', '0');
            if (unhealthy) {
              failed.inc();
              reply.add('x-envoy-immediate-health-check-fail', 'true');
            }
            cb.streamInfo.responseCodeDetails = unhealthy ? 'health_check_failed' : 'health_check_ok';
            cb.encodeHeaders(reply, true);
            return FilterHeadersStatus.StopIteration;
          },
          decodeData: () => FilterDataStatus.Continue,
          onDestroy() {},
        },
      });
    },
  }),
);
