// How to build a tracer's exporter, as data: the extension factories resolve clusters and
// options at config time, and the export thread builds the exporter from this description.
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { BatchExportOptions } from './batch-export.js';

export type ExporterSpec =
  | { readonly kind: 'otlp-proto'; readonly url: string; readonly headers: Record<string, string>; readonly timeoutMillis: number }
  | { readonly kind: 'otlp-grpc'; readonly url: string; readonly timeoutMillis: number }
  | { readonly kind: 'zipkin'; readonly url: string; readonly serviceName: string };

export async function createExporter(spec: ExporterSpec): Promise<SpanExporter> {
  switch (spec.kind) {
    case 'otlp-proto': {
      const { OtlpHttpSpanExporter } = await import('./otlp-http-exporter.js');
      return new OtlpHttpSpanExporter({ url: spec.url, headers: spec.headers, timeoutMillis: spec.timeoutMillis });
    }
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
 * Defaults: OTEL_BSP_* when set, else the OpenTelemetry defaults, a 2048-span queue and batches
 * of 512. Serialization runs on the export thread, so a long batch pauses no request; fewer,
 * larger batches cut the per-export HTTP cost that competes with the request thread for CPU.
 */
export function batchExportOptions(): BatchExportOptions {
  const maxQueueSize = envInt('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  return { maxQueueSize, maxExportBatchSize: Math.min(envInt('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512, maxQueueSize) };
}
