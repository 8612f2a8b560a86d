// The shop's OpenTelemetry SDK: HTTP auto-instrumentation of the server side, exporting
// OTLP/HTTP to the collector in batches. Outgoing calls go to the local sidecar, and the
// sidecar's outbound CLIENT span is the hop the service graph pairs with the peer's SERVER
// span; an app CLIENT span to its own sidecar would never pair and would surface as a virtual
// node named 127.0.0.1. So outgoing requests are not spanned here and the service injects
// the trace context itself (service.ts), as Istio asks of applications.
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

export function startTelemetry(o: {
  service: string;
  version: string;
  instance: string;
  otlpEndpoint: string;
}): ShopTelemetry {
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      'service.name': o.service,
      'service.version': o.version,
      'service.instance.id': o.instance,
    }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${o.otlpEndpoint}/v1/traces` }), {
        maxQueueSize: 4096,
        scheduledDelayMillis: 500,
      }),
    ],
    instrumentations: [new HttpInstrumentation({ ignoreOutgoingRequestHook: () => true })],
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
