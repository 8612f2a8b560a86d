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
   * Embedded only: the engine's own memory as its tracker counts it (caches, inserts, merges;
   * capped by max_server_memory_usage), read at each scrape by `read`. Beside the runtime's heap
   * and external memory it shows where the process's anonymous memory goes. A failed read keeps
   * the last value.
   */
  observeEmbeddedClickHouse(read: () => Promise<number>): void {
    new Gauge({
      name: 'meshscope_collector_clickhouse_memory_bytes',
      help: "Embedded ClickHouse's tracked memory (its MemoryTracking metric)",
      registers: [this.registry],
      async collect() {
        try {
          this.set(await read());
        } catch {
          // The engine is closing or busy failing: the last value stands.
        }
      },
    });
  }

  /**
   * Embedded only: the CPU embedded ClickHouse accounts to itself, in seconds since the engine
   * started (its UserTimeMicroseconds and SystemTimeMicroseconds events: getrusage of every
   * thread while it runs a statement's pipeline or a background merge), read at each scrape by
   * `read`. It runs on chDB's own threads and on the libuv thread that calls a statement, which
   * share the process with the collector's JavaScript: this is the database's part of the
   * process's CPU, the part an external ClickHouse would spend on its own host. What chDB does
   * on the calling thread outside a statement's pipeline (reading and parsing the statement
   * text) is not in it. A failed read keeps the last value.
   */
  observeEmbeddedClickHouseCpu(read: () => Promise<{ user: number; system: number }>): void {
    const last = { user: 0, system: 0 };
    new Counter({
      name: 'meshscope_collector_clickhouse_cpu_seconds_total',
      help: 'CPU embedded ClickHouse accounted to its statements and merges (its UserTimeMicroseconds and SystemTimeMicroseconds events), by mode',
      labelNames: ['mode'] as const,
      registers: [this.registry],
      async collect() {
        try {
          const now = await read();
          // The engine's events only grow; the counter follows them by their increase.
          for (const mode of ['user', 'system'] as const) {
            if (now[mode] > last[mode]) this.inc({ mode }, now[mode] - last[mode]);
            else this.inc({ mode }, 0);
            last[mode] = Math.max(last[mode], now[mode]);
          }
        } catch {
          // The engine is closing or busy failing: the last value stands.
        }
      },
    });
  }
}
