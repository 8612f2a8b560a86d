// Wires the xDS client to a running proxy: what arrives over xDS is applied through the
// main process's runtime-configuration path (the same worker operations for one in-process
// worker or N forked ones), validated with the same schemas as a static bootstrap.
import type { ClusterConfig, ClusterLoadAssignment, ListenerConfig, RouteConfiguration } from '../api/schema.js';
import type { Scope } from '../stats/types.js';
import type { SecretConfig } from '../api/tls.js';
import { XdsClient } from './client.js';
import type { DynamicResources } from '../api/config-source.js';
import type { JsonMap } from './proto/codec.js';
import { proxyResourceValidator } from './validator.js';

/** The main process's operations the client drives. */
export interface XdsTarget {
  applyCluster(config: ClusterConfig): Promise<void>;
  removeCluster(name: string): Promise<void>;
  updateClusterHosts(name: string, assignment: ClusterLoadAssignment): Promise<void>;
  applyListener(config: ListenerConfig): Promise<void>;
  removeListener(name: string): Promise<void>;
  updateListenerRoutes(listenerName: string, routeConfig: RouteConfiguration): Promise<void>;
  updateSecrets(secrets: SecretConfig[]): Promise<void>;
}

export interface AttachXdsOptions {
  node: {
    id: string;
    cluster: string;
    metadata: Record<string, unknown>;
    locality: { region: string; zone: string; subZone: string };
  };
  dynamicResources: DynamicResources;
  staticClusters: readonly ClusterConfig[];
  target: XdsTarget;
  stats: Scope;
  log: (line: string, level?: 'info' | 'warn') => void;
}

export function attachXds(o: AttachXdsOptions): XdsClient {
  const { node } = o;
  const nodeJson: JsonMap = { id: node.id, cluster: node.cluster, user_agent_name: 'meshscope' };
  if (Object.keys(node.metadata).length > 0) nodeJson.metadata = node.metadata as JsonMap;
  const loc: JsonMap = {};
  if (node.locality.region !== '') loc.region = node.locality.region;
  if (node.locality.zone !== '') loc.zone = node.locality.zone;
  if (node.locality.subZone !== '') loc.sub_zone = node.locality.subZone;
  if (Object.keys(loc).length > 0) nodeJson.locality = loc;
  // Resources were validated by the client with the proxy's schemas; parsing again here
  // yields the typed (defaults applied) configs the workers expect.
  const client = new XdsClient({
    node: nodeJson,
    dynamicResources: o.dynamicResources,
    staticClusters: o.staticClusters as unknown as JsonMap[],
    validator: proxyResourceValidator,
    stats: o.stats,
    log: o.log,
    applier: {
      async applyClusters(upserts, removals) {
        for (const c of upserts) await o.target.applyCluster(proxyResourceValidator.parseCluster(c));
        for (const n of removals) await o.target.removeCluster(n);
      },
      async applyEndpoints(assignments) {
        for (const a of assignments) {
          const parsed = proxyResourceValidator.parseAssignment(a);
          await o.target.updateClusterHosts(parsed.cluster_name, parsed);
        }
      },
      async applyListeners(upserts, removals) {
        for (const l of upserts) await o.target.applyListener(proxyResourceValidator.parseListener(l));
        for (const n of removals) await o.target.removeListener(n);
      },
      async applySecrets(secrets) {
        await o.target.updateSecrets(secrets.map((s) => proxyResourceValidator.parseSecret(s)));
      },
      async applyRoutes(updates) {
        for (const u of updates)
          await o.target.updateListenerRoutes(
            u.listenerName,
            proxyResourceValidator.parseRouteConfiguration(u.routeConfig),
          );
      },
    },
  });
  client.start();
  return client;
}

/**
 * Envoy's `/config_dump` keeps static and dynamic resources of a type in one dump object
 * (`static_clusters` beside `dynamic_active_clusters`): merge the client's dynamic parts
 * into the main process's static ones by `@type`.
 */
export function mergeConfigDump(
  dump: { configs: Array<Record<string, unknown>> },
  dynamic: readonly JsonMap[],
): { configs: Array<Record<string, unknown>> } {
  const configs = dump.configs.map((c) => ({ ...c }));
  for (const d of dynamic) {
    const same = configs.find((c) => c['@type'] === d['@type']);
    if (same !== undefined) Object.assign(same, d);
    else configs.push({ ...d });
  }
  return { configs };
}
