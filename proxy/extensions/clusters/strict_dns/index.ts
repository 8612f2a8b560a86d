// envoy.cluster.strict_dns: every endpoint hostname is resolved, every returned address is a
// host; re-resolved every dns_refresh_rate (default 5s). A failed lookup keeps the last hosts.
import { z } from 'zod';
import { defineExtension } from '../../../core/registry.js';
import { registries, type ClusterContext, type ClusterDiscovery } from '../../../core/extension-points.js';
import { endpointSpecs } from '../../../core/upstream/endpoints.js';
import type { HostDescription } from '../../../core/upstream/host.js';
import { durationMs } from '../../../api/duration.js';
import { periodicDiscovery, resolveAll } from '../dns.js';

registries.clusters.register(
  defineExtension({
    name: 'envoy.cluster.strict_dns',
    typeUrls: [],
    configSchema: z.unknown(),
    create(_config, context: ClusterContext): ClusterDiscovery {
      const cfg = context.cluster;
      const specs = endpointSpecs(cfg.load_assignment);
      const refreshMs = durationMs(cfg.dns_refresh_rate, 5000);
      let last: HostDescription[] | null = null;
      return periodicDiscovery(refreshMs, async () => {
        const hosts: HostDescription[] = [];
        for (const s of specs) {
          try {
            for (const address of await resolveAll(s.address, cfg))
              hosts.push({ ...s.base, address, port: s.port, hostname: s.hostname || s.address });
          } catch {
            if (last !== null) hosts.push(...last.filter((h) => h.hostname === s.address && h.port === s.port));
          }
        }
        const changed = last === null || JSON.stringify(last) !== JSON.stringify(hosts);
        last = hosts;
        return changed ? hosts : null;
      });
    },
  }),
);
