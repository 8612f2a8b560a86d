// Bounds V8's young generation in a proxy process.
//
// V8 doubles the semi-spaces of its young generation whenever enough objects survive
// scavenges, up to 16 MB each on 64-bit, and a busy proxy gets there within seconds: ~20 MB of
// extra RSS (93 MB instead of 74 MB under `npm run bench:proxy`). A proxy's per-request garbage
// dies young at any semi-space size, so the larger space buys little: under wrk -c50, scavenges
// took 1.5% of CPU at 16 MB and 2.6% at 4 MB, the same requests/s within noise.
//
// Node only takes `--max-semi-space-size` before V8 starts. The semi-space growth factor is read
// at every growth, though, so setting it to 1 holds the young generation at the size module
// loading left it (4 or 8 MB semi-spaces on Node 20, depending on start-up). V8 also shrinks the
// young generation of a process that has been idle for a while, to its minimum (1-2 MB of new
// space), and with growth held at 1 it would stay there: after an idle spell the proxy
// scavenged four times as often (about 10 times a second at only 1000 req/s) and served fewer
// requests/s under full load (median 25.6k against 30.2k in an interleaved A/B). So after every
// GC the factor is set to what grows the young generation back to its start-up size in one
// step, and back to 1 once it is there. Starting a worker thread (the telemetry export threads)
// puts the process-wide factor back to V8's default of 2, and the proxy's young generation then
// doubled to 16 MB semi-spaces within a few scavenges (peak RSS 131 MB against 77 MB without
// telemetry under wrk), so the factor is set again once each worker is online. Cluster workers
// are new processes and get the real flag. An operator's own setting (NODE_OPTIONS or node
// flags) always wins.
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';

const SEMI_SPACE_FLAGS = /--(max-semi-space-size|semi-space-growth-factor)\b/;

/** True when the operator sized the young generation themselves. */
function operatorSized(): boolean {
  return process.execArgv.some((a) => SEMI_SPACE_FLAGS.test(a)) || SEMI_SPACE_FLAGS.test(process.env['NODE_OPTIONS'] ?? '');
}

function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * Holds the young generation at `targetBytes` (new space, both semi-spaces): after each GC,
 * the growth factor is whatever makes V8's next growth land on the target (V8 grows only when
 * enough has survived, and by the factor at that moment), or 1 once the target is reached.
 */
export function holdYoungGenerationAt(targetBytes: number): void {
  let factor = 0;
  const apply = (): void => {
    const size = newSpaceBytes();
    const wanted = size >= targetBytes || size === 0 ? 1 : Math.max(2, Math.floor(targetBytes / size));
    if (wanted === factor) return;
    factor = wanted;
    setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
  };
  apply();
  new PerformanceObserver(apply).observe({ entryTypes: ['gc'] });
  process.on('worker', (worker) =>
    worker.once('online', () => {
      factor = 0;
      apply();
    }),
  );
}

/**
 * Stops the young generation of this process from growing beyond its start-up size (and lets
 * it grow back to that size after V8 shrank it). Returns the node flags a forked worker
 * process needs for the same bound (empty when the operator sized it).
 */
export function boundYoungGeneration(): string[] {
  if (operatorSized()) return [];
  const startUp = newSpaceBytes();
  holdYoungGenerationAt(startUp);
  // new_space counts both semi-spaces; a worker gets the same semi-space, at least 1 MB.
  const semiSpaceMb = Math.max(1, Math.round(startUp / 2 / 1024 / 1024));
  return [`--max-semi-space-size=${semiSpaceMb}`];
}
