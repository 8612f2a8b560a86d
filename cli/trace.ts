// `meshscope trace <trace id>`: a trace's waterfall in the terminal, from the collector's API.
import { parseArgs } from 'node:util';
import { CollectorQueryError, fetchTrace, renderWaterfall } from '../collector/client/index.js';

const USAGE = `usage: meshscope trace TRACE_ID [--collector http://127.0.0.1:16686] [--width 40] [--json]
`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        collector: { type: 'string', default: 'http://127.0.0.1:16686' },
        width: { type: 'string', default: '40' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`meshscope trace: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const traceId = positionals[0];
  const width = Number(values.width);
  if (traceId === undefined || positionals.length > 1 || !Number.isInteger(width) || width < 10 || width > 400) {
    process.stderr.write(
      `meshscope trace: ${traceId === undefined ? 'a trace id is required' : positionals.length > 1 ? 'one trace id at a time' : `--width must be a whole number from 10 to 400, got '${values.width}'`}\n${USAGE}`,
    );
    return 2;
  }
  try {
    const trace = await fetchTrace(values.collector.replace(/\/+$/, ''), traceId);
    process.stdout.write(
      values.json ? `${JSON.stringify(trace, null, 2)}\n` : renderWaterfall(trace, { barWidth: width }),
    );
    return 0;
  } catch (err) {
    if (!(err instanceof CollectorQueryError)) throw err;
    process.stderr.write(`meshscope trace: ${err.message}\n`);
    return err.status === 404 ? 3 : 1;
  }
}
