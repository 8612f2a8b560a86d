// `npm run bench:proxy`: meshscope against nginx and haproxy as reverse proxies, side by side
// in one run. Same upstream (nginx `return 200`), same wrk connection count, bounded duration
// per row. Prints one JSON object: requests/s, p50/p99, the proxy's peak RSS and ratios to
// nginx. Rows are a list so more scenarios (telemetry on, two sidecars) slot in.
// Knobs: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 50).
import { freePort, proxyBootstrap, startHaproxy, startMeshscope, startNginxProxy, startNginxUpstream, stopAll, type Peer } from './lib/peers.js';
import { runWrk, type WrkResult } from './lib/wrk.js';
import { peakRssMb } from './lib/rss.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

interface Row {
  name: string;
  /** Starts the system under test in front of the upstream; null = hit the upstream directly. */
  start: ((upstreamPort: number) => Promise<Peer>) | null;
}

const rows: Row[] = [
  { name: 'upstream-direct', start: null },
  {
    name: 'meshscope-c1',
    start: async (up) => {
      const port = await freePort();
      return startMeshscope('meshscope-c1', proxyBootstrap(port, up), port, ['--concurrency', '1']);
    },
  },
  {
    // Informational: V8's default young-generation growth (16 MB semi-spaces under load), which
    // the proxy CLI otherwise holds at its start-up size; shows what that bound saves.
    name: 'meshscope-c1-v8-default-semi-space',
    start: async (up) => {
      const port = await freePort();
      return startMeshscope('meshscope-c1-v8-default-semi-space', proxyBootstrap(port, up), port, ['--concurrency', '1'], ['--max-semi-space-size=16']);
    },
  },
  { name: 'nginx-1-worker', start: startNginxProxy },
  { name: 'haproxy-1-thread', start: startHaproxy },
];

interface Measured extends WrkResult {
  name: string;
  peakRssMb: number | null;
}

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const results: Measured[] = [];
  try {
    for (const row of rows) {
      const peer = row.start === null ? null : await row.start(upstream.port);
      const port = peer === null ? upstream.port : peer.port;
      // Short warm-up so JIT and connection pools are settled before the measured run.
      runWrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, seconds: 3 });
      const r = runWrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, seconds: SECONDS });
      results.push({ name: row.name, ...r, peakRssMb: peer === null ? null : peakRssMb(peer.pid) });
      await peer?.stop();
    }
  } finally {
    await stopAll();
  }
  const nginx = results.find((r) => r.name === 'nginx-1-worker')!;
  const mesh = results.find((r) => r.name === 'meshscope-c1')!;
  const out = {
    benchmark: 'proxy',
    connections: CONNECTIONS,
    secondsPerRow: SECONDS,
    rows: results.map((r) => ({
      ...r,
      rpsRatioToNginx: Math.round((r.requestsPerSecond / nginx.requestsPerSecond) * 100) / 100,
      p99RatioToNginx: Math.round((r.p99Ms / nginx.p99Ms) * 100) / 100,
    })),
    goals: {
      rpsAtLeastHalfOfNginx: mesh.requestsPerSecond >= 0.5 * nginx.requestsPerSecond,
      p99AtMostTwiceNginx: mesh.p99Ms <= 2 * nginx.p99Ms,
      peakRssAtMost80Mb: (mesh.peakRssMb ?? Infinity) <= 80,
    },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`bench:proxy failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
