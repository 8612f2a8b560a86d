// envoy.filters.network.tcp_proxy: the terminal network filter that relays a connection's bytes
// to a host of an upstream cluster, both ways, with backpressure (filter.ts, one per connection).
// This module validates the config and builds, once per listener per worker, what every
// connection shares: the cluster choice, the timeouts, the stats handles and the access loggers.
import type { Socket } from 'node:net';
import type { TransportSocket } from '../../../../core/network/transport-socket.js';
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import {
  registries,
  type AccessLogger,
  type NetworkFilter,
  type NetworkFilterContext,
} from '../../../../core/extension-points.js';
import { accessLogRefSchema } from '../../../../api/schema.js';
import { durationMs, durationSchema } from '../../../../api/duration.js';
import { u32 } from '../../../../api/wrappers.js';
import { TcpProxyStats } from './stats.js';
import { logRefusedConnection, TcpProxySession, type TcpProxyConfig } from './filter.js';

export const TCP_PROXY_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** Envoy's default `idle_timeout`: one hour; `0s` disables it. */
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

const positiveU32 = z.union([u32, z.object({ value: u32 }).strict()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : v.value;
  if (n < 1) ctx.addIssue({ code: 'custom', message: 'must be at least 1' });
  return n;
});

// TcpProxy.WeightedCluster.ClusterWeight.weight is a plain uint32 in Envoy's API (no wrapper), at least 1.
const clusterWeightSchema = z
  .object({ name: z.string().min(1), weight: z.number().int().min(1).max(4294967295) })
  .strict();

export const tcpProxySchema = z
  .object({
    '@type': z.literal(TCP_PROXY_TYPE_URL).optional(),
    stat_prefix: z.string().min(1),
    cluster: z.string().min(1).optional(),
    weighted_clusters: z
      .object({ clusters: z.array(clusterWeightSchema).min(1) })
      .strict()
      .optional(),
    idle_timeout: durationSchema.optional(),
    max_connect_attempts: positiveU32.optional(),
    access_log: z.array(accessLogRefSchema).optional(),
    max_downstream_connection_duration: durationSchema.optional(),
    /** envoy.type.v3.HashPolicy: `source_ip` keys RING_HASH/MAGLEV by the client's address. */
    hash_policy: z
      .array(z.object({ source_ip: z.object({}).strict() }).strict())
      .max(1)
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const n = (v.cluster !== undefined ? 1 : 0) + (v.weighted_clusters !== undefined ? 1 : 0);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'exactly one of cluster, weighted_clusters is required' });
  });

/** Picks the cluster of a new connection: fixed, or by weight (Envoy's weighted_clusters). */
function clusterPicker(config: z.output<typeof tcpProxySchema>): () => string {
  if (config.cluster !== undefined) {
    const name = config.cluster;
    return () => name;
  }
  const entries = config.weighted_clusters!.clusters;
  const names = entries.map((c) => c.name);
  const cumulative: number[] = [];
  let total = 0;
  for (const c of entries) cumulative.push((total += c.weight));
  return () => {
    const r = Math.random() * total;
    for (let i = 0; i < cumulative.length; i++) if (r < cumulative[i]!) return names[i]!;
    return names[names.length - 1]!;
  };
}

/**
 * The downstream byte stream: the accepted socket, or, behind the chain's transport socket
 * (proxy/core/network/transport-socket.ts), its native `stream`. The one place tcp_proxy meets
 * that seam; accepting both keeps it working on either side of it.
 */
registries.networkFilters.register(
  defineExtension({
    name: 'envoy.filters.network.tcp_proxy',
    typeUrls: [TCP_PROXY_TYPE_URL],
    configSchema: tcpProxySchema,
    terminal: true,
    create(config, context: NetworkFilterContext): NetworkFilter {
      const loggers: AccessLogger[] = (config.access_log ?? []).map((l) =>
        registries.accessLoggers
          .lookup(l.name, l.typed_config?.['@type'] as string | undefined)!
          .create(l.typed_config, { ...context, statPrefix: config.stat_prefix }),
      );
      const shared: TcpProxyConfig = {
        pickCluster: clusterPicker(config),
        clusterManager: context.clusterManager,
        idleTimeoutMs: durationMs(config.idle_timeout, DEFAULT_IDLE_TIMEOUT_MS),
        maxConnectAttempts: config.max_connect_attempts ?? 1,
        maxConnectionDurationMs: durationMs(config.max_downstream_connection_duration, 0),
        hashSourceIp: (config.hash_policy?.length ?? 0) > 0,
        stats: new TcpProxyStats(context.stats.scope(`tcp.${config.stat_prefix}`)),
        loggers,
      };
      return {
        onNewConnection: (connection: Socket | TransportSocket, listener) =>
          new TcpProxySession(shared, connection, listener),
        onRefusedConnection: (connection, listener) => logRefusedConnection(shared, connection, listener),
      };
    },
  }),
);
