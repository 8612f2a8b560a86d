// A virtual user: its own instance of the script (init code run once per VU, its own top-level
// bindings and global object, as k6 gives each VU its own runtime; loader.ts), its own k6
// modules and HTTP connections, and the per-iteration bookkeeping (__ITER, tags, open-model start lag, errors logged with
// file:line and counted, interruption).
import { performance } from 'node:perf_hooks';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { types } from 'node:util';
import { HttpTransport } from '../http/client.js';
import { CookieJar } from '../http/cookies.js';
import { IterationInterruptedError, ScriptError } from '../errors.js';
import { internTags, type Tags } from '../metrics/registry.js';
import { isErrorLike, type LoadedScript } from './loader.js';
import { buildVuGlobals } from './globals.js';
import type { ScenarioInfo, TestContext, VuState } from './context.js';
import { AbortSignalError } from './modules/execution.js';
import { MODULE_FACTORIES } from './modules/index.js';
import { VuEventLoop } from './event-loop.js';
import { seededRandom } from './random-seed.js';

export interface VuOptions {
  readonly noConnectionReuse: boolean;
  readonly insecureSkipTLSVerify: boolean;
  /** k6's hosts option (k6/http): host name or *.domain to 'address[:port]'. */
  readonly hosts?: Readonly<Record<string, string>>;
  readonly noCookiesReset: boolean;
  readonly env: Readonly<Record<string, string>>;
  readonly tags: Tags;
}

type ThenFn = (this: unknown, ok: () => void, fail: (err: unknown) => void) => unknown;
type BoundThen = (
  promise: unknown,
  ok: (value: unknown) => unknown,
  fail: (err: unknown) => unknown,
) => Promise<unknown>;

function bindThen(then: ThenFn): BoundThen {
  return Function.prototype.call.bind(then) as BoundThen;
}

/** #finish's "no error" (a script may throw undefined). */
const NO_ERROR: unique symbol = Symbol('no error');

export type IterationOutcome = 'completed' | 'failed' | 'interrupted' | 'aborted';

function consoleFor(test: TestContext): Record<string, (...args: unknown[]) => void> {
  const fmt = (args: unknown[]): string =>
    args
      .map((a) => (typeof a === 'string' ? a : isErrorLike(a) ? String(a) : (JSON.stringify(a) ?? String(a))))
      .join(' ');
  return {
    log: (...a) => test.log('info', fmt(a), { source: 'console' }),
    info: (...a) => test.log('info', fmt(a), { source: 'console' }),
    debug: (...a) => test.log('debug', fmt(a), { source: 'console' }),
    warn: (...a) => test.log('warn', fmt(a), { source: 'console' }),
    error: (...a) => test.log('error', fmt(a), { source: 'console' }),
  };
}

export class VU {
  readonly state: VuState;
  readonly exports: Record<string, unknown> = {};
  readonly #test: TestContext;
  readonly #script: LoadedScript;
  readonly #opts: VuOptions;
  readonly #ctx: { env: Record<string, string>; iter: number; vu: number };
  /**
   * then(promise, ok, fail): the script realm's Promise.prototype.then (taken before the script
   * could replace it), bound to Function.prototype.call once: `then.call(...)` per iteration
   * would load `call` from a function of another realm's map.
   */
  #then: BoundThen = bindThen(Promise.prototype.then);
  // The running iteration (a VU runs one at a time).
  #done: ((outcome: IterationOutcome) => void) | null = null;
  #start = 0;
  /**
   * While #finish hands its outcome over: when the iteration ended (its clock reading). An
   * iteration started from there (the closed-model loop runs the next one back to back, in the
   * same call) starts at that instant instead of reading the clock again; -1 otherwise.
   */
  #endedAt = -1;
  #baseTags: Tags = {};

  constructor(id: number, test: TestContext, script: LoadedScript, opts: VuOptions) {
    this.#test = test;
    this.#script = script;
    this.#opts = opts;
    const env = { ...opts.env };
    this.state = {
      idInTest: id,
      iteration: 0,
      iterationInInstance: 0,
      env,
      scenario: null,
      tags: { ...opts.tags, group: '' },
      customTags: {},
      groupPath: '',
      startLag: 0,
      interrupted: false,
      cookies: new CookieJar(),
      loop: new VuEventLoop(),
      transport: new HttpTransport({
        noConnectionReuse: opts.noConnectionReuse,
        insecureSkipTLSVerify: opts.insecureSkipTLSVerify,
        hosts: opts.hosts,
        connectTimeoutMs: 60_000,
      }),
      sleepCancel: null,
      responseCallback: null,
      network: { sent: 0, received: 0 },
      seedRandom: () => {},
      settle: (job) => new Promise((resolve, reject) => job.start(resolve, reject)),
      promiseThen: bindThen(Promise.prototype.then),
      tracing: null,
      span: null,
    };
    this.#ctx = { env, iter: 0, vu: id };
  }

  /** Runs the script's init code for this VU. Throws ScriptError (exit 107) on failure. */
  async init(): Promise<void> {
    const test = this.#test;
    let inInit = true;
    const cache = new Map<string, unknown>();
    const moduleCtx = {
      test,
      vu: this.state,
      scriptDir: this.#script.dir,
      inInit: () => inInit,
      require: (name: string) => require(name),
    };
    const require = (name: string): unknown => {
      let m = cache.get(name);
      if (m === undefined) {
        const make = MODULE_FACTORIES[name];
        if (make === undefined) throw new Error(`unknown module '${name}'`);
        m = make(moduleCtx);
        cache.set(name, m);
      }
      return m;
    };
    const dir = this.#script.dir;
    const open = (file: string, mode?: string): string | ArrayBuffer => {
      const p = path.resolve(dir, file);
      const buf = fs.readFileSync(p);
      return mode === 'b'
        ? (buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer)
        : buf.toString('utf8');
    };
    const console = consoleFor(test);
    try {
      const realm = this.#script.realm;
      const globals = buildVuGlobals({ console, open, ctx: this.#ctx, require }, realm);
      const math = globals.math;
      this.#then = bindThen(realm.promiseThen);
      this.state.settle = realm.settle;
      this.state.promiseThen = this.#then;
      this.state.seedRandom = (seed) => {
        math.random = seededRandom(seed);
      };
      await realm.fn(require, this.exports, this.#ctx, realm.array, open, console, ...globals.values);
      await this.state.loop.drain();
    } catch (err) {
      throw new ScriptError(`${errorText(err)} (in init code)`, this.#script.locate(err));
    } finally {
      inInit = false;
    }
  }

  /** Moves the VU into a scenario: its env, tags and __ITER restart there, as in k6. */
  enterScenario(scenario: ScenarioInfo, env: Readonly<Record<string, string>>, tags: Tags): void {
    const s = this.state;
    s.scenario = scenario;
    s.iteration = 0;
    s.interrupted = false;
    const merged = { ...this.#opts.env, ...env };
    s.env = merged;
    this.#ctx.env = merged;
    s.tags = internTags({ ...this.#opts.tags, ...tags, ...s.customTags, scenario: scenario.name, group: '' });
    s.groupPath = '';
  }

  /** Inside an iteration (started and not yet done). */
  get busy(): boolean {
    return this.#done !== null;
  }

  /**
   * Starts one iteration of `exec`; `done` receives its outcome, possibly before start() returns
   * (a function that completes without waiting). Call it from a microtask, never from one of
   * Node's timer or I/O callbacks: the watchdog can end an endless loop there without corrupting
   * Node's async-context stack. Throws ScriptError when the script does not export `exec`.
   *
   * Callbacks rather than an async function: the script's promise belongs to the script's realm, and
   * awaiting it here would take V8's foreign-thenable path (a PromiseResolveThenableJob, a `then`
   * call and two more microtasks per iteration). Its own realm's `then` with callbacks bound once
   * per VU costs one reaction job.
   */
  start(exec: string, data: unknown, startLag: number, done: (outcome: IterationOutcome) => void): void {
    const s = this.state;
    const fn = this.exports[exec];
    if (typeof fn !== 'function') throw new ScriptError(`function '${exec}' is not exported by the script`, undefined);
    this.#ctx.iter = s.iteration;
    s.startLag = startLag;
    if (!this.#opts.noCookiesReset) s.cookies.clear();
    // A callback error from after the last iteration ended belongs to no iteration.
    s.loop.reset();
    this.#baseTags = s.tags;
    this.#done = done;
    const endedAt = this.#endedAt;
    this.#start = endedAt >= 0 ? endedAt : performance.now();
    let r: unknown;
    try {
      r = (fn as (d: unknown) => unknown)(data);
    } catch (err) {
      this.#finish(err);
      return;
    }
    if (types.isPromise(r)) this.#then(r, this.#onFulfilled, this.#onRejected);
    else this.#fulfilled();
  }

  readonly #onFulfilled = (): void => this.#fulfilled();
  readonly #onRejected = (err: unknown): void => this.#finish(err);
  readonly #onDrained = (): void => this.#finish(NO_ERROR);

  #fulfilled(): void {
    // Most iterations start no callback work: no drain() promise for them.
    const loop = this.state.loop;
    if (loop.settled) this.#finish(NO_ERROR);
    else loop.drain().then(this.#onDrained, this.#onRejected);
  }

  /** Ends the iteration: outcome, error log, per-iteration metrics; then hands the outcome over. */
  #finish(err: unknown): void {
    const s = this.state;
    const baseTags = this.#baseTags;
    let outcome: IterationOutcome = 'completed';
    if (err === NO_ERROR && s.interrupted) err = new IterationInterruptedError();
    if (err !== NO_ERROR) {
      s.loop.cancelAll();
      s.loop.reset();
      if (err instanceof IterationInterruptedError || s.interrupted) outcome = 'interrupted';
      else if (err instanceof AbortSignalError) outcome = 'aborted';
      else {
        outcome = 'failed';
        const loc = this.#script.locate(err);
        this.#test.log('error', `${errorText(err)}${loc === undefined ? '' : `\n\tat ${loc}`}`, {
          executor: s.scenario?.executor ?? '',
          scenario: s.scenario?.name ?? '',
          source: 'stacktrace',
        });
      }
    }
    s.groupPath = '';
    s.tags = baseTags;
    s.startLag = 0;
    s.iteration++;
    s.iterationInInstance++;
    this.flushNetwork(baseTags);
    let end = -1;
    if (outcome !== 'interrupted') {
      const m = this.#test.metrics;
      end = performance.now();
      m.iterationDuration.add(end - this.#start, baseTags);
      m.iterations.add(1, baseTags);
    }
    const done = this.#done!;
    this.#done = null;
    this.#endedAt = end;
    try {
      done(outcome);
    } finally {
      this.#endedAt = -1;
    }
  }

  /** Emits the bytes moved since the last flush as data_sent/data_received with `tags`. */
  flushNetwork(tags: Tags): void {
    const n = this.state.network;
    const m = this.#test.metrics;
    if (n.sent > 0) m.dataSent.add(n.sent, tags);
    if (n.received > 0) m.dataReceived.add(n.received, tags);
    n.sent = 0;
    n.received = 0;
  }

  /** Stops the current iteration at its next await (sleep or request) and drops its connections. */
  interrupt(): void {
    const s = this.state;
    s.interrupted = true;
    s.sleepCancel?.();
    s.loop.cancelAll();
    s.transport.closeAll();
  }

  /** Lets the VU run again after an interruption. */
  resume(): void {
    this.state.interrupted = false;
  }

  close(): void {
    this.state.loop.cancelAll();
    this.state.loop.closeResources();
    this.state.transport.closeAll();
  }
}

export function errorText(err: unknown): string {
  if (isErrorLike(err)) return `${err.name === 'Error' ? 'Error' : err.name}: ${err.message}`;
  return `Uncaught (in promise) ${typeof err === 'string' ? err : JSON.stringify(err)}`;
}
