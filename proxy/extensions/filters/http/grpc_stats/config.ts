// envoy.filters.http.grpc_stats: the schema of envoy.extensions.filters.http.grpc_stats.v3.FilterConfig
// and its compiled form: which calls get per-method counters (an allowlist, every method, or
// none: the cluster-wide `grpc.*` counters), and the counters themselves, created once per
// cluster and method and kept in a bounded cache.
import { z } from 'zod';
import type { Counter, Histogram, Scope } from '../../../../stats/types.js';

export const GRPC_STATS_FILTER_NAME = 'envoy.filters.http.grpc_stats';
export const GRPC_STATS_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig';

const boolValue = z
  .union([z.boolean(), z.strictObject({ value: z.boolean() })])
  .transform((v) => (typeof v === 'boolean' ? v : v.value));

export const grpcStatsSchema = z
  .strictObject({
    '@type': z.literal(GRPC_STATS_TYPE_URL).optional(),
    emit_filter_state: z.boolean().optional(),
    individual_method_stats_allowlist: z
      .strictObject({
        services: z
          .array(z.strictObject({ name: z.string().min(1), method_names: z.array(z.string().min(1)).optional() }))
          .optional(),
      })
      .optional(),
    stats_for_all_methods: boolValue.optional(),
    enable_upstream_stats: z.boolean().optional(),
    replace_dots_in_grpc_service_name: z.boolean().optional(),
  })
  .superRefine((c, ctx) => {
    // One of the per_method_stat_specifier oneof.
    if (c.individual_method_stats_allowlist !== undefined && c.stats_for_all_methods !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['stats_for_all_methods'],
        message: 'only one of individual_method_stats_allowlist and stats_for_all_methods may be set',
      });
  });
export type GrpcStatsConfigInput = z.output<typeof grpcStatsSchema>;

/** One `cluster.<c>.grpc[.<service>.<method>]` family. */
export interface GrpcStatCounters {
  readonly success: Counter;
  readonly failure: Counter;
  readonly total: Counter;
  readonly requestMessageCount: Counter;
  readonly responseMessageCount: Counter;
  readonly upstreamRqTime: Histogram | null;
  /** `<status>` counters by grpc-status text, made on first use. */
  readonly byStatus: Map<string, Counter>;
  readonly scope: Scope;
}

/** Distinct (cluster, method) families kept; past it calls count in their cluster's generic family. */
const MAX_FAMILIES = 4096;

export class GrpcStatsConfig {
  readonly emitFilterState: boolean;
  readonly enableUpstreamStats: boolean;
  readonly #allMethods: boolean;
  /** service → allowed methods (null: every method of it); null when there is no allowlist. */
  readonly #allowlist: Map<string, ReadonlySet<string> | null> | null;
  readonly #replaceDots: boolean;
  readonly #root: Scope;
  readonly #families = new Map<string, GrpcStatCounters>();

  constructor(config: GrpcStatsConfigInput, root: Scope) {
    this.emitFilterState = config.emit_filter_state === true;
    this.enableUpstreamStats = config.enable_upstream_stats === true;
    this.#allMethods = config.stats_for_all_methods === true;
    this.#replaceDots = config.replace_dots_in_grpc_service_name === true;
    this.#root = root;
    const list = config.individual_method_stats_allowlist;
    this.#allowlist =
      list === undefined
        ? null
        : new Map(
            (list.services ?? []).map((s) => [
              s.name,
              s.method_names === undefined || s.method_names.length === 0 ? null : new Set(s.method_names),
            ]),
          );
  }

  /** Whether a call to `service`/`method` gets its own counters (else its cluster's generic ones). */
  perMethod(service: string, method: string): boolean {
    if (this.#allowlist === null) return this.#allMethods;
    const methods = this.#allowlist.get(service);
    return methods !== undefined && (methods === null || methods.has(method));
  }

  /** The counters of `cluster` (and `service.method` when not null), created once. */
  counters(cluster: string, service: string | null, method: string | null): GrpcStatCounters {
    const key = service === null ? cluster : `${cluster}\u0000${service}\u0000${method}`;
    let family = this.#families.get(key);
    if (family !== undefined) return family;
    if (service !== null && this.#families.size >= MAX_FAMILIES) return this.counters(cluster, null, null);
    const svc = service !== null && this.#replaceDots ? service.replaceAll('.', '_') : service;
    const scope = this.#root.scope(
      svc === null ? `cluster.${cluster}.grpc` : `cluster.${cluster}.grpc.${svc}.${method}`,
    );
    family = {
      success: scope.counter('success'),
      failure: scope.counter('failure'),
      total: scope.counter('total'),
      requestMessageCount: scope.counter('request_message_count'),
      responseMessageCount: scope.counter('response_message_count'),
      upstreamRqTime: this.enableUpstreamStats ? scope.histogram('upstream_rq_time', 'milliseconds') : null,
      byStatus: new Map(),
      scope,
    };
    this.#families.set(key, family);
    return family;
  }
}
