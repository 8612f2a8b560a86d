// The sampling decision, Envoy's order: `x-envoy-force-trace` forces; a decision carried by
// the incoming context is honoured (both ways); `x-client-trace-id` is sampled at
// `client_sampling`; everything else at `random_sampling`. `overall_sampling` caps only the
// decisions made here. Runtime keys override them as in Envoy: `tracing.client_enabled`,
// `tracing.random_sampling`, `tracing.global_enabled`, each an integer out of 10000 (0.01%
// steps). No decision ever derives from `x-request-id`.
import type { IncomingTraceContext, TraceHeaders } from './trace-context.js';

/** What the runtime offers: the current snapshot's numeric lookup (Envoy's layered runtime). */
export interface SamplingRuntime {
  snapshot(): { getDouble(key: string, defaultValue: number): number };
}

export interface SamplingPolicy {
  /** Percent (0–100) of requests without a decision that are traced. */
  readonly randomSamplingPercent: number;
  /** Percent of requests carrying `x-client-trace-id` that are traced. */
  readonly clientSamplingPercent: number;
  /** Percent cap applied after the other decisions made here. */
  readonly overallSamplingPercent: number;
  readonly runtime?: SamplingRuntime;
}

/** Why a stream is or is not traced, as Envoy's Tracing::Reason. */
export const SamplingReason = {
  NotTraceable: 0,
  Sampling: 1,
  ServiceForced: 2,
  ClientForced: 3,
  Inherited: 4,
} as const;
export type SamplingReason = (typeof SamplingReason)[keyof typeof SamplingReason];

export const RANDOM_SAMPLING_RUNTIME_KEY = 'tracing.random_sampling';
export const CLIENT_SAMPLING_RUNTIME_KEY = 'tracing.client_enabled';
export const OVERALL_SAMPLING_RUNTIME_KEY = 'tracing.global_enabled';

/** The configured percent, or the runtime's override (0–10000, i.e. hundredths of a percent). */
function percentOf(
  snapshot: { getDouble(key: string, d: number): number } | undefined,
  key: string,
  configured: number,
): number {
  if (snapshot === undefined) return configured;
  const v = snapshot.getDouble(key, NaN);
  return Number.isNaN(v) ? configured : v / 100;
}

function roll(percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return Math.random() * 100 < percent;
}

/** Returns the reason; the stream is sampled unless the reason is NotTraceable. */
export function decideSampling(
  incoming: IncomingTraceContext,
  headers: TraceHeaders,
  policy: SamplingPolicy,
): SamplingReason {
  if (headers.get('x-envoy-force-trace') !== undefined) return SamplingReason.ServiceForced;
  if (incoming.sampled !== null) return incoming.sampled ? SamplingReason.Inherited : SamplingReason.NotTraceable;
  const snapshot = policy.runtime?.snapshot();
  let reason: SamplingReason = SamplingReason.NotTraceable;
  if (headers.get('x-client-trace-id') !== undefined) {
    if (roll(percentOf(snapshot, CLIENT_SAMPLING_RUNTIME_KEY, policy.clientSamplingPercent)))
      reason = SamplingReason.ClientForced;
  }
  if (reason === SamplingReason.NotTraceable) {
    if (roll(percentOf(snapshot, RANDOM_SAMPLING_RUNTIME_KEY, policy.randomSamplingPercent)))
      reason = SamplingReason.Sampling;
  }
  if (reason !== SamplingReason.NotTraceable) {
    if (!roll(percentOf(snapshot, OVERALL_SAMPLING_RUNTIME_KEY, policy.overallSamplingPercent)))
      reason = SamplingReason.NotTraceable;
  }
  return reason;
}
