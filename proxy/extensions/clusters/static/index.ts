// envoy.cluster.static: endpoints are IP addresses taken verbatim from load_assignment.
import { z } from 'zod';
import { defineExtension } from '../../../core/registry.js';
import { registries, type ClusterContext, type ClusterDiscovery } from '../../../core/extension-points.js';
import { endpointSpecs } from '../../../core/upstream/endpoints.js';

registries.clusters.register(
  defineExtension({
    name: 'envoy.cluster.static',
    typeUrls: [],
    configSchema: z.unknown(),
    create(_config, context: ClusterContext): ClusterDiscovery {
      return {
        start(onHosts) {
          onHosts(
            endpointSpecs(context.cluster.load_assignment).map((s) => ({
              ...s.base,
              address: s.address,
              port: s.port,
              hostname: s.hostname,
            })),
          );
        },
        stop() {},
      };
    },
  }),
);
