// "Mesh topology": a Node Graph of services and edges from the collector's per-minute
// service-graph table, plus the same edges as a table. An edge is mTLS when every call on it
// in the range arrived over mutual TLS (the table's Mtls column; min over the range): drawn
// solid and named mTLS in its details, plaintext edges dashed.
import { DashboardBuilder, DashboardCursorSync } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as NodeGraphPanel } from '@grafana/grafana-foundation-sdk/nodegraph';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { ClickHouseQueryBuilder } from './clickhouse.js';
import { unitOverride } from './panels.js';
import { RANGE_SECONDS, SERVICE_GRAPH } from './sql.js';

const TOPOLOGY_UID = 'meshscope-topology';

// Per edge over the range; quantilesMerge combines the per-minute states exactly.
const EDGES = `
  SELECT Client, Server, ConnectionType,
    sum(Requests) AS requests,
    sum(Failures) AS failures,
    quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs) AS q,
    min(Mtls) AS mtls
  FROM ${SERVICE_GRAPH}
  WHERE $__timeFilter(Timestamp)
  GROUP BY Client, Server, ConnectionType`;

// Every service that appears on either end of an edge; servers carry the received traffic,
// pure clients (the `user` virtual node, the front proxy) get a full success arc.
const NODES_SQL = `
  SELECT
    node AS id,
    node AS title,
    round(sum(received) / ${RANGE_SECONDS}, 3) AS mainstat,
    round(max(p95), 2) AS secondarystat,
    if(sum(received) = 0, 1, 1 - sum(failed) / sum(received)) AS arc__success,
    if(sum(received) = 0, 0, sum(failed) / sum(received)) AS arc__errors,
    sum(received) AS detail__requests,
    sum(failed) AS detail__failures
  FROM (
    SELECT Server AS node, sum(Requests) AS received, sum(Failures) AS failed,
      quantilesMerge(0.5, 0.95, 0.99)(ServerDurationMs)[2] AS p95
    FROM ${SERVICE_GRAPH}
    WHERE $__timeFilter(Timestamp)
    GROUP BY Server
    UNION ALL
    SELECT Client AS node, 0 AS received, 0 AS failed, 0 AS p95
    FROM ${SERVICE_GRAPH}
    WHERE $__timeFilter(Timestamp)
    GROUP BY Client
  )
  GROUP BY node
  ORDER BY node`;

const EDGES_SQL = `
  SELECT
    concat(Client, '->', Server, ':', ConnectionType) AS id,
    Client AS source,
    Server AS target,
    round(requests / ${RANGE_SECONDS}, 3) AS mainstat,
    round(q[2], 2) AS secondarystat,
    round(100 * failures / requests, 2) AS detail__error_percent,
    round(q[1], 2) AS detail__p50_ms,
    round(q[3], 2) AS detail__p99_ms,
    requests AS detail__requests,
    if(mtls = 1, 'mTLS', 'plaintext') AS detail__security,
    if(mtls = 1, 'none', '5 3') AS strokeDasharray
  FROM (${EDGES})
  ORDER BY source, target`;

const EDGE_TABLE_SQL = `
  SELECT
    Client AS client,
    Server AS server,
    ConnectionType AS connection_type,
    if(mtls = 1, 'mTLS', 'plaintext') AS security,
    requests,
    round(requests / ${RANGE_SECONDS}, 3) AS rps,
    failures,
    round(100 * failures / requests, 2) AS error_percent,
    round(q[1], 2) AS p50_ms,
    round(q[2], 2) AS p95_ms,
    round(q[3], 2) AS p99_ms
  FROM (${EDGES})
  ORDER BY requests DESC`;

export function topologyDashboard(): Dashboard {
  return new DashboardBuilder('Mesh topology')
    .uid(TOPOLOGY_UID)
    .tags(['meshscope', 'mesh'])
    .description('Services and the calls between them, derived from paired client/server spans.')
    .time({ from: 'now-15m', to: 'now' })
    .refresh('30s')
    .tooltip(DashboardCursorSync.Crosshair)
    .withPanel(
      new NodeGraphPanel()
        .title('Service graph')
        .description(
          'Nodes: requests/s received, p95 ms, success/error arc. Edges: requests/s, p95 ms; error %, p50/p99 and security (mTLS or plaintext) in details; plaintext edges dashed.',
        )
        .gridPos({ x: 0, y: 0, w: 24, h: 16 })
        .withTarget(new ClickHouseQueryBuilder('nodes', 'table', NODES_SQL))
        .withTarget(new ClickHouseQueryBuilder('edges', 'table', EDGES_SQL))
        .overrides([
          unitOverride('mainstat', 'reqps', 'requests/s'),
          unitOverride('secondarystat', 'ms', 'p95'),
          unitOverride('detail__error_percent', 'percent', 'error %'),
        ]),
    )
    .withPanel(
      new TablePanel()
        .title('Edges')
        .gridPos({ x: 0, y: 16, w: 24, h: 10 })
        .withTarget(new ClickHouseQueryBuilder('A', 'table', EDGE_TABLE_SQL))
        .overrides([
          unitOverride('rps', 'reqps', 'requests/s'),
          unitOverride('error_percent', 'percent', 'error %'),
          unitOverride('p50_ms', 'ms', 'p50'),
          unitOverride('p95_ms', 'ms', 'p95'),
          unitOverride('p99_ms', 'ms', 'p99'),
        ]),
    )
    .build();
}
