// `meshscope load SCRIPT`: parses k6-style flags and runs the script with loadgen's runTest.
import { parseArgs } from 'node:util';
import { runTest, type SummaryMode } from '../loadgen/index.js';

const USAGE = `usage: meshscope load SCRIPT [--vus N] [--duration 30s] [--iterations N] [--stage 10s:20,…]
                      [-e KEY=VALUE] [--tag k=v] [--out json=FILE] [--out otlp=URL]
                      [--summary-export FILE] [--summary-mode compact|full] [--quiet]
`;

function keyValues(list: string[] | undefined, flag: string, errors: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) errors.push(`${flag} ${item}: expected KEY=VALUE`);
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        vus: { type: 'string', short: 'u' },
        duration: { type: 'string', short: 'd' },
        iterations: { type: 'string', short: 'i' },
        stage: { type: 'string', short: 's', multiple: true },
        env: { type: 'string', short: 'e', multiple: true },
        tag: { type: 'string', multiple: true },
        out: { type: 'string', short: 'o', multiple: true },
        'summary-export': { type: 'string' },
        'summary-mode': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`meshscope load: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 104;
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
    if (!Number.isInteger(n) || n < 0) errors.push(`${flag} ${s}: expected a non-negative integer`);
    return n;
  };
  const vus = int(v.vus, '--vus');
  const iterations = int(v.iterations, '--iterations');
  const stages = (v.stage ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => {
      const [duration, target] = s.split(':');
      const t = Number(target);
      if (duration === undefined || duration === '' || !Number.isInteger(t) || t < 0)
        errors.push(`--stage ${s}: expected DURATION:TARGET, e.g. 10s:20`);
      return { duration: duration ?? '', target: t };
    });
  const outputs = (v.out ?? []).map((o) => {
    const eq = o.indexOf('=');
    return eq === -1 ? { name: o, arg: '' } : { name: o.slice(0, eq), arg: o.slice(eq + 1) };
  });
  const mode = v['summary-mode'];
  if (mode !== undefined && mode !== 'compact' && mode !== 'full')
    errors.push(`--summary-mode ${mode}: expected compact or full`);
  const env = { ...(process.env as Record<string, string>), ...keyValues(v.env, '-e', errors) };
  const tags = keyValues(v.tag, '--tag', errors);
  if (errors.length > 0) {
    process.stderr.write(`meshscope load: invalid options:\n  ${errors.join('\n  ')}\n${USAGE}`);
    return 104;
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
      duration: v.duration,
      stages: stages.length > 0 ? stages : undefined,
      env,
      tags,
      outputs,
      summaryExport: v['summary-export'],
      summaryMode: mode as SummaryMode | undefined,
      quiet: v.quiet ?? false,
      signal: controller.signal,
    });
    return result.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
