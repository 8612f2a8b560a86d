// jslib.k6.io/k6-testing, served built in: expect(value) with the matchers scripts use most,
// `.not`, and expect.soft (a failed soft assertion is logged as an error and the iteration goes
// on; a failed hard one throws and fails the iteration, as in k6-testing).
import { inspect, types } from 'node:util';
import { deepEqualAcrossRealms } from '../../realm-equal.js';
import type { ModuleContext } from '../../context.js';

export class AssertionFailedError extends Error {
  override readonly name = 'AssertionFailedError';
}

const show = (v: unknown): string => inspect(v, { depth: 4, breakLength: Infinity });

/** toEqual: deep equality that ignores undefined properties, as Jest's and k6-testing's does. */
function looseEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => looseEqual(x, b[i]));
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => looseEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

function property(obj: unknown, path: string | string[]): { found: boolean; value: unknown } {
  const parts = Array.isArray(path) ? path : path.split('.');
  let cur: unknown = obj;
  for (const p of parts) {
    if (cur === null || cur === undefined || !(p in Object(cur))) return { found: false, value: undefined };
    cur = (cur as Record<string, unknown>)[p];
  }
  return { found: true, value: cur };
}

type Matcher = (received: unknown, ...args: unknown[]) => { pass: boolean; expected: string };

const MATCHERS: Record<string, Matcher> = {
  toBe: (r, e) => ({ pass: Object.is(r, e), expected: show(e) }),
  toEqual: (r, e) => ({ pass: looseEqual(r, e), expected: show(e) }),
  toStrictEqual: (r, e) => ({ pass: deepEqualAcrossRealms(r, e), expected: show(e) }),
  toBeTruthy: (r) => ({ pass: Boolean(r), expected: 'truthy' }),
  toBeFalsy: (r) => ({ pass: !r, expected: 'falsy' }),
  toBeDefined: (r) => ({ pass: r !== undefined, expected: 'defined' }),
  toBeUndefined: (r) => ({ pass: r === undefined, expected: 'undefined' }),
  toBeNull: (r) => ({ pass: r === null, expected: 'null' }),
  toBeNaN: (r) => ({ pass: Number.isNaN(r), expected: 'NaN' }),
  toBeGreaterThan: (r, e) => ({ pass: (r as number) > (e as number), expected: `> ${show(e)}` }),
  toBeGreaterThanOrEqual: (r, e) => ({ pass: (r as number) >= (e as number), expected: `>= ${show(e)}` }),
  toBeLessThan: (r, e) => ({ pass: (r as number) < (e as number), expected: `< ${show(e)}` }),
  toBeLessThanOrEqual: (r, e) => ({ pass: (r as number) <= (e as number), expected: `<= ${show(e)}` }),
  toBeCloseTo: (r, e, digits = 2) => ({
    pass: Math.abs((r as number) - (e as number)) < 10 ** -(digits as number) / 2,
    expected: `${show(e)} (±${10 ** -(digits as number) / 2})`,
  }),
  toBeInstanceOf: (r, e) => ({
    pass: typeof e === 'function' && r instanceof (e as new () => unknown),
    expected: `an instance of ${(e as { name?: string })?.name ?? show(e)}`,
  }),
  toContain: (r, e) => ({
    pass: typeof r === 'string' ? r.includes(String(e)) : Array.isArray(r) && r.includes(e),
    expected: `to contain ${show(e)}`,
  }),
  toContainEqual: (r, e) => ({
    pass: Array.isArray(r) && r.some((x) => looseEqual(x, e)),
    expected: `to contain ${show(e)}`,
  }),
  toHaveLength: (r, e) => ({ pass: (r as { length?: unknown })?.length === e, expected: `length ${show(e)}` }),
  toHaveProperty: (r, path, ...value) => {
    const p = property(r, path as string | string[]);
    const pass = p.found && (value.length === 0 || looseEqual(p.value, value[0]));
    return { pass, expected: `property ${show(path)}${value.length > 0 ? ` = ${show(value[0])}` : ''}` };
  },
  toMatch: (r, e) => ({
    pass: typeof r === 'string' && (types.isRegExp(e) ? e.test(r) : r.includes(String(e))),
    expected: `to match ${show(e)}`,
  }),
};

export function createK6TestingModule(ctx: ModuleContext): Record<string, unknown> {
  const build = (received: unknown, soft: boolean, message: string | undefined): Record<string, unknown> => {
    const make = (negate: boolean): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const [name, matcher] of Object.entries(MATCHERS)) {
        out[name] = (...args: unknown[]): void => {
          const { pass, expected } = matcher(received, ...args);
          if (pass !== negate) return;
          const text =
            `${message === undefined ? '' : `${message}\n\n`}expect(received).${negate ? 'not.' : ''}${name}(expected)\n\n` +
            `Expected: ${negate ? 'not ' : ''}${expected}\nReceived: ${show(received)}`;
          if (!soft) throw new AssertionFailedError(text);
          ctx.test.log('error', text, { source: 'k6-testing' });
        };
      }
      return out;
    };
    const api = make(false);
    api.not = make(true);
    return api;
  };
  const expect = Object.assign((received: unknown, message?: string) => build(received, false, message), {
    soft: (received: unknown, message?: string) => build(received, true, message),
    configure: () => expect,
  });
  const mod: Record<string, unknown> = { expect };
  mod.default = mod;
  return mod;
}
