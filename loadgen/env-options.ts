// k6's options from K6_* environment variables (k6's envconfig): K6_VUS, K6_DURATION,
// K6_NO_SUMMARY … They sit above the script's options and below CLI flags. Values are parsed as k6
// parses them (booleans as true/false/1/0, lists comma-separated, stages as DURATION:TARGET); a bad
// value is an error naming the variable.

/** Settings of the run itself that k6 keeps apart from the script's options. */
export interface RuntimeFromEnv {
  noSummary?: boolean;
  noThresholds?: boolean;
  summaryExport?: string;
  out?: string[];
  logOutput?: string;
  logFormat?: string;
}

type Kind = 'int' | 'bool' | 'string' | 'duration' | 'list' | 'stages' | 'tags';

/** Option name → its type, for the K6_<SNAKE_CASE> variable of each. */
const OPTION_VARS: Readonly<Record<string, Kind>> = {
  vus: 'int',
  duration: 'duration',
  iterations: 'int',
  stages: 'stages',
  rps: 'int',
  batch: 'int',
  batchPerHost: 'int',
  httpDebug: 'string',
  insecureSkipTLSVerify: 'bool',
  userAgent: 'string',
  throw: 'bool',
  noSetup: 'bool',
  noTeardown: 'bool',
  setupTimeout: 'duration',
  teardownTimeout: 'duration',
  noConnectionReuse: 'bool',
  noVUConnectionReuse: 'bool',
  noCookiesReset: 'bool',
  maxRedirects: 'int',
  discardResponseBodies: 'bool',
  summaryTrendStats: 'list',
  summaryTimeUnit: 'string',
  consoleOutput: 'string',
  tags: 'tags',
};

/** k6's variable name for an option: camelCase → K6_SNAKE_CASE (noVUConnectionReuse → K6_NO_VU_CONNECTION_REUSE). */
export function envName(option: string): string {
  return `K6_${option
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase()}`;
}

function parseBool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0' || s === '') return false;
  return undefined;
}

/** `10s:20,1m:0` → k6 stages. */
export function parseStages(text: string): Array<{ duration: string; target: number }> | undefined {
  const out: Array<{ duration: string; target: number }> = [];
  for (const part of text.split(',')) {
    const [duration, target] = part.split(':');
    const t = Number(target);
    if (duration === undefined || duration === '' || target === undefined || !Number.isInteger(t) || t < 0)
      return undefined;
    out.push({ duration, target: t });
  }
  return out;
}

function parseValue(kind: Kind, raw: string): unknown {
  switch (kind) {
    case 'int': {
      const n = Number(raw);
      return raw.trim() !== '' && Number.isInteger(n) && n >= 0 ? n : undefined;
    }
    case 'bool':
      return parseBool(raw);
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'stages':
      return parseStages(raw);
    case 'tags': {
      const tags: Record<string, string> = {};
      for (const kv of raw.split(',')) {
        const eq = kv.indexOf('=');
        if (eq <= 0) return undefined;
        tags[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      return tags;
    }
    default:
      return raw;
  }
}

const EXPECTED: Readonly<Record<Kind, string>> = {
  int: 'a non-negative integer',
  bool: 'true or false',
  string: 'a string',
  duration: 'a duration',
  list: 'a comma-separated list',
  stages: 'DURATION:TARGET[,…], e.g. 10s:20,5s:0',
  tags: 'KEY=VALUE[,…]',
};

/** The options and run settings k6 would read from `env`, with an error per bad variable. */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>>): {
  options: Record<string, unknown>;
  runtime: RuntimeFromEnv;
  errors: string[];
} {
  const options: Record<string, unknown> = {};
  const runtime: RuntimeFromEnv = {};
  const errors: string[] = [];
  for (const [option, kind] of Object.entries(OPTION_VARS)) {
    const name = envName(option);
    const raw = env[name];
    if (raw === undefined) continue;
    const v = parseValue(kind, raw);
    if (v === undefined) errors.push(`${name}=${raw}: expected ${EXPECTED[kind]}`);
    else options[option] = v;
  }
  const bool = (name: string): boolean | undefined => {
    const raw = env[name];
    if (raw === undefined) return undefined;
    const v = parseBool(raw);
    if (v === undefined) errors.push(`${name}=${raw}: expected true or false`);
    return v;
  };
  runtime.noSummary = bool('K6_NO_SUMMARY');
  runtime.noThresholds = bool('K6_NO_THRESHOLDS');
  runtime.summaryExport = env.K6_SUMMARY_EXPORT;
  runtime.out = env.K6_OUT?.split(/,(?=[a-z-]+(?:=|$))/).filter((s) => s !== '');
  runtime.logOutput = env.K6_LOG_OUTPUT;
  runtime.logFormat = env.K6_LOG_FORMAT;
  return { options, runtime, errors };
}
