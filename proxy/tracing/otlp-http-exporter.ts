// OTLP/HTTP protobuf span export of requests the proxy has already encoded: the SDK's OTLP
// exporter (OTLPExporterBase over the SDK's HTTP export delegate: transport, retries, timeout,
// concurrency limit, headers, response handling — what @opentelemetry/exporter-trace-otlp-proto's
// OTLPTraceExporter is built from) with a serializer that passes the request bytes through.
// The request thread wrote the spans (otlp-span.ts, byte-identical to the SDK's protobuf
// serializer), so an export costs this thread one HTTP request and no per-span work.
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer, type IExportTraceServiceResponse, type IExporterMetricsHelper, type ISerializer } from '@opentelemetry/otlp-transformer';

/** An encoded ExportTraceServiceRequest and how many spans it carries. */
export interface EncodedSpans {
  readonly request: Uint8Array;
  readonly count: number;
}

/** The SDK's component type for its OTLP/HTTP span exporters (self-observability metrics). */
const COMPONENT_TYPE = 'otlp_http_span_exporter';

const passThrough: ISerializer<EncodedSpans, IExportTraceServiceResponse> = {
  serializeRequest: (spans) => spans.request,
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};

const metricsHelper: IExporterMetricsHelper<EncodedSpans> = { name: 'span', countItems: (spans) => spans.count };

export interface OtlpHttpSpanExporterConfig {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly timeoutMillis: number;
}

export class OtlpHttpSpanExporter extends OTLPExporterBase<EncodedSpans> {
  constructor(config: OtlpHttpSpanExporterConfig) {
    super(
      createOtlpHttpExportDelegate(
        convertLegacyHttpOptions({ url: config.url, headers: config.headers, timeoutMillis: config.timeoutMillis }, 'TRACES', 'v1/traces', {
          'Content-Type': 'application/x-protobuf',
        }),
        passThrough,
        COMPONENT_TYPE,
        metricsHelper,
        undefined,
      ),
    );
  }
}
