// OTLP/HTTP protobuf span export: the SDK's OTLP exporter (OTLPExporterBase over the SDK's
// HTTP export delegate: transport, retries, timeout, concurrency limit, headers, response
// handling — what @opentelemetry/exporter-trace-otlp-proto's OTLPTraceExporter is built from)
// with a serializer that encodes the export thread's spans straight from their transport
// records (otlp-encoder.ts, byte-identical to the SDK's protobuf serializer). Spans of any
// other kind go through the SDK's serializer.
import type { Attributes } from '@opentelemetry/api';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer, TraceExporterMetricsHelper, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { FinishedSpan, SCOPE } from './finished-span.js';
import { isPlainAttributes, OtlpTraceEncoder } from './otlp-encoder.js';

/** The SDK's component type for its OTLP/HTTP span exporters (self-observability metrics). */
const COMPONENT_TYPE = 'otlp_http_span_exporter';

class RecordSerializer implements ISerializer<ReadableSpan[], IExportTraceServiceResponse> {
  #resource: Resource | null = null;
  #encoder: OtlpTraceEncoder | null = null;

  serializeRequest(spans: ReadableSpan[]): Uint8Array | undefined {
    const encoder = this.#encoderFor(spans);
    return encoder === null ? ProtobufTraceSerializer.serializeRequest(spans) : encoder.encode(spans as FinishedSpan[]);
  }

  deserializeResponse(data: Uint8Array): IExportTraceServiceResponse {
    return ProtobufTraceSerializer.deserializeResponse(data);
  }

  /** The encoder when every span is a FinishedSpan of one resource with plain attributes. */
  #encoderFor(spans: ReadableSpan[]): OtlpTraceEncoder | null {
    if (spans.length === 0) return null;
    const resource = spans[0]!.resource;
    for (const s of spans) if (!(s instanceof FinishedSpan) || s.resource !== resource) return null;
    if (resource !== this.#resource) {
      const attributes: Attributes = resource.attributes;
      this.#resource = resource;
      this.#encoder = isPlainAttributes(attributes) && resource.schemaUrl === undefined ? new OtlpTraceEncoder(attributes, SCOPE) : null;
    }
    return this.#encoder;
  }
}

export interface OtlpHttpSpanExporterConfig {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly timeoutMillis: number;
}

export class OtlpHttpSpanExporter extends OTLPExporterBase<ReadableSpan[]> implements SpanExporter {
  constructor(config: OtlpHttpSpanExporterConfig) {
    super(
      createOtlpHttpExportDelegate(
        convertLegacyHttpOptions({ url: config.url, headers: config.headers, timeoutMillis: config.timeoutMillis }, 'TRACES', 'v1/traces', {
          'Content-Type': 'application/x-protobuf',
        }),
        new RecordSerializer(),
        COMPONENT_TYPE,
        TraceExporterMetricsHelper,
        undefined,
      ),
    );
  }
}
