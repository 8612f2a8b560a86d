// One test run, k6's lifecycle: load the script, run init once to read `options`, validate
// everything (104), initialize VUs (107 on init errors), setup(), the scenarios with their
// startTime, teardown(), then thresholds, the summary and the exit code.
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import {
  ExternalAbortError,
  InvalidConfigError,
  LifecycleTimeoutError,
  LoadgenError,
  ScriptError,
  TestAbortedError,
  ThresholdAbortError,
  EXIT_MARKED_AS_FAILED,
  EXIT_THRESHOLDS_FAILED,
} from './errors.js';
import { MetricRegistry, MetricNameError } from './metrics/registry.js';
import { registerBuiltinMetrics } from './metrics/builtin.js';
import { loadScript, type LoadedScript } from './script/loader.js';
import { GroupTree } from './script/groups.js';
import type { HttpRunOptions, TestContext } from './script/context.js';
import { VU, errorText, type VuOptions } from './script/vu.js';
import { inMicrotask } from './script/event-loop.js';
import { SlowestRequests } from './tracing.js';
import { consolidateOptions, type CliOverrides, type TestOptions } from './options.js';
import { executorFactory, type Executor, type ExecutionHooks } from './executors/index.js';
import { buildThresholds, evaluateThresholds, type Threshold } from './thresholds/index.js';
import { outputFactory, outputNames, type Output } from './outputs/index.js';
import { buildSummaryData, summaryExport, type SummaryData } from './summary/data.js';
import { GROUP_METRICS, renderSummary, SCENARIO_METRICS, type SummaryMode } from './summary/text.js';
import { ProgressLine } from './summary/progress.js';
import { Logger, type LogFormat } from './log.js';
import { RequestRate } from './http/rate.js';
import { Watchdog } from './watchdog.js';
import { parseSecretSources, type SecretSource, SecretSourceError } from './script/modules/secrets.js';

export interface RunTestOptions extends CliOverrides {
  script: string;
  /** --no-thresholds: thresholds are neither evaluated nor shown. */
  noThresholds?: boolean;
  /** --no-summary: no end-of-test summary and no handleSummary() (--summary-export still written). */
  noSummary?: boolean;
  /** --log-format. */
  logFormat?: LogFormat;
  /** --log-output: where log lines (and errors) go; `stderr` when unset. The progress line stays on stderr. */
  logOut?: Writable;
  env?: Record<string, string>;
  outputs?: Array<{ name: string; arg: string }>;
  summaryExport?: string;
  summaryMode?: SummaryMode;
  quiet?: boolean;
  /** Aborts the run (e.g. on SIGINT); exits 105 as k6 does for an external abort. */
  signal?: AbortSignal;
  stdout?: Writable & { isTTY?: boolean };
  stderr?: Writable & { isTTY?: boolean };
  /** How many slowest requests to keep with their trace ids. */
  slowestCount?: number;
  /** `--secret-source` values (k6/secrets): mock=key=value,… or file=path. */
  secretSources?: string[];
}

export interface TestResult {
  exitCode: number;
  summary: SummaryData | undefined;
  error: LoadgenError | undefined;
  iterationErrors: number;
}

const THRESHOLD_TICK_MS = 1000;
const GAUGE_TICK_MS = 1000;

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

/**
 * Calls `fn` from a microtask of its own, once the caller has gone on to await the result. Should
 * the watchdog end it (an endless loop), only that microtask's stack goes: the engine's frames
 * awaiting the result live on and its timeout fires. (A V8 microtask, not a timer, an immediate or
 * queueMicrotask: ending JavaScript inside one of those would corrupt Node's async-context stack.)
 */
function detached<T>(fn: () => T): Promise<Awaited<T>> {
  return new Promise<Awaited<T>>((resolve, reject) => {
    inMicrotask(() => {
      try {
        Promise.resolve(fn()).then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    });
  });
}

export async function runTest(opts: RunTestOptions): Promise<TestResult> {
  const logger = new Logger(opts.logOut ?? opts.stderr ?? process.stderr, undefined, opts.logFormat);
  const stopReporting = reportUnhandledRejections(logger.log);
  try {
    return await runWith(opts, logger);
  } finally {
    stopReporting();
  }
}

/**
 * A rejected promise nobody handles (a module's promise the script never awaited, as in
 * `secrets.get(k)` without `await`): k6 logs it as "Uncaught (in promise)" and the test goes
 * on; Node would end the process with exit code 1.
 */
function reportUnhandledRejections(log: Logger['log']): () => void {
  const report = (reason: unknown): void => {
    const text = errorText(reason);
    log('error', text.startsWith('Uncaught') ? text : `Uncaught (in promise) ${text}`, { source: 'stacktrace' });
  };
  process.on('unhandledRejection', report);
  return () => process.off('unhandledRejection', report);
}

async function runWith(opts: RunTestOptions, logger: Logger): Promise<TestResult> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const logOut = opts.logOut ?? stderr;
  const log = logger.log;
  const fail = (error: LoadgenError): TestResult => {
    logOut.write(`ERROR ${error.message}\n`);
    return { exitCode: error.exitCode, summary: undefined, error, iterationErrors: 0 };
  };

  let secretSources: SecretSource[];
  try {
    secretSources = parseSecretSources(opts.secretSources ?? [], process.cwd());
  } catch (err) {
    if (err instanceof SecretSourceError) return fail(new InvalidConfigError([err.message]));
    throw err;
  }

  let script: LoadedScript;
  try {
    script = await loadScript(opts.script);
  } catch (err) {
    if (err instanceof LoadgenError) return fail(err);
    throw err;
  }

  const registry = new MetricRegistry();
  const metrics = registerBuiltinMetrics(registry);
  let markedFailed = false;
  const abort = new AbortState();
  const instance: InstanceCounters = {
    vusActive: 0,
    vusInitialized: 0,
    iterationsCompleted: 0,
    iterationsInterrupted: 0,
  };
  const ctx = {
    registry,
    metrics,
    groups: new GroupTree(),
    slowest: new SlowestRequests(opts.slowestCount ?? 10),
    tracing: { propagator: 'w3c', sampling: 1 } as { propagator: 'w3c' | 'b3' | 'none'; sampling: number },
    userAgent: '' as string,
    maxRedirects: 10,
    discardResponseBodies: false as boolean,
    httpOptions: { throw: false, debug: '', batch: 20, batchPerHost: 6, rateLimit: null } as HttpRunOptions,
    scriptOptions: {} as Record<string, unknown>,
    sharedArrays: new Map<string, readonly unknown[]>(),
    secretSources,
    startedAt: performance.now(),
    abort: (reason: string) => abort.abort(new TestAbortedError(reason)),
    markFailed: () => {
      markedFailed = true;
    },
    log,
    instance: () => instance,
  } satisfies TestContext;

  // Init once to read the options (k6 does the same before creating the real VUs).
  const probe = new VU(0, ctx, script, {
    noConnectionReuse: false,
    insecureSkipTLSVerify: false,
    noCookiesReset: false,
    env: opts.env ?? {},
    tags: {},
  });
  try {
    await probe.init();
  } catch (err) {
    probe.close();
    if (err instanceof LoadgenError) return fail(err);
    throw err;
  }
  probe.close();
  const scriptOptions = (probe.exports.options ?? {}) as Record<string, unknown>;
  ctx.scriptOptions = scriptOptions;
  const { options, errors } = consolidateOptions(scriptOptions, opts, (m, f) => log('warn', m, f));
  if (options === undefined) return fail(new InvalidConfigError(errors));
  const configErrors: string[] = [];
  let thresholds: Threshold[] = [];
  try {
    const t = buildThresholds(opts.noThresholds === true ? undefined : options.thresholds, registry);
    thresholds = t.thresholds;
    configErrors.push(...t.errors);
  } catch (err) {
    if (err instanceof MetricNameError) configErrors.push(`thresholds: ${err.message}`);
    else throw err;
  }
  for (const s of options.scenarios) {
    if (typeof probe.exports[s.config.exec] !== 'function')
      configErrors.push(`scenarios.${s.name}.exec: function '${s.config.exec}' is not exported by the script`);
  }
  const outputs: Output[] = [];
  const thresholdSources = new Map<string, string[]>();
  for (const t of thresholds) {
    const list = thresholdSources.get(t.metric.name) ?? [];
    list.push(t.source);
    thresholdSources.set(t.metric.name, list);
  }
  for (const o of opts.outputs ?? []) {
    const factory = outputFactory(o.name);
    if (factory === undefined) {
      configErrors.push(`--out ${o.name}: unknown output (one of ${outputNames().join(', ')})`);
      continue;
    }
    try {
      outputs.push(await factory(o.arg, { thresholds: thresholdSources, env: process.env }));
    } catch (err) {
      configErrors.push(`--out ${o.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (configErrors.length > 0) return fail(new InvalidConfigError(configErrors));
  for (const o of outputs) {
    try {
      await o.start();
    } catch (err) {
      for (const started of registry.observers) await (started as Output).stop();
      return fail(new InvalidConfigError([`--out ${o.name}: ${err instanceof Error ? err.message : String(err)}`]));
    }
    registry.observers.push(o);
  }

  ctx.tracing = options.tracing;
  ctx.userAgent = options.userAgent;
  ctx.maxRedirects = options.maxRedirects;
  ctx.discardResponseBodies = options.discardResponseBodies;
  ctx.httpOptions = {
    throw: options.throw,
    debug: options.httpDebug,
    batch: options.batch,
    batchPerHost: options.batchPerHost,
    rateLimit: options.rps > 0 ? new RequestRate(options.rps).acquire : null,
  };
  if (options.consoleOutput !== '') {
    try {
      logger.consoleTo(fs.createWriteStream(options.consoleOutput, { flags: 'a' }));
    } catch (err) {
      return fail(new InvalidConfigError([`consoleOutput: ${err instanceof Error ? err.message : String(err)}`]));
    }
  }
  return execute({
    opts,
    options,
    ctx,
    script,
    thresholds,
    outputs,
    instance,
    abort,
    stdout,
    stderr,
    logger,
    markedFailed: () => markedFailed,
  });
}

/** Why and when the test stops early: test.abort(), an abortOnFail threshold, a signal. First one wins. */
class AbortState {
  error: LoadgenError | undefined;
  readonly aborted: Promise<void>;
  #resolve: () => void = () => undefined;
  constructor() {
    this.aborted = new Promise<void>((r) => (this.#resolve = r));
  }
  abort(err: LoadgenError): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.#resolve();
  }
}

interface InstanceCounters {
  vusActive: number;
  vusInitialized: number;
  iterationsCompleted: number;
  iterationsInterrupted: number;
}

/** Everything validated before the first VU runs. */
interface PreparedRun {
  opts: RunTestOptions;
  options: TestOptions;
  ctx: TestContext & { startedAt: number };
  script: LoadedScript;
  thresholds: Threshold[];
  outputs: Output[];
  instance: InstanceCounters;
  abort: AbortState;
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
  logger: Logger;
  /** exec.test.fail() was called: the run ends with exit code 110 unless it failed otherwise. */
  markedFailed: () => boolean;
}

async function execute(run: PreparedRun): Promise<TestResult> {
  const { opts, options, ctx, script, thresholds, outputs, instance, abort, stdout, stderr, logger } = run;
  const aborted = abort.aborted;
  const abortError = (): LoadgenError | undefined => abort.error;
  const log = logger.log;
  const vuOptions: VuOptions = {
    noConnectionReuse: options.noConnectionReuse,
    insecureSkipTLSVerify: options.insecureSkipTLSVerify,
    hosts: options.hosts,
    noCookiesReset: options.noCookiesReset,
    env: opts.env ?? {},
    tags: options.tags,
  };
  const idle: VU[] = [];
  const everyVU: VU[] = [];
  let nextId = 1;
  let iterationErrors = 0;
  const newVU = async (): Promise<VU> => {
    const vu = new VU(nextId++, ctx, script, vuOptions);
    everyVU.push(vu);
    await vu.init();
    instance.vusInitialized++;
    return vu;
  };
  let onKilled: () => void = () => undefined;
  const killed = new Promise<void>((r) => (onKilled = r));
  const watchdog = Watchdog.start((stuckMs) => {
    log(
      'warn',
      `a VU's JavaScript ran ${Math.round(stuckMs)}ms without yielding, past its scenario's gracefulStop (or setup/teardown timeout), and was interrupted`,
    );
    onKilled();
  });
  const cleanup = async (): Promise<void> => {
    await watchdog?.stop();
    await logger.closeConsole();
    for (const vu of everyVU) vu.close();
    for (const o of outputs) await o.stop();
  };
  const scriptFailure = async (err: unknown): Promise<TestResult> => {
    await cleanup();
    const e = err instanceof LoadgenError ? err : new ScriptError(String(err), undefined);
    (opts.logOut ?? stderr).write(`ERROR ${e.message}\n`);
    return { exitCode: e.exitCode, summary: undefined, error: e, iterationErrors };
  };
  let setupData: unknown;
  const hooks: ExecutionHooks = {
    acquireVU: async () => idle.pop() ?? (await newVU()),
    releaseVU: (vu) => {
      idle.push(vu);
    },
    get setupData() {
      return setupData;
    },
    aborted,
    isAborted: () => abortError() !== undefined,
    onIteration: (outcome) => {
      if (outcome === 'interrupted') instance.iterationsInterrupted++;
      else instance.iterationsCompleted++;
      if (outcome === 'failed') iterationErrors++;
    },
    onDropped: (n, tags) => ctx.metrics.droppedIterations.add(n, tags),
    onActiveChange: (d) => {
      instance.vusActive += d;
    },
    killed,
  };
  const executors: Executor[] = options.scenarios.map((s) =>
    executorFactory(s.config.executor)!.create(s.name, s.config, hooks),
  );
  // The full summary reports each scenario on its own: its key metrics get a per-scenario view.
  if (opts.summaryMode === 'full' && executors.length > 1) {
    for (const e of executors)
      for (const name of SCENARIO_METRICS) ctx.registry.find(name)?.submetric([['scenario', e.name]]);
  }
  // ... and each group on its own, as k6's full summary does.
  if (opts.summaryMode === 'full')
    ctx.groups.onGroup = (path) => {
      for (const name of GROUP_METRICS) ctx.registry.find(name)?.submetric([['group', path]]);
    };

  // Initialize the VUs every scenario needs up front, as k6 does, so init errors stop the test before setup.
  const preAllocate = executors.reduce((a, e) => a + e.preAllocatedVUs(), 0);
  try {
    const fresh = await Promise.all(Array.from({ length: preAllocate }, () => newVU()));
    idle.push(...fresh.reverse());
  } catch (err) {
    return scriptFailure(err);
  }

  // setup() and teardown() run in their own VU, as in k6.
  const special = new VU(0, ctx, script, vuOptions);
  everyVU.push(special);
  try {
    await special.init();
  } catch (err) {
    return scriptFailure(err);
  }
  const lifecycle = async (name: 'setup' | 'teardown', arg: unknown, timeout: number): Promise<unknown> => {
    const fn = special.exports[name];
    if (typeof fn !== 'function') return undefined;
    if ((name === 'setup' && options.noSetup) || (name === 'teardown' && options.noTeardown)) return undefined;
    special.state.tags = { ...options.tags, group: `::${name}` };
    special.state.groupPath = '';
    watchdog?.limit(special, timeout);
    try {
      // As an iteration, setup() and teardown() end once the callback work they started is done.
      return await withTimeout(
        detached(async () => {
          const value = await (fn as (d: unknown) => unknown)(arg);
          await special.state.loop.drain();
          return value;
        }),
        timeout,
        () => new LifecycleTimeoutError(name, timeout),
      );
    } catch (err) {
      if (abortError() !== undefined) throw abortError();
      if (err instanceof LifecycleTimeoutError) throw err;
      throw new ScriptError(`${errorText(err)} (in ${name}())`, script.locate(err));
    } finally {
      watchdog?.limit(special, undefined);
      special.flushNetwork(special.state.tags);
    }
  };

  const started = performance.now();
  ctx.startedAt = started;
  // Iteration-bound scenarios have no planned end, and then neither has the test.
  const totalMs = executors.some((e) => e.plannedDuration() === 0)
    ? 0
    : Math.max(...executors.map((e) => e.config.startTime + e.plannedDuration()));
  const progress = opts.quiet
    ? undefined
    : new ProgressLine(stderr, () => ({
        vusActive: instance.vusActive,
        vusMax: instance.vusInitialized,
        iterations: instance.iterationsCompleted,
        httpReqs: (ctx.metrics.httpReqs.sink as { count: number }).count,
        elapsedMs: performance.now() - started,
        totalMs,
      }));
  const onSignal = (): void => abort.abort(new ExternalAbortError());
  if (opts.signal?.aborted === true) onSignal();
  else opts.signal?.addEventListener('abort', onSignal, { once: true });
  // Once aborted, VUs are interrupted at once; JavaScript that still does not yield is ended.
  void aborted.then(() => watchdog?.limit(abort, 0));

  try {
    const raw = await lifecycle('setup', undefined, options.setupTimeout);
    setupData = raw === undefined ? undefined : JSON.parse(JSON.stringify(raw));
  } catch (err) {
    return scriptFailure(err);
  }

  const gauges = (): void => {
    ctx.metrics.vus.add(instance.vusActive, options.tags);
    ctx.metrics.vusMax.add(instance.vusInitialized, options.tags);
  };
  gauges();
  const gaugeTimer = setInterval(gauges, GAUGE_TICK_MS);
  const thresholdTimer = setInterval(() => {
    const crossed = evaluateThresholds(thresholds, performance.now() - started, false);
    if (crossed !== undefined) abort.abort(new ThresholdAbortError(crossed.key, crossed.source));
  }, THRESHOLD_TICK_MS);
  gaugeTimer.unref();
  thresholdTimer.unref();
  progress?.start();

  await Promise.all(
    executors.map(async (e) => {
      if (e.config.startTime > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise((r) => (timer = setTimeout(r, e.config.startTime))), aborted]);
        clearTimeout(timer);
        if (abortError() !== undefined) return;
      }
      watchdog?.limit(e, e.hardLimit());
      await e.run();
      watchdog?.limit(e, undefined);
    }),
  );
  watchdog?.limit(abort, undefined);
  progress?.stop();
  clearInterval(gaugeTimer);
  clearInterval(thresholdTimer);
  gauges();
  opts.signal?.removeEventListener('abort', onSignal);

  try {
    await lifecycle('teardown', setupData, options.teardownTimeout);
  } catch (err) {
    return scriptFailure(err);
  }

  const elapsed = performance.now() - started;
  evaluateThresholds(thresholds, elapsed, true);
  const data = buildSummaryData(
    ctx.registry,
    thresholds,
    ctx.groups.root,
    ctx.slowest.list(),
    options.summaryTrendStats,
    elapsed,
    options.summaryTimeUnit,
  );
  logger.flush();
  if (iterationErrors > 0) log('warn', `${iterationErrors} iteration(s) ended with an uncaught exception`);
  for (const o of outputs)
    if (o.dropped > 0) log('warn', `output ${o.name} dropped ${o.dropped} samples (buffer full or not delivered)`);

  // A broken handleSummary or an unwritable file costs the custom report, never the results:
  // the error is logged and the default summary printed instead.
  const write = (target: string, text: string | Buffer): void => {
    try {
      fs.writeFileSync(target, text);
    } catch (err) {
      log('error', `cannot write ${target}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  let printDefault = true;
  const handleSummary = special.exports.handleSummary;
  if (opts.noSummary === true) printDefault = false;
  else if (typeof handleSummary === 'function') {
    try {
      const result = (await (handleSummary as (d: SummaryData) => unknown)(data)) as
        | Record<string, unknown>
        | undefined;
      printDefault = false;
      for (const [target, content] of Object.entries(result ?? {})) {
        const text =
          typeof content === 'string'
            ? content
            : content instanceof ArrayBuffer
              ? Buffer.from(content)
              : JSON.stringify(content);
        if (target === 'stdout') stdout.write(text);
        else if (target === 'stderr') stderr.write(text);
        else write(target, text);
      }
    } catch (err) {
      const loc = script.locate(err);
      log('error', `${errorText(err)} (in handleSummary())${loc === undefined ? '' : `\n\tat ${loc}`}`);
    }
  }
  if (printDefault) stdout.write(renderSummary(data, opts.summaryMode ?? 'compact'));
  if (opts.summaryExport !== undefined) write(opts.summaryExport, JSON.stringify(summaryExport(data), null, 2));
  await cleanup();

  const abortedBy = abortError();
  if (abortedBy !== undefined) {
    log('error', abortedBy.message);
    return { exitCode: abortedBy.exitCode, summary: data, error: abortedBy, iterationErrors };
  }
  const failed = thresholds.filter((t) => !t.ok);
  if (failed.length > 0) {
    log('error', `thresholds on metrics '${[...new Set(failed.map((t) => t.key))].join("', '")}' have been crossed`);
    return { exitCode: EXIT_THRESHOLDS_FAILED, summary: data, error: undefined, iterationErrors };
  }
  if (run.markedFailed()) {
    log('error', 'test run was marked as failed');
    return { exitCode: EXIT_MARKED_AS_FAILED, summary: data, error: undefined, iterationErrors };
  }
  return { exitCode: 0, summary: data, error: undefined, iterationErrors };
}
