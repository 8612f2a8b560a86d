// Ports for configs that must name a port before the process that listens on it starts (sidecars
// that know each other's ports, a mesh.yaml, an xDS listener).
//
// Asking the kernel (listen on 0, close, hand the port out) races: the kernel hands the same
// ephemeral range to every outgoing connection and every other `listen(0)` on the host, so under a
// loaded suite the port is often taken again before the proxy binds it (EADDRINUSE in a
// beforeAll). Ports here come from below the ephemeral range instead (32768-60999 on Linux), where
// the kernel never allocates on its own, and each vitest worker has its own slice of it, so two
// test files running at once never pick the same port. A bind check still skips a port that
// something else on the host holds.
import net from 'node:net';

const RANGE_START = 20_000;
const SLICE_SIZE = 1_500;
const SLICES = 8;

const poolId = Number(process.env.VITEST_POOL_ID ?? 1);
const sliceStart = RANGE_START + ((Number.isFinite(poolId) ? poolId - 1 : 0) % SLICES) * SLICE_SIZE;
// Files run one after another in a worker's slice; a random start keeps a file from reusing the
// ports its predecessor may still be closing.
let cursor = Math.floor(Math.random() * SLICE_SIZE);

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port nothing on 127.0.0.1 listens on now, outside the kernel's ephemeral range, unique in this worker. */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < SLICE_SIZE; tried++) {
    const port = sliceStart + (cursor++ % SLICE_SIZE);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}-${sliceStart + SLICE_SIZE - 1}`);
}

/** `n` distinct ports, as `freePort`. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
