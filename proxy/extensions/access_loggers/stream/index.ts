// envoy.access_loggers.stdout / envoy.access_loggers.stderr: the file logger (its access-log
// thread and buffered sink) on the process's standard streams.
import { z } from 'zod';
import { registries, type AccessLogger, type AccessLoggerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import { logFormatSchema } from '../common.js';
import { ThreadedAccessLogger } from '../threaded-logger.js';

for (const [name, typeName, path] of [
  ['envoy.access_loggers.stdout', 'StdoutAccessLog', '/dev/stdout'],
  ['envoy.access_loggers.stderr', 'StderrAccessLog', '/dev/stderr'],
] as const) {
  const typeUrl = `type.googleapis.com/envoy.extensions.access_loggers.stream.v3.${typeName}`;
  registries.accessLoggers.register(
    defineExtension({
      name,
      typeUrls: [typeUrl],
      configSchema: z
        .object({ '@type': z.literal(typeUrl).optional(), log_format: logFormatSchema.optional() })
        .strict(),
      create(config, context: AccessLoggerContext): AccessLogger {
        return new ThreadedAccessLogger(path, config.log_format, context);
      },
    }),
  );
}
