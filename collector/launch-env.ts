// The collector process's own memory settings, beside chDB's (embedded.ts, jemalloc-options.ts).
//
// V8's young generation: V8 doubles its semi-spaces whenever enough objects survive scavenges,
// up to 16 MiB each, and a busy collector gets there within seconds. What the collector
// allocates per request (a body's decode, its promise chain) dies young in a few MiB; what
// survives is the queue's rows and slabs, tenured at any size. `meshscope collector` holds the
// semi-spaces at 4 MiB in-process (cli/collector.ts, V8's growth factor set after every GC as
// the proxy does: proxy/core/young-generation.ts), so however the collector is started; an
// operator's own --max-semi-space-size or --semi-space-growth-factor wins.
//
// glibc's malloc: Node's Buffers are glibc's (chDB's own allocations are its jemalloc's), and
// the first Buffer of 128 KiB or more freed raises glibc's dynamic mmap threshold to its size
// (up to 32 MiB); from then on request bodies and column slabs come from malloc's main heap,
// which is given back only from its top. MALLOC_MMAP_THRESHOLD_=131072 fixes the threshold:
// such Buffers are mapped and unmapped as they come and go. glibc reads it at the process's
// first allocation, before any of our code runs, and Node 20 cannot re-execute itself in place
// (process.execve is Node 22.15+), so whatever starts the collector passes it (meshscope up,
// docker-compose.yml, bench:collector; README for a collector started by hand).

/** The semi-space size the collector holds V8's young generation at. */
export const COLLECTOR_SEMI_SPACE_BYTES = 4 * 1024 * 1024;

const SEMI_SPACE_FLAGS = /--(max-semi-space-size|semi-space-growth-factor)\b/;

/** True when the operator sized V8's young generation (node flags or NODE_OPTIONS). */
export function youngGenerationSizedByOperator(
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return execArgv.some((a) => SEMI_SPACE_FLAGS.test(a)) || SEMI_SPACE_FLAGS.test(env.NODE_OPTIONS ?? '');
}

/** glibc's malloc variables for the collector's environment. */
export const COLLECTOR_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };

/** The malloc variables `env` lacks: an operator's own value (any, even empty) is kept. */
export function collectorLaunchEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(COLLECTOR_MALLOC_ENV).filter(([k]) => env[k] === undefined));
}
