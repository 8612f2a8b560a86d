// The collector process's own memory settings, beside chDB's (embedded.ts, jemalloc-options.ts).
//
// V8's young generation is left to grow as V8 grows it (16 MiB semi-spaces under load). Held at
// 4 MiB, as the proxy holds its own (proxy/core/young-generation.ts), bench:collector's peak RSS
// was ~55 MB lower, but the collector spent 8-11% more CPU per sidecar span (six quiet pairs at
// the nineteenth stop). Not traced further; the likely reasons are four times as many scavenges
// and what lives a few hundred ms (queued rows, unpaired graph spans) promoted sooner.
//
// glibc's malloc: Node's Buffers are glibc's (chDB's own allocations are its jemalloc's), and
// the first Buffer of 128 KiB or more freed raises glibc's dynamic mmap threshold to its size
// (up to 32 MiB); from then on request bodies and column slabs come from malloc's main heap,
// which is given back only from its top. MALLOC_MMAP_THRESHOLD_=131072 fixes the threshold:
// such Buffers are mapped and unmapped as they come and go. glibc reads it at the process's
// first allocation, before any of our code runs, and Node 20 cannot re-execute itself in place
// (process.execve is Node 22.15+), so whatever starts the collector passes it (meshscope up,
// docker-compose.yml, bench:collector; README for a collector started by hand).

// V8's full GCs: the collector's heap holds ~15 MB live, so after each mark-compact V8 sets the
// old generation's limit ~24 MB above it, and by default starts incremental marking (a task) as
// soon as the room left is under the young generation's capacity (16 MiB semi-spaces): after ~8 MB.
// The external memory of ArrayBuffers made since the last mark-compact counts towards that, and
// every request body arrives as node:http's copies of its chunks (a new ArrayBuffer per chunk,
// ~285 KB per sidecar-shaped request), which a scavenge would free but which arrive faster than
// the young generation fills: at ~100k spans/s a mark-compact (a whole-heap mark, its pause on
// the event loop and the marking threads' CPU) every ~150 ms. `meshscope collector` starts
// marking at 90% of that room instead (V8's --incremental-marking-soft-trigger, percent of the
// way from the size after the last GC to the limit; at the limit marking starts at once, the
// hard trigger): 2-3x fewer mark-compacts per span and ~11% more sidecar spans per CPU-second
// of the collector's own threads (bench:collector, 7 pairs), for up to ~14 MB more dead Buffers
// before each (bench:collector's peak RSS: +23 MB median over those pairs, -17 to +71, noisy).
// The limit itself and V8's heap growth are V8's own. An operator's own value of either flag on
// node's command line is kept (NODE_OPTIONS cannot carry them: node refuses to start with
// "--incremental-marking-soft-trigger= is not allowed in NODE_OPTIONS").

/** V8 flags the collector sets on itself (cli/collector.ts), each with its value. */
export const COLLECTOR_V8_FLAGS: readonly string[] = [
  '--incremental-marking-soft-trigger=90',
  '--incremental-marking-hard-trigger=99',
];

/** The COLLECTOR_V8_FLAGS the operator did not give on node's command line. */
export function collectorV8Flags(execArgv: readonly string[] = process.execArgv): string[] {
  const given = execArgv.map((a) => a.replaceAll('_', '-'));
  return COLLECTOR_V8_FLAGS.filter((f) => {
    const name = f.slice(0, f.indexOf('='));
    return !given.some((a) => a === name || a.startsWith(`${name}=`));
  });
}

/** glibc's malloc variables for the collector's environment. */
export const COLLECTOR_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };

/** The malloc variables `env` lacks: an operator's own value (any, even empty) is kept. */
export function collectorLaunchEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(COLLECTOR_MALLOC_ENV).filter(([k]) => env[k] === undefined));
}
