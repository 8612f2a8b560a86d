// envoy.tracers.opentelemetry: spans exported over OTLP/HTTP (protobuf) to `http_service`'s
// cluster and path, or OTLP/gRPC to `grpc_service`'s cluster; `service_name` names the
// resource (else --service-cluster).
import { z } from 'zod';
import { registries, type Tracer, type TracerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import { collectorUrl, uriPath } from '../../../telemetry/collector.js';
import type { ExporterSpec } from '../../../tracing/exporter-spec.js';
import { buildMeshTracer, type TracerFactoryContext } from '../../../tracing/factory.js';

const TYPE_URL = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';
const duration = z.string().regex(/^\d+(\.\d+)?s$/, { message: "expected a duration like '0.250s'" });

const configSchema = z
  .object({
    '@type': z.literal(TYPE_URL).optional(),
    service_name: z.string().optional(),
    grpc_service: z
      .object({
        envoy_grpc: z.object({ cluster_name: z.string().min(1), authority: z.string().optional() }).strict(),
        timeout: duration.optional(),
      })
      .strict()
      .optional(),
    http_service: z
      .object({
        http_uri: z
          .object({ uri: z.string().min(1), cluster: z.string().min(1), timeout: duration.optional() })
          .strict(),
        request_headers_to_add: z
          .array(
            z
              .object({
                header: z.object({ key: z.string().min(1), value: z.string() }).strict(),
                append: z.boolean().optional(),
              })
              .strict(),
          )
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.grpc_service === undefined) === (c.http_service === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'exactly one of grpc_service, http_service is required' });
    }
  });

function timeoutMs(d: string | undefined): number {
  return d === undefined ? 10_000 : Math.max(1, Math.round(Number(d.slice(0, -1)) * 1000));
}

registries.tracers.register(
  defineExtension({
    name: 'envoy.tracers.opentelemetry',
    typeUrls: [TYPE_URL],
    configSchema,
    create(config, context: TracerContext): Tracer {
      const ctx = context as TracerFactoryContext;
      let exporter: ExporterSpec;
      if (config.http_service !== undefined) {
        const h = config.http_service;
        const headers: Record<string, string> = {};
        for (const a of h.request_headers_to_add ?? []) headers[a.header.key] = a.header.value;
        exporter = {
          kind: 'otlp-proto',
          url: collectorUrl(
            ctx.clusterManager,
            h.http_uri.cluster,
            uriPath(h.http_uri.uri),
            'http_service.http_uri.cluster',
          ),
          headers,
          timeoutMillis: timeoutMs(h.http_uri.timeout),
        };
      } else {
        const g = config.grpc_service!;
        exporter = {
          kind: 'otlp-grpc',
          url: collectorUrl(ctx.clusterManager, g.envoy_grpc.cluster_name, '', 'grpc_service.envoy_grpc.cluster_name'),
          timeoutMillis: timeoutMs(g.timeout),
        };
      }
      return buildMeshTracer(ctx, 'opentelemetry', config.service_name, exporter);
    },
  }),
);
