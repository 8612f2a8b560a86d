// Runs the open-loop latency client (bench/open-loop-client.ts) in its own process and
// summarises what it recorded with an HDR histogram.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import hdr from 'hdr-histogram-js';

export interface LatencySummary {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface OpenLoopResult {
  sent: number;
  errors: number;
  /** Failed calls by status and details, when the client reports them (the gRPC client does). */
  errorsByStatus: Record<string, number>;
  connections: number;
  /** From writing the request to the response's last byte (fortio's measure, Istio's published one). */
  service: LatencySummary;
  /** From the request's scheduled send time (wrk2's measure; adds the client's timer lateness). */
  fromSchedule: LatencySummary;
  /** The client's own CPU per recorded call (user + system), when it reports it (the gRPC clients do). */
  clientCpuUsPerCall?: number;
  /**
   * Each recorded request's write time (CLOCK_MONOTONIC ms) and service time (us), in order, when
   * the client ran with OPEN_LOOP_WRITTEN=1 (bench/lib/gc-trace.ts lines them up with GC pauses).
   */
  requests?: { writtenMs: number[]; serviceUs: number[] };
}

// npm scripts bundle each bench entry into dist/bench/, the client beside it.
const CLIENT = resolve(process.cwd(), 'dist/bench/open-loop-client.js');

function summarise(us: number[]): LatencySummary {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const v of us) h.recordValue(Math.max(1, Math.round(v)));
  const ms = (p: number): number => Math.round(h.getValueAtPercentile(p)) / 1000;
  return { p50Ms: ms(50), p90Ms: ms(90), p99Ms: ms(99), p999Ms: ms(99.9), maxMs: Math.round(h.maxValue) / 1000 };
}

/**
 * `rate` requests/s to 127.0.0.1:`port` for `seconds`, after `warmSeconds` of the same load
 * unrecorded; `client` is the bundled client script (HTTP/1.1 by default, or the gRPC one).
 */
export function openLoop(
  port: number,
  rate: number,
  seconds: number,
  warmSeconds: number,
  client: string = CLIENT,
): Promise<OpenLoopResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [client, String(port), String(rate), String(seconds), String(warmSeconds)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + warmSeconds + 30) * 1000);
    child.once('error', rej);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return rej(new Error(`open-loop client failed (exit ${code}): ${err.trim()}`));
      const r = JSON.parse(out) as {
        sent: number;
        errors: number;
        errorsByStatus?: Record<string, number>;
        clientCpuUsPerCall?: number;
        connections: number;
        serviceUs: number[];
        scheduledUs: number[];
        writtenMs?: number[];
      };
      res({
        sent: r.sent,
        errors: r.errors,
        errorsByStatus: r.errorsByStatus ?? {},
        ...(r.clientCpuUsPerCall === undefined ? {} : { clientCpuUsPerCall: r.clientCpuUsPerCall }),
        ...(r.writtenMs === undefined ? {} : { requests: { writtenMs: r.writtenMs, serviceUs: r.serviceUs } }),
        connections: r.connections,
        service: summarise(r.serviceUs),
        fromSchedule: summarise(r.scheduledUs),
      });
    });
  });
}
