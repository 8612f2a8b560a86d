// The collector's APIs as the page reads them: Jaeger's (services, operations, traces) and
// meshscope's own (topology, latency, logs). Same origin, so no configuration. The topology and
// latency answers are the server's own declarations (types only: nothing of the server is bundled).
import type { LatencyPoint, Topology } from '../../api/topology-model.js';

export type { LatencyPoint, RedFigures, Topology } from '../../api/topology-model.js';

export interface JaegerKeyValue {
  key: string;
  type: string;
  value: string | number | boolean;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  startTime: number;
  duration: number;
  tags: JaegerKeyValue[];
  logs: Array<{ timestamp: number; fields: JaegerKeyValue[] }>;
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerKeyValue[] }>;
}

export interface LogLine {
  time: string;
  traceId: string;
  spanId: string;
  serviceName: string;
  severityText: string;
  body: string;
  attributes: Record<string, string>;
}

export class ApiError extends Error {}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(path);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(`${path}: ${res.status} ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const b = body as { errors?: Array<{ msg: string }>; error?: { message: string } };
    throw new ApiError(b.errors?.[0]?.msg ?? b.error?.message ?? `${path}: HTTP ${res.status}`);
  }
  return body as T;
}

const qs = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  return q.toString();
};

export const api = {
  services: async (): Promise<string[]> => (await get<{ data: string[] }>('/api/services')).data,
  operations: async (service: string): Promise<string[]> =>
    (await get<{ data: string[] }>(`/api/services/${encodeURIComponent(service)}/operations`)).data,
  searchTraces: async (params: Record<string, string | number | undefined>): Promise<JaegerTrace[]> =>
    (await get<{ data: JaegerTrace[] }>(`/api/traces?${qs(params)}`)).data,
  trace: async (id: string): Promise<JaegerTrace | undefined> => {
    const res = await fetch(`/api/traces/${encodeURIComponent(id)}`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new ApiError(`trace ${id}: HTTP ${res.status}`);
    return ((await res.json()) as { data: JaegerTrace[] }).data[0];
  },
  topology: (startMs: number, endMs: number): Promise<Topology> =>
    get<Topology>(`/api/meshscope/topology?${qs({ start: startMs, end: endMs })}`),
  latency: async (service: string, startMs: number, endMs: number): Promise<LatencyPoint[]> =>
    (
      await get<{ series: LatencyPoint[] }>(
        `/api/meshscope/latency?${qs({ service, start: Math.floor(startMs), end: Math.ceil(endMs) })}`,
      )
    ).series,
  edgeLatency: async (
    source: string,
    target: string,
    startMs: number,
    endMs: number,
  ): Promise<Array<LatencyPoint & { errors: number }>> =>
    (
      await get<{ series: Array<LatencyPoint & { errors: number }> }>(
        `/api/meshscope/edge-latency?${qs({ source, target, start: Math.floor(startMs), end: Math.ceil(endMs) })}`,
      )
    ).series,
  logsOfTrace: async (traceId: string): Promise<LogLine[]> =>
    (await get<{ logs: LogLine[] }>(`/api/meshscope/logs?${qs({ traceId: traceId.padStart(32, '0') })}`)).logs,
  searchLogs: async (params: Record<string, string | number | undefined>): Promise<LogLine[]> =>
    (await get<{ logs: LogLine[] }>(`/api/meshscope/logs/search?${qs(params)}`)).logs,
};
