// Shared DNS resolution for strict_dns and logical_dns clusters: node:dns lookup with Envoy's
// dns_lookup_family, refreshed every dns_refresh_rate on an unref'd timer.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterConfig } from '../../api/schema.js';
import type { ClusterDiscovery } from '../../core/extension-points.js';
import type { HostDescription } from '../../core/upstream/host.js';

export async function resolveAll(hostname: string, cfg: ClusterConfig): Promise<string[]> {
  if (isIP(hostname) !== 0) return [hostname];
  const family = cfg.dns_lookup_family ?? 'AUTO';
  const results = await lookup(hostname, {
    all: true,
    family: family === 'V4_ONLY' ? 4 : family === 'V6_ONLY' ? 6 : 0,
  });
  const v4 = results.filter((r) => r.family === 4).map((r) => r.address);
  const v6 = results.filter((r) => r.family === 6).map((r) => r.address);
  // AUTO prefers IPv6 in Envoy, V4_PREFERRED prefers IPv4, ALL keeps both.
  switch (family) {
    case 'V4_ONLY':
      return v4;
    case 'V6_ONLY':
      return v6;
    case 'V4_PREFERRED':
      return v4.length > 0 ? v4 : v6;
    case 'ALL':
      return [...v4, ...v6];
    default:
      return v6.length > 0 ? v6 : v4;
  }
}

/**
 * Discovery that runs `resolve` at start and again `refreshMs` after each run ends, until
 * stopped; `resolve` gives the hosts to publish, or null when nothing changed.
 */
export function periodicDiscovery(
  refreshMs: number,
  resolve: () => Promise<HostDescription[] | null>,
): ClusterDiscovery {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const run = async (onHosts: (hosts: HostDescription[]) => void): Promise<void> => {
    const hosts = await resolve();
    if (stopped) return;
    if (hosts !== null) onHosts(hosts);
    timer = setTimeout(() => void run(onHosts), refreshMs).unref();
  };
  return {
    start(onHosts) {
      void run(onHosts);
    },
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
