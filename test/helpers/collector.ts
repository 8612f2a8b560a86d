// A collector for the tests that send it spans through the real OpenTelemetry SDK: OTLP/HTTP and
// the query API on ephemeral ports, batches flushed after 20 ms so a test waits little, and the
// service graph on; plus an SDK tracer provider that exports each span to it as soon as it ends.
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type IdGenerator, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type Collector, startCollector } from '../../collector/index.js';

export function startTestCollector(dataDir: string): Promise<Collector> {
  return startCollector({
    otlpHttp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    dataDir,
    batchMaxDelayMs: 20,
    serviceGraph: { maxItems: 1000, ttlMs: 60_000 },
  });
}

/** An SDK provider whose spans carry `resource` and go to `collector` over OTLP/HTTP JSON, one by one. */
export function otlpTracerProvider(
  collector: Collector,
  resource: Record<string, string>,
  idGenerator?: IdGenerator,
): BasicTracerProvider {
  return new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${collector.otlpUrl}/v1/traces` }))],
    ...(idGenerator === undefined ? {} : { idGenerator }),
  });
}
