// `meshscope collector`: parses flags and runs the collector until SIGTERM/SIGINT.

import { setFlagsFromString } from 'node:v8';
import { parseFlags, untilStopSignal } from './flags.js';
import { CollectorConfigError, startCollector, type CollectorOptions } from '../collector/index.js';
import { collectorV8Flags } from '../collector/launch-env.js';

const USAGE = `usage: meshscope collector [--otlp-http 127.0.0.1:4318] [--http 127.0.0.1:16686] [--data ./data]
         [--clickhouse-url URL --clickhouse-user U --clickhouse-password P --clickhouse-database D]
         [--ttl-days N] [--memory-limit MiB] [--embedded-nice 0-19]
`;

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags('collector', USAGE, argv, {
    'otlp-http': { type: 'string' },
    http: { type: 'string' },
    data: { type: 'string' },
    'clickhouse-url': { type: 'string' },
    'clickhouse-user': { type: 'string' },
    'clickhouse-password': { type: 'string' },
    'clickhouse-database': { type: 'string' },
    'ttl-days': { type: 'string' },
    'memory-limit': { type: 'string' },
    'embedded-nice': { type: 'string' },
  });
  if (typeof values === 'number') return values;
  // When V8 starts a full GC (collector/launch-env.ts): read by V8 at each check, so in effect from here on.
  for (const flag of collectorV8Flags()) setFlagsFromString(flag);
  const options: CollectorOptions = {};
  if (values['otlp-http'] !== undefined) options.otlpHttp = values['otlp-http'];
  if (values.http !== undefined) options.http = values.http;
  if (values.data !== undefined) options.dataDir = values.data;
  if (values['ttl-days'] !== undefined) {
    if (!/^\d+$/.test(values['ttl-days'])) {
      process.stderr.write(
        `meshscope collector: --ttl-days must be a whole number of days (0 = no TTL), got '${values['ttl-days']}'\n`,
      );
      return 2;
    }
    options.ttlDays = Number(values['ttl-days']);
  }
  if (values['memory-limit'] !== undefined) {
    if (!/^\d+$/.test(values['memory-limit'])) {
      process.stderr.write(
        `meshscope collector: --memory-limit must be a whole number of MiB, got '${values['memory-limit']}'\n`,
      );
      return 2;
    }
    options.memoryLimitMiB = Number(values['memory-limit']);
  }
  if (values['embedded-nice'] !== undefined) {
    if (!/^\d+$/.test(values['embedded-nice']) || Number(values['embedded-nice']) > 19) {
      process.stderr.write(
        `meshscope collector: --embedded-nice must be a number of nice levels from 0 to 19 below the collector's own (0 = chDB's threads at its priority), got '${values['embedded-nice']}'\n`,
      );
      return 2;
    }
    options.embeddedThreadNice = Number(values['embedded-nice']);
  }
  const chFlags = ['clickhouse-user', 'clickhouse-password', 'clickhouse-database'] as const;
  if (values['clickhouse-url'] !== undefined) {
    options.clickhouse = {
      url: values['clickhouse-url'],
      username: values['clickhouse-user'],
      password: values['clickhouse-password'],
      database: values['clickhouse-database'],
    };
  } else {
    const stray = chFlags.filter((f) => values[f] !== undefined);
    if (stray.length > 0) {
      process.stderr.write(`meshscope collector: --${stray.join(', --')} only apply with --clickhouse-url\n${USAGE}`);
      return 2;
    }
  }
  let collector: Awaited<ReturnType<typeof startCollector>>;
  try {
    collector = await startCollector(options);
  } catch (err) {
    if (err instanceof CollectorConfigError) {
      process.stderr.write(`meshscope collector: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  process.stdout.write(
    `meshscope collector: OTLP/HTTP on ${collector.otlpUrl}, query API on ${collector.apiUrl} (web UI at /)\n`,
  );
  await untilStopSignal();
  await collector.close();
  return 0;
}
