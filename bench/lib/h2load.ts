// Runs h2load (h2c with prior knowledge, closed loop: `clients` connections × `streams`
// concurrent streams each, bounded duration) and parses its summary.
import { execFile, spawnSync } from 'node:child_process';

export interface H2loadResult {
  requestsPerSecond: number;
  /** Mean time per request (h2load prints min/max/mean/sd, no percentiles). */
  meanMs: number;
  maxMs: number;
  requests: number;
  /** Failed or errored requests, and responses other than 2xx. */
  errors: number;
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (m === null) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : n * 1000;
}

function h2loadArgs(url: string, opts: H2loadOptions): string[] {
  return ['-c', String(opts.clients), '-m', String(opts.streams), '-D', String(opts.seconds), '-t', '1', url];
}

export interface H2loadOptions {
  clients: number;
  streams: number;
  seconds: number;
}

export function runH2load(url: string, opts: H2loadOptions): H2loadResult {
  const r = spawnSync('h2load', h2loadArgs(url, opts), { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 });
  if (r.status !== 0) throw new Error(`h2load failed: ${r.stderr || r.stdout}`);
  return parseH2load(r.stdout);
}

/** runH2load without blocking the event loop, so several can run at once. */
export function runH2loadAsync(url: string, opts: H2loadOptions): Promise<H2loadResult> {
  return new Promise((res, rej) => {
    execFile(
      'h2load',
      h2loadArgs(url, opts),
      { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 },
      (err, stdout, stderr) => {
        if (err !== null) rej(new Error(`h2load failed: ${stderr || stdout || err.message}`));
        else res(parseH2load(stdout));
      },
    );
  });
}

function parseH2load(out: string): H2loadResult {
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  const requests = Number(done?.[1] ?? NaN);
  // Responses other than 2xx; a request cut off by the duration's end has no status and is no error.
  const non2xx = codes === null ? 0 : Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  const errors = Number(done?.[3] ?? 0) + Number(done?.[4] ?? 0) + non2xx;
  return {
    requestsPerSecond: rps,
    meanMs: toMs(time?.[3] ?? ''),
    maxMs: toMs(time?.[2] ?? ''),
    requests,
    errors,
  };
}
