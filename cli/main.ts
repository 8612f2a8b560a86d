#!/usr/bin/env node
// The `meshscope` command. Each subcommand lives in its own module and only parses flags
// before calling its component's public face; modules load lazily so `meshscope load`
// never pays for ClickHouse and `meshscope proxy` never pays for the collector.

interface CommandModule {
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  proxy: { summary: 'run an Envoy-style proxy from a v3 bootstrap (-c FILE)', load: () => import('./proxy.js') },
  load: { summary: 'run a k6-compatible load test script (JS/TS)', load: () => import('./load.js') },
  collector: {
    summary: 'run the OTLP/HTTP collector (ClickHouse storage, service graph, query API)',
    load: () => import('./collector.js'),
  },
  up: {
    summary: 'run the local observable mesh (collector, control plane, proxies, demo shop, Prometheus)',
    load: () => import('./up.js'),
  },
  status: { summary: 'show what meshscope up is running (--json)', load: () => import('./status.js') },
  trace: { summary: "print a trace's waterfall from the collector", load: () => import('./trace.js') },
  top: { summary: 'live rate, errors and latency per service', load: () => import('./top.js') },
  down: { summary: 'stop the mesh a meshscope up started (from any terminal)', load: () => import('./down.js') },
  'control-plane': {
    summary: "serve a mesh description over xDS; render a node's bootstrap",
    load: () => import('./control-plane.js'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`);
  return `usage: meshscope <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`meshscope: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Servers keep the event loop alive and exit on their own; one-shot commands set the code here.
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`meshscope: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
