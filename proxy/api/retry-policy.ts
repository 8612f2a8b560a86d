// envoy.config.route.v3.RetryPolicy, and the `retry_on` conditions it (and the
// `x-envoy-retry-on` request header) names; proxy/core/upstream/retry-policy.ts applies it.
import { z } from 'zod';
import { durationMs, durationSchema } from './duration.js';
import { u32Value as u32Wrapped } from './wrappers.js';

export const RetryOn = {
  FiveXx: 1 << 0,
  GatewayError: 1 << 1,
  ConnectFailure: 1 << 2,
  Retriable4xx: 1 << 3,
  RefusedStream: 1 << 4,
  RetriableStatusCodes: 1 << 5,
  Reset: 1 << 6,
  EnvoyRateLimited: 1 << 7,
  // gRPC statuses (x-envoy-retry-grpc-on names), read from a response's grpc-status.
  GrpcCancelled: 1 << 8,
  GrpcDeadlineExceeded: 1 << 9,
  GrpcInternal: 1 << 10,
  GrpcResourceExhausted: 1 << 11,
  GrpcUnavailable: 1 << 12,
} as const;

/** The retry_on bits that name gRPC statuses. */
export const RETRY_ON_GRPC =
  RetryOn.GrpcCancelled |
  RetryOn.GrpcDeadlineExceeded |
  RetryOn.GrpcInternal |
  RetryOn.GrpcResourceExhausted |
  RetryOn.GrpcUnavailable;

const RETRY_ON_NAMES: Record<string, number> = {
  '5xx': RetryOn.FiveXx,
  'gateway-error': RetryOn.GatewayError,
  'connect-failure': RetryOn.ConnectFailure,
  'retriable-4xx': RetryOn.Retriable4xx,
  'refused-stream': RetryOn.RefusedStream,
  'retriable-status-codes': RetryOn.RetriableStatusCodes,
  reset: RetryOn.Reset,
  'envoy-ratelimited': RetryOn.EnvoyRateLimited,
  cancelled: RetryOn.GrpcCancelled,
  'deadline-exceeded': RetryOn.GrpcDeadlineExceeded,
  internal: RetryOn.GrpcInternal,
  'resource-exhausted': RetryOn.GrpcResourceExhausted,
  unavailable: RetryOn.GrpcUnavailable,
};

/** Parses a comma-separated `retry_on`; unknown names are returned so config can reject them. */
export function parseRetryOn(value: string): { flags: number; unknown: string[] } {
  let flags = 0;
  const unknown: string[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const flag = RETRY_ON_NAMES[name];
    if (flag === undefined) unknown.push(name);
    else flags |= flag;
  }
  return { flags, unknown };
}

const PREVIOUS_HOSTS = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_HOSTS_TYPE = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

export const retryPolicySchema = z.strictObject({
  retry_on: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      const { unknown } = parseRetryOn(value);
      if (unknown.length > 0)
        ctx.addIssue({
          code: 'custom',
          message: `unknown retry condition(s): ${unknown.join(', ')}; supported: ${Object.keys(RETRY_ON_NAMES).join(', ')}`,
        });
    }),
  num_retries: u32Wrapped.optional(),
  per_try_timeout: durationSchema.optional(),
  retry_back_off: z
    .strictObject({ base_interval: durationSchema, max_interval: durationSchema.optional() })
    .superRefine((b, ctx) => {
      const base = durationMs(b.base_interval, 0);
      if (base <= 0) ctx.addIssue({ code: 'custom', path: ['base_interval'], message: 'must be greater than 0' });
      if (b.max_interval !== undefined && durationMs(b.max_interval, 0) < base) {
        ctx.addIssue({ code: 'custom', path: ['max_interval'], message: 'must be at least base_interval' });
      }
    })
    .optional(),
  retriable_status_codes: z.array(z.number().int().min(100).max(599)).optional(),
  retry_host_predicate: z
    .array(
      z.strictObject({
        name: z.literal(PREVIOUS_HOSTS, { message: `only ${PREVIOUS_HOSTS} is supported` }),
        typed_config: z.strictObject({ '@type': z.literal(PREVIOUS_HOSTS_TYPE) }).optional(),
      }),
    )
    .optional(),
  host_selection_retry_max_attempts: z.number().int().min(0).optional(),
});
export type RetryPolicyConfig = z.output<typeof retryPolicySchema>;
