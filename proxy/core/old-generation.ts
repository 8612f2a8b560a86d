// Bounds how far V8 lets a proxy process's old generation grow between full collections.
//
// After each mark-compact V8 sets the next old-generation limit to the live heap times a growing
// factor, up to 4 when the collector takes little of the process's time, as in a proxy. A proxy's
// per-stream objects (node:http2's most of all) often outlive a scavenge and are promoted, so the
// old generation fills with garbage up to that limit before the next full collection. Measured
// (issue 16): a 10 s rapid-reset attack ran without one full collection after start-up while the
// heap went from 10 to 41 MB (RSS +55 MB). With the factor held at 1.5, interleaved: rapid reset
// (bench:http2-attacks, 10 s) +27 and +32 MB against +58 and +65 MB; two gRPC sidecars under
// 5000 calls (16 at a time) peaked at 81 MB RSS against 97–110 MB; CPU per call and HTTP/1.1
// requests/s (wrk -c50) within this loaded host's run-to-run noise. V8 applies the factor at the
// next limit it computes, so it is set before the proxy's modules load (their loading ends in the
// first full collection, whose limit would otherwise hold for the whole attack).
// The factor only matters when a full collection sets the next limit: proxying HTTP/1.1 under
// wrk -c50 for 20 s (130-160k requests, telemetry off and on) ran no full collection with or
// without it, so it costs that path nothing (checked with --trace-gc when issue 15's CPU gap was
// suspected of coming from it).
// An operator's own setting (NODE_OPTIONS or node flags) always wins.
import { setFlagsFromString } from 'node:v8';

/** The old generation's growing factor, as V8's `--heap-growing-percent` (1.5×). */
export const PROXY_HEAP_GROWING_PERCENT = 50;

const HEAP_GROWING_FLAG = /--heap-growing-percent\b/;

/**
 * Holds the old generation's growing factor at PROXY_HEAP_GROWING_PERCENT unless the operator set
 * it; returns the node flag a forked worker process needs for the same bound (empty if not set).
 */
export function boundOldGenerationGrowth(): string[] {
  const own = process.execArgv.some((a) => HEAP_GROWING_FLAG.test(a));
  if (own || HEAP_GROWING_FLAG.test(process.env['NODE_OPTIONS'] ?? '')) return [];
  const flag = `--heap-growing-percent=${PROXY_HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return [flag];
}
