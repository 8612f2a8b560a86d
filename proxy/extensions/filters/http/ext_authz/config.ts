// envoy.filters.http.ext_authz: schema of envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
// (and of ExtAuthzPerRoute) for the parts meshscope implements: an authorization service over
// HTTP (http_service) or gRPC (grpc_service.envoy_grpc, envoy.service.auth.v3.Authorization),
// failure_mode_allow, with_request_body, allowed_headers, status_on_error, stat_prefix,
// include_peer_certificate, and per-route disable/check_settings. A field it does not implement
// is refused with its path, never ignored.
import { z } from 'zod';
import { durationSchema } from '../../../../api/duration.js';
import { httpStatusSchema } from '../../../../api/http-status.js';
import { stringMatcherSchema } from '../../../../api/schema.js';

export const EXT_AUTHZ_FILTER_NAME = 'envoy.filters.http.ext_authz';
export const EXT_AUTHZ_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const EXT_AUTHZ_PER_ROUTE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

const listStringMatcherSchema = z.strictObject({ patterns: z.array(stringMatcherSchema).min(1) });
export type ListStringMatcher = z.output<typeof listStringMatcherSchema>;

const headerName = z.string().regex(/^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: 'invalid header name' });
const headerValueSchema = z.strictObject({
  key: headerName,
  value: z
    .string()
    .refine((v) => !/[\r\n\0]/.test(v), { message: 'header values cannot contain CR, LF or NUL' })
    .default(''),
});

const grpcServiceSchema = z.strictObject({
  envoy_grpc: z.strictObject({ cluster_name: z.string().min(1), authority: z.string().optional() }),
  timeout: durationSchema.optional(),
  initial_metadata: z.array(headerValueSchema).optional(),
});

const httpServiceSchema = z.strictObject({
  server_uri: z.strictObject({
    uri: z.string().min(1),
    cluster: z.string().min(1),
    timeout: durationSchema,
  }),
  path_prefix: z
    .string()
    .refine((p) => p === '' || p.startsWith('/'), { message: 'a path prefix starts with /' })
    .default(''),
  authorization_request: z
    .strictObject({
      allowed_headers: listStringMatcherSchema.optional(),
      headers_to_add: z.array(headerValueSchema).optional(),
    })
    .optional(),
  authorization_response: z
    .strictObject({
      allowed_upstream_headers: listStringMatcherSchema.optional(),
      allowed_upstream_headers_to_append: listStringMatcherSchema.optional(),
      allowed_client_headers: listStringMatcherSchema.optional(),
      allowed_client_headers_on_success: listStringMatcherSchema.optional(),
    })
    .optional(),
});

const bufferSettingsSchema = z.strictObject({
  max_request_bytes: z.number().int().min(1).max(0xffffffff),
  allow_partial_message: z.boolean().default(false),
  pack_as_bytes: z.boolean().default(false),
});
export type BufferSettings = z.output<typeof bufferSettingsSchema>;

export const extAuthzSchema = z
  .strictObject({
    '@type': z.literal(EXT_AUTHZ_TYPE_URL).optional(),
    grpc_service: grpcServiceSchema.optional(),
    http_service: httpServiceSchema.optional(),
    transport_api_version: z.literal('V3').optional(),
    failure_mode_allow: z.boolean().default(false),
    failure_mode_allow_header_add: z.boolean().default(false),
    with_request_body: bufferSettingsSchema.optional(),
    clear_route_cache: z.boolean().default(false),
    status_on_error: httpStatusSchema.optional(),
    include_peer_certificate: z.boolean().default(false),
    stat_prefix: z.string().default(''),
    allowed_headers: listStringMatcherSchema.optional(),
    disallowed_headers: listStringMatcherSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.grpc_service === undefined) === (c.http_service === undefined))
      ctx.addIssue({ code: 'custom', message: 'exactly one of grpc_service, http_service is required' });
  });
export type ExtAuthzConfig = z.output<typeof extAuthzSchema>;

export const extAuthzPerRouteSchema = z
  .strictObject({
    '@type': z.literal(EXT_AUTHZ_PER_ROUTE_TYPE_URL),
    disabled: z.literal(true).optional(),
    check_settings: z
      .strictObject({
        context_extensions: z.record(z.string(), z.string()).optional(),
        disable_request_body_buffering: z.boolean().default(false),
        with_request_body: bufferSettingsSchema.optional(),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.disabled === undefined) === (c.check_settings === undefined))
      ctx.addIssue({ code: 'custom', message: 'exactly one of disabled, check_settings is required' });
  });
export type ExtAuthzPerRouteConfig = z.output<typeof extAuthzPerRouteSchema>;

/** The HCM's filter config is an ExtAuthz message; a route's typed_per_filter_config an ExtAuthzPerRoute. */
export const extAuthzFilterConfigSchema = z.union([extAuthzPerRouteSchema, extAuthzSchema]);
