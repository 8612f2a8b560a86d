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

/**
 * The three percents of the policy under the runtime snapshot they were last read from: a
 * snapshot never changes (the runtime replaces it), so they are read from it once, not twice
 * per request (two map lookups); one entry, for the tracer that asked last.
 */
let memoPolicy: SamplingPolicy | null = null;
let memoSnapshot: object | undefined;
let memoClient = 0;
let memoRandom = 0;
let memoOverall = 0;

function readPercents(policy: SamplingPolicy): void {
  const snapshot = policy.runtime?.snapshot();
  if (policy === memoPolicy && snapshot === memoSnapshot) return;
  memoClient = percentOf(snapshot, CLIENT_SAMPLING_RUNTIME_KEY, policy.clientSamplingPercent);
  memoRandom = percentOf(snapshot, RANDOM_SAMPLING_RUNTIME_KEY, policy.randomSamplingPercent);
  memoOverall = percentOf(snapshot, OVERALL_SAMPLING_RUNTIME_KEY, policy.overallSamplingPercent);
  memoPolicy = policy;
  memoSnapshot = snapshot;
}

const FORCE_TRACE = 'x-envoy-force-trace';
const CLIENT_TRACE_ID = 'x-client-trace-id';
/** Bits of forcingHeaders' answer. */
const FORCED = 1;
const CLIENT_ID = 2;

/**
 * Whether the request carries x-envoy-force-trace and x-client-trace-id, in one pass over its
 * header names where it lists them (both start with `x-`; names are internalized, so the
 * comparisons are pointer compares) rather than one full scan per header.
 */
function forcingHeaders(headers: TraceHeaders): number {
  const names = headers.names;
  if (names === undefined)
    return (
      (headers.get(FORCE_TRACE) !== undefined ? FORCED : 0) |
      (headers.get(CLIENT_TRACE_ID) !== undefined ? CLIENT_ID : 0)
    );
  let found = 0;
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (n.charCodeAt(0) !== 0x78) continue;
    if (n === FORCE_TRACE) found |= FORCED;
    else if (n === CLIENT_TRACE_ID) found |= CLIENT_ID;
  }
  return found;
}

/** Returns the reason; the stream is sampled unless the reason is NotTraceable. */
export function decideSampling(
  incoming: IncomingTraceContext,
  headers: TraceHeaders,
  policy: SamplingPolicy,
): SamplingReason {
  const forcing = forcingHeaders(headers);
  if ((forcing & FORCED) !== 0) return SamplingReason.ServiceForced;
  if (incoming.sampled !== null) return incoming.sampled ? SamplingReason.Inherited : SamplingReason.NotTraceable;
  readPercents(policy);
  let reason: SamplingReason = SamplingReason.NotTraceable;
  if ((forcing & CLIENT_ID) !== 0) {
    if (roll(memoClient)) reason = SamplingReason.ClientForced;
  }
  if (reason === SamplingReason.NotTraceable) {
    if (roll(memoRandom)) reason = SamplingReason.Sampling;
  }
  if (reason !== SamplingReason.NotTraceable) {
    if (!roll(memoOverall)) reason = SamplingReason.NotTraceable;
  }
  return reason;
}
