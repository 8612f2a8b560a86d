// The `k6` module for one VU: check, group, sleep, fail, randomSeed.
import { types } from 'node:util';
import { IterationInterruptedError } from '../../errors.js';
import { internTags } from '../../metrics/registry.js';
import type { TestContext, VuState } from '../context.js';
import type { CheckCounts } from '../groups.js';

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

export function createK6Module(test: TestContext, vu: VuState): Record<string, unknown> {
  const m = test.metrics;
  // The tag sets a VU's checks and groups repeat, by check name or group path, for the tag set they
  // were derived from (vu.tags when called): a check in a loop neither copies vu.tags nor interns
  // a new object per call, and its samples carry the set the other VUs' carry (see internTags).
  const checkTags = new Map<string, { base: VuState['tags']; tags: Record<string, string> }>();
  const groupTags = new Map<string, { base: VuState['tags']; tags: Record<string, string> }>();
  const derived = (
    memo: Map<string, { base: VuState['tags']; tags: Record<string, string> }>,
    key: string,
    tag: 'check' | 'group',
  ): Record<string, string> => {
    const base = vu.tags;
    let hit = memo.get(key);
    if (hit === undefined || hit.base !== base) {
      if (memo.size >= 256) memo.clear();
      hit = { base, tags: internTags({ ...base, [tag]: key }) };
      memo.set(key, hit);
    }
    return hit.tags;
  };

  // The last check and group this VU made, with what they resolved to (tag set, counters, group
  // node): a loop repeating one check and one group, the usual iteration, finds them by a few
  // identity comparisons instead of three Map lookups each (names are the script's literals).
  let lastCheck: {
    name: string;
    base: VuState['tags'];
    groupPath: string;
    tags: Record<string, string>;
    counts: CheckCounts;
  } | null = null;
  let lastGroup: {
    name: string;
    parentPath: string;
    base: VuState['tags'];
    path: string;
    tags: Record<string, string>;
  } | null = null;

  const check = (
    value: unknown,
    sets: Record<string, unknown>,
    tags?: Record<string, string | number | boolean>,
  ): boolean => {
    let all = true;
    for (const name of Object.keys(sets)) {
      const predicate = sets[name];
      const ok = Boolean(typeof predicate === 'function' ? (predicate as (v: unknown) => unknown)(value) : predicate);
      let t: Record<string, string>;
      let counts: CheckCounts;
      const last = lastCheck;
      if (tags) {
        t = { ...vu.tags, check: name };
        for (const [k, v] of Object.entries(tags)) t[k] = String(v);
        counts = test.groups.check(vu.groupPath, name);
      } else if (last !== null && last.name === name && last.base === vu.tags && last.groupPath === vu.groupPath) {
        t = last.tags;
        counts = last.counts;
      } else {
        t = derived(checkTags, name, 'check');
        counts = test.groups.check(vu.groupPath, name);
        lastCheck = { name, base: vu.tags, groupPath: vu.groupPath, tags: t, counts };
      }
      m.checks.add(ok ? 1 : 0, t);
      if (ok) counts.passes++;
      else {
        counts.fails++;
        all = false;
      }
    }
    return all;
  };

  // Not an async function: the script awaits what group() returns (transform.ts), and a promise of
  // the engine's realm awaited there, like the script's promise awaited here, takes V8's
  // foreign-thenable path (a PromiseResolveThenableJob and a `then` call each way, four more
  // microtasks per group). A callback that waits hands back a promise of the script's realm, and
  // the realm's own `then` on it gives the script one of that realm again; a callback that
  // returns without waiting ends the group at once and its value is returned as is.
  const group = (name: string, fn: () => unknown): unknown => {
    if (typeof name !== 'string' || name === '') throw new Error('group() needs a non-empty name');
    if (name.includes('::')) throw new Error("group names may not contain '::'");
    if (typeof fn !== 'function') throw new Error('group() needs a function');
    const parentPath = vu.groupPath;
    const parentTags = vu.tags;
    let g = lastGroup;
    if (g === null || g.name !== name || g.parentPath !== parentPath || g.base !== parentTags) {
      const path = test.groups.group(parentPath, name).path;
      g = { name, parentPath, base: parentTags, path, tags: derived(groupTags, path, 'group') };
      lastGroup = g;
    }
    vu.groupPath = g.path;
    vu.tags = g.tags;
    const start = performance.now();
    const end = (): void => {
      const groupTags = vu.tags;
      vu.groupPath = parentPath;
      vu.tags = parentTags;
      m.groupDuration.add(performance.now() - start, groupTags);
    };
    let r: unknown;
    try {
      r = fn();
    } catch (err) {
      end();
      throw err;
    }
    if (!types.isPromise(r)) {
      if (!isThenable(r)) {
        end();
        return r;
      }
      // A thenable of the script's own making: the group lasts until it settles, as with await.
      const thenable = r;
      return vu.settle<unknown>({
        start: (resolve, reject) => {
          try {
            thenable.then(
              (v) => {
                end();
                resolve(v);
              },
              (err: unknown) => {
                end();
                reject(err);
              },
            );
          } catch (err) {
            end();
            throw err;
          }
        },
      });
    }
    return vu.promiseThen(
      r,
      (v) => {
        end();
        return v;
      },
      (err) => {
        end();
        throw err;
      },
    );
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
