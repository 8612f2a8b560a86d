// Envoy's zone-aware routing for priority 0: when this proxy's node has a locality and the
// bootstrap names a local cluster (`cluster_manager.local_cluster_name`, the proxies of this
// service), requests stay in the local locality as far as the upstream's capacity there
// allows; the rest is spread over the other localities in proportion to their residual
// capacity (upstream share above local share). Plans are rebuilt when either cluster changes.
import type { Counter, Scope } from '../../stats/types.js';
import type { Runtime } from '../../runtime/index.js';
import { randomUint32 } from '../../runtime/index.js';
import type { Host } from './host.js';

export interface ZoneAwareSettings {
  /** `common_lb_config.zone_aware_lb_config.routing_enabled` (percent, default 100). */
  readonly routingEnabledPercent: number;
  /** `min_cluster_size` (default 6): smaller upstream clusters are not zone-routed. */
  readonly minClusterSize: number;
}

export class ZoneRoutingStats {
  readonly lb_zone_routing_all_directly: Counter;
  readonly lb_zone_routing_sampled: Counter;
  readonly lb_zone_routing_cross_zone: Counter;
  readonly lb_zone_no_capacity_left: Counter;
  readonly lb_zone_cluster_too_small: Counter;
  readonly lb_local_cluster_not_ok: Counter;
  readonly lb_recalculate_zone_structures: Counter;

  constructor(clusterScope: Scope) {
    this.lb_zone_routing_all_directly = clusterScope.counter('lb_zone_routing_all_directly');
    this.lb_zone_routing_sampled = clusterScope.counter('lb_zone_routing_sampled');
    this.lb_zone_routing_cross_zone = clusterScope.counter('lb_zone_routing_cross_zone');
    this.lb_zone_no_capacity_left = clusterScope.counter('lb_zone_no_capacity_left');
    this.lb_zone_cluster_too_small = clusterScope.counter('lb_zone_cluster_too_small');
    this.lb_local_cluster_not_ok = clusterScope.counter('lb_local_cluster_not_ok');
    this.lb_recalculate_zone_structures = clusterScope.counter('lb_recalculate_zone_structures');
  }
}

export function localityKey(l: { readonly region: string; readonly zone: string; readonly subZone: string }): string {
  return `${l.region}/${l.zone}/${l.subZone}`;
}

/** What a cluster needs to zone-route: the local cluster's hosts and this node's locality. */
export interface ZoneAwareContext {
  readonly settings: ZoneAwareSettings;
  readonly localLocality: string;
  readonly localHosts: () => readonly Host[] | null;
  readonly runtime: Runtime;
  readonly stats: ZoneRoutingStats;
}

/** Shares are in basis points (10000 = 100%), as Envoy computes them. */
export class ZoneRoutingPlan {
  /** Healthy priority-0 upstream hosts per locality; index 0 is the local locality. */
  readonly localities: readonly (readonly Host[])[];
  readonly #direct: boolean;
  readonly #localPercentToRoute: number;
  /** Cumulative residual capacity per locality (index 0 never gets cross-zone traffic). */
  readonly #residual: readonly number[];
  readonly #context: ZoneAwareContext;

  private constructor(
    localities: Host[][],
    direct: boolean,
    localPercentToRoute: number,
    residual: number[],
    context: ZoneAwareContext,
  ) {
    this.localities = localities;
    this.#direct = direct;
    this.#localPercentToRoute = localPercentToRoute;
    this.#residual = residual;
    this.#context = context;
  }

  /** Null when zone routing does not apply (Envoy's early exits, each counted). */
  static build(upstreamHealthyP0: readonly Host[], context: ZoneAwareContext): ZoneRoutingPlan | null {
    const stats = context.stats;
    stats.lb_recalculate_zone_structures.inc();
    const byLocality = new Map<string, Host[]>([[context.localLocality, []]]);
    for (const h of upstreamHealthyP0) {
      const key = localityKey(h.description.locality);
      let list = byLocality.get(key);
      if (list === undefined) byLocality.set(key, (list = []));
      list.push(h);
    }
    if (byLocality.size < 2) return null;
    const localHosts = context.localHosts()?.filter((h) => h.healthy()) ?? [];
    if (localHosts.length === 0 || byLocality.get(context.localLocality)!.length === 0) {
      stats.lb_local_cluster_not_ok.inc();
      return null;
    }
    const minSize = context.runtime
      .snapshot()
      .getInteger('upstream.zone_routing.min_cluster_size', context.settings.minClusterSize);
    if (upstreamHealthyP0.length < minSize) {
      stats.lb_zone_cluster_too_small.inc();
      return null;
    }
    const localCount = new Map<string, number>();
    for (const h of localHosts) {
      const key = localityKey(h.description.locality);
      localCount.set(key, (localCount.get(key) ?? 0) + 1);
    }
    const localities = [...byLocality.values()];
    const keys = [...byLocality.keys()];
    const upstreamPct = localities.map((hosts) => Math.floor((hosts.length * 10000) / upstreamHealthyP0.length));
    const localPct = keys.map((k) => Math.floor(((localCount.get(k) ?? 0) * 10000) / localHosts.length));
    if (upstreamPct[0]! > 0 && upstreamPct[0]! >= localPct[0]!)
      return new ZoneRoutingPlan(localities, true, 10000, [], context);
    const localPercentToRoute = localPct[0]! > 0 ? Math.floor((upstreamPct[0]! * 10000) / localPct[0]!) : 0;
    const residual: number[] = [];
    for (let i = 0; i < localities.length; i++) {
      const last = i > 0 ? residual[i - 1]! : 0;
      residual.push(i === 0 || upstreamPct[i]! < localPct[i]! ? last : last + upstreamPct[i]! - localPct[i]!);
    }
    return new ZoneRoutingPlan(localities, false, localPercentToRoute, residual, context);
  }

  /** The locality index for this request, or -1 when zone routing is switched off at runtime. */
  pickLocality(): number {
    const ctx = this.#context;
    const stats = ctx.stats;
    if (!ctx.runtime.snapshot().featureEnabled('upstream.zone_routing.enabled', ctx.settings.routingEnabledPercent))
      return -1;
    if (this.#direct) {
      stats.lb_zone_routing_all_directly.inc();
      return 0;
    }
    if (randomUint32() % 10000 < this.#localPercentToRoute) {
      stats.lb_zone_routing_sampled.inc();
      return 0;
    }
    stats.lb_zone_routing_cross_zone.inc();
    const total = this.#residual[this.#residual.length - 1]!;
    if (total === 0) {
      stats.lb_zone_no_capacity_left.inc();
      return Math.floor(Math.random() * this.localities.length);
    }
    const threshold = randomUint32() % total;
    let i = 0;
    while (threshold >= this.#residual[i]!) i++;
    return i;
  }
}
