// Service-graph derivation at ingest, with the servicegraph connector's semantics: a CLIENT
// span of service A and the SERVER span of service B whose parent is that client span form
// one edge A→B (PRODUCER/CONSUMER form a messaging_system edge). Unpaired halves wait in a
// bounded store with a TTL. Root SERVER spans get the virtual client `user`; CLIENT spans
// that expire unpaired get a virtual server named by peer.service, server.address /
// net.peer.name, db.name or db.system (connection type `database` when db.system is set).
//
// Where a mesh differs from the connector's assumptions, the graph follows what happened:
// - Retries: a sidecar's CLIENT span covers every attempt, and each attempt is a SERVER span
//   with that same parent. Each attempt is an edge of its own, failed when that server failed,
//   so a 503 retried into success still counts against the service that answered 503. A
//   recently paired client is remembered (bounded, same TTL) for attempts that arrive after it.
// - Clients outside the mesh: a SERVER span whose parent never arrives (the load generator or
//   curl sent a traceparent but exports no spans) gets the client `user` when it expires, as a
//   root SERVER span does, when it is a proxy's span (Envoy's `component: proxy`) at the mesh's
//   edge: not a sidecar's inbound span (upstream cluster `inbound|…`), whose caller is in the
//   mesh and only late or lost (a restarted sidecar), and not an app's own span behind its
//   sidecar. Those make no edge: a guess would draw a phantom `user → catalog`.
// - Mesh cluster names: a proxy's CLIENT span names its upstream cluster (peer.service =
//   `outbound|8080|v1|default/catalog`); when its server half is lost (a restart of the
//   server's sidecar), the virtual server is the service of that cluster, never the cluster.
// - Versions: each side's `service.version` (resource; the proxies set it from the workload's
//   version label) rides on the edge, so the graph can draw a service's versions as Kiali
//   does. Virtual nodes and unversioned workloads have none ('').
// - Protocol: each edge is marked with the protocol its server received the call on, in
//   Istio's request_protocol words: `grpc` (rpc.system), else `http` (network.protocol.name,
//   or an HTTP method on the span); '' when the server half is missing or says nothing.
// - mTLS: an edge is mutual TLS when its server span says the call arrived over TLS
//   (`tls.established`) or names the caller's identity (`source.principal`, the client
//   certificate's SPIFFE URI SAN), as a sidecar's inbound span does under mtls STRICT or
//   PERMISSIVE; false when the server half is missing or the call came in plaintext.

import {
  findAttribute,
  SPAN_KIND_CLIENT,
  SPAN_KIND_CONSUMER,
  SPAN_KIND_PRODUCER,
  SPAN_KIND_SERVER,
  type Attributes,
  type GraphSpan,
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
  /** The client's start time, high and low 32 bits (the Int64 column's two halves). */
  timestampHi: number;
  timestampLo: number;
  client: string;
  server: string;
  connectionType: string;
  failed: boolean;
  serverDurationMs: number;
  clientDurationMs: number;
  clientVersion: string;
  serverVersion: string;
  protocol: string;
  mtls: boolean;
}

export interface EdgeSink {
  /** An edge, valid during the call only: the graph hands every edge in one object (copy it to keep it). */
  edge(edge: Edge): void;
  unpaired(kind: 'client' | 'server'): void;
  dropped(): void;
}

/**
 * One side of an edge: the span as the decoder handed it. Its attributes are consulted only if
 * it expires unpaired (a client's virtual server, a server's origin) and for a server's protocol
 * and mTLS.
 */
type Half = GraphSpan;

interface Entry {
  traceId: string;
  /** Keyed by trace id + span id, because another trace held the span id alone. */
  long: boolean;
  client: Half | undefined;
  server: Half | undefined;
  /** Further SERVER halves with the same parent (retried attempts); allocated only for them. */
  retries: Half[] | undefined;
  messaging: boolean;
  expiresAt: number;
}

/** A client already paired, kept for attempts (SERVER halves) that arrive after it. */
interface Paired {
  traceId: string;
  client: Half;
  messaging: boolean;
  expiresAt: number;
}

/**
 * The service behind a mesh cluster name, Istio's `outbound|<port>|<subset>|<host>` with the
 * host as `namespace/name` (meshscope's control plane) or `name.namespace.svc.cluster.local`.
 * `inbound|…` clusters are the local app, never a peer: undefined for both those and the rest.
 */
export function serviceOfCluster(name: string): string | undefined {
  if (!name.startsWith('outbound|')) return undefined;
  const host = name.slice(name.lastIndexOf('|') + 1);
  const slash = host.indexOf('/');
  if (slash !== -1) return host.slice(slash + 1) || undefined;
  const dot = host.indexOf('.');
  return (dot === -1 ? host : host.slice(0, dot)) || undefined;
}

/**
 * The span attributes this file reads (virtualServer, protocolOf, mtlsOf, #expireServer): the
 * ingest decoder hands the graph only these (protobuf-rows.ts). A key read here is listed here.
 */
export const GRAPH_ATTRIBUTE_KEYS: ReadonlySet<string> = new Set([
  'peer.service',
  'upstream_cluster',
  'server.address',
  'net.peer.name',
  'db.name',
  'db.system',
  'rpc.system',
  'network.protocol.name',
  'http.request.method',
  'http.method',
  'tls.established',
  'source.principal',
  'component',
]);

/** The virtual server of an unpaired client half, by the connector's attribute priority. */
function virtualServer(c: Half): { name: string; type: string } {
  const a = c.attributes;
  const peer = findAttribute(a, 'peer.service') ?? findAttribute(a, 'upstream_cluster');
  if (peer !== undefined && (peer.startsWith('outbound|') || peer.startsWith('inbound|'))) {
    // A mesh service (its own edge type), or the local app (no peer: no edge).
    return { name: serviceOfCluster(peer) ?? '', type: '' };
  }
  const name =
    findAttribute(a, 'peer.service') ??
    findAttribute(a, 'server.address') ??
    findAttribute(a, 'net.peer.name') ??
    findAttribute(a, 'db.name') ??
    findAttribute(a, 'db.system') ??
    '';
  const type =
    findAttribute(a, 'db.system') !== undefined
      ? 'database'
      : c.kind === SPAN_KIND_PRODUCER
        ? 'messaging_system'
        : 'virtual_node';
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
  'ClientVersion',
  'ServerVersion',
  'Protocol',
  'Mtls',
] as const;

/** One otel_service_graph_edges row (EDGE_COLUMNS) in RowBinary. */
export function writeEdgeRow(w: RowBinaryWriter, e: Edge): void {
  w.u32(e.timestampLo);
  w.u32(e.timestampHi);
  w.string(e.client);
  w.string(e.server);
  w.string(e.connectionType);
  w.u8(e.failed ? 1 : 0);
  w.f64(e.serverDurationMs);
  w.f64(e.clientDurationMs);
  w.string(e.clientVersion);
  w.string(e.serverVersion);
  w.string(e.protocol);
  w.u8(e.mtls ? 1 : 0);
}

/**
 * The one Edge every sink call is handed, filled anew for each (EdgeSink.edge): an object per
 * edge was ~120 of the decode and graph's ~630 allocated bytes per sidecar span.
 */
const nextEdge: Edge = {
  timestampHi: 0,
  timestampLo: 0,
  client: '',
  server: '',
  connectionType: '',
  failed: false,
  serverDurationMs: 0,
  clientDurationMs: 0,
  clientVersion: '',
  serverVersion: '',
  protocol: '',
  mtls: false,
};

function edge(
  at: Half,
  client: string,
  server: string,
  connectionType: string,
  failed: boolean,
  serverDurationMs: number,
  clientDurationMs: number,
  clientVersion: string,
  serverVersion: string,
  protocol: string,
  mtls: boolean,
): Edge {
  const e = nextEdge;
  e.timestampHi = at.startHi;
  e.timestampLo = at.startLo;
  e.client = client;
  e.server = server;
  e.connectionType = connectionType;
  e.failed = failed;
  e.serverDurationMs = serverDurationMs;
  e.clientDurationMs = clientDurationMs;
  e.clientVersion = clientVersion;
  e.serverVersion = serverVersion;
  e.protocol = protocol;
  e.mtls = mtls;
  return e;
}

/** The protocol a SERVER span received its call on, in one pass over its attributes. */
function protocolOf(attributes: Attributes): string {
  let protocol = '';
  for (let i = 0; i < attributes.length; i += 2) {
    const k = attributes[i];
    if (k === 'rpc.system') {
      if (attributes[i + 1] === 'grpc') return 'grpc';
    } else if (k === 'network.protocol.name' || k === 'http.request.method' || k === 'http.method') protocol = 'http';
  }
  return protocol;
}

/** Whether a SERVER span's call arrived over mutual TLS (see the header). */
function mtlsOf(attributes: Attributes): boolean {
  for (let i = 0; i < attributes.length; i += 2) {
    const k = attributes[i];
    if ((k === 'tls.established' && attributes[i + 1] === 'true') || (k === 'source.principal' && attributes[i + 1]))
      return true;
  }
  return false;
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
  /** Paired clients by span id (trace id checked), oldest first, for late attempts. */
  readonly #paired = new Map<string, Paired>();

  constructor(opts: ServiceGraphOptions, sink: EdgeSink) {
    this.#opts = opts;
    this.#sink = sink;
  }

  get size(): number {
    return this.#entries.size;
  }

  observe(spans: readonly GraphSpan[], now: number): void {
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i]!;
      const k = s.kind;
      if (k === SPAN_KIND_CLIENT || k === SPAN_KIND_PRODUCER) {
        this.#put(s.traceId, s.pairId, s, 'client', k === SPAN_KIND_PRODUCER, now);
      } else if (k === SPAN_KIND_SERVER || k === SPAN_KIND_CONSUMER) {
        if (s.pairId === '') {
          this.#emitUser(s);
        } else {
          this.#put(s.traceId, s.pairId, s, 'server', k === SPAN_KIND_CONSUMER, now);
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
      else if (e.server === undefined) e.server = h;
      else (e.retries ??= []).push(h);
      if (e.client !== undefined && e.server !== undefined) {
        this.#delete(key, e);
        this.#emitPairs(e.client, e.server, e.retries, e.messaging || messaging, traceId, clientSpanId, now);
      }
      return;
    }
    if (side === 'server' && this.#paired.size > 0) {
      // A retried attempt whose client paired already.
      const p = this.#paired.get(clientSpanId);
      if (p !== undefined && p.traceId === traceId) {
        this.#emitPair(p.client, h, p.messaging || messaging, false);
        return;
      }
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
      retries: undefined,
      messaging,
      expiresAt: now + this.#opts.ttlMs,
    });
  }

  #delete(key: string, e: Entry): void {
    this.#entries.delete(key);
    if (e.long) this.#longKeys--;
  }

  /**
   * One edge per attempt. A failed client counts on its last attempt only (a timeout or reset
   * the server did not see); earlier attempts count as their servers answered.
   */
  #emitPairs(
    c: Half,
    first: Half,
    retries: Half[] | undefined,
    messaging: boolean,
    traceId: string,
    clientSpanId: string,
    now: number,
  ): void {
    if (retries === undefined) this.#emitPair(c, first, messaging, c.failed);
    else {
      const all = [first, ...retries].sort((a, b) => a.startHi - b.startHi || a.startLo - b.startLo);
      for (let i = 0; i < all.length; i++) this.#emitPair(c, all[i]!, messaging, c.failed && i === all.length - 1);
    }
    this.#remember(traceId, clientSpanId, c, messaging, now);
  }

  #emitPair(c: Half, s: Half, messaging: boolean, clientFailed: boolean): void {
    this.#sink.edge(
      edge(
        c,
        c.service,
        s.service,
        messaging ? 'messaging_system' : '',
        clientFailed || s.failed,
        s.durationMs,
        c.durationMs,
        c.version,
        s.version,
        protocolOf(s.attributes),
        mtlsOf(s.attributes),
      ),
    );
  }

  #emitUser(h: Half): void {
    this.#sink.edge(
      edge(
        h,
        'user',
        h.service,
        'virtual_node',
        h.failed,
        h.durationMs,
        h.durationMs,
        '',
        h.version,
        protocolOf(h.attributes),
        mtlsOf(h.attributes),
      ),
    );
  }

  /** Keeps a paired client for late attempts; bounded like the store (the oldest goes first). */
  #remember(traceId: string, clientSpanId: string, client: Half, messaging: boolean, now: number): void {
    if (this.#paired.size >= this.#opts.maxItems) {
      const oldest = this.#paired.keys().next();
      if (!oldest.done) this.#paired.delete(oldest.value);
    }
    // Re-inserted at the back, so the map stays in expiry order.
    this.#paired.delete(clientSpanId);
    this.#paired.set(clientSpanId, { traceId, client, messaging, expiresAt: now + this.#opts.ttlMs });
  }

  /** Expires entries older than the TTL; `all` expires everything (shutdown). */
  expire(now: number, all = false): void {
    for (const [key, p] of this.#paired) {
      if (!all && p.expiresAt > now) break;
      this.#paired.delete(key);
    }
    for (const [key, e] of this.#entries) {
      if (!all && e.expiresAt > now) break;
      this.#delete(key, e);
      if (e.client !== undefined) {
        const c = e.client;
        const server = virtualServer(c);
        if (server.name !== '') {
          this.#sink.edge(
            edge(
              c,
              c.service,
              server.name,
              server.type,
              c.failed,
              c.durationMs,
              c.durationMs,
              c.version,
              '',
              '',
              false,
            ),
          );
        } else this.#sink.unpaired('client');
      } else {
        for (const s of e.retries === undefined ? [e.server!] : [e.server!, ...e.retries]) this.#expireServer(s);
      }
    }
  }

  /** A SERVER half whose client never came: an outside client (`user`) at the mesh's edge, else none. */
  #expireServer(s: Half): void {
    const a = s.attributes;
    const edge =
      findAttribute(a, 'component') === 'proxy' && !findAttribute(a, 'upstream_cluster')?.startsWith('inbound|');
    if (edge) this.#emitUser(s);
    else this.#sink.unpaired('server');
  }
}
