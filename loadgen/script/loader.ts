// Loads a k6 script: esbuild bundles it (TypeScript, relative imports; k6 modules stay external),
// transformScript makes blocking calls awaitable and wraps the script in a function, and the
// result is compiled and evaluated once, in a vm context of its own (the script's realm: no
// process, require or Buffer, as in k6 where only k6's globals exist). Each VU calls that one
// wrapper: a call is the VU's instance of the script, with its own top-level bindings, exports
// and init code run, and with its own global object and Math passed in as parameters that
// shadow the realm's (globals.ts), so a value one VU stores on globalThis is not another's.
//
// Why one realm and not a vm context per VU (the design until 9874be5): V8 keeps type feedback
// and optimized code per closure-creation site of a function instance, never across contexts.
// With a context per VU, each VU's copy of the script's functions (and of `settle`) warmed up on
// its own and stayed in the baseline tier for most of a run (perf: AsyncFunctionEnter,
// BaselineOutOfLinePrologue and generic calls 8-60x the pre-isolation build's samples; at 1000
// iterations/s over 20 VUs the script's function was never optimized in 8 s), and each VU cost a
// context (~1 ms of CPU, ~195 kB). Closures that one wrapper function creates share their
// feedback, so the hot code warms once for all VUs (perf: the script's function and settle in
// TurboFan code). What VUs share in exchange is the realm's builtins: a script that changes
// Array.prototype or JSON changes them for every VU. Names the script stores on globalThis and
// uses bare are read from the VU's global object (transform.ts).
//
// Errors are reported at file:line:column of the user's source through both source maps.
import * as path from 'node:path';
import * as vm from 'node:vm';
import { pathToFileURL } from 'node:url';
import { types } from 'node:util';
import { createRequire, SourceMap } from 'node:module';
import type * as Esbuild from 'esbuild';
import { ScriptError } from '../errors.js';
import { transformScript, TransformError, K6_MODULES } from './transform.js';
import { buildRealmGlobals, vuGlobalNames } from './globals.js';

export interface ArrayHelpers {
  forEach(xs: unknown[], cb: (x: unknown, i: number, a: unknown[]) => unknown): Promise<void>;
  map(xs: unknown[], cb: (x: unknown, i: number, a: unknown[]) => unknown): Promise<unknown[]>;
  filter(xs: unknown[], cb: (x: unknown, i: number, a: unknown[]) => unknown): Promise<unknown[]>;
  some(xs: unknown[], cb: (x: unknown, i: number, a: unknown[]) => unknown): Promise<boolean>;
  every(xs: unknown[], cb: (x: unknown, i: number, a: unknown[]) => unknown): Promise<boolean>;
  find(xs: unknown[], cb: (x: unknown, i: number, a: unknown[]) => unknown): Promise<unknown>;
}

/**
 * Sequential versions of the array methods whose callbacks the transform made async. Evaluated
 * inside the script's realm, so `map` and `filter` hand back the VU's own Arrays (`instanceof
 * Array` holds in the script).
 */
const ARRAY_HELPERS_SOURCE = `({
  async forEach(xs, cb) { for (let i = 0; i < xs.length; i++) await cb(xs[i], i, xs); },
  async map(xs, cb) { const out = []; for (let i = 0; i < xs.length; i++) out.push(await cb(xs[i], i, xs)); return out; },
  async filter(xs, cb) { const out = []; for (let i = 0; i < xs.length; i++) if (await cb(xs[i], i, xs)) out.push(xs[i]); return out; },
  async some(xs, cb) { for (let i = 0; i < xs.length; i++) if (await cb(xs[i], i, xs)) return true; return false; },
  async every(xs, cb) { for (let i = 0; i < xs.length; i++) if (!(await cb(xs[i], i, xs))) return false; return true; },
  async find(xs, cb) { for (let i = 0; i < xs.length; i++) if (await cb(xs[i], i, xs)) return xs[i]; return undefined; },
})`;
const arrayHelpersScript = new vm.Script(ARRAY_HELPERS_SOURCE, { filename: 'meshscope:array-helpers' });
const mathScript = new vm.Script('Math', { filename: 'meshscope:math' });
const globalScript = new vm.Script('globalThis', { filename: 'meshscope:global' });
const promiseScript = new vm.Script('Promise', { filename: 'meshscope:promise' });
/**
 * settle(job): a promise of the script's realm whose executor (also of that realm) hands its
 * resolving functions to job.start. `new RealmPromise(executor)` with an executor of the engine's
 * realm would cost V8's access check of the two realms (a runtime call) on every promise.
 */
const settleScript = new vm.Script(
  '(function (P) { return function settle(job) { return new P(function (resolve, reject) { job.start(resolve, reject); }); }; })',
  { filename: 'meshscope:settle' },
);

/** Work that settles a promise: start() gets its resolving functions (and may throw to reject it). */
export interface SettleJob<T> {
  start(resolve: (value: T) => void, reject: (err: unknown) => void): void;
}

export type Settle = <T>(job: SettleJob<T>) => Promise<T>;

export type ScriptFunction = (
  require: (name: string) => unknown,
  exports: Record<string, unknown>,
  ctx: { env: Record<string, string>; iter: number; vu: number },
  array: ArrayHelpers,
  open: (file: string, mode?: string) => string | ArrayBuffer,
  console: Record<string, (...args: unknown[]) => void>,
  /** The VU's values for ScriptRealm.globalNames. */
  ...globals: unknown[]
) => Promise<void>;

/**
 * The realm every VU's instance of the script runs in, with the script compiled there once. Its
 * global object holds only what all VUs see alike (globals.ts, buildRealmGlobals); what is a VU's
 * own reaches its instance as arguments of the wrapper (`globalNames`).
 */
export interface ScriptRealm {
  /** The script's wrapper: each call is one VU's instance (its own top-level bindings and exports). */
  readonly fn: ScriptFunction;
  /** The wrapper's parameters after the fixed ones (globals.ts, vuGlobalNames()), in order. */
  readonly globalNames: readonly string[];
  /** The realm's global object and Math: a VU's own inherit from them. */
  readonly global: object;
  readonly math: object;
  readonly array: ArrayHelpers;
  /**
   * The realm's Promise.prototype.then. The engine subscribes to the script's promises with it: a
   * promise of another realm awaited here would take V8's foreign-thenable path.
   */
  readonly promiseThen: (this: unknown, ok: () => void, fail: (err: unknown) => void) => unknown;
  /** A promise of the script's realm settled by `job` (modules hand the script promises of its own realm). */
  readonly settle: Settle;
}

export interface LoadedScript {
  readonly path: string;
  readonly dir: string;
  readonly realm: ScriptRealm;
  /** Maps an error's stack to `file:line:column` in the user's source. */
  locate(err: unknown): string | undefined;
}

/** Relative to the working directory when the file is under it, else absolute. */
function shortPath(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel;
}

function lineStart(code: string, pos: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = code.indexOf('\n'); i !== -1 && i < pos; i = code.indexOf('\n', i + 1)) {
    line++;
    last = i;
  }
  return { line, column: pos - last - 1 };
}

// esbuild's entry is CommonJS: an ESM import of it runs Node's CJS export scanner over its
// ~100 kB of source on every start (~20% of a run's start-up on the main thread, cpu-prof);
// require() loads it without the scan, as sinks.ts loads hdr-histogram-js.
const esbuild = createRequire(import.meta.url)('esbuild') as typeof Esbuild;

export async function loadScript(scriptPath: string): Promise<LoadedScript> {
  const abs = path.resolve(scriptPath);
  const dir = path.dirname(abs);
  const display = shortPath(abs);
  let bundle: string;
  let bundleMap: SourceMap;
  try {
    const result = await esbuild.build({
      entryPoints: [abs],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      sourcemap: 'external',
      outfile: path.join(dir, '__meshscope_bundle.js'),
      external: [...K6_MODULES, 'https://*', 'http://*'],
      logLevel: 'silent',
      mainFields: ['module', 'main'],
    });
    const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
    const map = result.outputFiles.find((f) => f.path.endsWith('.map'));
    if (js === undefined || map === undefined)
      throw new ScriptError(`esbuild produced no output for ${display}`, undefined);
    bundle = js.text;
    bundleMap = new SourceMap(JSON.parse(map.text));
  } catch (err) {
    if (err instanceof ScriptError) throw err;
    const failure = err as {
      errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }>;
    };
    const first = failure.errors?.[0];
    if (first !== undefined) {
      const loc = first.location
        ? `${first.location.file}:${first.location.line}:${first.location.column + 1}`
        : undefined;
      throw new ScriptError(`SyntaxError: ${first.text}`, loc);
    }
    throw new ScriptError(err instanceof Error ? err.message : String(err), display);
  }

  const toOriginal = (line1: number, col0: number): string | undefined => {
    const e = bundleMap.findEntry(line1 - 1, col0) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (e.originalSource === undefined || e.originalLine === undefined) return undefined;
    const src = e.originalSource.startsWith('file://')
      ? new URL(e.originalSource).pathname
      : path.resolve(dir, e.originalSource);
    return `${shortPath(src)}:${e.originalLine + 1}:${(e.originalColumn ?? 0) + 1}`;
  };

  const globalNames = vuGlobalNames();
  let transformed: ReturnType<typeof transformScript>;
  try {
    transformed = transformScript(bundle, 'bundle.js', globalNames);
  } catch (err) {
    if (err instanceof TransformError) {
      const { line, column } = lineStart(bundle, err.pos);
      throw new ScriptError(err.message, toOriginal(line, column) ?? display);
    }
    throw err;
  }
  const genMap = new SourceMap(transformed.map);
  const vmFile = `${pathToFileURL(abs).href}#meshscope`;
  let compiled: vm.Script;
  try {
    compiled = new vm.Script(transformed.code, { filename: vmFile });
  } catch (err) {
    throw new ScriptError(
      `internal transform produced invalid code: ${err instanceof Error ? err.message : String(err)}`,
      display,
    );
  }

  const frame = new RegExp(`${vmFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+)`);
  const locate = (err: unknown): string | undefined => {
    // Errors thrown by the script come from the VU's realm: `instanceof Error` would not see them.
    const stack = isErrorLike(err) ? err.stack : undefined;
    if (typeof stack !== 'string') return undefined;
    const m = frame.exec(stack);
    if (m === null) return undefined;
    const e = genMap.findEntry(Number(m[1]) - 1, Number(m[2]) - 1) as {
      originalLine?: number;
      originalColumn?: number;
    };
    if (e.originalLine === undefined) return undefined;
    return toOriginal(e.originalLine + 1, e.originalColumn ?? 0);
  };
  const context = vm.createContext(buildRealmGlobals(), {
    name: display,
    codeGeneration: { strings: true, wasm: true },
  });
  const RealmPromise = promiseScript.runInContext(context) as PromiseConstructor;
  const realm: ScriptRealm = {
    fn: compiled.runInContext(context) as ScriptFunction,
    globalNames,
    global: globalScript.runInContext(context) as object,
    math: mathScript.runInContext(context) as object,
    array: arrayHelpersScript.runInContext(context) as ArrayHelpers,
    promiseThen: RealmPromise.prototype.then as ScriptRealm['promiseThen'],
    settle: (settleScript.runInContext(context) as (p: PromiseConstructor) => Settle)(RealmPromise),
  };
  return { path: abs, dir, realm, locate };
}

/** An Error of any realm (a VU's errors are not `instanceof` this realm's Error). */
export function isErrorLike(err: unknown): err is { name: string; message: string; stack?: unknown } {
  return (
    types.isNativeError(err) ||
    (typeof err === 'object' &&
      err !== null &&
      typeof (err as { message?: unknown }).message === 'string' &&
      typeof (err as { name?: unknown }).name === 'string')
  );
}
