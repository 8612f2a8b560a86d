// envoy.access_loggers.open_telemetry: each stream becomes an OTLP log record (body and
// attributes from format strings) with TraceId/SpanId of the stream's span, so logs join
// traces. The request thread only formats; records go to a log export thread running the
// SDK's BatchLogRecordProcessor (bounded, timer-flushed) and the OTLP/HTTP or OTLP/gRPC
// exporter. A full queue drops and counts, never waits.
import { z } from 'zod';
import { registries, type AccessLogger, type AccessLoggerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import type { StreamInfo } from '../../../core/stream-info.js';
import { streamSpanContext } from '../../../tracing/tracer.js';
import { collectorUrl, uriPath, type ClusterLookup } from '../../../telemetry/collector.js';
import { localIdentity } from '../../../telemetry/istio/peer-metadata.js';
import type { LogExporterSpec } from '../../../telemetry/otlp-logs/export-thread.js';
import { sharedLogPipeline, submitLog } from '../../../telemetry/otlp-logs/pipeline.js';
import {
  CompiledJson,
  DEFAULT_ACCESS_LOG_FORMAT,
  FormatError,
  TextFormatter,
} from '../../../telemetry/substitution-format.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig';

const anyValue = z.object({ string_value: z.string() }).strict();
const keyValueList = z
  .object({ values: z.array(z.object({ key: z.string().min(1), value: anyValue }).strict()) })
  .strict();
const headerValue = z.object({ header: z.object({ key: z.string().min(1), value: z.string() }).strict() }).strict();

const grpcService = z
  .object({
    envoy_grpc: z.object({ cluster_name: z.string().min(1) }).strict(),
    timeout: z.string().optional(),
  })
  .strict();

// Current Envoy names the log with `log_name` and picks the exporter with `grpc_service` or
// `http_service`; `common_config` (log_name + grpc_service) is the deprecated form, still read.
const configSchema = z
  .object({
    '@type': z.literal(TYPE_URL).optional(),
    log_name: z.string().optional(),
    grpc_service: grpcService.optional(),
    common_config: z
      .object({
        log_name: z.string().min(1),
        grpc_service: grpcService.optional(),
        transport_api_version: z.enum(['V3']).optional(),
        buffer_flush_interval: z.string().optional(),
        buffer_size_bytes: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    http_service: z
      .object({
        http_uri: z
          .object({ uri: z.string().min(1), cluster: z.string().min(1), timeout: z.string().optional() })
          .strict(),
        request_headers_to_add: z.array(headerValue).optional(),
      })
      .strict()
      .optional(),
    body: anyValue.optional(),
    attributes: keyValueList.optional(),
    resource_attributes: keyValueList.optional(),
    stat_prefix: z.string().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const check = (format: string, path: PropertyKey[]): void => {
      try {
        new TextFormatter(format);
      } catch (err) {
        if (err instanceof FormatError) ctx.addIssue({ code: 'custom', path, message: err.message });
        else throw err;
      }
    };
    if (c.body !== undefined) check(c.body.string_value, ['body', 'string_value']);
    c.attributes?.values.forEach((kv, i) =>
      check(kv.value.string_value, ['attributes', 'values', i, 'value', 'string_value']),
    );
    const exporters = [
      c.http_service && 'http_service',
      c.grpc_service && 'grpc_service',
      c.common_config?.grpc_service && 'common_config.grpc_service',
    ].filter((x) => typeof x === 'string');
    if (exporters.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['http_service'],
        message: 'one of http_service, grpc_service, common_config.grpc_service is required',
      });
    }
    if (c.grpc_service !== undefined && c.common_config?.grpc_service !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['grpc_service'],
        message: 'only one of grpc_service, common_config.grpc_service may be set',
      });
    }
  });

const MAX_QUEUE = 2048;

registries.accessLoggers.register(
  defineExtension({
    name: 'envoy.access_loggers.open_telemetry',
    typeUrls: [TYPE_URL],
    configSchema,
    create(config, context: AccessLoggerContext): AccessLogger {
      const clusters = (context as AccessLoggerContext & { clusterManager?: ClusterLookup }).clusterManager;
      const http = config.http_service;
      const grpc = config.grpc_service ?? config.common_config?.grpc_service;
      const logName = config.log_name || config.common_config?.log_name || '';
      const headers: Record<string, string> = {};
      for (const h of http?.request_headers_to_add ?? []) headers[h.header.key] = h.header.value;
      // OTLP/HTTP when http_service is set, else OTLP/gRPC to the grpc_service cluster.
      const exporter: LogExporterSpec =
        http !== undefined
          ? {
              kind: 'otlp-http',
              url: collectorUrl(
                clusters,
                http.http_uri.cluster,
                uriPath(http.http_uri.uri),
                'http_service.http_uri.cluster',
              ),
              headers,
            }
          : {
              kind: 'otlp-grpc',
              url: collectorUrl(
                clusters,
                grpc!.envoy_grpc.cluster_name,
                '',
                config.grpc_service !== undefined
                  ? 'grpc_service.envoy_grpc.cluster_name'
                  : 'common_config.grpc_service.envoy_grpc.cluster_name',
              ),
            };
      const suffix = config.stat_prefix ?? logName;
      const scope = context.stats.scope(
        suffix === '' ? 'access_logs.open_telemetry_access_log' : `access_logs.open_telemetry_access_log.${suffix}`,
      );
      const resourceAttributes: Record<string, string> = {
        'service.name': context.node.cluster || 'meshscope',
        'node.id': context.node.id,
      };
      // As on the proxy's spans: the workload's version, when its labels give one.
      const { version } = localIdentity(context.node);
      if (version !== 'unknown') resourceAttributes['service.version'] = version;
      for (const kv of config.resource_attributes?.values ?? []) resourceAttributes[kv.key] = kv.value.string_value;
      const pipeline = sharedLogPipeline(
        { exporter, resourceAttributes, logName, maxQueueSize: MAX_QUEUE },
        {
          sent: scope.counter('logs_written'),
          dropped: scope.counter('logs_dropped'),
          failed: scope.counter('logs_failed'),
        },
      );
      const body = new TextFormatter(config.body?.string_value ?? DEFAULT_ACCESS_LOG_FORMAT.trimEnd());
      const attrTemplate: Record<string, string> = {};
      for (const kv of config.attributes?.values ?? []) attrTemplate[kv.key] = kv.value.string_value;
      const attributes = new CompiledJson(attrTemplate);
      context.onShutdown(() => pipeline.shutdown());

      return {
        log(info: StreamInfo): void {
          const span = streamSpanContext(info.activeSpan);
          const attrs: Record<string, string | number> = {};
          const built = attributes.build(info);
          for (const k in built) {
            const v = built[k];
            if (typeof v === 'string' || typeof v === 'number') attrs[k] = v;
          }
          submitLog(pipeline, {
            timeMs: info.startTime,
            traceId: span?.traceId ?? '',
            spanId: span?.spanId ?? '',
            sampled: span?.sampled ?? false,
            body: body.format(info),
            attributes: attrs,
          });
        },
      };
    },
  }),
);
