// envoy.filters.network.connection_limit: a non-terminal network filter that caps the active
// connections of its filter chain. A connection over the cap is counted and closed (after
// `delay`, which slows clients that reconnect at once) before the chain's terminal filter ever
// sees it. Stats under `connection_limit.<stat_prefix>.`, as Envoy's.
//
// The count is per worker: Envoy shares it across worker threads, meshscope's workers are
// processes, so with --concurrency N the effective cap is up to N × max_connections.
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { type NetworkReadFilter, registries } from '../../../../core/extension-points.js';
import { durationMs, durationSchema } from '../../../../api/duration.js';

export const CONNECTION_LIMIT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';

const positive = z.preprocess(
  (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
  z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
);

const connectionLimitSchema = z
  .object({
    '@type': z.literal(CONNECTION_LIMIT_TYPE_URL).optional(),
    stat_prefix: z.string().min(1),
    max_connections: z.union([positive, z.object({ value: positive }).strict()]),
    delay: durationSchema.optional(),
  })
  .strict();

registries.networkFilters.register(
  defineExtension({
    name: 'envoy.filters.network.connection_limit',
    typeUrls: [CONNECTION_LIMIT_TYPE_URL],
    configSchema: connectionLimitSchema,
    terminal: false,
    create(config, context): NetworkReadFilter {
      const max = typeof config.max_connections === 'number' ? config.max_connections : config.max_connections.value;
      const delayMs = durationMs(config.delay, 0);
      const scope = context.stats.scope(`connection_limit.${config.stat_prefix}`);
      const limited = scope.counter('limited_connections');
      const active = scope.gauge('active_connections');
      let count = 0;
      return {
        terminal: false,
        onNewConnection(transport) {
          const socket = transport.stream;
          if (count >= max) {
            limited.inc();
            if (delayMs > 0) setTimeout(() => socket.destroy(), delayMs).unref();
            else socket.destroy();
            return 'stop';
          }
          count++;
          active.inc();
          socket.once('close', () => {
            count--;
            active.dec();
          });
          return 'continue';
        },
      };
    },
  }),
);
