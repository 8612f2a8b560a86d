// jslib.k6.io/k6-utils, served built in (scripts import it by URL; no network at run time):
// random helpers, findBetween, normalDistributionStages, the stage helpers and the async-aware
// check. Written here from the library's documentation.
import { randomUUID } from 'node:crypto';
import { parseDuration } from '../../../duration.js';
import type { ModuleContext } from '../../context.js';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';

export function randomIntBetween(min: number, max: number): number {
  return Math.floor(Math.random() * (max - min + 1) + min);
}

export function randomItem<T>(items: readonly T[]): T | undefined {
  return items[Math.floor(Math.random() * items.length)];
}

export function randomString(length: number, charset: string = LOWER): string {
  let out = '';
  for (let i = 0; i < length; i++) out += charset[Math.floor(Math.random() * charset.length)];
  return out;
}

export function uuidv4(): string {
  return randomUUID();
}

/** The text between `left` and `right`; with `repeat`, every such text (null when none). */
export function findBetween(content: string, left: string, right: string, repeat = false): string | string[] | null {
  const found: string[] = [];
  let from = 0;
  for (;;) {
    const l = content.indexOf(left, from);
    if (l === -1) break;
    const start = l + left.length;
    const end = content.indexOf(right, start);
    if (end === -1) break;
    if (!repeat) return content.slice(start, end);
    found.push(content.slice(start, end));
    from = end + right.length;
  }
  return found.length > 0 ? found : null;
}

/** Stages whose targets follow a bell curve over ±2σ: a ramp-up sixth, the curve, a ramp-down sixth. */
export function normalDistributionStages(
  maxVus: number,
  durationSeconds: number,
  numberOfStages = 10,
): Array<{ duration: string; target: number }> {
  const density = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  const points: number[] = [];
  for (let i = 0; i <= numberOfStages; i++) points.push(density(-2 + (4 * i) / numberOfStages));
  const peak = Math.max(...points);
  const edge = Math.ceil(durationSeconds / 6);
  const middle = Math.ceil((4 * durationSeconds) / (6 * numberOfStages));
  const stages: Array<{ duration: string; target: number }> = [];
  for (let k = 0; k <= numberOfStages + 1; k++) {
    const target = k <= numberOfStages ? Math.round((points[k]! * maxVus) / peak) : 0;
    stages.push({ duration: `${k === 0 || k === numberOfStages + 1 ? edge : middle}s`, target });
  }
  return stages;
}

type Stage = { duration: string | number; target: number };

export function createK6UtilsModule(ctx: ModuleContext): Record<string, unknown> {
  const { test, vu } = ctx;
  const k6 = ctx.require('k6') as Record<string, unknown>;
  const check = k6.check as (v: unknown, sets: Record<string, unknown>, tags?: Record<string, string>) => boolean;

  /** The running scenario's stages as the script declared them (scenario or top-level `stages`). */
  const currentStages = (): { stages: Stage[]; start: number } => {
    const opts = test.scriptOptions as {
      stages?: Stage[];
      scenarios?: Record<string, { stages?: Stage[]; startVUs?: number; startRate?: number }>;
    };
    const name = vu.scenario?.name ?? '';
    const stages = opts.scenarios?.[name]?.stages ?? opts.stages;
    if (!Array.isArray(stages) || stages.length === 0)
      throw new Error('getCurrentStageIndex: the running scenario has no stages (ramping-vus or ramping-arrival-rate)');
    const sc = opts.scenarios?.[name];
    return { stages, start: sc?.startVUs ?? sc?.startRate ?? 0 };
  };

  const getCurrentStageIndex = (): number => {
    const { stages } = currentStages();
    const elapsed = vu.scenario === null ? 0 : performance.now() - vu.scenario.startedAt;
    let end = 0;
    for (let i = 0; i < stages.length; i++) {
      end += parseDuration(stages[i]!.duration) ?? 0;
      if (elapsed < end) return i;
    }
    return stages.length - 1;
  };

  const setTag = (key: string, value: string): void => {
    vu.customTags[key] = value;
    vu.tags = { ...vu.tags, [key]: value };
  };

  const mod: Record<string, unknown> = {
    randomIntBetween,
    randomItem,
    randomString,
    uuidv4,
    findBetween,
    normalDistributionStages,
    getCurrentStageIndex,
    tagWithCurrentStageIndex: () => setTag('stage', String(getCurrentStageIndex())),
    tagWithCurrentStageProfile: () => {
      const { stages, start } = currentStages();
      const i = getCurrentStageIndex();
      const before = i === 0 ? start : stages[i - 1]!.target;
      const target = stages[i]!.target;
      setTag('stage_profile', target > before ? 'ramp-up' : target < before ? 'ramp-down' : 'steady');
    },
    /** check() that waits for promised values and predicates. */
    check: async (value: unknown, sets: Record<string, unknown>, tags?: Record<string, string>): Promise<boolean> => {
      const v = await value;
      const resolved: Record<string, boolean> = {};
      for (const [name, p] of Object.entries(sets))
        resolved[name] = Boolean(await (typeof p === 'function' ? p(v) : p));
      return check(v, resolved, tags);
    },
  };
  mod.default = mod;
  return mod;
}
