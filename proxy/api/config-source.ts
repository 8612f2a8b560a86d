// Schemas for the bootstrap's `dynamic_resources` and for config sources inside resources
// (HCM `rds.config_source`, cluster `eds_cluster_config.eds_config`), in Envoy's v3 names.
import { z } from 'zod';

const DURATION_TEXT = /^(\d+)(\.\d{1,9})?s$/;
const duration = z.string().regex(DURATION_TEXT, { message: 'expected a duration like "1.5s"' });

export function durationMs(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const m = DURATION_TEXT.exec(text) as RegExpExecArray;
  return Number(m[1]) * 1000 + (m[2] === undefined ? 0 : Math.round(Number(`0${m[2]}`) * 1000));
}

const apiVersion = z.enum(['AUTO', 'V3']);

const grpcService = z
  .object({
    envoy_grpc: z.object({ cluster_name: z.string().min(1), authority: z.string().optional() }).strict(),
    timeout: duration.optional(),
  })
  .strict();

export const apiConfigSourceSchema = z
  .object({
    api_type: z.enum(['REST', 'GRPC', 'AGGREGATED_GRPC', 'DELTA_GRPC', 'AGGREGATED_DELTA_GRPC']),
    transport_api_version: apiVersion.optional(),
    cluster_names: z.array(z.string().min(1)).max(1).optional(),
    grpc_services: z.array(grpcService).max(1).optional(),
    refresh_delay: duration.optional(),
    request_timeout: duration.optional(),
    set_node_on_first_message_only: z.boolean().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.api_type === 'REST' && (s.cluster_names?.length ?? 0) !== 1) {
      ctx.addIssue({ code: 'custom', path: ['cluster_names'], message: 'REST needs exactly one cluster name' });
    }
    if (s.api_type !== 'REST' && (s.grpc_services?.length ?? 0) !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['grpc_services'],
        message: `${s.api_type} needs exactly one grpc_services entry`,
      });
    }
  });
export type ApiConfigSource = z.output<typeof apiConfigSourceSchema>;

export const configSourceSchema = z
  .object({
    ads: z.object({}).strict().optional(),
    api_config_source: apiConfigSourceSchema.optional(),
    path_config_source: z
      .object({
        path: z.string().min(1),
        watched_directory: z
          .object({ path: z.string().min(1) })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    path: z.string().min(1).optional(),
    initial_fetch_timeout: duration.optional(),
    resource_api_version: apiVersion.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const set = (['ads', 'api_config_source', 'path_config_source', 'path'] as const).filter((k) => s[k] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          set.length === 0
            ? 'one of ads, api_config_source, path_config_source is required'
            : `only one of ${set.join(', ')} may be set`,
      });
    }
    const api = s.api_config_source?.api_type;
    if (api !== undefined && api !== 'REST') {
      ctx.addIssue({
        code: 'custom',
        path: ['api_config_source', 'api_type'],
        message: `${api} is supported as dynamic_resources.ads_config (use ads: {} here) or REST`,
      });
    }
  });
export type ConfigSource = z.output<typeof configSourceSchema>;

export const dynamicResourcesSchema = z
  .object({
    lds_config: configSourceSchema.optional(),
    cds_config: configSourceSchema.optional(),
    ads_config: apiConfigSourceSchema.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const usesAds = d.lds_config?.ads !== undefined || d.cds_config?.ads !== undefined;
    if (usesAds && d.ads_config === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['ads_config'],
        message: 'required when lds_config or cds_config uses ads',
      });
    if (d.ads_config !== undefined && d.ads_config.api_type === 'REST') {
      ctx.addIssue({
        code: 'custom',
        path: ['ads_config', 'api_type'],
        message: 'ADS is a gRPC stream: GRPC (or AGGREGATED_GRPC), not REST',
      });
    }
  });
export type DynamicResources = z.output<typeof dynamicResourcesSchema>;
