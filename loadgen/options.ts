// Consolidates the script's `options` with the layers k6 puts around it into validated scenarios
// and test-wide settings, reporting every problem at once with its path (k6 exit code 104). k6's
// order, lowest first: a config file (-c), the script's options, K6_* environment variables, CLI
// flags. As in k6, the shortcuts iterations / duration+vus / stages become one scenario named
// "default", shortcuts from the environment or the CLI replace the script's scenarios, option keys
// k6 does not know get k6's warning and are ignored, and unknown fields inside a scenario are
// refused (104).
import { z } from 'zod';
import { stage, stringMap } from './executors/config.js';
import { executorFactory, executorNames } from './executors/index.js';
import { parseDuration } from './duration.js';
import type { BaseConfig } from './executors/config.js';
import { DEFAULT_TREND_STATS } from './summary/data.js';

export interface CliOverrides {
  vus?: number;
  duration?: string;
  iterations?: number;
  stages?: Array<{ duration: string | number; target: number }>;
  tags?: Record<string, string>;
  /**
   * Options set by K6_* environment variables and CLI flags, by k6's option names (CLI already
   * merged over the environment): they win over the script's options.
   */
  options?: Record<string, unknown>;
  /** Options from a config file (-c): below the script's options. */
  config?: Record<string, unknown>;
}

export type SummaryTimeUnit = '' | 's' | 'ms' | 'us';
export type HttpDebug = '' | 'headers' | 'full';

export interface TestOptions {
  scenarios: Array<{ name: string; config: BaseConfig }>;
  thresholds: unknown;
  tags: Record<string, string>;
  summaryTrendStats: string[];
  summaryTimeUnit: SummaryTimeUnit;
  noConnectionReuse: boolean;
  noCookiesReset: boolean;
  insecureSkipTLSVerify: boolean;
  userAgent: string;
  maxRedirects: number;
  discardResponseBodies: boolean;
  tracing: { propagator: 'w3c' | 'b3' | 'none'; sampling: number };
  setupTimeout: number;
  teardownTimeout: number;
  noSetup: boolean;
  noTeardown: boolean;
  /** Failed requests throw instead of returning a Response with `error` set. */
  throw: boolean;
  /** Requests per second across all VUs; 0 is unlimited. */
  rps: number;
  batch: number;
  batchPerHost: number;
  httpDebug: HttpDebug;
  consoleOutput: string;
  /** k6's hosts option: host name (or *.domain) to 'address[:port]'. */
  hosts: Readonly<Record<string, string>>;
}

/** k6's own option names that meshscope does not implement: warned about as unsupported, not unknown. */
const K6_UNSUPPORTED = new Set([
  'paused',
  'executionSegment',
  'executionSegmentSequence',
  'dns',
  'tlsCipherSuites',
  'tlsVersion',
  'tlsAuth',
  'blacklistIPs',
  'blockHostnames',
  'minIterationDuration',
  'systemTags',
  'metricSamplesBufferSize',
  'noUsageReport',
  'localIPs',
  'cloud',
  'ext',
]);

const KNOWN = new Set([
  'vus',
  'duration',
  'iterations',
  'stages',
  'scenarios',
  'thresholds',
  'tags',
  'summaryTrendStats',
  'noConnectionReuse',
  'noVUConnectionReuse',
  'noCookiesReset',
  'insecureSkipTLSVerify',
  'userAgent',
  'maxRedirects',
  'discardResponseBodies',
  'tracing',
  'setupTimeout',
  'teardownTimeout',
  'summaryTimeUnit',
  'noSetup',
  'noTeardown',
  'throw',
  'rps',
  'batch',
  'batchPerHost',
  'httpDebug',
  'consoleOutput',
  'hosts',
]);

const topLevel = z.object({
  vus: z.number().int().nonnegative().optional(),
  duration: z.union([z.string(), z.number()]).optional(),
  iterations: z.number().int().nonnegative().optional(),
  stages: z.array(stage).optional(),
  scenarios: z
    .record(
      z.string().regex(/^[A-Za-z0-9_-]+$/, 'scenario names use letters, digits, _ and -'),
      z.record(z.string(), z.unknown()),
    )
    .optional(),
  tags: stringMap.optional(),
  summaryTrendStats: z
    .array(z.string().regex(/^(avg|min|med|max|count|p\(\d+(\.\d+)?\))$/, 'use avg, min, med, max, count or p(N)'))
    .optional(),
  noConnectionReuse: z.boolean().optional(),
  noVUConnectionReuse: z.boolean().optional(),
  noCookiesReset: z.boolean().optional(),
  insecureSkipTLSVerify: z.boolean().optional(),
  userAgent: z.string().optional(),
  maxRedirects: z.number().int().nonnegative().optional(),
  discardResponseBodies: z.boolean().optional(),
  tracing: z
    .strictObject({
      propagator: z.enum(['w3c', 'b3', 'none']).default('w3c'),
      sampling: z.number().min(0).max(1).default(1),
    })
    .optional(),
  setupTimeout: z.union([z.string(), z.number()]).optional(),
  teardownTimeout: z.union([z.string(), z.number()]).optional(),
  summaryTimeUnit: z.enum(['s', 'ms', 'us'], { error: "use 's', 'ms' or 'us'" }).optional(),
  noSetup: z.boolean().optional(),
  noTeardown: z.boolean().optional(),
  throw: z.boolean().optional(),
  rps: z.number().int().nonnegative().optional(),
  batch: z.number().int().positive().optional(),
  batchPerHost: z.number().int().nonnegative().optional(),
  httpDebug: z.enum(['', 'headers', 'full']).optional(),
  consoleOutput: z.string().optional(),
  // k6's hosts: a name (or *.suffix) answered by another address, 'ip' or 'ip:port' (or a name).
  hosts: z
    .record(
      z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+$/, 'use a host name or *.domain'),
      z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, "use 'ip', 'ip:port' or 'host:port'"),
    )
    .optional(),
});

function issuePath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  return [prefix, ...path.map(String)].filter((p) => p !== '').join('.');
}

export function consolidateOptions(
  scriptOptions: unknown,
  cliOverrides: CliOverrides,
  warn: (m: string, fields?: Record<string, string>) => void,
): { options?: TestOptions; errors: string[] } {
  let cli = cliOverrides;
  const errors: string[] = [];
  const script = scriptOptions === undefined ? {} : scriptOptions;
  if (script === null || typeof script !== 'object' || Array.isArray(script))
    return { errors: ['options: must be an object'] };
  const config = cli.config ?? {};
  const raw: Record<string, unknown> = { ...config, ...(script as Record<string, unknown>) };
  for (const k of Object.keys(raw)) {
    if (KNOWN.has(k)) continue;
    if (K6_UNSUPPORTED.has(k)) warn(`option '${k}' is not supported by meshscope and is ignored`);
    else
      warn('There were unknown fields in the options exported in the script', { error: `json: unknown field "${k}"` });
  }
  const parsed = topLevel.safeParse(raw);
  const overlay = topLevel.safeParse(cli.options ?? {});
  if (!parsed.success)
    for (const i of parsed.error.issues) errors.push(`options.${issuePath('', i.path)}: ${i.message}`);
  if (!overlay.success) for (const i of overlay.error.issues) errors.push(`${issuePath('', i.path)}: ${i.message}`);
  if (!parsed.success || !overlay.success) return { errors };
  const over = overlay.data;
  // Shortcuts from the environment or the CLI replace the script's; other options override one by one.
  const o = { ...parsed.data, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) };
  const layered: CliOverrides = {
    vus: cli.vus ?? over.vus,
    iterations: cli.iterations ?? over.iterations,
    duration: cli.duration ?? (over.duration === undefined ? undefined : String(over.duration)),
    stages: cli.stages ?? over.stages,
  };
  cli = { ...cli, ...layered };
  const durationOf = (v: string | number | undefined, name: string, fallback: number): number => {
    if (v === undefined) return fallback;
    const ms = parseDuration(typeof v === 'number' ? v : v);
    if (ms === undefined) {
      errors.push(`${name}: invalid duration '${String(v)}'`);
      return fallback;
    }
    return ms;
  };

  // CLI shortcuts win over the script's, and over its scenarios.
  const cliShortcut = cli.duration !== undefined || cli.iterations !== undefined || cli.stages !== undefined;
  const vus = cli.vus ?? o.vus;
  const iterations = cliShortcut ? cli.iterations : o.iterations;
  const durationRaw = cliShortcut ? cli.duration : o.duration;
  const stages = cliShortcut ? cli.stages : o.stages;
  let scenarioSpecs: Record<string, Record<string, unknown>>;
  if (!cliShortcut && o.scenarios !== undefined) {
    if (o.iterations !== undefined || o.duration !== undefined || o.stages !== undefined)
      errors.push('options: use either scenarios or the iterations/duration/stages shortcuts, not both');
    scenarioSpecs = o.scenarios;
  } else if (stages !== undefined && stages.length > 0) {
    scenarioSpecs = { default: { executor: 'ramping-vus', startVUs: vus ?? 1, stages } };
  } else if (iterations !== undefined) {
    const s: Record<string, unknown> = { executor: 'shared-iterations', vus: vus ?? 1, iterations };
    if (durationRaw !== undefined) s.maxDuration = durationRaw;
    scenarioSpecs = { default: s };
  } else if (durationRaw !== undefined) {
    scenarioSpecs = { default: { executor: 'constant-vus', vus: vus ?? 1, duration: durationRaw } };
  } else {
    scenarioSpecs = { default: { executor: 'shared-iterations', vus: vus ?? 1, iterations: vus ?? 1 } };
  }

  const parseScenarios = (
    specs: Record<string, Record<string, unknown>>,
  ): Array<{ name: string; config: BaseConfig }> => {
    const parsedScenarios: Array<{ name: string; config: BaseConfig }> = [];
    for (const [name, spec] of Object.entries(specs)) {
      const where = `scenarios.${name}`;
      const executor = spec.executor;
      const factory = typeof executor === 'string' ? executorFactory(executor) : undefined;
      if (factory === undefined) {
        errors.push(
          `${where}.executor: ${executor === undefined ? 'missing' : `unknown executor '${String(executor)}'`} (one of ${executorNames().join(', ')})`,
        );
        continue;
      }
      const r = factory.schema.safeParse(spec);
      if (!r.success) for (const i of r.error.issues) errors.push(`${issuePath(where, i.path)}: ${i.message}`);
      else parsedScenarios.push({ name, config: r.data });
    }
    return parsedScenarios;
  };
  // k6 parses the script's scenarios strictly when it reads the options, before the CLI's
  // shortcuts replace them: a scenario with an unknown field is refused even then.
  if (cliShortcut && o.scenarios !== undefined) parseScenarios(o.scenarios);
  const scenarios = parseScenarios(scenarioSpecs);
  if (scenarios.length === 0 && errors.length === 0) errors.push('scenarios: at least one scenario is needed');

  const tags = { ...(parsed.data.tags ?? {}), ...(over.tags ?? {}), ...(cli.tags ?? {}) };
  const options: TestOptions = {
    scenarios,
    thresholds: raw.thresholds,
    tags,
    summaryTrendStats: o.summaryTrendStats ?? DEFAULT_TREND_STATS,
    noConnectionReuse: o.noConnectionReuse ?? o.noVUConnectionReuse ?? false,
    noCookiesReset: o.noCookiesReset ?? false,
    insecureSkipTLSVerify: o.insecureSkipTLSVerify ?? false,
    userAgent: o.userAgent ?? 'meshscope/0.1.0 (k6-compatible)',
    maxRedirects: o.maxRedirects ?? 10,
    discardResponseBodies: o.discardResponseBodies ?? false,
    tracing: o.tracing ?? { propagator: 'w3c', sampling: 1 },
    setupTimeout: durationOf(o.setupTimeout, 'options.setupTimeout', 60_000),
    teardownTimeout: durationOf(o.teardownTimeout, 'options.teardownTimeout', 60_000),
    summaryTimeUnit: o.summaryTimeUnit ?? '',
    noSetup: o.noSetup ?? false,
    noTeardown: o.noTeardown ?? false,
    throw: o.throw ?? false,
    rps: o.rps ?? 0,
    batch: o.batch ?? 20,
    batchPerHost: o.batchPerHost ?? 6,
    httpDebug: o.httpDebug ?? '',
    consoleOutput: o.consoleOutput ?? '',
    hosts: o.hosts ?? {},
  };
  return errors.length > 0 ? { errors } : { options, errors };
}
