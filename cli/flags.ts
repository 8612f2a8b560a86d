// What collector, control-plane, up and status share: strict flag parsing with -h/--help, and
// (for the servers) waiting for SIGTERM/SIGINT. One place decides what a bad flag and a stop
// signal do, so these commands answer them alike.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type FlagConfig<O extends FlagOptions> = {
  args: string[];
  options: O & typeof HELP;
  strict: true;
  allowPositionals: false;
};

type Flags<O extends FlagOptions> = ReturnType<typeof parseArgs<FlagConfig<O>>>['values'];

/**
 * Parses `args` strictly (no positionals) with -h/--help added. Returns the flag values, or the
 * exit code when the command should stop here: 2 after printing the parse error and the usage
 * to stderr, 0 after printing the usage to stdout for -h.
 */
export function parseFlags<O extends FlagOptions>(
  command: string,
  usage: string,
  args: string[],
  options: O,
): Flags<O> | number {
  let values: Flags<O>;
  try {
    ({ values } = parseArgs<FlagConfig<O>>({
      args,
      options: { ...options, ...HELP },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`meshscope ${command}: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  // `in` narrows what the generic result type cannot resolve here (help is always declared).
  if ('help' in values && values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  return values;
}

/** Resolves on the first SIGTERM or SIGINT, and stops listening for both then. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
