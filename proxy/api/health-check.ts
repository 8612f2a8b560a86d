// envoy.config.core.v3.HealthCheck as meshscope implements it (HTTP/1 and TCP checks);
// proxy/core/upstream/health-checker.ts runs it.
import { z } from 'zod';
import { durationMs, durationSchema } from './duration.js';
import { boolValue as boolWrapped, u32Value as u32Wrapped } from './wrappers.js';

const payloadSchema = z.strictObject({
  text: z.string().regex(/^([0-9a-fA-F]{2})*$/, { message: 'expected hex-encoded bytes' }),
});

export const healthCheckSchema = z
  .strictObject({
    timeout: durationSchema,
    interval: durationSchema,
    initial_jitter: durationSchema.optional(),
    interval_jitter: durationSchema.optional(),
    interval_jitter_percent: z.number().int().min(0).max(100).optional(),
    unhealthy_threshold: u32Wrapped,
    healthy_threshold: u32Wrapped,
    reuse_connection: boolWrapped.optional(),
    no_traffic_interval: durationSchema.optional(),
    no_traffic_healthy_interval: durationSchema.optional(),
    unhealthy_interval: durationSchema.optional(),
    unhealthy_edge_interval: durationSchema.optional(),
    healthy_edge_interval: durationSchema.optional(),
    http_health_check: z
      .strictObject({
        host: z.string().optional(),
        path: z.string().min(1).startsWith('/'),
        request_headers_to_add: z
          .array(
            z.strictObject({
              header: z.strictObject({ key: z.string().min(1), value: z.string().default('') }),
              append: z.boolean().optional(),
            }),
          )
          .optional(),
        request_headers_to_remove: z.array(z.string().min(1)).optional(),
        expected_statuses: z
          .array(z.strictObject({ start: z.number().int().min(100).max(599), end: z.number().int().min(101).max(600) }))
          .optional(),
        codec_client_type: z.literal('HTTP1', { message: 'only HTTP1 health checks are supported' }).optional(),
      })
      .optional(),
    tcp_health_check: z
      .strictObject({ send: payloadSchema.optional(), receive: z.array(payloadSchema).optional() })
      .optional(),
  })
  .superRefine((hc, ctx) => {
    if ((hc.http_health_check === undefined) === (hc.tcp_health_check === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'exactly one of http_health_check, tcp_health_check is required',
      });
    }
    if (durationMs(hc.timeout, 0) <= 0)
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be greater than 0' });
    if (durationMs(hc.interval, 0) <= 0)
      ctx.addIssue({ code: 'custom', path: ['interval'], message: 'must be greater than 0' });
    for (const [i, r] of (hc.http_health_check?.expected_statuses ?? []).entries()) {
      if (r.end <= r.start)
        ctx.addIssue({
          code: 'custom',
          path: ['http_health_check', 'expected_statuses', i, 'end'],
          message: 'must be greater than start',
        });
    }
  });
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
