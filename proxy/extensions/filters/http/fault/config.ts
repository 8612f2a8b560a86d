// envoy.filters.http.fault: schema of envoy.extensions.filters.http.fault.v3.HTTPFault and its
// compiled form. Percentages, durations and statuses are read through the runtime on every
// request (keys default to `fault.http.*`), so a `/runtime_modify` or disk-layer change
// applies to the next request without a restart.
import { z } from 'zod';
import { durationMs, durationSchema } from '../../../../api/duration.js';
import { headerMatcherSchema } from '../../../../api/schema.js';
import {
  compileHeaderMatcher,
  headerMatches,
  type CompiledHeaderMatcher,
} from '../../../../core/router/route-table.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import { fractionalPercentSchema, type FractionalPercent } from '../../../../runtime/index.js';
import type { Counter, Gauge, Scope } from '../../../../stats/types.js';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';
export const FAULT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

const u32 = z.number().int().min(0).max(4294967295);
const u32Wrapped = z
  .union([u32, z.strictObject({ value: u32 })])
  .transform((v) => (typeof v === 'number' ? v : v.value));

const delaySchema = z
  .strictObject({
    fixed_delay: durationSchema.optional(),
    header_delay: z.strictObject({}).optional(),
    percentage: fractionalPercentSchema.optional(),
  })
  .superRefine((d, ctx) => {
    if ((d.fixed_delay === undefined) === (d.header_delay === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'exactly one of fixed_delay, header_delay is required' });
    }
  });

const abortSchema = z
  .strictObject({
    http_status: z.number().int().min(200).max(599).optional(),
    header_abort: z.strictObject({}).optional(),
    percentage: fractionalPercentSchema.optional(),
  })
  .superRefine((a, ctx) => {
    if ((a.http_status === undefined) === (a.header_abort === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'exactly one of http_status, header_abort is required (grpc_status is not supported)',
      });
    }
  });

export const faultSchema = z.strictObject({
  '@type': z.literal(FAULT_TYPE_URL).optional(),
  delay: delaySchema.optional(),
  abort: abortSchema.optional(),
  upstream_cluster: z.string().optional(),
  headers: z.array(headerMatcherSchema).optional(),
  downstream_nodes: z.array(z.string().min(1)).optional(),
  max_active_faults: u32Wrapped.optional(),
  delay_percent_runtime: z.string().min(1).optional(),
  abort_percent_runtime: z.string().min(1).optional(),
  delay_duration_runtime: z.string().min(1).optional(),
  abort_http_status_runtime: z.string().min(1).optional(),
  max_active_faults_runtime: z.string().min(1).optional(),
  disable_downstream_cluster_stats: z.boolean().optional(),
});
export type FaultConfigInput = z.output<typeof faultSchema>;

/** Counters and gauge under `http.<stat_prefix>.fault.` (and `.fault.<downstream cluster>.`). */
export interface FaultStats {
  readonly delaysInjected: Counter;
  readonly abortsInjected: Counter;
  readonly faultsOverflow: Counter;
  readonly activeFaults: Gauge;
}

/** Distinct `x-envoy-downstream-service-cluster` values that get their own stats; the header is client-controlled. */
const MAX_DOWNSTREAM_CLUSTERS = 64;

const ZERO: FractionalPercent = { numerator: 0, denominator: 'HUNDRED' };

export class FaultConfig {
  readonly delay: { fixedMs: number | undefined; fromHeader: boolean; percentage: FractionalPercent } | undefined;
  readonly abort: { httpStatus: number | undefined; fromHeader: boolean; percentage: FractionalPercent } | undefined;
  readonly upstreamCluster: string | undefined;
  readonly #headers: readonly CompiledHeaderMatcher[];
  readonly downstreamNodes: ReadonlySet<string> | undefined;
  /** Unlimited when undefined (Envoy's default). */
  readonly maxActiveFaults: number | undefined;
  readonly delayPercentKey: string;
  readonly abortPercentKey: string;
  readonly delayDurationKey: string;
  readonly abortStatusKey: string;
  readonly maxActiveFaultsKey: string;
  readonly stats: FaultStats;
  readonly #scope: Scope | undefined;
  readonly #downstreamStats = new Map<string, { delays: Counter; aborts: Counter }>();

  /** `faultScope` is `http.<stat_prefix>.fault`; stats are shared by every config of one HCM. */
  constructor(config: FaultConfigInput, faultScope: Scope, stats: FaultStats) {
    const d = config.delay;
    this.delay =
      d === undefined
        ? undefined
        : {
            fixedMs: d.fixed_delay === undefined ? undefined : durationMs(d.fixed_delay, 0),
            fromHeader: d.header_delay !== undefined,
            percentage: d.percentage ?? ZERO,
          };
    const a = config.abort;
    this.abort =
      a === undefined
        ? undefined
        : { httpStatus: a.http_status, fromHeader: a.header_abort !== undefined, percentage: a.percentage ?? ZERO };
    this.upstreamCluster = config.upstream_cluster === '' ? undefined : config.upstream_cluster;
    this.#headers = (config.headers ?? []).map(compileHeaderMatcher);
    this.downstreamNodes =
      config.downstream_nodes === undefined || config.downstream_nodes.length === 0
        ? undefined
        : new Set(config.downstream_nodes);
    this.maxActiveFaults = config.max_active_faults;
    this.delayPercentKey = config.delay_percent_runtime ?? 'fault.http.delay.fixed_delay_percent';
    this.abortPercentKey = config.abort_percent_runtime ?? 'fault.http.abort.abort_percent';
    this.delayDurationKey = config.delay_duration_runtime ?? 'fault.http.delay.fixed_duration_ms';
    this.abortStatusKey = config.abort_http_status_runtime ?? 'fault.http.abort.http_status';
    this.maxActiveFaultsKey = config.max_active_faults_runtime ?? 'fault.http.max_active_faults';
    this.stats = stats;
    this.#scope = config.disable_downstream_cluster_stats === true ? undefined : faultScope;
  }

  /** The config's `headers`: every matcher must match for a fault to apply. */
  headersMatch(headers: HeaderMap): boolean {
    for (const m of this.#headers) if (!headerMatches(m, headers)) return false;
    return true;
  }

  /** `fault.<downstream cluster>.{delays,aborts}_injected`, created on first use of that cluster. */
  downstreamStats(cluster: string): { delays: Counter; aborts: Counter } | undefined {
    if (this.#scope === undefined) return undefined;
    let s = this.#downstreamStats.get(cluster);
    if (s === undefined) {
      if (this.#downstreamStats.size >= MAX_DOWNSTREAM_CLUSTERS) return undefined;
      const scope = this.#scope.scope(cluster);
      s = { delays: scope.counter('delays_injected'), aborts: scope.counter('aborts_injected') };
      this.#downstreamStats.set(cluster, s);
    }
    return s;
  }
}

export function faultStats(faultScope: Scope): FaultStats {
  return {
    delaysInjected: faultScope.counter('delays_injected'),
    abortsInjected: faultScope.counter('aborts_injected'),
    faultsOverflow: faultScope.counter('faults_overflow'),
    activeFaults: faultScope.gauge('active_faults', 'accumulate'),
  };
}
