// Realistic synthetic telemetry for the demo shop's call graph, written through the collector's
// own schema: spans (server span per service, client span per call), the paired edges into the
// service-graph table, and one access-log record per server span joined by trace and span id.
import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';

export const SHOP_CALLS: ReadonlyArray<readonly [string, string]> = [
  ['frontend', 'catalog'],
  ['frontend', 'cart'],
  ['frontend', 'checkout'],
  ['checkout', 'payment'],
  ['checkout', 'inventory'],
];

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

interface Span {
  Timestamp: string;
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  ResourceAttributes: Record<string, string>;
  SpanAttributes: Record<string, string>;
  Duration: number;
  StatusCode: string;
}

export interface ShopTelemetry {
  traces: number;
  edges: Map<string, number>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Writes `traces` requests spread over the `spreadMs` before `now`. */
export async function writeShopTelemetry(
  client: ClickHouseClient,
  now: number,
  traces: number,
  spreadMs: number,
): Promise<ShopTelemetry> {
  const spans: Span[] = [];
  const edges: Array<Record<string, unknown>> = [];
  const logs: Array<Record<string, unknown>> = [];
  const edgeCounts = new Map<string, number>();
  for (let t = 0; t < traces; t++) {
    const traceId = hex(16);
    const start = now - Math.floor(((t + 0.5) / traces) * spreadMs);
    const visit = (service: string, parent: string, at: number, depth: number): number => {
      const serverId = hex(8);
      const failed = service === 'payment' && t % 25 === 0;
      let duration = 2 + depth + (t % 7) + (service === 'payment' ? 20 + (t % 30) : 0);
      for (const [client, server] of SHOP_CALLS) {
        if (client !== service) continue;
        const clientId = hex(8);
        const childDuration = visit(server, clientId, at + 1, depth + 1);
        spans.push(
          span(traceId, clientId, serverId, `GET ${server}`, 'Client', service, at + 1, childDuration + 1, false),
        );
        edges.push({
          Timestamp: iso(at + 1),
          Client: service,
          Server: server,
          ConnectionType: '',
          Failed: server === 'payment' && t % 25 === 0 ? 1 : 0,
          ServerDurationMs: childDuration,
          ClientDurationMs: childDuration + 1,
          // Sidecar to sidecar, as the shop runs it (mtls STRICT).
          Mtls: 1,
        });
        edgeCounts.set(`${service}->${server}`, (edgeCounts.get(`${service}->${server}`) ?? 0) + 1);
        duration += childDuration + 1;
      }
      spans.push(span(traceId, serverId, parent, `GET /${service}`, 'Server', service, at, duration, failed));
      logs.push({
        Timestamp: iso(at + duration),
        TraceId: traceId,
        SpanId: serverId,
        SeverityText: failed ? 'ERROR' : 'INFO',
        SeverityNumber: failed ? 17 : 9,
        ServiceName: service,
        Body: `[${new Date(at).toISOString()}] "GET /${service} HTTP/1.1" ${failed ? 503 : 200} - 0 42 ${duration} ${duration - 1} "-" "k6" "${hex(8)}" "${service}" "127.0.0.1:0"`,
        LogAttributes: { response_code: failed ? '503' : '200', response_flags: '-' },
      });
      return duration;
    };
    visit('frontend', '', start, 0);
  }
  await client.insert({
    table: 'otel_traces',
    values: spans,
    format: 'JSONEachRow',
    clickhouse_settings: { date_time_input_format: 'best_effort' },
  });
  await client.insert({
    table: 'otel_service_graph_edges',
    values: edges,
    format: 'JSONEachRow',
    clickhouse_settings: { date_time_input_format: 'best_effort' },
  });
  await client.insert({
    table: 'otel_logs',
    values: logs,
    format: 'JSONEachRow',
    clickhouse_settings: { date_time_input_format: 'best_effort' },
  });
  return { traces, edges: edgeCounts };
}

function span(
  traceId: string,
  spanId: string,
  parent: string,
  name: string,
  kind: string,
  service: string,
  at: number,
  durationMs: number,
  failed: boolean,
): Span {
  return {
    Timestamp: iso(at),
    TraceId: traceId,
    SpanId: spanId,
    ParentSpanId: parent,
    SpanName: name,
    SpanKind: kind,
    ServiceName: service,
    ResourceAttributes: { 'service.name': service },
    SpanAttributes: { 'http.request.method': 'GET', 'http.response.status_code': failed ? '503' : '200' },
    Duration: Math.round(durationMs * 1e6),
    StatusCode: failed ? 'Error' : 'Unset',
  };
}
