// envoy.access_loggers.file: one formatted line per stream, appended to `path` through the
// shared buffered sink (flushed off the request path, reopened on SIGUSR1).
import { z } from 'zod';
import { registries, type AccessLogger, type AccessLoggerContext } from '../../../core/extension-points.js';
import { defineExtension } from '../../../core/registry.js';
import type { StreamInfo } from '../../../core/stream-info.js';
import { acquireSink, logSinkStats, type LogSink } from '../../../telemetry/log-sink.js';
import { ProtoWriter } from '../../../telemetry/proto-writer.js';
import type { LineFormatter } from '../../../telemetry/substitution-format.js';
import { buildFormatter, logFormatSchema } from '../common.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

/** Where lines are formatted before the sink copies them; log() is synchronous, so one serves all. */
const line = new ProtoWriter(4096);

/** A logger that formats and hands the line to a sink; shared by file, stdout and stderr. */
export class SinkAccessLogger implements AccessLogger {
  readonly #formatter: LineFormatter;
  readonly #sink: LogSink;

  constructor(formatter: LineFormatter, sink: LogSink) {
    this.#formatter = formatter;
    this.#sink = sink;
  }

  log(info: StreamInfo): void {
    line.pos = 0;
    this.#formatter.formatInto(info, line);
    this.#sink.write(line.buf, line.pos);
  }
}

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
      const sink = acquireSink(config.path, logSinkStats(context.stats));
      context.onShutdown(() => sink.flush());
      return new SinkAccessLogger(buildFormatter(config.log_format), sink);
    },
  }),
);
