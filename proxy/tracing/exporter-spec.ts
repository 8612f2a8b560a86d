// How to build a tracer's exporter, as data: the extension factories resolve clusters and
// options at config time, and the export thread builds the exporter from this description.
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { BatchExportOptions } from './batch-export.js';

export type ExporterSpec =
  | {
      readonly kind: 'otlp-proto';
      readonly url: string;
      readonly headers: Record<string, string>;
      readonly timeoutMillis: number;
    }
  | { readonly kind: 'otlp-grpc'; readonly url: string; readonly timeoutMillis: number }
  | { readonly kind: 'zipkin'; readonly url: string; readonly serviceName: string };

/** The SDK exporter for specs that take span objects; OTLP/HTTP sends encoded requests (otlp-http-exporter.ts). */
export async function createSpanObjectExporter(
  spec: Exclude<ExporterSpec, { kind: 'otlp-proto' }>,
): Promise<SpanExporter> {
  switch (spec.kind) {
    case 'otlp-grpc': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
      return new OTLPTraceExporter({ url: spec.url, timeoutMillis: spec.timeoutMillis });
    }
    case 'zipkin': {
      const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin');
      return new ZipkinExporter({ url: spec.url, serviceName: spec.serviceName });
    }
  }
}

function envInt(name: string): number | undefined {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : undefined;
}

/**
 * The batch processor's settings, OTEL_BSP_* when set, else the OpenTelemetry defaults: a
 * 2048-span queue, batches of 512, exported when full or 5 s after their first span. The
 * request thread batches by them (span-pipeline.ts); an export is one batch.
 */
export function batchExportOptions(): Required<BatchExportOptions> {
  const maxQueueSize = envInt('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  return {
    maxQueueSize,
    maxExportBatchSize: Math.min(envInt('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512, maxQueueSize),
    scheduledDelayMillis: envInt('OTEL_BSP_SCHEDULE_DELAY') ?? 5000,
  };
}
