// The `k6` module for one VU: check, group, sleep, fail, randomSeed.
import { IterationInterruptedError } from '../../errors.js';
import { internTags } from '../../metrics/registry.js';
import type { TestContext, VuState } from '../context.js';

export function createK6Module(test: TestContext, vu: VuState): Record<string, unknown> {
  const m = test.metrics;

  const check = (
    value: unknown,
    sets: Record<string, unknown>,
    tags?: Record<string, string | number | boolean>,
  ): boolean => {
    let all = true;
    for (const name of Object.keys(sets)) {
      const predicate = sets[name];
      const ok = Boolean(typeof predicate === 'function' ? (predicate as (v: unknown) => unknown)(value) : predicate);
      const t: Record<string, string> = { ...vu.tags, check: name };
      if (tags) for (const [k, v] of Object.entries(tags)) t[k] = String(v);
      m.checks.add(ok ? 1 : 0, t);
      const counts = test.groups.check(vu.groupPath, name);
      if (ok) counts.passes++;
      else {
        counts.fails++;
        all = false;
      }
    }
    return all;
  };

  const group = async (name: string, fn: () => unknown): Promise<unknown> => {
    if (typeof name !== 'string' || name === '') throw new Error('group() needs a non-empty name');
    if (name.includes('::')) throw new Error("group names may not contain '::'");
    if (typeof fn !== 'function') throw new Error('group() needs a function');
    const parentPath = vu.groupPath;
    const parentTags = vu.tags;
    const node = test.groups.group(parentPath, name);
    vu.groupPath = node.path;
    vu.tags = internTags({ ...parentTags, group: node.path });
    const start = performance.now();
    try {
      return await fn();
    } finally {
      const groupTags = vu.tags;
      vu.groupPath = parentPath;
      vu.tags = parentTags;
      m.groupDuration.add(performance.now() - start, groupTags);
    }
  };

  const sleep = (seconds: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (vu.interrupted) {
        reject(new IterationInterruptedError());
        return;
      }
      const timer = setTimeout(
        () => {
          vu.sleepCancel = null;
          resolve();
        },
        Math.max(0, Number(seconds) * 1000),
      );
      vu.sleepCancel = () => {
        clearTimeout(timer);
        vu.sleepCancel = null;
        reject(new IterationInterruptedError());
      };
    });

  const fail = (message?: string): never => {
    throw new Error(message ?? 'fail() called');
  };

  const randomSeed = (seed: number): void => vu.seedRandom(Number(seed));

  const mod: Record<string, unknown> = { check, group, sleep, fail, randomSeed };
  mod.default = mod;
  return mod;
}
