// `meshscope load [run] SCRIPT`: k6's `run` flags and K6_* environment options, passed to loadgen's
// runTest. As in k6, CLI flags win over K6_* variables, which win over the script's options (and
// those over a -c config file); an unknown flag exits 255 and a bad value 104.
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  LOG_FORMATS,
  type LogFormat,
  optionsFromEnv,
  parseStages,
  runTest,
  type SummaryMode,
} from '../loadgen/index.js';

const USAGE = `usage: meshscope load [run] SCRIPT [flags]   (k6 run's flags)
  -u, --vus N                 -d, --duration 30s            -i, --iterations N
  -s, --stage 10s:20[,…]      -e, --env KEY=VALUE           --tag KEY=VALUE
  -o, --out json=FILE | csv=FILE | otlp=URL | experimental-prometheus-rw[=URL]
  -c, --config FILE           --summary-export FILE         --summary-mode compact|full
  --summary-trend-stats avg,min,med,max,p(90),p(95)         --summary-time-unit s|ms|us
  --no-summary  --no-thresholds  --no-setup  --no-teardown  -w, --throw
  --http-debug[=full]  --rps N  --batch N  --batch-per-host N  --user-agent UA
  --insecure-skip-tls-verify  --no-connection-reuse  --no-vu-connection-reuse
  --discard-response-bodies  --max-redirects N  --console-output FILE
  --log-format text|raw|json  --log-output stderr|stdout|none|file=PATH  -q, --quiet
`;

/** k6 exits 255 for a flag it does not know (cobra's error). */
const EXIT_BAD_FLAG = 255;
const EXIT_INVALID_CONFIG = 104;

const FLAGS = {
  vus: { type: 'string', short: 'u' },
  duration: { type: 'string', short: 'd' },
  iterations: { type: 'string', short: 'i' },
  stage: { type: 'string', short: 's', multiple: true },
  env: { type: 'string', short: 'e', multiple: true },
  tag: { type: 'string', multiple: true },
  out: { type: 'string', short: 'o', multiple: true },
  config: { type: 'string', short: 'c' },
  'summary-export': { type: 'string' },
  'summary-mode': { type: 'string' },
  'summary-trend-stats': { type: 'string' },
  'summary-time-unit': { type: 'string' },
  'no-summary': { type: 'boolean' },
  'no-thresholds': { type: 'boolean' },
  'no-setup': { type: 'boolean' },
  'no-teardown': { type: 'boolean' },
  throw: { type: 'boolean', short: 'w' },
  'http-debug': { type: 'string' },
  rps: { type: 'string' },
  batch: { type: 'string' },
  'batch-per-host': { type: 'string' },
  'user-agent': { type: 'string' },
  'insecure-skip-tls-verify': { type: 'boolean' },
  'no-connection-reuse': { type: 'boolean' },
  'no-vu-connection-reuse': { type: 'boolean' },
  'discard-response-bodies': { type: 'boolean' },
  'max-redirects': { type: 'string' },
  'console-output': { type: 'string' },
  'log-format': { type: 'string' },
  'log-output': { type: 'string' },
  'no-color': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

function keyValues(list: readonly string[] | undefined, flag: string, errors: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) errors.push(`${flag} ${item}: expected KEY=VALUE`);
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** `--http-debug` alone means headers, as in k6; parseArgs needs every string flag to have a value. */
function normalizeArgv(argv: readonly string[]): string[] {
  const args = argv.map((a) => (a === '--http-debug' ? '--http-debug=headers' : a));
  // The k6 habit: `meshscope load run x.js`.
  const first = args.findIndex((a) => !a.startsWith('-'));
  if (first !== -1 && args[first] === 'run' && args.slice(first + 1).some((a) => !a.startsWith('-')))
    args.splice(first, 1);
  return args;
}

class NullSink extends Writable {
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: () => void): void {
    cb();
  }
}

/** --log-output: where log lines go. */
function logTarget(spec: string, errors: string[]): Writable | undefined {
  if (spec === 'stderr') return undefined;
  if (spec === 'stdout') return process.stdout;
  if (spec === 'none') return new NullSink();
  if (spec.startsWith('file=')) {
    const file = spec.slice('file='.length).split(',')[0]!;
    try {
      fs.closeSync(fs.openSync(file, 'a'));
      return fs.createWriteStream(file, { flags: 'a' });
    } catch (err) {
      errors.push(`--log-output ${spec}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }
  errors.push(`--log-output ${spec}: expected stderr, stdout, none or file=PATH`);
  return undefined;
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof FLAGS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: normalizeArgv(argv), allowPositionals: true, options: FLAGS });
  } catch (err) {
    process.stderr.write(`meshscope load: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return EXIT_BAD_FLAG;
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const errors: string[] = [];
  const script = parsed.positionals[0];
  if (script === undefined || parsed.positionals.length > 1) errors.push('exactly one SCRIPT argument is needed');
  const int = (s: string | undefined, flag: string): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (s.trim() === '' || !Number.isInteger(n) || n < 0) errors.push(`${flag} ${s}: expected a non-negative integer`);
    return n;
  };

  // K6_* variables first, then the flags over them.
  const fromEnv = optionsFromEnv(process.env);
  errors.push(...fromEnv.errors);
  const options: Record<string, unknown> = { ...fromEnv.options };
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) options[key] = value;
  };
  set('vus', int(v.vus, '--vus'));
  set('iterations', int(v.iterations, '--iterations'));
  set('duration', v.duration);
  if (v.stage !== undefined) {
    const stages = parseStages(v.stage.join(','));
    if (stages === undefined) errors.push(`--stage ${v.stage.join(',')}: expected DURATION:TARGET, e.g. 10s:20`);
    set('stages', stages);
  }
  set('rps', int(v.rps, '--rps'));
  set('batch', int(v.batch, '--batch'));
  set('batchPerHost', int(v['batch-per-host'], '--batch-per-host'));
  set('maxRedirects', int(v['max-redirects'], '--max-redirects'));
  set('userAgent', v['user-agent']);
  set('httpDebug', v['http-debug']);
  set('consoleOutput', v['console-output']);
  set('summaryTimeUnit', v['summary-time-unit']);
  if (v['summary-trend-stats'] !== undefined)
    set(
      'summaryTrendStats',
      v['summary-trend-stats']
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    );
  if (v.throw) set('throw', true);
  if (v['no-setup']) set('noSetup', true);
  if (v['no-teardown']) set('noTeardown', true);
  if (v['insecure-skip-tls-verify']) set('insecureSkipTLSVerify', true);
  if (v['no-connection-reuse']) set('noConnectionReuse', true);
  if (v['no-vu-connection-reuse']) set('noVUConnectionReuse', true);
  if (v['discard-response-bodies']) set('discardResponseBodies', true);
  // The shortcuts run as one layer: K6_DURATION with --iterations is k6's iterations with a maxDuration.
  const vus = options.vus as number | undefined;
  const iterations = options.iterations as number | undefined;
  const duration = options.duration as string | undefined;
  const stages = options.stages as Array<{ duration: string; target: number }> | undefined;
  delete options.vus;
  delete options.iterations;
  delete options.duration;
  delete options.stages;

  let config: Record<string, unknown> | undefined;
  if (v.config !== undefined) {
    try {
      const parsedConfig: unknown = JSON.parse(fs.readFileSync(v.config, 'utf8'));
      if (parsedConfig === null || typeof parsedConfig !== 'object' || Array.isArray(parsedConfig))
        errors.push(`--config ${v.config}: expected a JSON object of options`);
      else {
        // k6's config file also holds settings of outputs and extensions; the options are the rest.
        const { collectors: _c, ext: _e, ...rest } = parsedConfig as Record<string, unknown>;
        config = rest;
      }
    } catch (err) {
      errors.push(`--config ${v.config}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const outs = v.out ?? fromEnv.runtime.out ?? [];
  const outputs = outs.map((o) => {
    const eq = o.indexOf('=');
    return eq === -1 ? { name: o, arg: '' } : { name: o.slice(0, eq), arg: o.slice(eq + 1) };
  });
  const mode = v['summary-mode'];
  if (mode !== undefined && mode !== 'compact' && mode !== 'full')
    errors.push(`--summary-mode ${mode}: expected compact or full`);
  const logFormat = v['log-format'] ?? fromEnv.runtime.logFormat;
  if (logFormat !== undefined && !(LOG_FORMATS as readonly string[]).includes(logFormat))
    errors.push(`--log-format ${logFormat}: expected ${LOG_FORMATS.join(', ')}`);
  const env = { ...(process.env as Record<string, string>), ...keyValues(v.env, '-e', errors) };
  const tags = keyValues(v.tag, '--tag', errors);
  const logOutput = v['log-output'] ?? fromEnv.runtime.logOutput;
  const logTo = errors.length === 0 && logOutput !== undefined ? logTarget(logOutput, errors) : undefined;
  if (errors.length > 0) {
    process.stderr.write(`meshscope load: invalid options:\n  ${errors.join('\n  ')}\n${USAGE}`);
    return EXIT_INVALID_CONFIG;
  }
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runTest({
      script: script!,
      vus,
      iterations,
      duration,
      stages,
      env,
      tags,
      options,
      config,
      outputs,
      summaryExport: v['summary-export'] ?? fromEnv.runtime.summaryExport,
      summaryMode: mode as SummaryMode | undefined,
      noSummary: v['no-summary'] ?? fromEnv.runtime.noSummary,
      noThresholds: v['no-thresholds'] ?? fromEnv.runtime.noThresholds,
      logFormat: logFormat as LogFormat | undefined,
      logOut: logTo,
      quiet: v.quiet ?? false,
      signal: controller.signal,
    });
    return result.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (logTo !== undefined && logTo !== process.stdout) await new Promise<void>((r) => logTo.end(r));
  }
}
