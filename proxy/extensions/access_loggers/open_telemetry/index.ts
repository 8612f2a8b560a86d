// envoy.access_loggers.open_telemetry: each stream becomes an OTLP log record (body and
// attributes from format strings) with TraceId/SpanId of the stream's span, so logs join
// traces. Records go through the SDK's BatchLogRecordProcessor (bounded, timer-flushed) to
// the collector over OTLP/HTTP; a full queue drops and counts, never waits.
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber, type LogAttributes } from '@opentelemetry/api-logs';
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as OTLPGrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { z } from 'zod';
import { registries, type AccessLogger, type AccessLoggerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import type { StreamInfo } from '../../../core/stream-info.js';
import type { Counter } from '../../../stats/types.js';
import { streamSpanContext } from '../../../tracing/tracer.js';
import { collectorUrl, uriPath, type ClusterLookup } from '../../../telemetry/collector.js';
import { CompiledJson, DEFAULT_ACCESS_LOG_FORMAT, FormatError, TextFormatter } from '../../../telemetry/substitution-format.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig';

const anyValue = z.object({ string_value: z.string() }).strict();
const keyValueList = z.object({ values: z.array(z.object({ key: z.string().min(1), value: anyValue }).strict()) }).strict();
const headerValue = z.object({ header: z.object({ key: z.string().min(1), value: z.string() }).strict() }).strict();

const configSchema = z
  .object({
    '@type': z.literal(TYPE_URL).optional(),
    common_config: z
      .object({
        log_name: z.string().min(1),
        grpc_service: z
          .object({ envoy_grpc: z.object({ cluster_name: z.string().min(1) }).strict(), timeout: z.string().optional() })
          .strict()
          .optional(),
        transport_api_version: z.enum(['V3']).optional(),
        buffer_flush_interval: z.string().optional(),
        buffer_size_bytes: z.number().int().positive().optional(),
      })
      .strict(),
    http_service: z
      .object({
        http_uri: z.object({ uri: z.string().min(1), cluster: z.string().min(1), timeout: z.string().optional() }).strict(),
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
    c.attributes?.values.forEach((kv, i) => check(kv.value.string_value, ['attributes', 'values', i, 'value', 'string_value']));
    if (c.http_service === undefined && c.common_config.grpc_service === undefined) {
      ctx.addIssue({ code: 'custom', path: ['http_service'], message: 'one of http_service, common_config.grpc_service is required' });
    }
  });

/** Keeps an admission count in step with the processor's queue, and counts outcomes. */
class CountingLogExporter implements LogRecordExporter {
  readonly #inner: LogRecordExporter;
  readonly #sent: Counter;
  readonly #failed: Counter;
  readonly #onHandedOff: (n: number) => void;

  constructor(inner: LogRecordExporter, sent: Counter, failed: Counter, onHandedOff: (n: number) => void) {
    this.#inner = inner;
    this.#sent = sent;
    this.#failed = failed;
    this.#onHandedOff = onHandedOff;
  }

  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    this.#onHandedOff(logs.length);
    this.#inner.export(logs, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.#sent.add(logs.length);
      else this.#failed.add(logs.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

const MAX_QUEUE = 2048;

registries.accessLoggers.register(
  defineExtension({
    name: 'envoy.access_loggers.open_telemetry',
    typeUrls: [TYPE_URL],
    configSchema,
    create(config, context: AccessLoggerContext): AccessLogger {
      const clusters = (context as AccessLoggerContext & { clusterManager?: ClusterLookup }).clusterManager;
      const http = config.http_service;
      const headers: Record<string, string> = {};
      for (const h of http?.request_headers_to_add ?? []) headers[h.header.key] = h.header.value;
      // OTLP/HTTP when http_service is set, else OTLP/gRPC to the grpc_service cluster.
      const otlp =
        http !== undefined
          ? new OTLPLogExporter({ url: collectorUrl(clusters, http.http_uri.cluster, uriPath(http.http_uri.uri), 'http_service.http_uri.cluster'), headers })
          : new OTLPGrpcLogExporter({
              url: collectorUrl(clusters, config.common_config.grpc_service!.envoy_grpc.cluster_name, '', 'common_config.grpc_service.envoy_grpc.cluster_name'),
            });
      const scope = context.stats.scope(`access_logs.open_telemetry_access_log.${config.stat_prefix ?? config.common_config.log_name}`);
      const sent = scope.counter('logs_written');
      const dropped = scope.counter('logs_dropped');
      const failed = scope.counter('logs_failed');
      let queued = 0;
      const exporter = new CountingLogExporter(otlp, sent, failed, (n) => {
        queued = Math.max(0, queued - n);
      });
      const resourceAttrs: Record<string, string> = { 'service.name': context.node.cluster || 'meshscope', 'node.id': context.node.id };
      for (const kv of config.resource_attributes?.values ?? []) resourceAttrs[kv.key] = kv.value.string_value;
      const provider = new LoggerProvider({
        resource: resourceFromAttributes(resourceAttrs),
        processors: [new BatchLogRecordProcessor({ exporter, maxQueueSize: MAX_QUEUE })],
      });
      const logger = provider.getLogger(config.common_config.log_name);
      const body = new TextFormatter(config.body?.string_value ?? DEFAULT_ACCESS_LOG_FORMAT.trimEnd());
      const attrTemplate: Record<string, string> = {};
      for (const kv of config.attributes?.values ?? []) attrTemplate[kv.key] = kv.value.string_value;
      const attributes = new CompiledJson(attrTemplate);
      context.onShutdown(() => provider.shutdown().catch(() => undefined));

      return {
        log(info: StreamInfo): void {
          if (queued >= MAX_QUEUE) {
            dropped.inc();
            return;
          }
          queued++;
          const span = streamSpanContext(info.activeSpan);
          const ctx =
            span === null
              ? ROOT_CONTEXT
              : trace.setSpanContext(ROOT_CONTEXT, { traceId: span.traceId, spanId: span.spanId, traceFlags: span.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE });
          const attrs: LogAttributes = {};
          for (const [k, v] of Object.entries(attributes.build(info))) if (v !== null && v !== undefined) attrs[k] = v as string | number;
          logger.emit({
            timestamp: info.startTime,
            severityNumber: SeverityNumber.INFO,
            severityText: 'INFO',
            body: body.format(info),
            attributes: attrs,
            context: ctx,
          });
        },
      };
    },
  }),
);
