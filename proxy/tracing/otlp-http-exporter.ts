// OTLP/HTTP protobuf span export of requests the proxy has already encoded: the SDK's OTLP
// exporter (OTLPExporterBase over the SDK's network export delegate: timeout, concurrency
// limit, response handling, exporter metrics; configuration from the SDK's options and
// OTEL_EXPORTER_OTLP_* variables) with a serializer that passes the request bytes through, the
// SDK's retry policy, and the proxy's own HTTP/1.1 transport (telemetry/otlp-http-transport.ts).
// The request thread wrote the spans (otlp-span.ts, byte-identical to the SDK's protobuf
// serializer), so an export costs this thread one HTTP request and no per-span work.
import { createOtlpNetworkExportDelegate, OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExporterMetrics } from '@opentelemetry/otlp-exporter-base/node-http';
import { OtlpHttpTransport } from '../telemetry/otlp-http-transport.js';
import { RetryingTransport } from '../telemetry/retrying-transport.js';
import {
  ProtobufTraceSerializer,
  type IExportTraceServiceResponse,
  type IExporterMetricsHelper,
  type ISerializer,
} from '@opentelemetry/otlp-transformer';

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
    const options = convertLegacyHttpOptions(
      { url: config.url, headers: config.headers, timeoutMillis: config.timeoutMillis },
      'TRACES',
      'v1/traces',
      {
        'Content-Type': 'application/x-protobuf',
      },
    );
    const transport = new RetryingTransport(
      new OtlpHttpTransport({
        url: options.url,
        headers: options.headers,
        compression: options.compression,
        userAgent: options.userAgent,
      }),
    );
    super(
      createOtlpNetworkExportDelegate(
        options,
        passThrough,
        createOtlpHttpExporterMetrics(COMPONENT_TYPE, metricsHelper, options.url, undefined),
        transport,
      ),
    );
  }
}
