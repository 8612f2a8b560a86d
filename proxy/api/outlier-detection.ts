// envoy.config.cluster.v3.OutlierDetection; proxy/core/upstream/outlier-detection.ts ejects by it.
import { z } from 'zod';
import { durationMs, durationSchema } from './duration.js';
import { boolValue as boolWrapped, percentValue as percent, u32Value as u32Wrapped } from './wrappers.js';

/** envoy.config.cluster.v3.OutlierDetection. */
export const outlierDetectionSchema = z
  .strictObject({
    consecutive_5xx: u32Wrapped.optional(),
    consecutive_gateway_failure: u32Wrapped.optional(),
    consecutive_local_origin_failure: u32Wrapped.optional(),
    interval: durationSchema.optional(),
    base_ejection_time: durationSchema.optional(),
    max_ejection_time: durationSchema.optional(),
    max_ejection_time_jitter: durationSchema.optional(),
    max_ejection_percent: percent.optional(),
    always_eject_one_host: boolWrapped.optional(),
    enforcing_consecutive_5xx: percent.optional(),
    enforcing_consecutive_gateway_failure: percent.optional(),
    enforcing_consecutive_local_origin_failure: percent.optional(),
    enforcing_success_rate: percent.optional(),
    enforcing_local_origin_success_rate: percent.optional(),
    enforcing_failure_percentage: percent.optional(),
    enforcing_failure_percentage_local_origin: percent.optional(),
    success_rate_minimum_hosts: u32Wrapped.optional(),
    success_rate_request_volume: u32Wrapped.optional(),
    success_rate_stdev_factor: u32Wrapped.optional(),
    failure_percentage_threshold: percent.optional(),
    failure_percentage_minimum_hosts: u32Wrapped.optional(),
    failure_percentage_request_volume: u32Wrapped.optional(),
    split_external_local_origin_errors: z.boolean().optional(),
    successful_active_health_check_uneject_host: boolWrapped.optional(),
  })
  .superRefine((c, ctx) => {
    const base = durationMs(c.base_ejection_time, 30_000);
    if (c.max_ejection_time !== undefined && durationMs(c.max_ejection_time, 0) < base) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_ejection_time'],
        message: 'cannot be smaller than base_ejection_time',
      });
    }
    if (c.interval !== undefined && durationMs(c.interval, 0) <= 0)
      ctx.addIssue({ code: 'custom', path: ['interval'], message: 'must be greater than 0' });
  });
export type OutlierDetectionConfigInput = z.output<typeof outlierDetectionSchema>;
