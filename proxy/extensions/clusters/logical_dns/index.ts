// envoy.cluster.logical_dns: one endpoint; the first resolved address is the single host,
// updated in place on refresh (connections keep their address until they close).
import { z } from 'zod';
import { defineExtension } from '../../../core/registry.js';
import { registries, type ClusterContext, type ClusterDiscovery } from '../../../core/extension-points.js';
import { endpointSpecs } from '../../../core/upstream/endpoints.js';
import { durationMs } from '../../../api/duration.js';
import { periodicDiscovery, resolveAll } from '../dns.js';

registries.clusters.register(
  defineExtension({
    name: 'envoy.cluster.logical_dns',
    typeUrls: [],
    configSchema: z.unknown(),
    create(_config, context: ClusterContext): ClusterDiscovery {
      const cfg = context.cluster;
      const spec = endpointSpecs(cfg.load_assignment)[0]!;
      const refreshMs = durationMs(cfg.dns_refresh_rate, 5000);
      let current = '';
      return periodicDiscovery(refreshMs, async () => {
        try {
          const [address] = await resolveAll(spec.address, cfg);
          if (address === undefined || address === current) return null;
          current = address;
          return [{ ...spec.base, address, port: spec.port, hostname: spec.hostname || spec.address }];
        } catch {
          // Keep the previous address; the next refresh retries.
          return current === '' ? [] : null;
        }
      });
    },
  }),
);
