// Service-graph derivation at ingest, with the servicegraph connector's semantics: a CLIENT
// span of service A and the SERVER span of service B whose parent is that client span form
// one edge A→B (PRODUCER/CONSUMER form a messaging_system edge). Unpaired halves wait in a
// bounded store with a TTL. Root SERVER spans get the virtual client `user`; CLIENT spans
// that expire unpaired get a virtual server named by peer.service, server.address /
// net.peer.name, db.name or db.system (connection type `database` when db.system is set).

import {
  findAttribute,
  SPAN_KIND_CLIENT,
  SPAN_KIND_CONSUMER,
  SPAN_KIND_PRODUCER,
  SPAN_KIND_SERVER,
  STATUS_CODE_ERROR,
  type Attributes,
  type SpanRecord,
} from '../receivers/otlp/model.js';
import type { RowBinaryWriter } from '../storage/clickhouse/rowbinary.js';

export interface ServiceGraphOptions {
  /** Unpaired spans kept at most; beyond it new ones are dropped and counted. */
  maxItems: number;
  /** How long an unpaired half waits for its peer. */
  ttlMs: number;
}

/** One otel_service_graph_edges row. */
export interface Edge {
  timestampNs: bigint;
  client: string;
  server: string;
  connectionType: string;
  failed: boolean;
  serverDurationMs: number;
  clientDurationMs: number;
}

export interface EdgeSink {
  edge(edge: Edge): void;
  unpaired(kind: 'client' | 'server'): void;
  dropped(): void;
}

interface Half {
  service: string;
  startNs: bigint;
  durationMs: number;
  failed: boolean;
  /** Client halves only: consulted for a virtual server name if the half expires unpaired. */
  attributes: Attributes | undefined;
  producer: boolean;
}

interface Entry {
  traceId: string;
  /** Keyed by trace id + span id, because another trace held the span id alone. */
  long: boolean;
  client: Half | undefined;
  server: Half | undefined;
  messaging: boolean;
  expiresAt: number;
}

function half(s: SpanRecord, client: boolean): Half {
  const duration = s.endNs > s.startNs ? s.endNs - s.startNs : 0n;
  return {
    service: s.resource.serviceName,
    startNs: s.startNs,
    durationMs: Number(duration) / 1e6,
    failed: s.statusCode === STATUS_CODE_ERROR,
    attributes: client ? s.attributes : undefined,
    producer: s.kind === SPAN_KIND_PRODUCER,
  };
}

/** The virtual server of an unpaired client half, by the connector's attribute priority. */
function virtualServer(c: Half): { name: string; type: string } {
  const a = c.attributes ?? [];
  const name =
    findAttribute(a, 'peer.service') ??
    findAttribute(a, 'server.address') ??
    findAttribute(a, 'net.peer.name') ??
    findAttribute(a, 'db.name') ??
    findAttribute(a, 'db.system') ??
    '';
  const type =
    findAttribute(a, 'db.system') !== undefined ? 'database' : c.producer ? 'messaging_system' : 'virtual_node';
  return { name, type };
}

/** The otel_service_graph_edges columns, in the order writeEdgeRow writes them. */
export const EDGE_COLUMNS = [
  'Timestamp',
  'Client',
  'Server',
  'ConnectionType',
  'Failed',
  'ServerDurationMs',
  'ClientDurationMs',
] as const;

/** One otel_service_graph_edges row (EDGE_COLUMNS) in RowBinary. */
export function writeEdgeRow(w: RowBinaryWriter, e: Edge): void {
  w.i64(e.timestampNs);
  w.string(e.client);
  w.string(e.server);
  w.string(e.connectionType);
  w.u8(e.failed ? 1 : 0);
  w.f64(e.serverDurationMs);
  w.f64(e.clientDurationMs);
}

function edge(
  timestampNs: bigint,
  client: string,
  server: string,
  connectionType: string,
  failed: boolean,
  serverDurationMs: number,
  clientDurationMs: number,
): Edge {
  return { timestampNs, client, server, connectionType, failed, serverDurationMs, clientDurationMs };
}

export class ServiceGraph {
  readonly #opts: ServiceGraphOptions;
  readonly #sink: EdgeSink;
  // Map iteration order is insertion order, and every entry gets the same TTL, so the
  // oldest entries are always first: expiry is a scan from the front that stops early.
  // Keyed by the client's span id alone (the entry keeps the trace id to check): hashing a
  // 16-character id is cheaper than a concatenated trace id + span id for every span. Span ids
  // are only unique within a trace, so a pair whose span id another trace holds is keyed by
  // both; #longKeys counts those, and only while there are any does a miss look for one.
  readonly #entries = new Map<string, Entry>();
  #longKeys = 0;

  constructor(opts: ServiceGraphOptions, sink: EdgeSink) {
    this.#opts = opts;
    this.#sink = sink;
  }

  get size(): number {
    return this.#entries.size;
  }

  observe(spans: readonly SpanRecord[], now: number): void {
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i]!;
      const k = s.kind;
      if (k === SPAN_KIND_CLIENT || k === SPAN_KIND_PRODUCER) {
        this.#put(s.traceId, s.spanId, half(s, true), 'client', k === SPAN_KIND_PRODUCER, now);
      } else if (k === SPAN_KIND_SERVER || k === SPAN_KIND_CONSUMER) {
        if (s.parentSpanId === '') {
          const h = half(s, false);
          this.#sink.edge(edge(h.startNs, 'user', h.service, 'virtual_node', h.failed, h.durationMs, h.durationMs));
        } else {
          this.#put(s.traceId, s.parentSpanId, half(s, false), 'server', k === SPAN_KIND_CONSUMER, now);
        }
      }
    }
  }

  #put(
    traceId: string,
    clientSpanId: string,
    h: Half,
    side: 'client' | 'server',
    messaging: boolean,
    now: number,
  ): void {
    let key = clientSpanId;
    let e = this.#entries.get(key);
    let long = false;
    if ((e !== undefined && e.traceId !== traceId) || (e === undefined && this.#longKeys > 0)) {
      const longKey = traceId + clientSpanId;
      const other = this.#entries.get(longKey);
      if (other !== undefined || e !== undefined) {
        key = longKey;
        e = other;
        long = true;
      }
    }
    if (e !== undefined) {
      if (side === 'client') e.client = h;
      else e.server = h;
      if (e.client !== undefined && e.server !== undefined) {
        this.#delete(key, e);
        this.#emitPair(e.client, e.server, e.messaging || messaging);
      }
      return;
    }
    if (this.#entries.size >= this.#opts.maxItems) {
      this.#sink.dropped();
      return;
    }
    if (long) this.#longKeys++;
    this.#entries.set(key, {
      traceId,
      long,
      client: side === 'client' ? h : undefined,
      server: side === 'server' ? h : undefined,
      messaging,
      expiresAt: now + this.#opts.ttlMs,
    });
  }

  #delete(key: string, e: Entry): void {
    this.#entries.delete(key);
    if (e.long) this.#longKeys--;
  }

  #emitPair(c: Half, s: Half, messaging: boolean): void {
    this.#sink.edge(
      edge(
        c.startNs,
        c.service,
        s.service,
        messaging ? 'messaging_system' : '',
        c.failed || s.failed,
        s.durationMs,
        c.durationMs,
      ),
    );
  }

  /** Expires entries older than the TTL; `all` expires everything (shutdown). */
  expire(now: number, all = false): void {
    for (const [key, e] of this.#entries) {
      if (!all && e.expiresAt > now) break;
      this.#delete(key, e);
      if (e.client !== undefined) {
        const c = e.client;
        const server = virtualServer(c);
        if (server.name !== '') {
          this.#sink.edge(edge(c.startNs, c.service, server.name, server.type, c.failed, c.durationMs, c.durationMs));
        } else this.#sink.unpaired('client');
      } else this.#sink.unpaired('server');
    }
  }
}
