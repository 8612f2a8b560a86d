// A VU's globals: k6's and nothing of Node's (no process, require, Buffer, setTimeout unless a
// module provides it). Every VU runs in one realm (loader.ts says why); what must be the VU's own
// reaches the script as parameters of its wrapper that shadow the realm's globals: its global
// object, its Math, and the exports of modules that k6 also exposes as globals (the timers of
// k6/timers, for instance), which register here by name, from their own file:
//
//   registerVuGlobals('k6/timers', ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval']);
//
// Such a global is the export of the VU's instance of the module (the same function `import {
// setTimeout } from 'k6/timers'` gives). The script can still assign over it, as any global.

interface GlobalExports {
  readonly module: string;
  readonly names: readonly string[];
}

const registered: GlobalExports[] = [];

const BINARY_CONSTRUCTORS = [
  'ArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;
const taken = new Set<string>(['console', 'open', '__ENV', '__VU', '__ITER', 'global', 'globalThis', 'Math']);

/** Makes exports of `module` globals in every VU; refuses a name already taken. */
export function registerVuGlobals(module: string, names: readonly string[]): void {
  for (const n of names) {
    if (taken.has(n)) throw new Error(`VU global '${n}' is already registered`);
    taken.add(n);
  }
  registered.push({ module, names });
}

export interface VuGlobalsSource {
  readonly console: Record<string, (...args: unknown[]) => void>;
  readonly open: (file: string, mode?: string) => string | ArrayBuffer;
  /** The VU's per-iteration values, read live (the transform rewrites __ENV/__VU/__ITER to the same object). */
  readonly ctx: { env: Record<string, string>; iter: number; vu: number };
  /** The VU's module table, as the script's imports read it. */
  readonly require: (name: string) => unknown;
}

/**
 * Free names of the script that must be the VU's own although every VU runs in one realm: the
 * script's wrapper takes them as parameters, which shadow the realm's globals (and which the
 * script's own declarations shadow in turn). `globalThis` is the VU's global object, `Math` the
 * VU's (randomSeed replaces its random), then the registered module globals.
 */
export function vuGlobalNames(): readonly string[] {
  return ['globalThis', 'Math', ...registered.flatMap((r) => r.names)];
}

/**
 * The global object of the realm all VUs share: only what every VU sees alike. Binary values
 * cross between the script and its modules (crypto digests, binary response bodies, open(f,
 * 'b')): the script sees this realm's ArrayBuffer, typed arrays and DataView, so `x instanceof
 * ArrayBuffer` holds on either side. No syntax creates them, so nothing else of the script's
 * realm needs replacing.
 */
export function buildRealmGlobals(): object {
  const g: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const name of BINARY_CONSTRUCTORS)
    Object.defineProperty(g, name, {
      value: (globalThis as Record<string, unknown>)[name],
      writable: true,
      configurable: true,
      enumerable: false,
    });
  return g;
}

export interface VuGlobals {
  /** The VU's global object (the script's `globalThis`). */
  readonly global: object;
  /** The VU's Math: the realm's through its prototype, until randomSeed gives it a random of its own. */
  readonly math: { random: () => number };
  /** The wrapper's arguments for `realm.globalNames`, in that order. */
  readonly values: unknown[];
}

/**
 * One VU's globals over the shared realm's: its global object inherits the realm's builtins
 * (`globalThis.JSON`) and holds k6's globals and whatever the script puts there, so a value one
 * VU stores on globalThis is not another's. `realm.globalNames` are the wrapper parameters the
 * script was compiled with (vuGlobalNames() when it was loaded).
 */
export function buildVuGlobals(
  src: VuGlobalsSource,
  realm: { readonly global: object; readonly math: object; readonly globalNames: readonly string[] },
): VuGlobals {
  const g: Record<string, unknown> = Object.create(realm.global) as Record<string, unknown>;
  const math = Object.create(realm.math) as { random: () => number };
  const data = (name: string, value: unknown): void => {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  };
  data('globalThis', g);
  data('Math', math);
  data('console', src.console);
  data('open', src.open);
  const ctx = src.ctx;
  Object.defineProperty(g, '__ENV', { get: () => ctx.env, configurable: true });
  Object.defineProperty(g, '__VU', { get: () => ctx.vu, configurable: true });
  Object.defineProperty(g, '__ITER', { get: () => ctx.iter, configurable: true });
  for (const { module, names } of registered)
    for (const name of names) data(name, (src.require(module) as Record<string, unknown>)[name]);
  return { global: g, math, values: realm.globalNames.map((n) => g[n]) };
}
