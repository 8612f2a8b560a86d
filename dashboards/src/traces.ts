// "Traces and logs": trace search, slowest traces, one trace in the trace view, and the
// proxies' access logs joined to the spans they belong to.
import { LogsDedupStrategy, LogsSortOrder } from '@grafana/grafana-foundation-sdk/common';
import { DashboardBuilder, PanelBuilder as GenericPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as LogsPanel } from '@grafana/grafana-foundation-sdk/logs';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { ClickHouseQueryBuilder } from './clickhouse.js';
import { traceLinkOverride, unitOverride } from './panels.js';
import { IS_ERROR_SPAN, LOGS, serviceFilter, traceViewSql, TRACES } from './sql.js';
import { minDurationVariable, serviceVariable, traceIdVariable } from './variables.js';

export const TRACES_UID = 'meshscope-traces';

// A trace is listed by its first span, the request as the first hop saw it (a trace's root may
// be in a client that does not export, such as the load generator), when any of its spans
// belongs to a selected service.
const TRACE_SEARCH_SQL = `
  SELECT
    min(Timestamp) AS time,
    TraceId,
    argMin(ServiceName, Timestamp) AS service,
    argMin(SpanName, Timestamp) AS operation,
    argMin(Duration, Timestamp) / 1e6 AS duration_ms,
    argMin(SpanAttributes['http.response.status_code'], Timestamp) AS status,
    countIf(${IS_ERROR_SPAN}) > 0 AS error
  FROM ${TRACES}
  WHERE $__timeFilter(Timestamp)
    AND TraceId IN (SELECT TraceId FROM ${TRACES} WHERE $__timeFilter(Timestamp) AND ${serviceFilter('ServiceName')})
  GROUP BY TraceId
  HAVING duration_ms >= toFloat64OrZero('$min_duration_ms')
  ORDER BY time DESC
  LIMIT 100`;

// Whole-trace figures: span count, services touched, end-to-end duration from first start to last end.
const SLOWEST_TRACES_SQL = `
  SELECT
    TraceId,
    min(Timestamp) AS start,
    (max(toUnixTimestamp64Nano(Timestamp) + Duration) - min(toUnixTimestamp64Nano(Timestamp))) / 1e6 AS duration_ms,
    count() AS spans,
    uniqExact(ServiceName) AS services,
    countIf(${IS_ERROR_SPAN}) AS error_spans,
    argMin(SpanName, Timestamp) AS first_operation
  FROM ${TRACES}
  WHERE $__timeFilter(Timestamp) AND ${serviceFilter('ServiceName')}
  GROUP BY TraceId
  ORDER BY duration_ms DESC
  LIMIT 20`;

// Access-log records carry the trace and span id of the proxy span that served them.
// Both access-log panels read them joined to that span, newest first, for the selected services.
const LOGS_JOINED_TO_SPANS = `FROM ${LOGS} AS l
  LEFT JOIN (
    SELECT TraceId, SpanId, SpanName, Duration
    FROM ${TRACES}
    WHERE $__timeFilter(Timestamp)
  ) AS s ON s.TraceId = l.TraceId AND s.SpanId = l.SpanId
  WHERE $__timeFilter(l.Timestamp) AND ${serviceFilter('l.ServiceName')}
  ORDER BY l.Timestamp DESC`;

const ACCESS_LOGS_SQL = `
  SELECT
    l.Timestamp AS timestamp,
    l.Body AS body,
    lower(l.SeverityText) AS level,
    l.ServiceName AS service,
    l.TraceId AS traceID,
    s.SpanName AS operation,
    s.Duration / 1e6 AS span_duration_ms
  ${LOGS_JOINED_TO_SPANS}
  LIMIT 500`;

const ACCESS_LOG_TABLE_SQL = `
  SELECT
    l.Timestamp AS time,
    l.ServiceName AS service,
    l.TraceId AS TraceId,
    l.LogAttributes['response_code'] AS response_code,
    l.LogAttributes['response_flags'] AS response_flags,
    s.SpanName AS operation,
    s.Duration / 1e6 AS span_duration_ms,
    l.Body AS line
  ${LOGS_JOINED_TO_SPANS}
  LIMIT 200`;

const TRACE_VIEW_SQL = traceViewSql('${trace_id}');

export function tracesDashboard(): Dashboard {
  return new DashboardBuilder('Traces and logs')
    .uid(TRACES_UID)
    .tags(['meshscope', 'traces', 'logs'])
    .description('Find traces, open them, and read the access logs of the requests they cover.')
    .time({ from: 'now-15m', to: 'now' })
    .refresh('30s')
    .withVariable(serviceVariable())
    .withVariable(minDurationVariable())
    .withVariable(traceIdVariable())
    .withPanel(
      new TablePanel()
        .title('Trace search')
        .description('Traces through the selected services, by their first span; click a trace id to open it.')
        .gridPos({ x: 0, y: 0, w: 14, h: 10 })
        .withTarget(new ClickHouseQueryBuilder('A', 'table', TRACE_SEARCH_SQL))
        .overrides([traceLinkOverride('TraceId'), unitOverride('duration_ms', 'ms', 'duration')]),
    )
    .withPanel(
      new TablePanel()
        .title('Slowest traces')
        .gridPos({ x: 14, y: 0, w: 10, h: 10 })
        .withTarget(new ClickHouseQueryBuilder('A', 'table', SLOWEST_TRACES_SQL))
        .overrides([traceLinkOverride('TraceId'), unitOverride('duration_ms', 'ms', 'duration')]),
    )
    .withPanel(
      new GenericPanel()
        .type('traces')
        .title('Trace ${trace_id}')
        .description('Set the trace id variable, or follow a trace id link.')
        .gridPos({ x: 0, y: 10, w: 24, h: 12 })
        .withTarget(new ClickHouseQueryBuilder('A', 'traces', TRACE_VIEW_SQL)),
    )
    .withPanel(
      new LogsPanel()
        .title('Access logs')
        .gridPos({ x: 0, y: 22, w: 24, h: 10 })
        .showTime(true)
        .wrapLogMessage(true)
        .enableLogDetails(true)
        .sortOrder(LogsSortOrder.Descending)
        .dedupStrategy(LogsDedupStrategy.None)
        .withTarget(new ClickHouseQueryBuilder('A', 'logs', ACCESS_LOGS_SQL)),
    )
    .withPanel(
      new TablePanel()
        .title('Access logs with their spans')
        .gridPos({ x: 0, y: 32, w: 24, h: 10 })
        .withTarget(new ClickHouseQueryBuilder('A', 'table', ACCESS_LOG_TABLE_SQL))
        .overrides([traceLinkOverride('TraceId'), unitOverride('span_duration_ms', 'ms', 'span duration')]),
    )
    .build();
}
