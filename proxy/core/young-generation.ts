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
// loading left it (8 MB semi-spaces on Node 20). Cluster workers are new processes and get the
// real flag. An operator's own setting (NODE_OPTIONS or node flags) always wins.
import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';

const SEMI_SPACE_FLAGS = /--(max-semi-space-size|semi-space-growth-factor)\b/;

/** True when the operator sized the young generation themselves. */
function operatorSized(): boolean {
  return process.execArgv.some((a) => SEMI_SPACE_FLAGS.test(a)) || SEMI_SPACE_FLAGS.test(process.env['NODE_OPTIONS'] ?? '');
}

/**
 * Stops the young generation of this process from growing any further. Returns the node flags
 * a forked worker process needs for the same bound (empty when the operator sized it).
 */
export function boundYoungGeneration(): string[] {
  if (operatorSized()) return [];
  setFlagsFromString('--semi-space-growth-factor=1');
  const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  // new_space counts both semi-spaces; a worker gets the same semi-space, at least 1 MB.
  const semiSpaceMb = Math.max(1, Math.round((newSpace?.space_size ?? 0) / 2 / 1024 / 1024));
  return [`--max-semi-space-size=${semiSpaceMb}`];
}
