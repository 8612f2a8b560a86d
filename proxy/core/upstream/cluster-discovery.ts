// The cluster extension point (Envoy's cluster types: static, strict_dns, logical_dns…): what
// a cluster factory builds and the context it gets. Beside the cluster that uses it, so the
// cluster does not import the registries.
import type { ClusterConfig } from '../../api/schema.js';
import type { ExtensionContext } from '../extension-context.js';
import type { HostDescription } from './host.js';

/** Host discovery for one cluster (Envoy's cluster types: static, strict_dns, logical_dns...). */
export interface ClusterDiscovery {
  /** Calls `onHosts` with the full host list now or soon, and again whenever it changes. */
  start(onHosts: (hosts: HostDescription[]) => void): void;
  stop(): void;
}

export interface ClusterContext extends ExtensionContext {
  readonly cluster: ClusterConfig;
}
