// `meshscope down`: stops the mesh that a `meshscope up` started, from any terminal.
import { parseFlags } from './flags.js';
import { stopMesh } from '../up/index.js';

const USAGE = 'usage: meshscope down [--state-dir .meshscope] [--timeout 30]\n';

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags('down', USAGE, argv, {
    'state-dir': { type: 'string', default: '.meshscope' },
    timeout: { type: 'string', default: '30' },
  });
  if (typeof values === 'number') return values;
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    process.stderr.write(`meshscope down: --timeout must be a positive number of seconds, got '${values.timeout}'\n`);
    return 2;
  }
  const result = await stopMesh(values['state-dir'], timeoutS * 1000);
  const said = {
    'not-running': `meshscope down: nothing is running for ${values['state-dir']}\n`,
    stopped: 'meshscope down: stopped\n',
    reaped: 'meshscope down: meshscope up was gone; stopped the components it left running\n',
  } as const;
  process.stdout.write(said[result]);
  return 0;
}
