// A virtual user: its own instance of the script in its own vm context (init code run once per VU,
// its own globals, as k6 gives each VU its own runtime), its own k6 modules and HTTP connections,
// and the per-iteration bookkeeping (__ITER, tags, open-model start lag, errors logged with
// file:line and counted, interruption).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HttpTransport } from '../http/client.js';
import { CookieJar } from '../http/cookies.js';
import { IterationInterruptedError, ScriptError } from '../errors.js';
import type { Tags } from '../metrics/registry.js';
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
      const { fn, array, math } = this.#script.instantiate(buildVuGlobals({ console, open, ctx: this.#ctx, require }));
      this.state.seedRandom = (seed) => {
        math.random = seededRandom(seed);
      };
      await fn(require, this.exports, this.#ctx, array, open, console);
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
    s.tags = { ...this.#opts.tags, ...tags, ...s.customTags, scenario: scenario.name, group: '' };
    s.groupPath = '';
  }

  /** One iteration of `exec`; never throws. */
  async iterate(exec: string, data: unknown, startLag: number): Promise<IterationOutcome> {
    const s = this.state;
    const fn = this.exports[exec];
    if (typeof fn !== 'function') throw new ScriptError(`function '${exec}' is not exported by the script`, undefined);
    this.#ctx.iter = s.iteration;
    s.startLag = startLag;
    if (!this.#opts.noCookiesReset) s.cookies.clear();
    // A callback error from after the last iteration ended belongs to no iteration.
    s.loop.reset();
    const baseTags = s.tags;
    const m = this.#test.metrics;
    const start = performance.now();
    let outcome: IterationOutcome = 'completed';
    try {
      // The script runs from a microtask, never inside one of Node's timer or immediate callbacks
      // (the arrival-rate schedule starts iterations from timers): the watchdog can end an endless
      // loop there without corrupting Node's async-context stack.
      await undefined;
      await (fn as (d: unknown) => unknown)(data);
      // Most iterations start no callback work: no drain() promise for them.
      if (!s.loop.settled) await s.loop.drain();
      if (s.interrupted) throw new IterationInterruptedError();
    } catch (err) {
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
    } finally {
      s.groupPath = '';
      s.tags = baseTags;
      s.startLag = 0;
    }
    s.iteration++;
    s.iterationInInstance++;
    this.flushNetwork(baseTags);
    if (outcome !== 'interrupted') {
      const tags = baseTags;
      m.iterationDuration.add(performance.now() - start, tags);
      m.iterations.add(1, tags);
    }
    return outcome;
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
