// Durability with a real child process: every request answered 200 survives a SIGKILL sent
// right after the last ack (write-ahead log replayed at start), and SIGTERM shuts down cleanly.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { intAttr, otlpTraceBody } from '../helpers/otlp-json.js';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');
const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'collector-durable-'));

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function startChild(): Promise<{
  child: ChildProcess;
  otlp: string;
  api: string;
  exited: Promise<number | null>;
}> {
  const child = spawn(
    process.execPath,
    [MAIN, 'collector', '--otlp-http', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data', dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const urls = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/OTLP\/HTTP on (\S+), query API on (\S+)/);
      if (m !== null) resolve([m[1]!, m[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}: ${err}`)));
  });
  return { child, otlp: urls[0], api: urls[1], exited };
}

function traceBody(i: number, spans: number): string {
  return otlpTraceBody({
    service: 'durable',
    trace: i + 1,
    spans,
    name: (j) => `op-${j}`,
    kind: 1,
    durationNs: 1_000_000n,
    attributes: () => [intAttr('request', i)],
  });
}

describe('collector child process', () => {
  it('loses nothing acknowledged when SIGKILLed right after the acks', async () => {
    const REQUESTS = 40;
    const SPANS = 50;
    const first = await startChild();
    const statuses = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) =>
        fetch(`${first.otlp}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: traceBody(i, SPANS),
        }).then((r) => r.status),
      ),
    );
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);
    expect(statuses).toEqual(Array(REQUESTS).fill(200));
    // The log holds what was acknowledged (possibly some of it already stored too).
    expect(readdirSync(join(dir, 'wal')).some((n) => n.startsWith('wal-'))).toBe(true);

    const second = await startChild();
    const deadline = Date.now() + 60_000;
    let missing: number[] = [];
    do {
      missing = [];
      for (let i = 0; i < REQUESTS; i++) {
        const id = (i + 1).toString(16).padStart(32, '0');
        const res = await fetch(`${second.api}/api/meshscope/traces/${id}`);
        const spans = res.status === 200 ? ((await res.json()) as { spans: Array<{ spanId: string }> }).spans : [];
        if (new Set(spans.map((s) => s.spanId)).size !== SPANS) missing.push(i);
      }
      if (missing.length > 0) await new Promise((r) => setTimeout(r, 200));
    } while (missing.length > 0 && Date.now() < deadline);
    expect(missing).toEqual([]);

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);

  it('refuses bad flags with a usage message and exit code 2', async () => {
    const child = spawn(process.execPath, [MAIN, 'collector', '--otlp-http', 'nope', '--data', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/otlpHttp: expected host:port/);
  });
});
