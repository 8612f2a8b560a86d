// envoy.tracers.zipkin: spans exported as Zipkin v2 JSON to `collector_cluster` +
// `collector_endpoint`; B3 propagation (plus W3C, as the connection manager enables).
import { z } from 'zod';
import { registries, type Tracer, type TracerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import { collectorUrl } from '../../../telemetry/collector.js';
import { buildMeshTracer, type TracerFactoryContext } from '../../../tracing/factory.js';

const TYPE_URL = 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig';

const configSchema = z
  .object({
    '@type': z.literal(TYPE_URL).optional(),
    collector_cluster: z.string().min(1),
    collector_endpoint: z.string().min(1),
    collector_endpoint_version: z.enum(['HTTP_JSON']).optional(),
    collector_hostname: z.string().optional(),
    trace_id_128bit: z.boolean().optional(),
    shared_span_context: z.boolean().optional(),
    split_spans_for_request: z.boolean().optional(),
  })
  .strict();

registries.tracers.register(
  defineExtension({
    name: 'envoy.tracers.zipkin',
    typeUrls: [TYPE_URL],
    configSchema,
    create(config, context: TracerContext): Tracer {
      const ctx = context as TracerFactoryContext;
      const serviceName = ctx.node.cluster || 'meshscope';
      const url = collectorUrl(
        ctx.clusterManager,
        config.collector_cluster,
        config.collector_endpoint,
        'collector_cluster',
      );
      return buildMeshTracer(ctx, 'zipkin', serviceName, { kind: 'zipkin', url, serviceName });
    },
  }),
);
