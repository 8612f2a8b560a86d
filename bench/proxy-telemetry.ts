// `npm run bench:proxy-telemetry`: the telemetry rows of bench:proxy on their own (what
// telemetry costs in requests/s, and the two-sidecar latency at 1000 req/s open loop); see
// bench/lib/telemetry.ts. Prints one JSON object.
// Knobs: BENCH_SECONDS (8), BENCH_CONNECTIONS (50), BENCH_ROUNDS (3), LAT_RATE (1000),
// LAT_SECONDS (10), WARM_SECONDS (3).
import { startNginxUpstream, stopAll } from './lib/peers.js';
import { measureTelemetry, telemetryBenchOptions } from './lib/telemetry.js';

async function main(): Promise<void> {
  const upstream = await startNginxUpstream();
  const telemetry = await measureTelemetry(upstream, telemetryBenchOptions());
  await stopAll();
  process.stdout.write(`${JSON.stringify({ benchmark: 'proxy-telemetry', ...telemetry }, null, 2)}\n`);
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(
    `bench:proxy-telemetry failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
