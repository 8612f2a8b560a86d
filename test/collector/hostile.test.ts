// Hostile input, as an operator meets it, against a collector child process: a request
// spread over 150 days is answered with partial success and never blocks the traffic behind
// it; gzip bombs and floods of tiny spans keep the process's peak resident set under its
// --memory-limit (refused with 429 + Retry-After, never crashed).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTraceBody } from '../helpers/otlp-json.js';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');
const LIMIT_MIB = 512;
const dir = mkdtempSync(join(tmpdir(), 'collector-hostile-'));
let child: ChildProcess;
let otlp: string;
let api: string;

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [
      MAIN,
      'collector',
      '--otlp-http',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--data',
      dir,
      '--memory-limit',
      String(LIMIT_MIB),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  [otlp, api] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/OTLP\/HTTP on (\S+), query API on (\S+)/);
      if (m !== null) resolve([m[1]!, m[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}: ${err}`)));
  });
}, 60_000);

afterAll(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const DAY_NS = 86_400_000_000_000n;

function spans(service: string, trace: number, count: number, startNs: (i: number) => bigint): string {
  return otlpTraceBody({ service, trace, spans: count, name: () => '', startNs, durationNs: 1_000_000n });
}

const post = (path: string, body: Buffer | string, headers: Record<string, string> = {}) =>
  fetch(`${otlp}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

async function traceSpans(trace: number): Promise<number> {
  const res = await fetch(`${api}/api/meshscope/traces/${hex(trace, 32)}`);
  return res.status === 200 ? ((await res.json()) as { spans: unknown[] }).spans.length : 0;
}

/** Peak resident set of the child so far (VmHWM), in MiB. */
const peakMiB = (): number =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;

describe('hostile input', () => {
  it('refuses spans outside the retention window at decode and stores the traffic behind them', async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    // 150 spans over 150 days (one per day, back from now) and one two hours ahead.
    const res = await post(
      '/v1/traces',
      spans('poison', 1, 151, (i) => (i === 150 ? now + 2n * 3_600_000_000_000n : now - BigInt(i) * DAY_NS)),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    // Days 0-6 are inside the default 7-day TTL; 143 older ones and the future one are refused.
    expect(body.partialSuccess.rejectedSpans).toBe('144');
    expect(body.partialSuccess.errorMessage).toMatch(/older than the 7-day retention window/);
    for (let t = 2; t < 6; t++)
      expect(
        (
          await post(
            '/v1/traces',
            spans('normal', t, 10, () => now),
          )
        ).status,
      ).toBe(200);
    // Polled, not timed: the traffic after the poison is queryable.
    for (let t = 2; t < 6; t++) while ((await traceSpans(t)) < 10) await new Promise((r) => setTimeout(r, 100));
    expect(await traceSpans(1)).toBe(7);
  }, 60_000);

  it('keeps its peak resident set under --memory-limit through gzip bombs and floods of tiny spans', async () => {
    // 16 MiB of zeros, ~16 KiB compressed: at the request-size limit once inflated.
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024 - 1));
    const codes = new Map<number, number>();
    const count = (s: number): void => void codes.set(s, (codes.get(s) ?? 0) + 1);
    for (let round = 0; round < 4; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 64 }, () =>
          post('/v1/traces', bomb, { 'content-encoding': 'gzip', 'content-type': 'application/x-protobuf' }).then(
            (r) => r.status,
            () => 0,
          ),
        ),
      );
      for (const s of statuses) count(s);
    }
    // Refused as retryable (429, budget) or undecodable (400): never accepted, never a crash.
    expect([...codes.keys()].every((s) => s === 400 || s === 429 || s === 413)).toBe(true);
    const afterBombs = peakMiB();
    expect(afterBombs).toBeLessThan(LIMIT_MIB);
    const now = BigInt(Date.now()) * 1_000_000n;
    let acked = 0;
    let throttled = 0;
    for (let round = 0; round < 20; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          post(
            '/v1/traces',
            spans('tiny', 1000 + round * 200 + i, 1, () => now),
          ).then(
            (r) => r.status,
            () => 0,
          ),
        ),
      );
      acked += statuses.filter((s) => s === 200).length;
      throttled += statuses.filter((s) => s === 429 || s === 503).length;
      expect(statuses.every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
    }
    expect(acked + throttled).toBe(4000);
    expect(acked).toBeGreaterThan(0);
    const peak = peakMiB();
    process.stdout.write(
      `collector peak RSS ${afterBombs.toFixed(0)} MiB after gzip bombs, ${peak.toFixed(0)} MiB after tiny spans (limit ${LIMIT_MIB}), ${throttled} of 4000 throttled\n`,
    );
    expect(peak).toBeLessThan(LIMIT_MIB);
    // Still serving.
    expect(
      (
        await post(
          '/v1/traces',
          spans('after', 9999, 3, () => now),
        )
      ).status,
    ).toBe(200);
  }, 120_000);
});
