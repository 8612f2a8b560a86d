// envoy.access_loggers.file: one formatted line per stream, appended to `path` by the worker's
// access-log thread (threaded-logger.ts: the request thread only records the values; the file
// is written off the request path and reopened on SIGUSR1).
import { z } from 'zod';
import { registries, type AccessLogger, type AccessLoggerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import { logFormatSchema } from '../common.js';
import { ThreadedAccessLogger } from '../threaded-logger.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

registries.accessLoggers.register(
  defineExtension({
    name: 'envoy.access_loggers.file',
    typeUrls: [TYPE_URL],
    configSchema: z
      .object({
        '@type': z.literal(TYPE_URL).optional(),
        path: z.string().min(1),
        log_format: logFormatSchema.optional(),
      })
      .strict(),
    create(config, context: AccessLoggerContext): AccessLogger {
      return new ThreadedAccessLogger(config.path, config.log_format, context);
    },
  }),
);
