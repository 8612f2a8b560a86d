// jslib.k6.io/k6chaijs, served built in: describe(name, fn) runs fn as a k6 group and stops it at
// the first failed assertion (describe then returns false; the iteration goes on), and a
// chai-style BDD expect whose every assertion is recorded as a k6 check named as chai words it
// ("expected response status to equal 200"). The common chains and assertions, written here.
import { inspect, types } from 'node:util';
import { deepEqualAcrossRealms } from '../../realm-equal.js';
import type { ModuleContext } from '../../context.js';

export class ChaiAssertionError extends Error {
  override readonly name = 'AssertionError';
}

const show = (v: unknown): string =>
  typeof v === 'string' ? `'${v}'` : inspect(v, { depth: 2, breakLength: Infinity });

const CHAIN_WORDS = [
  'to',
  'be',
  'been',
  'is',
  'that',
  'which',
  'and',
  'has',
  'have',
  'with',
  'at',
  'of',
  'same',
  'but',
  'does',
  'still',
  'also',
];

type CheckFn = (value: unknown, sets: Record<string, boolean>, tags?: Record<string, string>) => boolean;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (types.isRegExp(v)) return 'regexp';
  if (types.isDate(v)) return 'date';
  return typeof v;
}

function includes(container: unknown, item: unknown, deep: boolean): boolean {
  if (typeof container === 'string') return container.includes(String(item));
  if (Array.isArray(container)) return container.some((x) => (deep ? deepEqualAcrossRealms(x, item) : x === item));
  if (container instanceof Set || container instanceof Map) return container.has(item);
  if (container !== null && typeof container === 'object' && item !== null && typeof item === 'object')
    return Object.entries(item).every(([k, v]) => {
      const c = (container as Record<string, unknown>)[k];
      return deep ? deepEqualAcrossRealms(c, v) : c === v;
    });
  return false;
}

function sizeOf(v: unknown): number | undefined {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (v instanceof Set || v instanceof Map) return v.size;
  if (v !== null && typeof v === 'object' && typeof (v as { length?: unknown }).length === 'number')
    return (v as { length: number }).length;
  return undefined;
}

export function createK6ChaiModule(ctx: ModuleContext): Record<string, unknown> {
  const k6 = ctx.require('k6') as { check: CheckFn; group: (name: string, fn: () => unknown) => Promise<unknown> };

  class Assertion {
    readonly #actual: unknown;
    readonly #label: string;
    #negate = false;
    #deep = false;

    constructor(actual: unknown, message?: string) {
      this.#actual = actual;
      this.#label = message === undefined ? show(actual) : String(message);
      for (const w of CHAIN_WORDS) Object.defineProperty(this, w, { get: () => this, enumerable: false });
    }

    get not(): this {
      this.#negate = !this.#negate;
      return this;
    }
    get deep(): this {
      this.#deep = true;
      return this;
    }

    /** Records the assertion as a check; a failure throws to end the describe block. */
    #assert(pass: boolean, words: string): this {
      const ok = this.#negate ? !pass : pass;
      const name = `expected ${this.#label} ${this.#negate ? 'not ' : ''}${words}`.trimEnd();
      k6.check(this.#actual, { [name]: ok });
      if (!ok) throw new ChaiAssertionError(name);
      return this;
    }

    get ok(): this {
      return this.#assert(Boolean(this.#actual), 'to be truthy');
    }
    get true(): this {
      return this.#assert(this.#actual === true, 'to be true');
    }
    get false(): this {
      return this.#assert(this.#actual === false, 'to be false');
    }
    get null(): this {
      return this.#assert(this.#actual === null, 'to be null');
    }
    get undefined(): this {
      return this.#assert(this.#actual === undefined, 'to be undefined');
    }
    get NaN(): this {
      return this.#assert(Number.isNaN(this.#actual), 'to be NaN');
    }
    get exist(): this {
      return this.#assert(this.#actual !== null && this.#actual !== undefined, 'to exist');
    }
    get empty(): this {
      const n =
        sizeOf(this.#actual) ??
        (this.#actual !== null && typeof this.#actual === 'object' ? Object.keys(this.#actual).length : -1);
      return this.#assert(n === 0, 'to be empty');
    }
    equal(expected: unknown): this {
      const pass = this.#deep ? deepEqualAcrossRealms(this.#actual, expected) : this.#actual === expected;
      return this.#assert(pass, `to ${this.#deep ? 'deeply ' : ''}equal ${show(expected)}`);
    }
    equals(expected: unknown): this {
      return this.equal(expected);
    }
    eq(expected: unknown): this {
      return this.equal(expected);
    }
    eql(expected: unknown): this {
      return this.#assert(deepEqualAcrossRealms(this.#actual, expected), `to deeply equal ${show(expected)}`);
    }
    above(n: number): this {
      return this.#assert((this.#actual as number) > n, `to be above ${n}`);
    }
    gt(n: number): this {
      return this.above(n);
    }
    greaterThan(n: number): this {
      return this.above(n);
    }
    least(n: number): this {
      return this.#assert((this.#actual as number) >= n, `to be at least ${n}`);
    }
    gte(n: number): this {
      return this.least(n);
    }
    below(n: number): this {
      return this.#assert((this.#actual as number) < n, `to be below ${n}`);
    }
    lt(n: number): this {
      return this.below(n);
    }
    lessThan(n: number): this {
      return this.below(n);
    }
    most(n: number): this {
      return this.#assert((this.#actual as number) <= n, `to be at most ${n}`);
    }
    lte(n: number): this {
      return this.most(n);
    }
    within(lo: number, hi: number): this {
      const v = this.#actual as number;
      return this.#assert(v >= lo && v <= hi, `to be within ${lo}..${hi}`);
    }
    closeTo(expected: number, delta: number): this {
      return this.#assert(
        Math.abs((this.#actual as number) - expected) <= delta,
        `to be close to ${expected} +/- ${delta}`,
      );
    }
    a(type: string): this {
      const t = String(type).toLowerCase();
      return this.#assert(typeName(this.#actual) === t, `to be ${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`);
    }
    an(type: string): this {
      return this.a(type);
    }
    include(item: unknown): this {
      return this.#assert(includes(this.#actual, item, this.#deep), `to include ${show(item)}`);
    }
    includes(item: unknown): this {
      return this.include(item);
    }
    contain(item: unknown): this {
      return this.include(item);
    }
    contains(item: unknown): this {
      return this.include(item);
    }
    match(re: RegExp): this {
      return this.#assert(typeof this.#actual === 'string' && re.test(this.#actual), `to match ${String(re)}`);
    }
    oneOf(list: unknown[]): this {
      return this.#assert(Array.isArray(list) && list.includes(this.#actual), `to be one of ${show(list)}`);
    }
    instanceOf(ctor: new (...a: never[]) => unknown): this {
      return this.#assert(this.#actual instanceof ctor, `to be an instance of ${ctor?.name ?? show(ctor)}`);
    }
    lengthOf(n: number): this {
      return this.#assert(sizeOf(this.#actual) === n, `to have a length of ${n}`);
    }
    length(n: number): this {
      return this.lengthOf(n);
    }
    property(name: string, ...value: unknown[]): Assertion | this {
      const obj = this.#actual;
      const has = obj !== null && obj !== undefined && name in Object(obj);
      const v = has ? (obj as Record<string, unknown>)[name] : undefined;
      if (value.length > 0) {
        const pass = has && (this.#deep ? deepEqualAcrossRealms(v, value[0]) : v === value[0]);
        return this.#assert(pass, `to have ${this.#deep ? 'deep ' : ''}property '${name}' of ${show(value[0])}`);
      }
      this.#assert(has, `to have property '${name}'`);
      // Without a value, chai goes on from the property itself.
      return this.#negate ? this : new Assertion(v, `${this.#label}.${name}`);
    }
    keys(...names: unknown[]): this {
      const want = (names.length === 1 && Array.isArray(names[0]) ? names[0] : names).map(String);
      const have = this.#actual !== null && typeof this.#actual === 'object' ? Object.keys(this.#actual) : [];
      return this.#assert(
        want.every((k) => have.includes(k)),
        `to have keys ${want.map((k) => `'${k}'`).join(', ')}`,
      );
    }
    /** k6chaijs: the value (a k6 Response) has a body that parses as JSON. */
    validJsonBody(): this {
      let pass = false;
      try {
        JSON.parse(String((this.#actual as { body?: unknown })?.body));
        pass = true;
      } catch {
        pass = false;
      }
      return this.#assert(pass, 'to have a valid JSON body');
    }
    members(list: unknown[]): this {
      const a = this.#actual;
      const pass = Array.isArray(a) && a.length === list.length && list.every((x) => includes(a, x, this.#deep));
      return this.#assert(pass, `to have the same members as ${show(list)}`);
    }
  }

  // chai.config as k6chaijs reads it; scripts set these flags (logFailures, exitOnError...).
  const config = { logFailures: false, aggregateChecks: false, exitOnError: false, truncateMsgThreshold: 300 };
  const expect = (actual: unknown, message?: string): Assertion => new Assertion(actual, message);

  /** A k6 group that ends at the first failed assertion or exception and returns whether none failed. */
  const describe = async (name: string, fn: () => unknown): Promise<boolean> => {
    let ok = true;
    await k6.group(name, async () => {
      try {
        await fn();
      } catch (err) {
        ok = false;
        // A failed assertion is already a failed check; anything else becomes one.
        if (!(err instanceof ChaiAssertionError)) k6.check(null, { [`Exception raised "${String(err)}"`]: false });
        else if (config.logFailures) ctx.test.log('error', err.message, { source: 'k6chaijs' });
        if (config.exitOnError) throw err;
      }
    });
    return ok;
  };

  const mod: Record<string, unknown> = { describe, expect, config, chai: { expect, config } };
  mod.default = mod;
  return mod;
}
