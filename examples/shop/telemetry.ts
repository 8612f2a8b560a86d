// The shop's OpenTelemetry SDK: HTTP auto-instrumentation (server and client spans, W3C trace
// context propagated on every call) exporting OTLP/HTTP to the collector in batches.
import { createRequire } from 'node:module';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface ShopTelemetry {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

export function startTelemetry(o: { service: string; version: string; instance: string; otlpEndpoint: string }): ShopTelemetry {
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': o.service, 'service.version': o.version, 'service.instance.id': o.instance }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${o.otlpEndpoint}/v1/traces` }), { maxQueueSize: 4096, scheduledDelayMillis: 500 })],
    instrumentations: [new HttpInstrumentation()],
    // Only traces: the proxies own the mesh's metrics and access logs.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  // The instrumentation patches `http` when it is required; ESM imports of node builtins do not
  // go through require, so load it once here before the service module uses it.
  createRequire(import.meta.url)('node:http');
  return { tracer: trace.getTracer('meshscope-shop', '0.1.0'), shutdown: () => sdk.shutdown() };
}
