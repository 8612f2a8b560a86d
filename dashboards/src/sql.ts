// SQL fragments shared by the boards. Tables follow the OpenTelemetry Collector ClickHouse
// exporter schema plus the collector's per-minute service-graph table.

export const TRACES = 'otel_traces';
const TRACE_ID_TS = 'otel_traces_trace_id_ts';
export const LOGS = 'otel_logs';
export const SERVICE_GRAPH = 'otel_service_graph_1m';

// The exporter has stored span kinds and status codes both as the proto enum names
// (SPAN_KIND_SERVER, STATUS_CODE_ERROR) and as pdata's short names (Server, Error) across
// versions; matching both keeps the boards working on tables written by either.
export const IS_SERVER_SPAN = `SpanKind IN ('Server', 'SPAN_KIND_SERVER')`;
export const IS_ERROR_SPAN = `StatusCode IN ('Error', 'STATUS_CODE_ERROR')`;

/** `$service` filter: the plugin turns it into 1=1 when the variable is All. */
export function serviceFilter(column: string): string {
  return `$__conditionalAll(${column} IN (\${service:singlequote}), $service)`;
}

/** Seconds in the dashboard's time range, never zero, for per-second rates. */
export const RANGE_SECONDS = `greatest(1, dateDiff('second', $__fromTime, $__toTime))`;

/**
 * One trace in the shape Grafana's trace view reads (traceID, spanID, parentSpanID, serviceName,
 * operationName, startTime and duration in ms, tags/serviceTags as key/value maps), bounded by
 * the trace-id lookup table so a trace is found without scanning the spans table.
 */
export function traceViewSql(traceIdExpression: string): string {
  return `
    WITH lower('${traceIdExpression}') AS trace_id,
      (SELECT min(Start) FROM ${TRACE_ID_TS} WHERE TraceId = trace_id) AS trace_start,
      (SELECT max(End) + 1 FROM ${TRACE_ID_TS} WHERE TraceId = trace_id) AS trace_end
    SELECT
      TraceId AS traceID,
      SpanId AS spanID,
      ParentSpanId AS parentSpanID,
      ServiceName AS serviceName,
      SpanName AS operationName,
      toUnixTimestamp64Milli(Timestamp) AS startTime,
      Duration / 1e6 AS duration,
      lower(replaceOne(SpanKind, 'SPAN_KIND_', '')) AS kind,
      multiIf(${IS_ERROR_SPAN}, 2, StatusCode IN ('Ok', 'STATUS_CODE_OK'), 1, 0) AS statusCode,
      StatusMessage AS statusMessage,
      arrayMap(k -> map('key', k, 'value', SpanAttributes[k]), mapKeys(SpanAttributes)) AS tags,
      arrayMap(k -> map('key', k, 'value', ResourceAttributes[k]), mapKeys(ResourceAttributes)) AS serviceTags
    FROM ${TRACES}
    WHERE TraceId = trace_id AND Timestamp >= trace_start AND Timestamp <= trace_end
    ORDER BY Timestamp
    LIMIT 1000`;
}
