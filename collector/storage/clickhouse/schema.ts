// The ClickHouse schema, as versioned migrations. The trace and log tables follow the
// OpenTelemetry Collector ClickHouse exporter's DDL (column names, types, codecs, skip
// indexes, partitioning, ordering, TTL) so Grafana's ClickHouse plugin reads them unchanged.
// The service-graph tables are meshscope's own contract with the dashboards.
//
// Every statement is idempotent (IF NOT EXISTS), so a migration that two processes start at
// the same moment, or that a crash interrupted, is simply applied again.

export interface SchemaOptions {
  /** Rows older than this many days are dropped by TTL (whole parts, ttl_only_drop_parts). */
  ttlDays: number;
}

export interface Migration {
  version: number;
  name: string;
  statements(options: SchemaOptions): string[];
}

export const MIGRATIONS_TABLE = 'meshscope_schema_migrations';

/** Tables an insert of the collector lands in, directly or through a materialized view. */
export const DEDUPLICATED_TABLES = [
  'otel_traces',
  'otel_traces_trace_id_ts',
  'otel_logs',
  'otel_service_graph_1m',
] as const;
const DEDUPLICATION_WINDOW = 1000;

const ttl = (expr: string, days: number): string => (days > 0 ? `TTL ${expr} + toIntervalDay(${days})` : '');

/**
 * The view that folds each block inserted into otel_service_graph_edges into the per-minute
 * table, grouped by the edge's identity plus `dimensions` (the columns later migrations added
 * to both tables' keys). Versions 4, 6 and 7 each create it with the dimensions known then.
 */
const serviceGraphMinuteView = (dimensions: readonly string[]): string => {
  const keys = ['Client', 'Server', 'ConnectionType', ...dimensions];
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS otel_service_graph_1m_mv
TO otel_service_graph_1m
AS SELECT
    toStartOfMinute(toDateTime(e.Timestamp)) AS Timestamp,
${keys.map((k) => `    e.${k} AS ${k},\n`).join('')}    toUInt64(count()) AS Requests,
    toUInt64(sum(e.Failed)) AS Failures,
    quantilesState(0.5, 0.95, 0.99)(e.ServerDurationMs) AS ServerDurationMs,
    quantilesState(0.5, 0.95, 0.99)(e.ClientDurationMs) AS ClientDurationMs
FROM otel_service_graph_edges AS e
GROUP BY Timestamp, ${keys.join(', ')}`;
};

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'otel_traces',
    statements: ({ ttlDays }) => [
      `CREATE TABLE IF NOT EXISTS otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
${ttl('toDateTime(Timestamp)', ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 2,
    name: 'otel_traces_trace_id_ts',
    statements: ({ ttlDays }) => [
      `CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
${ttl('toDateTime(Start)', ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv
TO otel_traces_trace_id_ts
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM otel_traces
WHERE TraceId != ''
GROUP BY TraceId`,
    ],
  },
  {
    version: 3,
    name: 'otel_logs',
    statements: ({ ttlDays }) => [
      `CREATE TABLE IF NOT EXISTS otel_logs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
${ttl('TimestampTime', ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 4,
    name: 'otel_service_graph',
    statements: ({ ttlDays }) => [
      // Per-minute edge aggregates: topology and edge latency for any range in one small
      // GROUP BY (sum the counters, quantilesMerge the states).
      `CREATE TABLE IF NOT EXISTS otel_service_graph_1m (
    Timestamp DateTime CODEC(Delta, ZSTD(1)),
    Client LowCardinality(String),
    Server LowCardinality(String),
    ConnectionType LowCardinality(String),
    Requests SimpleAggregateFunction(sum, UInt64),
    Failures SimpleAggregateFunction(sum, UInt64),
    ServerDurationMs AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
    ClientDurationMs AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, ConnectionType, Timestamp)
${ttl('Timestamp', ttlDays)}
SETTINGS ttl_only_drop_parts = 1`,
      // One row per paired (or virtual) edge; the Null engine keeps nothing, the view below
      // folds each inserted block into the per-minute table.
      `CREATE TABLE IF NOT EXISTS otel_service_graph_edges (
    Timestamp DateTime64(9),
    Client LowCardinality(String),
    Server LowCardinality(String),
    ConnectionType LowCardinality(String),
    Failed UInt8,
    ServerDurationMs Float64,
    ClientDurationMs Float64
) ENGINE = Null`,
      serviceGraphMinuteView([]),
    ],
  },
  {
    version: 5,
    name: 'insert_deduplication',
    // Exactly once across crashes: the pipeline gives every insert a stable
    // insert_deduplication_token (the write-ahead log's batch identity), and a replayed batch
    // is dropped by ClickHouse as a duplicate. Non-replicated MergeTree tables honour tokens
    // only with a deduplication window; the materialized views' targets need it too, since a
    // replayed insert is deduplicated per view (deduplicate_blocks_in_dependent_materialized_views).
    // The window is in inserts (blocks): a replay only ever repeats the latest one.
    statements: () =>
      DEDUPLICATED_TABLES.map(
        (t) => `ALTER TABLE ${t} MODIFY SETTING non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
      ),
  },
  {
    version: 6,
    name: 'otel_service_graph_versions',
    // Each side's workload version (service.version) on the service graph, for version
    // sub-nodes. Additive and in place: two columns ('' on rows written before), appended to
    // the per-minute table's sorting key (so rows of different versions never merge; the
    // primary key stays as it was, and a query that ignores versions sums over them), and the
    // view that folds edges into it replaced by one that groups by them too. The view is
    // dropped and created again under its name (every server version takes that; MODIFY QUERY
    // was behind an experimental setting in older ones); migrations run before any insert.
    statements: () => [
      `ALTER TABLE otel_service_graph_edges
    ADD COLUMN IF NOT EXISTS ClientVersion LowCardinality(String),
    ADD COLUMN IF NOT EXISTS ServerVersion LowCardinality(String)`,
      `ALTER TABLE otel_service_graph_1m
    ADD COLUMN IF NOT EXISTS ClientVersion LowCardinality(String),
    ADD COLUMN IF NOT EXISTS ServerVersion LowCardinality(String),
    MODIFY ORDER BY (Client, Server, ConnectionType, Timestamp, ClientVersion, ServerVersion)`,
      'DROP VIEW IF EXISTS otel_service_graph_1m_mv',
      serviceGraphMinuteView(['ClientVersion', 'ServerVersion']),
    ],
  },
  {
    version: 7,
    name: 'otel_service_graph_protocol',
    // The protocol each edge's server received its calls on (http, grpc; '' on rows written
    // before), the same way as version 6: a column appended to the per-minute table's sorting
    // key and the view recreated to group by it.
    statements: () => [
      'ALTER TABLE otel_service_graph_edges ADD COLUMN IF NOT EXISTS Protocol LowCardinality(String)',
      `ALTER TABLE otel_service_graph_1m
    ADD COLUMN IF NOT EXISTS Protocol LowCardinality(String),
    MODIFY ORDER BY (Client, Server, ConnectionType, Timestamp, ClientVersion, ServerVersion, Protocol)`,
      'DROP VIEW IF EXISTS otel_service_graph_1m_mv',
      serviceGraphMinuteView(['ClientVersion', 'ServerVersion', 'Protocol']),
    ],
  },
  {
    version: 8,
    name: 'otel_service_graph_mtls',
    // Whether each edge's calls arrived over mutual TLS (1; 0 for plaintext and on rows written
    // before), the same way as versions 6 and 7: a column appended to the per-minute table's
    // sorting key and the view recreated to group by it.
    statements: () => [
      'ALTER TABLE otel_service_graph_edges ADD COLUMN IF NOT EXISTS Mtls UInt8',
      `ALTER TABLE otel_service_graph_1m
    ADD COLUMN IF NOT EXISTS Mtls UInt8,
    MODIFY ORDER BY (Client, Server, ConnectionType, Timestamp, ClientVersion, ServerVersion, Protocol, Mtls)`,
      'DROP VIEW IF EXISTS otel_service_graph_1m_mv',
      `CREATE MATERIALIZED VIEW IF NOT EXISTS otel_service_graph_1m_mv
TO otel_service_graph_1m
AS SELECT
    toStartOfMinute(toDateTime(e.Timestamp)) AS Timestamp,
    e.Client AS Client,
    e.Server AS Server,
    e.ConnectionType AS ConnectionType,
    e.ClientVersion AS ClientVersion,
    e.ServerVersion AS ServerVersion,
    e.Protocol AS Protocol,
    e.Mtls AS Mtls,
    toUInt64(count()) AS Requests,
    toUInt64(sum(e.Failed)) AS Failures,
    quantilesState(0.5, 0.95, 0.99)(e.ServerDurationMs) AS ServerDurationMs,
    quantilesState(0.5, 0.95, 0.99)(e.ClientDurationMs) AS ClientDurationMs
FROM otel_service_graph_edges AS e
GROUP BY Timestamp, Client, Server, ConnectionType, ClientVersion, ServerVersion, Protocol, Mtls`,
    ],
  },
];
