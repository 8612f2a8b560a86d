// `meshscope proxy -c FILE`: Envoy's command line. Only parses flags; the proxy component
// does the rest. Resolves with the exit code after a clean shutdown on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import type { LogLevel } from '../proxy/index.js';
// The imports from inside the proxy component: they must run before the component's modules
// load, so they cannot come through proxy/index.ts (see proxy/core/young-generation.ts and
// proxy/core/old-generation.ts).
import { holdYoungGenerationWhileLoading } from '../proxy/core/young-generation.js';
import { boundOldGenerationGrowth } from '../proxy/core/old-generation.js';
import { releaseNodeBinaryPages } from '../shared/file-pages.js';
import {
  scavengeOnRequestThread,
  scavengeWhenYoungGenerationFull,
  sweepArrayBuffersOnRequestThread,
} from '../proxy/core/scavenge-threads.js';

const usage = (
  levels: readonly string[],
): string => `usage: meshscope proxy -c FILE [--concurrency N] [--drain-time-s S] [--service-cluster NAME] [--service-node ID] [-l LEVEL]
  -c, --config-path FILE   Envoy v3 bootstrap (YAML or JSON)
  --concurrency N          worker count (default: number of cores)
  --drain-time-s S         seconds to drain connections on SIGTERM (default 600)
  --service-cluster NAME   overrides node.cluster
  --service-node ID        overrides node.id
  -l, --log-level LEVEL    ${levels.join('|')} (default info)
  --mode validate          validate the configuration and exit
`;

export async function run(argv: string[]): Promise<number> {
  holdYoungGenerationWhileLoading();
  const oldGenerationFlags = boundOldGenerationGrowth();
  const scavengeFlags = [
    ...scavengeOnRequestThread(),
    ...sweepArrayBuffersOnRequestThread(),
    ...scavengeWhenYoungGenerationFull(),
  ];
  const { boundYoungGeneration, startProxy, LOG_LEVELS, ProxyError } = await import('../proxy/index.js');
  // What loading the proxy's modules touched of Node's binary (V8's parser and compilers at full
  // stretch) goes back before the configuration is built, so the start's peak is not both
  // (shared/file-pages.ts); what building and starting touched goes back once started.
  releaseNodeBinaryPages();
  const USAGE = usage(LOG_LEVELS);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'config-path': { type: 'string', short: 'c' },
        concurrency: { type: 'string' },
        'drain-time-s': { type: 'string' },
        'service-cluster': { type: 'string' },
        'service-node': { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        mode: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`meshscope proxy: ${(err as Error).message}\n${USAGE}`);
    return 1;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const configPath = values['config-path'];
  if (configPath === undefined) {
    process.stderr.write(`meshscope proxy: -c/--config-path is required\n${USAGE}`);
    return 1;
  }
  const concurrency = values.concurrency === undefined ? availableParallelism() : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    process.stderr.write(`meshscope proxy: --concurrency must be a positive integer, got '${values.concurrency}'\n`);
    return 1;
  }
  const drain = values['drain-time-s'] === undefined ? 600 : Number(values['drain-time-s']);
  if (!Number.isFinite(drain) || drain < 0) {
    process.stderr.write(
      `meshscope proxy: --drain-time-s must be a non-negative number, got '${values['drain-time-s']}'\n`,
    );
    return 1;
  }
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    process.stderr.write(`meshscope proxy: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return 1;
  }
  if (values.mode !== undefined && values.mode !== 'validate' && values.mode !== 'serve') {
    process.stderr.write(`meshscope proxy: --mode must be serve or validate\n`);
    return 1;
  }
  try {
    if (values.mode === 'validate') {
      const { loadBootstrap } = await import('../proxy/index.js');
      await loadBootstrap({ path: configPath });
      process.stdout.write(`configuration '${configPath}' OK\n`);
      return 0;
    }
    // This process is the proxy's: hold V8's young generation at its start-up size (see
    // proxy/core/young-generation.ts), before the configuration's objects are built.
    const workerExecArgv = [...boundYoungGeneration(), ...oldGenerationFlags, ...scavengeFlags];
    const server = await startProxy({
      config: undefined,
      workerExecArgv,
      configPath,
      concurrency,
      drainTimeSeconds: drain,
      serviceCluster: values['service-cluster'],
      serviceNode: values['service-node'],
      logLevel: level,
      commandLineOptions: {
        config_path: configPath,
        concurrency,
        drain_time_s: drain,
        log_level: level,
        service_cluster: values['service-cluster'] ?? '',
        service_node: values['service-node'] ?? '',
      },
    });
    // Started: what the start touched of Node's binary and the load will not run goes back.
    releaseNodeBinaryPages();
    const onSignal = () => void server.close();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    await server.closed;
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return server.failed ? 1 : 0;
  } catch (err) {
    if (err instanceof ProxyError) {
      process.stderr.write(`meshscope proxy: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
