// Trace context for generated requests (a fresh W3C traceparent or B3 single header per request,
// sampled per options.tracing.sampling) and the bounded list of the slowest requests with their
// trace ids, so the summary can point at the traces to open in the collector.
import { randomFillSync } from 'node:crypto';

// Ids are cut from a hex string made from one randomFillSync per POOL_IDS requests: per request
// only two slices of an already-flat string, no crypto call and no per-request hex encoding.
// The string (48 KiB) stays below V8's large-object size, so a used-up pool dies young instead
// of piling up in old space until a full GC (measured: +15 MB peak RSS with 192 KiB pools).
// The same hex as bytes (a new buffer per pool, which the ids cut from it keep alive) lets a
// request head copy an id's bytes instead of reading it back from the string a char at a time.
const ID_HEX = 48;
const POOL_IDS = 1024;
const poolBytes = Buffer.allocUnsafe((ID_HEX / 2) * POOL_IDS);
let hexPool = '';
let hexBytes: Buffer = Buffer.alloc(0);
let offset = ID_HEX * POOL_IDS;

export interface TraceIds {
  traceId: string;
  spanId: string;
  /**
   * When the ids are cut from a pool: its hex as bytes, the trace id at hex[at, at + 32) and the
   * span id right after it (traced-head.ts copies them from there); null otherwise.
   */
  hex: Buffer | null;
  at: number;
}

export function newTraceIds(): TraceIds {
  if (offset === ID_HEX * POOL_IDS) {
    hexPool = randomFillSync(poolBytes).toString('hex');
    hexBytes = Buffer.from(hexPool, 'latin1');
    offset = 0;
  }
  const at = offset;
  offset += ID_HEX;
  return { traceId: hexPool.slice(at, at + 32), spanId: hexPool.slice(at + 32, at + ID_HEX), hex: hexBytes, at };
}

export function traceHeader(
  propagator: 'w3c' | 'b3',
  ids: { traceId: string; spanId: string },
  sampled: boolean,
): string {
  return propagator === 'b3'
    ? `b3: ${ids.traceId}-${ids.spanId}-${sampled ? '1' : '0'}\r\n`
    : `traceparent: 00-${ids.traceId}-${ids.spanId}-${sampled ? '01' : '00'}\r\n`;
}

export interface SlowRequest {
  /** http_req_duration as reported (coordinated-omission corrected for open-model scenarios). */
  duration: number;
  /** From the actual send. */
  uncorrected: number;
  method: string;
  url: string;
  name: string;
  status: number;
  scenario: string;
  traceId: string;
  sampled: boolean;
  /** Unix ms. */
  time: number;
}

/** Top-N by duration in a min-heap: O(1) rejection for the common fast request. */
export class SlowestRequests {
  readonly #heap: SlowRequest[] = [];
  readonly #capacity: number;
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Cheap pre-check so callers only build a record for candidates. */
  wants(duration: number): boolean {
    return this.#capacity > 0 && (this.#heap.length < this.#capacity || duration > this.#heap[0]!.duration);
  }

  offer(r: SlowRequest): void {
    const h = this.#heap;
    if (h.length < this.#capacity) {
      h.push(r);
      let i = h.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p]!.duration <= h[i]!.duration) break;
        [h[p], h[i]] = [h[i]!, h[p]!];
        i = p;
      }
      return;
    }
    if (r.duration <= h[0]!.duration) return;
    h[0] = r;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const rr = l + 1;
      let m = i;
      if (l < h.length && h[l]!.duration < h[m]!.duration) m = l;
      if (rr < h.length && h[rr]!.duration < h[m]!.duration) m = rr;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }

  /** Slowest first. */
  list(): SlowRequest[] {
    return [...this.#heap].sort((a, b) => b.duration - a.duration);
  }
}
