// The collector's query API seen from a client: what `meshscope trace` and `meshscope top` read
// and how they draw it. Kept apart from collector/index.ts so these commands never load the
// embedded database the collector itself needs.
import type { JaegerResponse, JaegerTrace } from '../api/jaeger-model.js';
import type { Topology } from './top.js';

export { renderWaterfall, type WaterfallOptions } from './waterfall.js';
export { renderTop, type Topology, type TopologyNode } from './top.js';
export type { JaegerTrace } from '../api/jaeger-model.js';

/** The query API answered with something other than what was asked for. */
export class CollectorQueryError extends Error {
  readonly code = 'MS_ERR_COLLECTOR_CLIENT';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'CollectorQueryError';
  }
}

async function getJson<T>(url: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new CollectorQueryError(`cannot reach the collector at ${new URL(url).origin}: ${(err as Error).message}`, 0);
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text;
    try {
      const body = JSON.parse(text) as { errors?: Array<{ msg: string }>; error?: { message: string } };
      detail = body.errors?.[0]?.msg ?? body.error?.message ?? text;
    } catch {
      // not JSON: the text says it
    }
    throw new CollectorQueryError(`${res.status} from ${url}: ${detail}`, res.status);
  }
  return JSON.parse(text) as T;
}

/** A whole trace by id, from Jaeger's API (`/api/traces/{id}`). */
export async function fetchTrace(collectorUrl: string, traceId: string): Promise<JaegerTrace> {
  const body = await getJson<JaegerResponse<JaegerTrace[]>>(
    `${collectorUrl}/api/traces/${encodeURIComponent(traceId)}`,
  );
  const found = body.data[0];
  if (found === undefined) throw new CollectorQueryError(`trace ${traceId} not found`, 404);
  return found;
}

/** The service graph over [start, end]. */
export function fetchTopology(collectorUrl: string, startMs: number, endMs: number): Promise<Topology> {
  return getJson<Topology>(
    `${collectorUrl}/api/meshscope/topology?start=${Math.floor(startMs)}&end=${Math.ceil(endMs)}`,
  );
}
