// The run both gRPC open-loop clients (grpc-frames-client.ts, grpc-open-loop-client.ts) make and
// the line they print, as bench/lib/open-loop.ts reads it: WARM_SECONDS of calls unrecorded, then
// SECONDS recorded with the client's own CPU counted (user + system over the measured phase, per
// call it was to make), so a row shows when the client itself is what waits for a CPU.

/** What a client recorded, printed as the one JSON line after the run. */
export interface GrpcClientRecord {
  sent: number;
  errors: number;
  errorsByStatus: Record<string, number>;
  serviceUs: number[];
  scheduledUs: number[];
}

/**
 * Runs `paced` (RATE calls a second for the given seconds, recorded or not) for the warm-up and
 * the measured phase, then prints `record()` with connections and clientCpuUsPerCall.
 */
export async function runPhases(
  paced: (secs: number, recorded: boolean) => Promise<void>,
  rate: number,
  seconds: number,
  warmSeconds: number,
  record: () => GrpcClientRecord,
): Promise<void> {
  await paced(warmSeconds, false);
  const cpuBefore = process.cpuUsage();
  await paced(seconds, true);
  const cpu = process.cpuUsage(cpuBefore);
  const clientCpuUsPerCall = Math.round((cpu.user + cpu.system) / Math.max(1, Math.round(rate * seconds)));
  const { sent, errors, errorsByStatus, serviceUs, scheduledUs } = record();
  process.stdout.write(
    `${JSON.stringify({ sent, errors, errorsByStatus, connections: 1, clientCpuUsPerCall, serviceUs, scheduledUs })}\n`,
  );
}
