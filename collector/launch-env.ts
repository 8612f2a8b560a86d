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

/** glibc's malloc variables for the collector's environment. */
export const COLLECTOR_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };

/** The malloc variables `env` lacks: an operator's own value (any, even empty) is kept. */
export function collectorLaunchEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(COLLECTOR_MALLOC_ENV).filter(([k]) => env[k] === undefined));
}
