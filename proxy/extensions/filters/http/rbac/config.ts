// envoy.filters.http.rbac: schema of envoy.extensions.filters.http.rbac.v3.RBAC (and of
// RBACPerRoute, which replaces or disables it on a route) with Envoy's config.rbac.v3 policy
// messages: a policy matches when any of its permissions and any of its principals match.
import { isIP } from 'node:net';
import { z } from 'zod';
import { headerMatcherSchema, stringMatcherSchema } from '../../../../api/schema.js';

export const RBAC_FILTER_NAME = 'envoy.filters.http.rbac';
export const RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const RBAC_PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

const cidrRangeSchema = z.strictObject({
  address_prefix: z.string().refine((v) => isIP(v) !== 0, { message: 'must be an IPv4 or IPv6 address' }),
  prefix_len: z
    .union([z.number().int().min(0).max(128), z.strictObject({ value: z.number().int().min(0).max(128) })])
    .optional(),
});
export type CidrRange = z.output<typeof cidrRangeSchema>;

const pathMatcherSchema = z.strictObject({ path: stringMatcherSchema });

const oneOf = (keys: readonly string[]) => (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
  const set = keys.filter((k) => value[k] !== undefined);
  if (set.length !== 1)
    ctx.addIssue({
      code: 'custom',
      message: set.length === 0 ? `one of ${keys.join(', ')} is required` : `only one of ${set.join(', ')} may be set`,
    });
};

export interface PermissionConfig {
  and_rules?: { rules: PermissionConfig[] };
  or_rules?: { rules: PermissionConfig[] };
  any?: boolean;
  header?: z.output<typeof headerMatcherSchema>;
  url_path?: z.output<typeof pathMatcherSchema>;
  destination_ip?: CidrRange;
  destination_port?: number;
  destination_port_range?: { start: number; end: number };
  not_rule?: PermissionConfig;
  requested_server_name?: z.output<typeof stringMatcherSchema>;
}

const PERMISSION_KINDS = [
  'and_rules',
  'or_rules',
  'any',
  'header',
  'url_path',
  'destination_ip',
  'destination_port',
  'destination_port_range',
  'not_rule',
  'requested_server_name',
] as const;

export const permissionSchema: z.ZodType<PermissionConfig> = z.lazy(() =>
  z
    .strictObject({
      and_rules: z.strictObject({ rules: z.array(permissionSchema).min(1) }).optional(),
      or_rules: z.strictObject({ rules: z.array(permissionSchema).min(1) }).optional(),
      any: z.literal(true).optional(),
      header: headerMatcherSchema.optional(),
      url_path: pathMatcherSchema.optional(),
      destination_ip: cidrRangeSchema.optional(),
      destination_port: z.number().int().min(0).max(65535).optional(),
      destination_port_range: z
        .strictObject({ start: z.number().int().min(0).max(65536), end: z.number().int().min(0).max(65536) })
        .optional(),
      not_rule: permissionSchema.optional(),
      requested_server_name: stringMatcherSchema.optional(),
    })
    .superRefine(oneOf(PERMISSION_KINDS)),
);

export interface PrincipalConfig {
  and_ids?: { ids: PrincipalConfig[] };
  or_ids?: { ids: PrincipalConfig[] };
  any?: boolean;
  authenticated?: { principal_name?: z.output<typeof stringMatcherSchema> };
  direct_remote_ip?: CidrRange;
  remote_ip?: CidrRange;
  source_ip?: CidrRange;
  header?: z.output<typeof headerMatcherSchema>;
  url_path?: z.output<typeof pathMatcherSchema>;
  not_id?: PrincipalConfig;
}

const PRINCIPAL_KINDS = [
  'and_ids',
  'or_ids',
  'any',
  'authenticated',
  'direct_remote_ip',
  'remote_ip',
  'source_ip',
  'header',
  'url_path',
  'not_id',
] as const;

export const principalSchema: z.ZodType<PrincipalConfig> = z.lazy(() =>
  z
    .strictObject({
      and_ids: z.strictObject({ ids: z.array(principalSchema).min(1) }).optional(),
      or_ids: z.strictObject({ ids: z.array(principalSchema).min(1) }).optional(),
      any: z.literal(true).optional(),
      authenticated: z.strictObject({ principal_name: stringMatcherSchema.optional() }).optional(),
      direct_remote_ip: cidrRangeSchema.optional(),
      remote_ip: cidrRangeSchema.optional(),
      // Deprecated in Envoy (same as direct_remote_ip), still accepted there.
      source_ip: cidrRangeSchema.optional(),
      header: headerMatcherSchema.optional(),
      url_path: pathMatcherSchema.optional(),
      not_id: principalSchema.optional(),
    })
    .superRefine(oneOf(PRINCIPAL_KINDS)),
);

const policySchema = z.strictObject({
  permissions: z.array(permissionSchema).min(1),
  principals: z.array(principalSchema).min(1),
});

/** config.rbac.v3.RBAC: the action and the named policies it applies. */
export const rbacRulesSchema = z.strictObject({
  action: z.enum(['ALLOW', 'DENY', 'LOG']).default('ALLOW'),
  policies: z.record(z.string().min(1), policySchema).default({}),
});
export type RbacRules = z.output<typeof rbacRulesSchema>;

const rbacFields = {
  rules: rbacRulesSchema.optional(),
  rules_stat_prefix: z.string().default(''),
  shadow_rules: rbacRulesSchema.optional(),
  shadow_rules_stat_prefix: z.string().default(''),
  track_per_rule_stats: z.boolean().default(false),
};

export const rbacSchema = z.strictObject({ '@type': z.literal(RBAC_TYPE_URL).optional(), ...rbacFields });
export type RbacConfig = z.output<typeof rbacSchema>;

export const rbacPerRouteSchema = z.strictObject({
  '@type': z.literal(RBAC_PER_ROUTE_TYPE_URL),
  // Absent: the filter is disabled on this route.
  rbac: z.strictObject(rbacFields).optional(),
});
export type RbacPerRouteConfig = z.output<typeof rbacPerRouteSchema>;

/** The HCM's filter config is an RBAC message; a route's typed_per_filter_config an RBACPerRoute. */
export const rbacFilterConfigSchema = z.union([rbacPerRouteSchema, rbacSchema]);
