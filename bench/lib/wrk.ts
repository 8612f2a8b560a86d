// Runs wrk (closed loop, fixed connection count, bounded duration) and parses its summary.
import { execFile, spawnSync } from 'node:child_process';

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (m === null) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function wrkArgs(url: string, opts: WrkOptions): string[] {
  return [`-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', url];
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  threads?: number;
}

export function runWrk(url: string, opts: WrkOptions): WrkResult {
  const r = spawnSync('wrk', wrkArgs(url, opts), { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}

/** runWrk without blocking the event loop, so several can run at once. */
export function runWrkAsync(url: string, opts: WrkOptions): Promise<WrkResult> {
  return new Promise((res, rej) => {
    execFile(
      'wrk',
      wrkArgs(url, opts),
      { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 },
      (err, stdout, stderr) => {
        if (err !== null) rej(new Error(`wrk failed: ${stderr || stdout || err.message}`));
        else res(parseWrk(stdout));
      },
    );
  });
}

function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (errs === null ? 0 : errs.slice(1).reduce((a, b) => a + Number(b), 0)) + non2xx;
  return { requestsPerSecond: rps, p50Ms: p50, p99Ms: p99, requests, errors };
}
