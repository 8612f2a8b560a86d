// `meshscope status [--json]`: what `meshscope up` is running, checked live.
import { parseFlags } from './flags.js';
import { meshStatus, renderTable } from '../up/index.js';

const USAGE = 'usage: meshscope status [--json] [--state-dir .meshscope]\n';

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags('status', USAGE, argv, {
    json: { type: 'boolean', default: false },
    'state-dir': { type: 'string', default: '.meshscope' },
  });
  if (typeof values === 'number') return values;
  const s = await meshStatus(values['state-dir']);
  const components = s.running
    ? (s.state?.components ?? []).map((c) => ({
        name: c.name,
        kind: c.kind,
        pid: c.pid,
        ports: c.ports,
        portNames: c.portNames,
        urls: c.urls,
        state: s.live.get(c.name) === true ? 'ready' : c.state === 'ready' ? 'not responding' : c.state,
        restarts: c.restarts,
        readyAfterMs: c.readyAfterMs,
        lastExit: c.lastExit ?? null,
      }))
    : [];
  const events = s.running ? (s.state?.events ?? []) : [];
  if (values.json) {
    const report = s.running
      ? { ready: s.ready, running: s.running, components, events }
      : { ready: s.ready, running: s.running, components };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else if (!s.running) {
    process.stdout.write(
      `meshscope is not running (no live meshscope up for ${values['state-dir']}); start it with: npm start\n`,
    );
  } else {
    process.stdout.write(
      `mesh ${s.state?.mesh} (meshscope up pid ${s.state?.pid}, since ${s.state?.startedAt}): ${s.ready ? 'ready' : 'NOT ready'}\n\n${renderTable(components)}`,
    );
    const crashed = components.filter((c) => c.lastExit !== null);
    if (crashed.length > 0) {
      process.stdout.write('\nlast exits:\n');
      for (const c of crashed)
        process.stdout.write(
          `  ${c.name}: ${c.lastExit!.how} at ${c.lastExit!.at}; last log line: ${c.lastExit!.lastLogLine}\n`,
        );
    }
    // Readiness at start is in the table already; what changed since is worth a line each.
    const notable = events.filter((e) => e.kind !== 'ready');
    if (notable.length > 0) {
      process.stdout.write('\nrecent events:\n');
      for (const e of notable) process.stdout.write(`  ${e.at} ${e.message}\n`);
    }
  }
  if (!s.running) return 3;
  return s.ready ? 0 : 1;
}
