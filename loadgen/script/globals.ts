// The global object of a VU's context: k6's globals and nothing of Node's (no process, require,
// Buffer, setTimeout unless a module provides it). Modules that k6 also exposes as globals (the
// timers of k6/timers, for instance) register them here by name, from their own file:
//
//   registerVuGlobals('k6/timers', ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval']);
//
// Each such global is a lazy getter that reads the export from the VU's instance of the module (the
// same object `import { setTimeout } from 'k6/timers'` gives), so a VU that never touches it never
// builds the module. The script can still assign over it, as any global.

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
const taken = new Set<string>(['console', 'open', '__ENV', '__VU', '__ITER', 'global', 'globalThis']);

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

/** A fresh global object for one VU's context. */
export function buildVuGlobals(src: VuGlobalsSource): object {
  const g: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const data = (name: string, value: unknown): void => {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  };
  data('console', src.console);
  data('open', src.open);
  // Binary values cross between the script and its modules (crypto digests, binary response
  // bodies, open(f, 'b')): the VU sees this realm's ArrayBuffer, typed arrays and DataView, so
  // `x instanceof ArrayBuffer` holds on either side. No syntax creates them, so nothing else
  // of the VU's realm needs its own.
  for (const name of BINARY_CONSTRUCTORS) data(name, (globalThis as Record<string, unknown>)[name]);
  const ctx = src.ctx;
  Object.defineProperty(g, '__ENV', { get: () => ctx.env, configurable: true });
  Object.defineProperty(g, '__VU', { get: () => ctx.vu, configurable: true });
  Object.defineProperty(g, '__ITER', { get: () => ctx.iter, configurable: true });
  for (const { module, names } of registered) {
    for (const name of names) {
      Object.defineProperty(g, name, {
        configurable: true,
        enumerable: false,
        get: () => {
          const value = (src.require(module) as Record<string, unknown>)[name];
          data(name, value);
          return value;
        },
        set: (value: unknown) => data(name, value),
      });
    }
  }
  return g;
}
