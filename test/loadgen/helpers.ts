// Shared helpers for loadgen tests: the fixture HTTP server as a child process, scripts written to
// a temp dir, in-process runs that capture stdout/stderr, and CLI runs through dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { runTest, type RunTestOptions, type TestResult } from '../../loadgen/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');

export interface FixtureServer {
  base: string;
  stop(): Promise<void>;
}

export async function startServer(args: string[] = []): Promise<FixtureServer> {
  const child: ChildProcess = spawn(process.execPath, [path.join(here, 'fixtures/server.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) resolve(Number(buf.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`fixture server exited with ${code}`)));
  });
  return {
    base: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface TempDir {
  dir: string;
  write(name: string, text: string): string;
  cleanup(): void;
}

function tempDir(): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-loadgen-'));
  return {
    dir,
    write: (name, text) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, text);
      return p;
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A test file's fixture server (started with `args`) and temp dir: vitest hooks registered here
 * start the server before the file's tests and stop it and remove the dir after them, even when
 * a test fails. `server.base` is readable from the tests on.
 */
export function fixturePerFile(args: string[] = []): { server: { readonly base: string }; tmp: TempDir } {
  let started: FixtureServer | undefined;
  const tmp = tempDir();
  beforeAll(async () => {
    started = await startServer(args);
  });
  afterAll(async () => {
    await started?.stop();
    tmp.cleanup();
  });
  const server = {
    get base(): string {
      if (started === undefined) throw new Error('the fixture server is not started (read server.base inside a test)');
      return started.base;
    },
  };
  return { server, tmp };
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export async function run(opts: RunTestOptions): Promise<TestResult & { stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const result = await runTest({ quiet: true, ...opts, stdout, stderr });
  return { ...result, stdout: stdout.text, stderr: stderr.text };
}

export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), 'load', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export function metricValue(r: TestResult, metric: string, stat: string): number {
  const m = r.summary?.metrics[metric];
  if (m === undefined) throw new Error(`metric ${metric} missing from the summary`);
  const v = m.values[stat];
  if (v === undefined) throw new Error(`${metric} has no ${stat}`);
  return v;
}
