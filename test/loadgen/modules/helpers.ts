// Helpers for the k6 module tests: a script written to a temp dir and run through the loadgen's
// public entry, and the names of the checks that failed (the tests assert with k6 checks, as a
// k6 user would, then look at the summary).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { run } from '../helpers.js';

export type RunResult = Awaited<ReturnType<typeof run>>;

/** A temp dir removed after the test file. */
export function scriptDir(): { dir: string; write(name: string, text: string | Buffer): string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-k6mod-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write: (name, text) => {
      const p = path.join(dir, name);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, text);
      return p;
    },
  };
}

/** Every check of the run with its passes and fails, flattened over groups. */
export function checks(r: RunResult): Record<string, { passes: number; fails: number }> {
  const out: Record<string, { passes: number; fails: number }> = {};
  type Group = { checks: Array<{ name: string; passes: number; fails: number }>; groups: Group[] };
  const walk = (g: Group): void => {
    for (const c of g.checks) out[c.name] = { passes: c.passes, fails: c.fails };
    for (const sub of g.groups) walk(sub);
  };
  if (r.summary) walk(r.summary.root_group as unknown as Group);
  return out;
}

/** Names of checks that failed at least once. */
export function failedChecks(r: RunResult): string[] {
  return Object.entries(checks(r))
    .filter(([, c]) => c.fails > 0)
    .map(([n]) => n);
}

export { run };
