// "Service latency": p50/p95/p99 per service (server spans) and per edge (service graph),
// a latency heatmap, RED panels from the proxies' Istio metrics, and links to traces.
import {
  GraphDrawStyle,
  HeatmapCalculationMode,
  LegendDisplayMode,
  LegendPlacement,
  ScaleDistribution,
} from '@grafana/grafana-foundation-sdk/common';
import {
  HeatmapCalculationBucketConfigBuilder,
  HeatmapCalculationOptionsBuilder,
  ScaleDistributionConfigBuilder,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  RowBuilder,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as HeatmapPanel } from '@grafana/grafana-foundation-sdk/heatmap';
import { DataqueryBuilder as PromQuery } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { ClickHouseQueryBuilder } from './clickhouse.js';
import { prometheus } from './datasources.js';
import { traceLinkOverride, unitOverride } from './panels.js';
import { IS_ERROR_SPAN, IS_SERVER_SPAN, SERVICE_GRAPH, serviceFilter, TRACES } from './sql.js';
import { TRACES_UID } from './traces.js';
import { serviceVariable } from './variables.js';

const LATENCY_UID = 'meshscope-latency';

const SERVICE_QUANTILES_SQL = `
  SELECT
    $__timeInterval(Timestamp) AS time,
    ServiceName,
    quantile(0.5)(Duration) / 1e6 AS p50,
    quantile(0.95)(Duration) / 1e6 AS p95,
    quantile(0.99)(Duration) / 1e6 AS p99
  FROM ${TRACES}
  WHERE $__timeFilter(Timestamp) AND ${IS_SERVER_SPAN} AND ${serviceFilter('ServiceName')}
  GROUP BY time, ServiceName
  ORDER BY time`;

const EDGE_QUANTILES_SQL = `
  SELECT
    Timestamp AS time,
    concat(Client, ' → ', Server) AS edge,
    quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs)[1] AS p50,
    quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs)[2] AS p95,
    quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs)[3] AS p99
  FROM ${SERVICE_GRAPH}
  WHERE $__timeFilter(Timestamp) AND ${serviceFilter('Server')}
  GROUP BY time, edge
  ORDER BY time`;

// Raw server-span durations; the heatmap panel buckets them (log scale) itself.
const HEATMAP_SQL = `
  SELECT Timestamp AS time, Duration / 1e6 AS duration_ms
  FROM ${TRACES}
  WHERE $__timeFilter(Timestamp) AND ${IS_SERVER_SPAN} AND ${serviceFilter('ServiceName')}
  ORDER BY time
  LIMIT 20000`;

const SLOWEST_SQL = `
  SELECT
    Timestamp AS time,
    TraceId,
    ServiceName AS service,
    SpanName AS operation,
    Duration / 1e6 AS duration_ms,
    SpanAttributes['http.response.status_code'] AS status,
    ${IS_ERROR_SPAN} AS error
  FROM ${TRACES}
  WHERE $__timeFilter(Timestamp) AND ${IS_SERVER_SPAN} AND ${serviceFilter('ServiceName')}
  ORDER BY Duration DESC
  LIMIT 20`;

const DESTINATION = 'reporter="destination", destination_service_name=~"$service"';

function toTraces(title: string, service: string): DashboardLinkBuilder {
  return new DashboardLinkBuilder(title).url(`/d/${TRACES_UID}?\${__url_time_range}&var-service=${service}`);
}

function latencyPanel(title: string): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .unit('ms')
    .drawStyle(GraphDrawStyle.Line)
    .lineWidth(1)
    .fillOpacity(0)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Right)
        .calcs(['mean', 'max'])
        .showLegend(true),
    );
}

export function latencyDashboard(): Dashboard {
  return new DashboardBuilder('Service latency')
    .uid(LATENCY_UID)
    .tags(['meshscope', 'latency'])
    .description('Latency per service and per edge from spans, RED metrics from the proxies.')
    .time({ from: 'now-15m', to: 'now' })
    .refresh('30s')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(serviceVariable())
    .withRow(new RowBuilder('Latency from spans'))
    .withPanel(
      latencyPanel('Server latency per service (p50 / p95 / p99)')
        .gridPos({ x: 0, y: 1, w: 12, h: 9 })
        .withTarget(new ClickHouseQueryBuilder('A', 'timeseries', SERVICE_QUANTILES_SQL))
        .dataLinks([toTraces('Traces of ${__field.labels.ServiceName}', '${__field.labels.ServiceName}')]),
    )
    .withPanel(
      latencyPanel('Edge latency (p50 / p95 / p99)')
        .gridPos({ x: 12, y: 1, w: 12, h: 9 })
        .withTarget(new ClickHouseQueryBuilder('A', 'timeseries', EDGE_QUANTILES_SQL))
        .dataLinks([toTraces('Traces in this range', '$service')]),
    )
    .withPanel(
      new HeatmapPanel()
        .title('Server span latency heatmap')
        .gridPos({ x: 0, y: 10, w: 12, h: 9 })
        .calculate(true)
        .calculation(
          new HeatmapCalculationOptionsBuilder().yBuckets(
            new HeatmapCalculationBucketConfigBuilder()
              .mode(HeatmapCalculationMode.Count)
              .value('8')
              .scale(new ScaleDistributionConfigBuilder().type(ScaleDistribution.Log).log(2)),
          ),
        )
        .withTarget(new ClickHouseQueryBuilder('A', 'timeseries', HEATMAP_SQL)),
    )
    .withPanel(
      new TablePanel()
        .title('Slowest requests')
        .description('Click a trace id to open the trace.')
        .gridPos({ x: 12, y: 10, w: 12, h: 9 })
        .withTarget(new ClickHouseQueryBuilder('A', 'table', SLOWEST_SQL))
        .overrides([traceLinkOverride('TraceId'), unitOverride('duration_ms', 'ms', 'duration')]),
    )
    .withRow(new RowBuilder('RED from the proxies (Istio metrics)'))
    .withPanel(
      new TimeseriesPanel()
        .title('Requests/s by destination')
        .unit('reqps')
        .gridPos({ x: 0, y: 20, w: 8, h: 8 })
        .withTarget(
          new PromQuery()
            .datasource(prometheus)
            .expr(`sum by (destination_service_name) (rate(istio_requests_total{${DESTINATION}}[$__rate_interval]))`)
            .legendFormat('{{destination_service_name}}'),
        )
        .dataLinks([
          toTraces(
            'Traces of ${__field.labels.destination_service_name}',
            '${__field.labels.destination_service_name}',
          ),
        ]),
    )
    .withPanel(
      new TimeseriesPanel()
        .title('Error % by destination (5xx)')
        .unit('percent')
        .gridPos({ x: 8, y: 20, w: 8, h: 8 })
        .withTarget(
          new PromQuery()
            .datasource(prometheus)
            // `or … * 0`: a destination with no 5xx has no 5xx series at all; it should read 0%.
            .expr(
              `100 * (sum by (destination_service_name) (rate(istio_requests_total{${DESTINATION}, response_code=~"5.."}[$__rate_interval]))` +
                ` or sum by (destination_service_name) (rate(istio_requests_total{${DESTINATION}}[$__rate_interval])) * 0)` +
                ` / sum by (destination_service_name) (rate(istio_requests_total{${DESTINATION}}[$__rate_interval]))`,
            )
            .legendFormat('{{destination_service_name}}'),
        ),
    )
    .withPanel(
      new TimeseriesPanel()
        .title('Duration by destination (p50 / p95 / p99)')
        .unit('ms')
        .gridPos({ x: 16, y: 20, w: 8, h: 8 })
        .targets(
          (
            [
              ['p50', 0.5],
              ['p95', 0.95],
              ['p99', 0.99],
            ] as const
          ).map(([name, q]) =>
            new PromQuery()
              .datasource(prometheus)
              .refId(name)
              .expr(
                `histogram_quantile(${q}, sum by (le, destination_service_name) (rate(istio_request_duration_milliseconds_bucket{${DESTINATION}}[$__rate_interval])))`,
              )
              .legendFormat(`{{destination_service_name}} ${name}`),
          ),
        ),
    )
    .withPanel(
      new TimeseriesPanel()
        .title('gRPC calls/s by destination and status')
        .description(
          "gRPC answers failures with HTTP 200: the status is Istio's grpc_response_status (0 OK, 14 UNAVAILABLE, …).",
        )
        .unit('reqps')
        .gridPos({ x: 0, y: 28, w: 24, h: 8 })
        .withTarget(
          new PromQuery()
            .datasource(prometheus)
            .expr(
              `sum by (destination_service_name, grpc_response_status) (rate(istio_requests_total{${DESTINATION}, request_protocol="grpc"}[$__rate_interval]))`,
            )
            .legendFormat('{{destination_service_name}} grpc-status {{grpc_response_status}}'),
        ),
    )
    .build();
}
