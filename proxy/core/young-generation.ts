// Bounds V8's young generation in a proxy process.
//
// V8 doubles the semi-spaces of its young generation whenever enough objects survive
// scavenges, up to 16 MB each on 64-bit, and a busy proxy gets there within seconds: ~20 MB of
// extra RSS (93 MB instead of 74 MB under `npm run bench:proxy`). A proxy's per-request garbage
// dies young at any semi-space size, so the larger space buys little: under wrk -c50, scavenges
// took 1.5% of CPU at 16 MB and 2.6% at 4 MB, the same requests/s within noise.
//
// Node only takes `--max-semi-space-size` before V8 starts. The semi-space growth factor is read
// at every growth, though, so setting it to 1 holds the young generation where it is. The proxy
// holds it at 8 MB semi-spaces (PROXY_SEMI_SPACE_BYTES; 4 MB until the start's pages of Node's
// binary were given back, see the end of "Why" below). That used to be "the size module loading
// left it", which was 4 MB until the codec seams, the HTTP/2 codec and the xDS protos made
// loading allocate more: V8 then grew it to 8 MB while the modules loaded and the bound held it
// there, 8 MB more peak RSS under wrk (84 MB against 76 MB) for nothing a benchmark could see.
// So the CLI stops growth before the proxy's modules load (holdYoungGenerationWhileLoading)
// and the bound is a size, not an accident of the import graph. V8 also shrinks the young
// generation of a process that has been idle for a while, to its minimum (1 MB semi-spaces),
// and with growth held at 1 it would stay there: after an idle spell the proxy scavenged four
// times as often (about 10 times a second at only 1000 req/s) and served fewer requests/s under
// full load (median 25.6k against 30.2k in an interleaved A/B). So after every GC the factor is
// set to what grows the young generation back to its held size in one step, and back to 1
// once it is there. Starting a worker thread (the telemetry export threads) puts the
// process-wide factor back to V8's default of 2, and the proxy's young generation then doubled
// to 16 MB semi-spaces within a few scavenges (peak RSS 131 MB against 77 MB without telemetry
// under wrk), so the factor is set again once each worker is online. Cluster workers are new
// processes and get the real flag. An operator's own setting (NODE_OPTIONS or node flags)
// always wins.
//
// Why 4 MB, measured (issue 21; `npm run bench:proxy-young-generation`, wrk -c50, sizes fixed
// with --min/--max-semi-space-size, interleaved): a proxied request allocates ~7.5 kB and
// ~50-60 kB survive each scavenge at every size, so a scavenge costs about the same whatever the
// size (median pause 0.4 ms at 1 MB to 0.9 ms at 8 MB and 1.25 ms at 16 MB) and the count per
// request halves with each doubling: 789, 404, 204, 105 and 52 scavenges per 100k requests for 1,
// 2, 4, 8 and 16 MB, i.e. ~3.2, 2.0, 1.2, 0.95 and 0.65 us of scavenging per request (medians)
// against 40-50 us of CPU per request. Peak RSS: 70, 71, 74, 82 and 96 MB. 8 MB would buy ~0.3
// us per request (<1%) for 8 MB over issue 21's 80 MB bound; nothing else in the process frees
// that much cheaply. Of the ~75 MB, ~42 MB are the node binary's file pages (34 MB in a bare
// node) and ~9 MB malloc's. The old space holds ~11 MB after start-up with the bench's YAML
// bootstrap, measured module by module (gc'd, old space used after each import): a bare node
// 2.7 MB, yaml 0.95, zod 2.3, the config schemas (api/schema) 2.2, config loading 0.7, the
// proxy's core 1.4, loading the bootstrap 0.8 (bytecode of the load path), starting 0.4. The
// running proxy keeps zod and the schemas (listener, cluster, runtime and xDS updates validate
// through them) and ES modules cannot be unloaded; what a plain HTTP/1.1 configuration loads
// without using is small: node:http (0.2 MB, now loaded by the first HTTP health checker), our
// TLS modules (0.45 MB), yaml once parsed (0.5 MB, freed only by a full collection, which an
// HTTP/1.1 proxy under load does not run). Together ~1 MB, not the ~7 MB that 8 MB
// semi-spaces add. So 4 MB stayed, until the node binary's pages were found to be the slack:
// since the proxy gives back what its start touched of them (shared/file-pages.ts; ~40 MB
// resident after start, ~21 MB of it under load) its peak RSS under wrk -c50 is 63 MB at 4 MB
// and 65-66 MB at 8 MB (80 MB at 16 MB, so not that). Interleaved, one build, the size alone
// (6 rounds of wrk -c50 5 s, load average 7-10): 4 MB 125 scavenges per 100k requests, 8 MB 62;
// CPU per request (medians) 15.05 against 14.25 us. What the size does to the tail: a pause
// stalls every request in flight (~50 under wrk -c50), so the share of requests whose time in
// the proxy (a downstream read to its response's write, perf's syscall trace beside the 'gc'
// entries) spans a scavenge is 4.5% at 4 MB and 2.1-2.3% at 8 MB, their median 1.4-1.9 ms
// against 0.85 ms. Above 1% a scavenge is in every p99; taking it out would take 16 MB or half
// a request's ~5 kB of garbage.
// What the hold costs: after an idle spell V8 shrinks the young generation to 1 MB at the first
// scavenge, and grows it back only once a semi-space's worth has survived since (about 15
// scavenges, ~8k requests at 1 MB); bench rows that sit idle between rounds show it (369
// scavenges per 100k requests held against 204 fixed at 4 MB).
//
// The size is the semi-space's capacity, not new space's committed size (`space_size`): V8
// uncommits the idle from-space now and then, which halves `space_size` while the capacity, and
// so the next growth, is unchanged. Read as a shrink, that set a factor of 2 and the next
// growth doubled the semi-space past its bound.
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';

const SEMI_SPACE_FLAGS = /--(max-semi-space-size|semi-space-growth-factor)\b/;

/** True when the operator sized the young generation themselves. */
function operatorSized(): boolean {
  return (
    process.execArgv.some((a) => SEMI_SPACE_FLAGS.test(a)) || SEMI_SPACE_FLAGS.test(process.env['NODE_OPTIONS'] ?? '')
  );
}

const MB = 1024 * 1024;

/**
 * The capacity of one semi-space, which V8's growth multiplies: new space's used plus available
 * bytes, the usable area of the to-space's pages. That area is about 1.7% short of the pages'
 * size (their headers), and semi-spaces here are whole megabytes (1 MB at the least, grown by
 * whole factors, at most 16 MB unless an operator sized them), so the nearest megabyte is the
 * capacity.
 */
export function semiSpaceBytes(): number {
  const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (newSpace === undefined) return 0;
  return Math.round((newSpace.space_used_size + newSpace.space_available_size) / MB) * MB;
}

/**
 * Holds the young generation at semi-spaces of `targetBytes`: after each GC,
 * the growth factor is whatever makes V8's next growth land on the target (V8 grows only when
 * enough has survived, and by the factor at that moment), or 1 once the target is reached.
 */
export function holdYoungGenerationAt(targetBytes: number): void {
  // The factor is set after every GC, not only when it changes: V8's flag is process-wide and a
  // worker thread's start puts it back to 2, at a moment this thread does not see ('online' may
  // come before it), so a remembered "already 1" could go stale and let the next growth double.
  const apply = (): void => {
    const size = semiSpaceBytes();
    const wanted = size >= targetBytes || size === 0 ? 1 : Math.max(2, Math.floor(targetBytes / size));
    setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
  };
  apply();
  new PerformanceObserver(apply).observe({ entryTypes: ['gc'] });
  process.on('worker', (worker) => worker.once('online', apply));
}

/** The semi-space size a proxy process holds its young generation at (see the header). */
export const PROXY_SEMI_SPACE_BYTES = 8 * MB;

/**
 * Stops V8 growing the young generation while the proxy's modules load (it stays at the 1 MB
 * a process starts with), so that boundYoungGeneration, not how much loading allocated, sets
 * its size. Call before importing the proxy; a no-op when the operator sized it.
 */
export function holdYoungGenerationWhileLoading(): void {
  if (!operatorSized()) setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Holds the young generation of this process at PROXY_SEMI_SPACE_BYTES (or at its size now,
 * when it grew past that before this call). Returns the node flags a forked worker process
 * needs for the same bound (empty when the operator sized it).
 */
export function boundYoungGeneration(): string[] {
  if (operatorSized()) return [];
  const target = Math.max(PROXY_SEMI_SPACE_BYTES, semiSpaceBytes());
  holdYoungGenerationAt(target);
  return [`--max-semi-space-size=${target / MB}`];
}
