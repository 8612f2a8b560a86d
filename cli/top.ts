// `meshscope top`: live rate, errors and latency per service, redrawn until Ctrl-C.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFlags } from './flags.js';
import { CollectorQueryError, fetchTopology, renderTop } from '../collector/client/index.js';

const USAGE = `usage: meshscope top [--collector http://127.0.0.1:16686] [--window 60] [--interval 2] [--once]
  --window S     seconds of traffic each line covers (default 60)
  --interval S   seconds between redraws (default 2)
  --once         print once and exit (for scripts)
`;

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags('top', USAGE, argv, {
    collector: { type: 'string', default: 'http://127.0.0.1:16686' },
    window: { type: 'string', default: '60' },
    interval: { type: 'string', default: '2' },
    once: { type: 'boolean', default: false },
  });
  if (typeof values === 'number') return values;
  const windowS = Number(values.window);
  const intervalS = Number(values.interval);
  for (const [flag, v] of [
    ['--window', windowS],
    ['--interval', intervalS],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0 || v > 86_400) {
      process.stderr.write(`meshscope top: ${flag} must be a number of seconds from 0 to 86400\n${USAGE}`);
      return 2;
    }
  }
  const collector = values.collector.replace(/\/+$/, '');
  const live = !values.once && process.stdout.isTTY === true;
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    do {
      const now = Date.now();
      try {
        const text = renderTop(await fetchTopology(collector, now - windowS * 1000, now), windowS, new Date(now));
        // Home and clear, then the table: a redraw in place, as top does.
        process.stdout.write(live ? `\x1b[H\x1b[2J${text}` : text);
      } catch (err) {
        if (!(err instanceof CollectorQueryError)) throw err;
        process.stderr.write(`meshscope top: ${err.message}\n`);
        if (values.once) return 1;
      }
      if (values.once) return 0;
      await sleep(intervalS * 1000);
    } while (!stop);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
