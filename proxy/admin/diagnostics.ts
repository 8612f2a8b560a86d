// Envoy's diagnostic admin endpoints (docs: operations/admin): `/logging`, `/memory`,
// `/init_dump`, `/hot_restart_version` and `/stats/recentlookups` with its enable/disable/clear.
import type { AdminHandlerRegistry, AdminResponse, AdminTarget } from './types.js';

const TEXT = 'text/plain; charset=UTF-8';
const JSON_TYPE = 'application/json';
const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'];

/**
 * The loggers `/logging` lists, by Envoy's component names for the parts meshscope has. The
 * process has one log level: a change to any logger sets the most verbose level asked for.
 */
const LOGGERS = ['admin', 'config', 'connection', 'health_checker', 'http', 'main', 'router', 'runtime', 'upstream'];

function text(status: number, body: string): AdminResponse {
  return { status, contentType: TEXT, body };
}

function json(body: unknown): AdminResponse {
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(body, null, 1) };
}

export function registerDiagnosticHandlers(
  admin: AdminHandlerRegistry,
  target: AdminTarget,
  state: () => string,
): void {
  const loggerLevels = new Map<string, string>(LOGGERS.map((l) => [l, target.logLevel?.() ?? 'info']));
  const listLoggers = () =>
    text(200, `active loggers:\n${[...loggerLevels].map(([name, level]) => `  ${name}: ${level}\n`).join('')}`);
  const usage = `usage: /logging?<name>=<level> (change a logger) or /logging?level=<level> (change all); levels: ${LEVELS.join(', ')}\n`;

  admin.addHandler('/logging', 'query/change logging levels (?level=, ?<logger>=)', true, (r) => {
    const changes = [...r.query.entries()];
    for (const [name, level] of changes) {
      if (!LEVELS.includes(level)) return text(404, `error: unknown log level '${level}'\n${usage}`);
      if (name !== 'level' && !loggerLevels.has(name))
        return text(404, `error: unknown logger name '${name}'\n${usage}`);
    }
    for (const [name, level] of changes) {
      if (name === 'level') for (const l of loggerLevels.keys()) loggerLevels.set(l, level);
      else loggerLevels.set(name, level);
    }
    if (changes.length > 0 && target.setLogLevel !== undefined) {
      const ranks = [...loggerLevels.values()].map((l) => LEVELS.indexOf(l));
      target.setLogLevel(LEVELS[Math.min(...ranks)]!);
    }
    return listLoggers();
  });

  admin.addHandler('/memory', 'print current allocation/heap usage', false, () => {
    // envoy.admin.v3.Memory, uint64 fields as strings; V8's heap stands in for tcmalloc's.
    const m = process.memoryUsage();
    return json({
      allocated: String(m.heapUsed + m.external),
      heap_size: String(m.heapTotal),
      pageheap_unmapped: '0',
      pageheap_free: String(Math.max(0, m.heapTotal - m.heapUsed)),
      total_thread_cache: '0',
      total_physical_bytes: String(m.rss),
    });
  });

  admin.addHandler('/init_dump', 'print the unready targets of the init managers', false, () =>
    // envoy.admin.v3.UnreadyTargetsDumps: the server waits on its first xDS configuration only.
    json({
      unready_targets_dumps:
        state() === 'INITIALIZING' || state() === 'PRE_INITIALIZING'
          ? [{ name: 'init manager Server', target_names: ['xDS initial fetch'] }]
          : [],
    }),
  );

  admin.addHandler('/hot_restart_version', 'print the hot restart compatibility version', false, () =>
    // There is no hot restart; Envoy prints the same when it runs with --disable-hot-restart.
    text(200, 'disabled'),
  );

  // Envoy tracks stat-name lookups that go through its symbol table at run time. meshscope
  // resolves every stat handle when config is built, so an enabled tracker lists none.
  let tracking = false;
  admin.addHandler('/stats/recentlookups', 'show recent stat-name lookups', false, () =>
    tracking
      ? text(200, '   Count Lookup\n\ntotal: 0\n')
      : text(200, 'Lookup tracking is not enabled. Use /stats/recentlookups/enable to enable.\n'),
  );
  admin.addHandler('/stats/recentlookups/enable', 'enable recording of recent stat-name lookups', true, () => {
    tracking = true;
    return text(200, 'OK\n');
  });
  admin.addHandler('/stats/recentlookups/disable', 'disable recording of recent stat-name lookups', true, () => {
    tracking = false;
    return text(200, 'OK\n');
  });
  admin.addHandler('/stats/recentlookups/clear', 'clear list of stat-name lookups and counter', true, () =>
    text(200, 'OK\n'),
  );
}
