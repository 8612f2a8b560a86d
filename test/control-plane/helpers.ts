// Helpers for control-plane and xDS tests: child processes of the built CLI (killed in
// cleanup), free loopback ports, polling waits, and mesh files in temporary directories.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
export { freePort, freePorts } from '../helpers/ports.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

export interface Child {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when `pattern` appears on stdout or stderr. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function runCli(args: string[]): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters) w();
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out) || pattern.test(err)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern}\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then(() => {
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`process exited before ${pattern}\nstdout: ${out}\nstderr: ${err}`));
          }
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a one-shot CLI command to completion. */
export async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = runCli(args);
  const code = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface TempDir {
  readonly path: string;
  file(name: string): string;
  /** Writes atomically (write + rename), as editors and config tools do. */
  write(name: string, text: string): string;
  remove(): void;
}

export function tempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'meshscope-cp-'));
  return {
    path,
    file: (name) => join(path, name),
    write(name, text) {
      const target = join(path, name);
      const tmp = `${target}.tmp-${process.pid}`;
      writeFileSync(tmp, text);
      renameSync(tmp, target);
      return target;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/**
 * A mesh of two services: `web` with two sidecars (web-1, web-2) and `api` with two weighted
 * workloads labelled v1 and v2, for xDS tests that edit the weights and watch the pushes.
 */
export const webApiMesh = (name: string, weightV1: number, weightV2: number): string => `
name: ${name}
services:
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: web-1
        endpoints: { http: 127.0.0.1:19001 }
        sidecar: { inbound: { http: 19101 }, outbound_port: 19102 }
      - name: web-2
        endpoints: { http: 127.0.0.1:19004 }
        sidecar: { inbound: { http: 19104 }, outbound_port: 19105 }
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
      - { name: api-v1, labels: { version: v1 }, endpoints: { http: 127.0.0.1:19002 }, weight: ${weightV1} }
      - { name: api-v2, labels: { version: v2 }, endpoints: { http: 127.0.0.1:19003 }, weight: ${weightV2} }
`;
