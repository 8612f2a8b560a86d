// envoy.filters.http.grpc_web: factory (envoy.extensions.filters.http.grpc_web.v3.GrpcWeb has no
// fields); the translation itself is in filter.ts.
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { registries } from '../../../../core/extension-points.js';
import type { StreamFilterFactory } from '../../../../core/http/filter.js';
import { GrpcWebFilter } from './filter.js';

const GRPC_WEB_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb';

registries.httpFilters.register(
  defineExtension({
    name: 'envoy.filters.http.grpc_web',
    typeUrls: [GRPC_WEB_TYPE_URL],
    configSchema: z.strictObject({ '@type': z.literal(GRPC_WEB_TYPE_URL).optional() }),
    create(): StreamFilterFactory {
      return (cb) => new GrpcWebFilter(cb);
    },
  }),
);
