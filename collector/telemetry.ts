// The collector's own Prometheus metrics, on a private registry (never the global one, so two
// collectors in one process keep separate counts). Hot paths only bump counters; gauges are
// sampled at scrape time through collect callbacks.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Signal = 'traces' | 'logs';

export class CollectorMetrics {
  readonly registry = new Registry();

  constructor() {
    // Process CPU, RSS, GC and event-loop delay (nodejs_eventloop_lag_p99_seconds): the signals
    // that show whether in-process chDB inserts ever stall the receiver.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  readonly received = new Counter({
    name: 'meshscope_collector_received_items_total',
    help: 'Spans and log records received over OTLP (accepted or refused)',
    labelNames: ['signal'] as const,
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'meshscope_collector_refused_items_total',
    help: 'Items refused: invalid (partial success), undecodable body, memory limit, storage backlog or overload',
    labelNames: ['signal', 'reason'] as const,
    registers: [this.registry],
  });
  readonly stored = new Counter({
    name: 'meshscope_collector_stored_items_total',
    help: 'Rows inserted into ClickHouse',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: 'meshscope_collector_dropped_items_total',
    help: 'Items dropped after acceptance (never data that was acknowledged: service-graph state only)',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: 'meshscope_collector_http_requests_total',
    help: 'OTLP/HTTP requests by path and status code',
    labelNames: ['path', 'code'] as const,
    registers: [this.registry],
  });
  readonly batchLatency = new Histogram({
    name: 'meshscope_collector_batch_latency_seconds',
    help: 'Time to insert one batch into ClickHouse',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly insertSplits = new Counter({
    name: 'meshscope_collector_insert_splits_total',
    help: 'Batch inserts ClickHouse refused whole and that were split (reason: data or memory)',
    labelNames: ['table', 'reason'] as const,
    registers: [this.registry],
  });
  readonly storageErrors = new Counter({
    name: 'meshscope_collector_storage_errors_total',
    help: 'Failed ClickHouse inserts (each retried in order)',
    registers: [this.registry],
  });
  readonly buffered = new Gauge({
    name: 'meshscope_collector_buffered_bytes',
    help: 'Bytes in the write-ahead log not yet released (stored data is released per segment)',
    registers: [this.registry],
  });
  readonly queued = new Gauge({
    name: 'meshscope_collector_queued_items',
    help: 'Items accepted and awaiting insertion into ClickHouse',
    registers: [this.registry],
  });
  readonly spilled = new Counter({
    name: 'meshscope_collector_spilled_items_total',
    help: 'Items queued (accepted or replayed) beyond the in-memory queue budget: their rows are dropped and decoded again from the write-ahead log when their turn comes',
    registers: [this.registry],
  });
  readonly walSyncs = new Counter({
    name: 'meshscope_collector_wal_fsyncs_total',
    help: 'fsyncs of the write-ahead log (group commit: one per batch of concurrent appends)',
    registers: [this.registry],
  });
  readonly walSyncDuration = new Histogram({
    name: 'meshscope_collector_wal_sync_duration_seconds',
    help: 'The durable (O_DSYNC) write of one group commit of the write-ahead log (an ack waits for its own)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly ackDurableWait = new Histogram({
    name: 'meshscope_collector_ack_durable_wait_seconds',
    help: 'From a request decoded and appended to the write-ahead log until its record is durable: the part of an ack after decoding (the group commit it joins, and the one in flight before it)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly walRecords = new Counter({
    name: 'meshscope_collector_wal_records_total',
    help: 'Records made durable in the write-ahead log',
    registers: [this.registry],
  });
  readonly graphUnpaired = new Counter({
    name: 'traces_service_graph_unpaired_spans_total',
    help: 'Client or server spans that expired from the service-graph store without a peer',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly graphDropped = new Counter({
    name: 'traces_service_graph_dropped_spans_total',
    help: 'Spans not tracked because the service-graph store was full',
    registers: [this.registry],
  });

  /**
   * Embedded only: what the engine reports about itself, read once per scrape by `read` (one
   * statement for both metrics: a statement costs the process a few milliseconds whatever it
   * reads). A failed read keeps the last values.
   * - Its memory as its tracker counts it (caches, inserts, merges; capped by
   *   max_server_memory_usage): beside the runtime's heap and external memory it shows where
   *   the process's anonymous memory goes.
   * - The CPU it accounts to itself since it started (its UserTimeMicroseconds and
   *   SystemTimeMicroseconds events: getrusage of every thread while it runs a statement's
   *   pipeline or a background merge), on chDB's own threads and on the libuv thread that calls
   *   a statement, all in the collector's process: the database's part of the process's CPU, what
   *   an external ClickHouse would spend on its own host. Part of chDB's work on the calling
   *   thread is outside it (on chDB 3.4.0 perf put ~1.4x as much of libchdb.so's code there).
   */
  observeEmbeddedClickHouse(
    read: () => Promise<{ memoryBytes: number; cpuSeconds: { user: number; system: number } }>,
  ): void {
    // Both collect callbacks start in the same tick of a scrape (the registry awaits them
    // together): the first starts the read, the second shares it.
    let pending: ReturnType<typeof read> | undefined;
    const shared = (): ReturnType<typeof read> => {
      pending ??= read().finally(() => {
        pending = undefined;
      });
      return pending;
    };
    new Gauge({
      name: 'meshscope_collector_clickhouse_memory_bytes',
      help: "Embedded ClickHouse's tracked memory (its MemoryTracking metric)",
      registers: [this.registry],
      async collect() {
        try {
          this.set((await shared()).memoryBytes);
        } catch {
          // The engine is closing or busy failing: the last value stands.
        }
      },
    });
    const last = { user: 0, system: 0 };
    new Counter({
      name: 'meshscope_collector_clickhouse_cpu_seconds_total',
      help: 'CPU embedded ClickHouse accounted to its statements and merges (its UserTimeMicroseconds and SystemTimeMicroseconds events), by mode',
      labelNames: ['mode'] as const,
      registers: [this.registry],
      async collect() {
        try {
          const now = (await shared()).cpuSeconds;
          // The engine's events only grow; the counter follows them by their increase.
          for (const mode of ['user', 'system'] as const) {
            this.inc({ mode }, Math.max(0, now[mode] - last[mode]));
            last[mode] = Math.max(last[mode], now[mode]);
          }
        } catch {
          // The engine is closing or busy failing: the last value stands.
        }
      },
    });
  }
}
