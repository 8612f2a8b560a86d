// Zod schemas for the Envoy v3 bootstrap subset meshscope implements. Every object is strict:
// an unknown field is an error naming its full path. Extension configs (`typed_config` of
// listener filters, network filters, HTTP filters, access loggers, tracers) are validated
// against the schema their extension registered, found through the lookups the core provides
// (extension-schemas.ts), so the set of accepted names grows with the registry, not this file.
// Like everything in proxy/api, this imports nothing from the core.
import { z } from 'zod';
import { durationSchema } from './duration.js';
import { numericString, u32, u32Wrapped, unwrap } from './wrappers.js';
import { type ExtensionCategory, extensionSchemas } from './extension-schemas.js';
import { dynamicResourcesSchema } from './config-source.js';
import { layeredRuntimeSchema, runtimeFractionalPercentSchema } from './runtime.js';
import { retryPolicySchema } from './retry-policy.js';
import { outlierDetectionSchema } from './outlier-detection.js';
import { healthCheckSchema } from './health-check.js';
import { parseHeaderFormat } from './header-format.js';
import { duplicateFilterChainMatches, filterChainMatchSchema } from './filter-chain-match.js';
import { atMostOne, exactlyOne, refuseDuplicateNames } from './refine.js';
import {
  downstreamTransportSocketSchema,
  secretSchema,
  transportSocketMatchSchema,
  upstreamTransportSocketSchema,
} from './tls.js';
import { regexMatcherSchema, stringMatcherSchema } from './string-matcher.js';

export { type RegexMatcher, regexMatcherSchema, type StringMatcher, stringMatcherSchema } from './string-matcher.js';

/** Read a wrapped number with its default where the config is built. */
export { unwrap };

const port = z.preprocess(numericString, z.number().int().min(0).max(65535));

/**
 * Envoy parses enum names case-insensitively (`type: strict_dns`, `lb_policy: round_robin`
 * load), so values are upper-cased before matching; the parsed config holds Envoy's spelling.
 */
function envoyEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), z.enum(values));
}
const percent = z.object({ value: z.number().min(0).max(100) }).strict();

export const socketAddressSchema = z
  .object({
    address: z.string().min(1),
    port_value: port,
    protocol: envoyEnum(['TCP']).optional(),
  })
  .strict();
export const addressSchema = z.object({ socket_address: socketAddressSchema }).strict();

export const localitySchema = z
  .object({ region: z.string().optional(), zone: z.string().optional(), sub_zone: z.string().optional() })
  .strict();

interface ExtensionRefInput {
  name: string;
  typed_config?: Record<string, unknown> | undefined;
  is_optional?: boolean | undefined;
}

/** Resolves `{ name, typed_config }` through the category's registry and checks the config against the extension's schema. */
function resolveExtensionRef(category: ExtensionCategory) {
  return (ref: ExtensionRefInput, ctx: z.RefinementCtx): void => {
    const typeUrl = ref.typed_config?.['@type'];
    if (typeUrl !== undefined && typeof typeUrl !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['typed_config', '@type'], message: 'expected a type URL string' });
      return;
    }
    const registry = extensionSchemas(category);
    const ext = registry.lookup(ref.name, typeUrl);
    // Envoy skips an optional HTTP filter it does not implement instead of refusing the listener.
    if (ext === undefined && ref.is_optional === true) return;
    if (ext === undefined) {
      const what = typeUrl === undefined ? `'${ref.name}'` : `'${ref.name}' (@type ${typeUrl})`;
      ctx.addIssue({
        code: 'custom',
        path: typeUrl === undefined ? ['name'] : ['typed_config', '@type'],
        message: `unsupported ${registry.category} extension ${what}; supported: ${registry.names().join(', ') || 'none'}`,
      });
      return;
    }
    const result = ext.configSchema.safeParse(ref.typed_config ?? {});
    if (!result.success) {
      for (const issue of result.error.issues)
        ctx.addIssue({ ...issue, path: ['typed_config', ...issue.path] } as never);
    }
  };
}

/** An extension reference `{ name, typed_config }` (a network filter, listener filter, access logger, tracer). */
function extensionRef(category: ExtensionCategory) {
  return z
    .object({ name: z.string().min(1), typed_config: z.record(z.string(), z.unknown()).optional() })
    .strict()
    .superRefine(resolveExtensionRef(category));
}

/** Envoy's HttpFilter: an extension reference plus `disabled` and `is_optional`, which only it has. */
function httpFilterRef() {
  return z
    .object({
      name: z.string().min(1),
      typed_config: z.record(z.string(), z.unknown()).optional(),
      disabled: z.boolean().optional(),
      is_optional: z.boolean().optional(),
    })
    .strict()
    .superRefine(resolveExtensionRef('httpFilters'));
}

/**
 * `typed_per_filter_config`: filter name → that filter's config message, validated against the
 * schema the filter registered (Envoy's per-route override of the HCM-level config).
 */
function perFilterConfigSchema() {
  return z.record(z.string(), z.record(z.string(), z.unknown())).superRefine((configs, ctx) => {
    for (const [name, config] of Object.entries(configs)) {
      const typeUrl = config['@type'];
      const ext = extensionSchemas('httpFilters').lookup(name, typeof typeUrl === 'string' ? typeUrl : undefined);
      if (ext === undefined || ext.name !== name) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `no HTTP filter '${name}' accepts this per-route config`,
        });
        continue;
      }
      const result = ext.configSchema.safeParse(config);
      if (!result.success)
        for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: [name, ...issue.path] } as never);
    }
  });
}

const headerValueOptionSchema = z
  .object({
    header: z
      .object({
        key: z.string().regex(/^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: 'invalid header name' }),
        value: z
          .string()
          .superRefine((v, ctx) => {
            const parsed = parseHeaderFormat(v);
            if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
            if (/[\r\n\0]/.test(v))
              ctx.addIssue({ code: 'custom', message: 'header values cannot contain CR, LF or NUL' });
          })
          .optional(),
      })
      .strict(),
    append: z.boolean().optional(),
    append_action: z
      .enum(['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'])
      .optional(),
    keep_empty_value: z.boolean().optional(),
  })
  .strict();
export type HeaderValueOption = z.output<typeof headerValueOptionSchema>;

const headerMutations = {
  request_headers_to_add: z.array(headerValueOptionSchema).optional(),
  request_headers_to_remove: z.array(z.string().min(1)).optional(),
  response_headers_to_add: z.array(headerValueOptionSchema).optional(),
  response_headers_to_remove: z.array(z.string().min(1)).optional(),
};

export const headerMatcherSchema = z
  .object({
    name: z.string().min(1),
    exact_match: z.string().optional(),
    prefix_match: z.string().min(1).optional(),
    suffix_match: z.string().min(1).optional(),
    contains_match: z.string().min(1).optional(),
    safe_regex_match: regexMatcherSchema.optional(),
    present_match: z.boolean().optional(),
    range_match: z.object({ start: z.number().int(), end: z.number().int() }).strict().optional(),
    string_match: stringMatcherSchema.optional(),
    invert_match: z.boolean().optional(),
    treat_missing_header_as_empty: z.boolean().optional(),
  })
  .strict()
  .superRefine(
    atMostOne([
      'exact_match',
      'prefix_match',
      'suffix_match',
      'contains_match',
      'safe_regex_match',
      'present_match',
      'range_match',
      'string_match',
    ]),
  );
export type HeaderMatcher = z.output<typeof headerMatcherSchema>;

const queryParameterMatcherSchema = z
  .object({
    name: z.string().min(1),
    string_match: stringMatcherSchema.optional(),
    present_match: z.boolean().optional(),
  })
  .strict()
  .superRefine(atMostOne(['string_match', 'present_match']));

const routeMatchSchema = z
  .object({
    prefix: z.string().optional(),
    path: z.string().optional(),
    safe_regex: regexMatcherSchema.optional(),
    path_separated_prefix: z
      .string()
      .regex(/^\/.*[^/]$|^\/$/)
      .optional(),
    case_sensitive: z.boolean().optional(),
    headers: z.array(headerMatcherSchema).optional(),
    query_parameters: z.array(queryParameterMatcherSchema).optional(),
    runtime_fraction: runtimeFractionalPercentSchema.optional(),
    // RouteMatch.GrpcRouteMatchOptions: matches gRPC requests only (content-type application/grpc[+...]).
    grpc: z.strictObject({}).optional(),
  })
  .strict()
  .superRefine(exactlyOne(['prefix', 'path', 'safe_regex', 'path_separated_prefix']));

/** envoy.config.route.v3.RouteAction.RequestMirrorPolicy. */
export const requestMirrorPolicySchema = z
  .strictObject({
    cluster: z.string().min(1).optional(),
    // The shadow cluster named by a request header; no header or no such cluster: no mirror.
    cluster_header: z
      .string()
      .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: 'invalid header name' })
      .optional(),
    runtime_fraction: runtimeFractionalPercentSchema.optional(),
    disable_shadow_host_suffix_append: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    // Envoy: "Exactly one of cluster or cluster_header need to be specified".
    if ((p.cluster === undefined) === (p.cluster_header === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['cluster'],
        message: 'exactly one of cluster or cluster_header is required',
      });
  });
export type RequestMirrorPolicyConfig = z.output<typeof requestMirrorPolicySchema>;

const upgradeConfigSchema = z.object({ upgrade_type: z.string().min(1), enabled: z.boolean().optional() }).strict();

const hashPolicySchema = z
  .object({
    header: z
      .object({ header_name: z.string().min(1) })
      .strict()
      .optional(),
    cookie: z
      .object({ name: z.string().min(1), ttl: durationSchema.optional(), path: z.string().optional() })
      .strict()
      .optional(),
    connection_properties: z.object({ source_ip: z.boolean() }).strict().optional(),
    query_parameter: z
      .object({ name: z.string().min(1) })
      .strict()
      .optional(),
    terminal: z.boolean().optional(),
  })
  .strict()
  .superRefine(exactlyOne(['header', 'cookie', 'connection_properties', 'query_parameter']));
export type HashPolicy = z.output<typeof hashPolicySchema>;

const regexRewriteSchema = z.object({ pattern: regexMatcherSchema, substitution: z.string() }).strict();

const weightedClusterSchema = z
  .object({
    name: z.string().min(1),
    weight: u32Wrapped,
    ...headerMutations,
  })
  .strict();

export const routeActionSchema = z
  .object({
    cluster: z.string().min(1).optional(),
    cluster_header: z.string().min(1).optional(),
    weighted_clusters: z
      .object({
        clusters: z.array(weightedClusterSchema).min(1),
        total_weight: u32Wrapped.optional(),
      })
      .strict()
      .superRefine((wc, ctx) => {
        const sum = wc.clusters.reduce((a, c) => a + unwrap(c.weight, 0), 0);
        if (wc.total_weight !== undefined && unwrap(wc.total_weight, 0) !== sum) {
          ctx.addIssue({
            code: 'custom',
            path: ['total_weight'],
            message: `is ${unwrap(wc.total_weight, 0)} but the cluster weights sum to ${sum}`,
          });
        }
        if (sum === 0) ctx.addIssue({ code: 'custom', path: ['clusters'], message: 'weights must sum to more than 0' });
      })
      .optional(),
    cluster_not_found_response_code: envoyEnum([
      'SERVICE_UNAVAILABLE',
      'NOT_FOUND',
      'INTERNAL_SERVER_ERROR',
    ]).optional(),
    prefix_rewrite: z.string().optional(),
    regex_rewrite: regexRewriteSchema.optional(),
    host_rewrite_literal: z.string().min(1).optional(),
    auto_host_rewrite: z.boolean().optional(),
    host_rewrite_header: z.string().min(1).optional(),
    timeout: durationSchema.optional(),
    hash_policy: z.array(hashPolicySchema).optional(),
    upgrade_configs: z.array(upgradeConfigSchema).optional(),
    idle_timeout: durationSchema.optional(),
    retry_policy: retryPolicySchema.optional(),
    request_mirror_policies: z.array(requestMirrorPolicySchema).optional(),
    priority: envoyEnum(['DEFAULT', 'HIGH']).optional(),
    // RouteAction.MaxStreamDuration: the stream's whole lifetime, or for gRPC the client's
    // `grpc-timeout` capped by grpc_timeout_header_max (0: uncapped) less grpc_timeout_header_offset.
    max_stream_duration: z
      .strictObject({
        max_stream_duration: durationSchema.optional(),
        grpc_timeout_header_max: durationSchema.optional(),
        grpc_timeout_header_offset: durationSchema.optional(),
      })
      .optional(),
  })
  .strict()
  .superRefine(exactlyOne(['cluster', 'cluster_header', 'weighted_clusters']))
  .superRefine(atMostOne(['prefix_rewrite', 'regex_rewrite']))
  .superRefine(atMostOne(['host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header']));
export type RouteActionConfig = z.output<typeof routeActionSchema>;

const redirectSchema = z
  .object({
    https_redirect: z.boolean().optional(),
    scheme_redirect: z.string().min(1).optional(),
    host_redirect: z.string().min(1).optional(),
    port_redirect: port.optional(),
    path_redirect: z.string().min(1).optional(),
    prefix_rewrite: z.string().optional(),
    regex_rewrite: regexRewriteSchema.optional(),
    response_code: envoyEnum([
      'MOVED_PERMANENTLY',
      'FOUND',
      'SEE_OTHER',
      'TEMPORARY_REDIRECT',
      'PERMANENT_REDIRECT',
    ]).optional(),
    strip_query: z.boolean().optional(),
  })
  .strict()
  .superRefine(atMostOne(['https_redirect', 'scheme_redirect']))
  .superRefine(atMostOne(['path_redirect', 'prefix_rewrite', 'regex_rewrite']));
export type RedirectConfig = z.output<typeof redirectSchema>;

export const dataSourceSchema = z
  .object({
    inline_string: z.string().optional(),
    inline_bytes: z.string().optional(),
    filename: z.string().optional(),
  })
  .strict()
  .superRefine(exactlyOne(['inline_string', 'inline_bytes', 'filename']));

const directResponseSchema = z
  .object({ status: z.number().int().min(200).max(599), body: dataSourceSchema.optional() })
  .strict();

export const routeSchema = z
  .object({
    name: z.string().optional(),
    match: routeMatchSchema,
    route: routeActionSchema.optional(),
    redirect: redirectSchema.optional(),
    direct_response: directResponseSchema.optional(),
    decorator: z
      .object({ operation: z.string().min(1) })
      .strict()
      .optional(),
    typed_per_filter_config: perFilterConfigSchema().optional(),
    per_request_buffer_limit_bytes: u32Wrapped.optional(),
    ...headerMutations,
  })
  .strict()
  .superRefine(exactlyOne(['route', 'redirect', 'direct_response']));
export type RouteConfigEntry = z.output<typeof routeSchema>;

export const virtualHostSchema = z
  .object({
    name: z.string().min(1),
    domains: z.array(z.string().min(1)).min(1),
    routes: z.array(routeSchema).optional(),
    typed_per_filter_config: perFilterConfigSchema().optional(),
    retry_policy: retryPolicySchema.optional(),
    include_request_attempt_count: z.boolean().optional(),
    include_attempt_count_in_response: z.boolean().optional(),
    ...headerMutations,
  })
  .strict();
export type VirtualHostConfig = z.output<typeof virtualHostSchema>;

export const routeConfigurationSchema = z
  .object({
    name: z.string().optional(),
    virtual_hosts: z.array(virtualHostSchema).optional(),
    validate_clusters: z.boolean().optional(),
    ...headerMutations,
  })
  .strict()
  .superRefine((rc, ctx) => {
    // Envoy refuses a domain claimed by two virtual hosts of one route configuration.
    const seen = new Map<string, string>();
    rc.virtual_hosts?.forEach((vh, i) => {
      vh.domains.forEach((d, j) => {
        const key = d.toLowerCase();
        const other = seen.get(key);
        if (other !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['virtual_hosts', i, 'domains', j],
            message: `domain '${d}' is also in virtual host '${other}'`,
          });
        } else seen.set(key, vh.name);
      });
    });
  });
export type RouteConfiguration = z.output<typeof routeConfigurationSchema>;

/** A UInt32Value within [min, max], bare or as `{ value }`. */
function u32Range(min: number, max: number) {
  const n = z.preprocess(numericString, z.number().int().min(min).max(max));
  return z.union([n, z.object({ value: n }).strict()]);
}

/**
 * Envoy's config.core.v3.Http2ProtocolOptions, the fields meshscope acts on (ranges as Envoy
 * validates them); anything else is refused rather than ignored.
 */
export const http2ProtocolOptionsSchema = z
  .object({
    max_concurrent_streams: u32Range(1, 2147483647).optional(),
    initial_stream_window_size: u32Range(65535, 2147483647).optional(),
    initial_connection_window_size: u32Range(65535, 2147483647).optional(),
    max_consecutive_inbound_frames_with_empty_payload: u32Range(0, 4294967295).optional(),
    max_inbound_priority_frames_per_stream: u32Range(0, 4294967295).optional(),
    max_outbound_frames: u32Range(1, 4294967295).optional(),
    max_outbound_control_frames: u32Range(1, 4294967295).optional(),
    allow_connect: z.boolean().optional(),
  })
  .strict();
export type Http2ProtocolOptions = z.output<typeof http2ProtocolOptionsSchema>;

export const HCM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export const httpConnectionManagerSchema = z
  .object({
    '@type': z.literal(HCM_TYPE_URL),
    stat_prefix: z.string().min(1),
    codec_type: envoyEnum(['AUTO', 'HTTP1', 'HTTP2']).optional(),
    route_config: routeConfigurationSchema.optional(),
    http_filters: z.array(httpFilterRef()).min(1).optional(),
    generate_request_id: z.boolean().optional(),
    preserve_external_request_id: z.boolean().optional(),
    use_remote_address: z.boolean().optional(),
    xff_num_trusted_hops: u32.optional(),
    skip_xff_append: z.boolean().optional(),
    forward_client_cert_details: envoyEnum([
      'SANITIZE',
      'FORWARD_ONLY',
      'APPEND_FORWARD',
      'SANITIZE_SET',
      'ALWAYS_FORWARD_ONLY',
    ]).optional(),
    set_current_client_cert_details: z
      .object({
        subject: z.union([z.boolean(), z.object({ value: z.boolean() }).strict()]).optional(),
        cert: z.boolean().optional(),
        dns: z.boolean().optional(),
        uri: z.boolean().optional(),
      })
      .strict()
      .optional(),
    // google.protobuf.BoolValue: bare or { value }.
    add_user_agent: z.union([z.boolean(), z.object({ value: z.boolean() }).strict()]).optional(),
    server_name: z.string().optional(),
    server_header_transformation: envoyEnum(['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH']).optional(),
    common_http_protocol_options: z
      .object({ idle_timeout: durationSchema.optional(), max_headers_count: u32Wrapped.optional() })
      .strict()
      .optional(),
    http_protocol_options: z
      .object({
        accept_http_10: z.boolean().optional(),
        default_host_for_http_10: z.string().optional(),
        // Chunked requests' trailers are read and passed on; chunked responses end with the
        // upstream's trailers (a gRPC status to an HTTP/1.1 client). Both dropped otherwise.
        enable_trailers: z.boolean().optional(),
      })
      .strict()
      .optional(),
    http2_protocol_options: http2ProtocolOptionsSchema.optional(),
    request_headers_timeout: durationSchema.optional(),
    stream_idle_timeout: durationSchema.optional(),
    request_timeout: durationSchema.optional(),
    max_request_headers_kb: z
      .union([z.number().int().min(1).max(8192), z.object({ value: z.number().int().min(1).max(8192) }).strict()])
      .optional(),
    upgrade_configs: z.array(upgradeConfigSchema).optional(),
    proxy_100_continue: z.boolean().optional(),
    strip_any_host_port: z.boolean().optional(),
    strip_matching_host_port: z.boolean().optional(),
    normalize_path: z.boolean().optional(),
    merge_slashes: z.boolean().optional(),
    access_log: z.array(extensionRef('accessLoggers')).optional(),
    tracing: z
      .object({
        provider: extensionRef('tracers').optional(),
        random_sampling: percent.optional(),
        client_sampling: percent.optional(),
        overall_sampling: percent.optional(),
        verbose: z.boolean().optional(),
        max_path_tag_length: u32Wrapped.optional(),
        spawn_upstream_span: z.boolean().optional(),
        custom_tags: z
          .array(
            z
              .object({
                tag: z.string().min(1),
                literal: z.object({ value: z.string() }).strict().optional(),
                environment: z
                  .object({ name: z.string().min(1), default_value: z.string().optional() })
                  .strict()
                  .optional(),
                request_header: z
                  .object({ name: z.string().min(1), default_value: z.string().optional() })
                  .strict()
                  .optional(),
              })
              .strict()
              .superRefine(exactlyOne(['literal', 'environment', 'request_header'])),
          )
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((hcm, ctx) => {
    if (hcm.route_config === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['route_config'],
        message: 'required (rds is not supported in a static bootstrap)',
      });
    }
    const filters = hcm.http_filters ?? [];
    const last = filters[filters.length - 1];
    // Envoy resolves filters by their typed_config @type, so the router may carry any name.
    const lastExtension =
      last === undefined
        ? undefined
        : extensionSchemas('httpFilters').lookup(last.name, last.typed_config?.['@type'] as string | undefined);
    if (lastExtension?.name !== 'envoy.filters.http.router') {
      ctx.addIssue({
        code: 'custom',
        path: ['http_filters'],
        message: "the last HTTP filter must be 'envoy.filters.http.router'",
      });
    }
    if (hcm.strip_any_host_port === true && hcm.strip_matching_host_port === true) {
      ctx.addIssue({
        code: 'custom',
        path: ['strip_matching_host_port'],
        message: 'only one of strip_any_host_port and strip_matching_host_port may be set',
      });
    }
  });
export type HttpConnectionManagerConfig = z.output<typeof httpConnectionManagerSchema>;

/**
 * A chain's network filters: every one before the last must be non-terminal (connection_limit)
 * and the last terminal (the HCM), as Envoy requires.
 */
function networkFiltersSchema() {
  return z
    .array(extensionRef('networkFilters'))
    .min(1)
    .superRefine((filters, ctx) => {
      filters.forEach((f, i) => {
        const ext = extensionSchemas('networkFilters').lookup(f.name, f.typed_config?.['@type'] as string | undefined);
        if (ext === undefined) return;
        const last = i === filters.length - 1;
        if (ext.terminal === true && !last)
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `terminal filter '${ext.name}' must be the last filter of its filter chain`,
          });
        if (ext.terminal !== true && last)
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `non-terminal filter '${ext.name}' cannot be the last filter of a filter chain`,
          });
      });
    });
}

const filterChainSchema = z
  .object({
    name: z.string().optional(),
    filter_chain_match: filterChainMatchSchema.optional(),
    filters: networkFiltersSchema(),
    transport_socket: downstreamTransportSocketSchema.optional(),
  })
  .strict();

export const listenerSchema = z
  .object({
    name: z.string().min(1).optional(),
    address: addressSchema,
    stat_prefix: z.string().optional(),
    traffic_direction: envoyEnum(['UNSPECIFIED', 'INBOUND', 'OUTBOUND']).optional(),
    per_connection_buffer_limit_bytes: u32Wrapped.optional(),
    /** The accept queue's length (listen(2)'s backlog); the kernel's net.core.somaxconn when unset, as Envoy. */
    tcp_backlog_size: u32Wrapped.optional(),
    listener_filters: z.array(extensionRef('listenerFilters')).optional(),
    listener_filters_timeout: durationSchema.optional(),
    continue_on_listener_filters_timeout: z.boolean().optional(),
    filter_chains: z.array(filterChainSchema).default([]),
    default_filter_chain: filterChainSchema.optional(),
    /** One line per connection when it closes, whatever its chain did with it (Envoy's listener access log). */
    access_log: z.array(extensionRef('accessLoggers')).optional(),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.filter_chains.length === 0 && l.default_filter_chain === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['filter_chains'],
        message: 'a listener needs at least one filter chain or a default_filter_chain',
      });
    for (const [i, j] of duplicateFilterChainMatches(l.filter_chains.map((c) => c.filter_chain_match))) {
      ctx.addIssue({
        code: 'custom',
        path: ['filter_chains', j, 'filter_chain_match'],
        message: `matches the same connections as filter_chains[${i}] (multiple filter chains with the same matching rules)`,
      });
    }
  });
export type ListenerConfig = z.output<typeof listenerSchema>;

const thresholdSchema = z
  .object({
    priority: envoyEnum(['DEFAULT', 'HIGH']).optional(),
    max_connections: u32Wrapped.optional(),
    max_pending_requests: u32Wrapped.optional(),
    max_requests: u32Wrapped.optional(),
    max_retries: u32Wrapped.optional(),
    retry_budget: z
      .object({
        budget_percent: percent.optional(),
        min_retry_concurrency: u32Wrapped.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const lbEndpointSchema = z
  .object({
    endpoint: z
      .object({
        address: addressSchema,
        hostname: z.string().optional(),
        // Where and as whom active health checks reach this endpoint (Endpoint.HealthCheckConfig).
        health_check_config: z
          .object({
            port_value: port.optional(),
            hostname: z.string().optional(),
            disable_active_health_check: z.boolean().optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    load_balancing_weight: u32Wrapped.optional(),
    health_status: envoyEnum(['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED']).optional(),
    // Read for `envoy.transport_socket_match` (the cluster's transport_socket_matches).
    metadata: z
      .object({ filter_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).optional() })
      .strict()
      .optional(),
  })
  .strict();

export const clusterLoadAssignmentSchema = z
  .object({
    cluster_name: z.string().min(1),
    endpoints: z
      .array(
        z
          .object({
            locality: localitySchema.optional(),
            lb_endpoints: z.array(lbEndpointSchema).optional(),
            load_balancing_weight: u32Wrapped.optional(),
            priority: z.number().int().min(0).max(127).optional(),
          })
          .strict(),
      )
      .optional(),
    policy: z.object({ overprovisioning_factor: u32Wrapped.optional() }).strict().optional(),
  })
  .strict();
export type ClusterLoadAssignment = z.output<typeof clusterLoadAssignmentSchema>;

/**
 * Envoy's Http1ProtocolOptions for a cluster's HTTP/1.1 connections: enable_trailers sends a chunked
 * request's trailers after its last chunk and passes a chunked response's trailers on (both are
 * dropped otherwise).
 */
const upstreamHttp1ProtocolOptionsSchema = z.object({ enable_trailers: z.boolean().optional() }).strict();

export const HTTP_PROTOCOL_OPTIONS_NAME = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_PROTOCOL_OPTIONS_TYPE_URL = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_NAME}`;

/** Envoy's HttpProtocolOptions for a cluster's upstream connections: which protocol, and its options. */
export const upstreamHttpProtocolOptionsSchema = z
  .object({
    '@type': z.literal(HTTP_PROTOCOL_OPTIONS_TYPE_URL),
    common_http_protocol_options: z
      .object({ idle_timeout: durationSchema.optional(), max_requests_per_connection: u32Wrapped.optional() })
      .strict()
      .optional(),
    explicit_http_config: z
      .object({
        http_protocol_options: upstreamHttp1ProtocolOptionsSchema.optional(),
        http2_protocol_options: http2ProtocolOptionsSchema.optional(),
      })
      .strict()
      .superRefine((v, ctx) => {
        const n = Number(v.http_protocol_options !== undefined) + Number(v.http2_protocol_options !== undefined);
        if (n !== 1)
          ctx.addIssue({ code: 'custom', message: 'exactly one of http_protocol_options, http2_protocol_options' });
      })
      .optional(),
    /**
     * auto_sni: new upstream TLS connections send the request's host (or override_auto_sni_header's
     * value) as SNI; auto_san_validation: the upstream certificate must carry it as a SAN.
     */
    upstream_http_protocol_options: z
      .object({
        auto_sni: z.boolean().optional(),
        auto_san_validation: z.boolean().optional(),
        override_auto_sni_header: z
          .string()
          .regex(/^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: 'invalid header name' })
          .optional(),
      })
      .strict()
      .optional(),
    /** Each request goes upstream in the protocol it arrived in; the options apply to theirs. */
    use_downstream_protocol_config: z
      .object({
        http_protocol_options: upstreamHttp1ProtocolOptionsSchema.optional(),
        http2_protocol_options: http2ProtocolOptionsSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const n = Number(v.explicit_http_config !== undefined) + Number(v.use_downstream_protocol_config !== undefined);
    if (n !== 1)
      ctx.addIssue({
        code: 'custom',
        message:
          'exactly one of explicit_http_config, use_downstream_protocol_config is required (auto_config needs ALPN, not supported)',
      });
  });
export type UpstreamHttpProtocolOptions = z.output<typeof upstreamHttpProtocolOptionsSchema>;

export const clusterSchema = z
  .object({
    name: z.string().min(1),
    type: envoyEnum(['STATIC', 'STRICT_DNS', 'LOGICAL_DNS']).optional(),
    connect_timeout: durationSchema.optional(),
    lb_policy: envoyEnum(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV']).optional(),
    load_assignment: clusterLoadAssignmentSchema.optional(),
    dns_lookup_family: envoyEnum(['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL']).optional(),
    dns_refresh_rate: durationSchema.optional(),
    per_connection_buffer_limit_bytes: u32Wrapped.optional(),
    max_requests_per_connection: u32Wrapped.optional(),
    common_http_protocol_options: z
      .object({ idle_timeout: durationSchema.optional(), max_requests_per_connection: u32Wrapped.optional() })
      .strict()
      .optional(),
    typed_extension_protocol_options: z
      .object({ [HTTP_PROTOCOL_OPTIONS_NAME]: upstreamHttpProtocolOptionsSchema.optional() })
      .strict()
      .optional(),
    circuit_breakers: z
      .object({ thresholds: z.array(thresholdSchema).optional() })
      .strict()
      .optional(),
    outlier_detection: outlierDetectionSchema.optional(),
    health_checks: z
      .array(healthCheckSchema)
      .max(1, { message: 'one health checker per cluster is supported' })
      .optional(),
    common_lb_config: z
      .object({
        healthy_panic_threshold: percent.optional(),
        locality_weighted_lb_config: z.object({}).strict().optional(),
        zone_aware_lb_config: z
          .object({ routing_enabled: percent.optional(), min_cluster_size: u32Wrapped.optional() })
          .strict()
          .optional(),
      })
      .strict()
      .superRefine(atMostOne(['locality_weighted_lb_config', 'zone_aware_lb_config']))
      .optional(),
    least_request_lb_config: z.object({ choice_count: u32Wrapped.optional() }).strict().optional(),
    ring_hash_lb_config: z
      .object({
        minimum_ring_size: u32Wrapped.optional(),
        maximum_ring_size: u32Wrapped.optional(),
      })
      .strict()
      .optional(),
    maglev_lb_config: z.object({ table_size: u32Wrapped.optional() }).strict().optional(),
    transport_socket: upstreamTransportSocketSchema.optional(),
    transport_socket_matches: z.array(transportSocketMatchSchema).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.load_assignment === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['load_assignment'],
        message: `required for a ${c.type ?? 'STATIC'} cluster`,
      });
    }
    if (c.type === 'LOGICAL_DNS') {
      const n = (c.load_assignment?.endpoints ?? []).reduce((s, e) => s + (e.lb_endpoints?.length ?? 0), 0);
      if (n !== 1)
        ctx.addIssue({
          code: 'custom',
          path: ['load_assignment'],
          message: 'LOGICAL_DNS clusters take exactly one endpoint',
        });
    }
    const size = c.maglev_lb_config?.table_size;
    if (size !== undefined && !isPrime(typeof size === 'number' ? size : size.value)) {
      ctx.addIssue({ code: 'custom', path: ['maglev_lb_config', 'table_size'], message: 'must be a prime number' });
    }
  });
export type ClusterConfig = z.output<typeof clusterSchema>;

const ADMIN_ACCESS_LOGGERS = [
  'envoy.access_loggers.file',
  'envoy.access_loggers.stdout',
  'envoy.access_loggers.stderr',
];

export const bootstrapSchema = z
  .object({
    node: z
      .object({
        id: z.string().optional(),
        cluster: z.string().optional(),
        metadata: z.record(z.string(), z.unknown()).optional(),
        locality: localitySchema.optional(),
        user_agent_name: z.string().optional(),
      })
      .strict()
      .optional(),
    admin: z
      .object({
        address: addressSchema,
        // Deprecated in Envoy but common in example configs; only the no-op sink is accepted
        // here (the message predates `access_log`, which logs admin requests to a file or stream).
        access_log_path: z
          .literal('/dev/null', { message: "admin access logs are not supported: use '/dev/null' or remove the field" })
          .optional(),
        access_log: z
          .array(extensionRef('accessLoggers'))
          .superRefine((logs, ctx) =>
            logs.forEach((l, i) => {
              // The admin runs in the main process, which has no upstream clusters to export to.
              if (!ADMIN_ACCESS_LOGGERS.includes(l.name))
                ctx.addIssue({
                  code: 'custom',
                  path: [i, 'name'],
                  message: `admin access logs support ${ADMIN_ACCESS_LOGGERS.join(', ')}`,
                });
            }),
          )
          .optional(),
      })
      .strict()
      .optional(),
    dynamic_resources: dynamicResourcesSchema.optional(),
    layered_runtime: layeredRuntimeSchema.optional(),
    cluster_manager: z
      .object({ local_cluster_name: z.string().min(1).optional() })
      .strict()
      .optional(),
    static_resources: z
      .object({
        listeners: z.array(listenerSchema).optional(),
        clusters: z.array(clusterSchema).optional(),
        secrets: z.array(secretSchema).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    validateRouteClusters(b, ctx);
    const local = b.cluster_manager?.local_cluster_name;
    if (
      local !== undefined &&
      b.dynamic_resources === undefined &&
      !(b.static_resources?.clusters ?? []).some((c) => c.name === local)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster_manager', 'local_cluster_name'],
        message: `local cluster '${local}' must be defined`,
      });
    }
    refuseDuplicateNames(b.static_resources?.clusters, ['static_resources', 'clusters'], 'cluster', ctx);
    validateStaticSecretRefs(b, ctx);
    refuseDuplicateNames(b.static_resources?.listeners, ['static_resources', 'listeners'], 'listener', ctx);
  });
export type Bootstrap = z.output<typeof bootstrapSchema>;

/**
 * Envoy validates a static route table's clusters at load (`validate_clusters`, on by default
 * for static route configs): a route naming an unknown cluster is a config error. With CDS the
 * clusters arrive later, so the check is skipped then.
 */
function validateRouteClusters(
  b: { static_resources?: { listeners?: ListenerConfig[]; clusters?: ClusterConfig[] } },
  ctx: z.RefinementCtx,
): void {
  if ((b as { dynamic_resources?: { cds_config?: unknown } }).dynamic_resources?.cds_config !== undefined) return;
  const clusters = new Set((b.static_resources?.clusters ?? []).map((c) => c.name));
  b.static_resources?.listeners?.forEach((l, li) =>
    chainsWithPaths(l).forEach(([chainPath, fc]) =>
      fc.filters.forEach((f, ni) => {
        const tc = f.typed_config as { '@type'?: string; route_config?: RouteConfiguration } | undefined;
        if (
          tc?.['@type'] !== HCM_TYPE_URL ||
          tc.route_config === undefined ||
          tc.route_config.validate_clusters === false
        )
          return;
        tc.route_config.virtual_hosts?.forEach((vh, vi) =>
          vh.routes?.forEach((r, ri) => {
            const base = [
              'static_resources',
              'listeners',
              li,
              ...chainPath,
              'filters',
              ni,
              'typed_config',
              'route_config',
              'virtual_hosts',
              vi,
              'routes',
              ri,
              'route',
            ];
            if (r.route?.cluster !== undefined && !clusters.has(r.route.cluster)) {
              ctx.addIssue({
                code: 'custom',
                path: [...base, 'cluster'],
                message: `unknown cluster '${r.route.cluster}'`,
              });
            }
            r.route?.weighted_clusters?.clusters.forEach((wc, wi) => {
              if (!clusters.has(wc.name))
                ctx.addIssue({
                  code: 'custom',
                  path: [...base, 'weighted_clusters', 'clusters', wi, 'name'],
                  message: `unknown cluster '${wc.name}'`,
                });
            });
            r.route?.request_mirror_policies?.forEach((m, mi) => {
              if (m.cluster !== undefined && !clusters.has(m.cluster))
                ctx.addIssue({
                  code: 'custom',
                  path: [...base, 'request_mirror_policies', mi, 'cluster'],
                  message: `unknown shadow cluster '${m.cluster}'`,
                });
            });
          }),
        );
      }),
    ),
  );
}

/**
 * A secret named without `sds_config` is a static one: it must be in static_resources.secrets
 * (Envoy: "Unknown static secret"). Names must be unique there.
 */
function validateStaticSecretRefs(
  b: {
    static_resources?: { listeners?: ListenerConfig[]; clusters?: ClusterConfig[]; secrets?: Array<{ name: string }> };
  },
  ctx: z.RefinementCtx,
): void {
  refuseDuplicateNames(b.static_resources?.secrets, ['static_resources', 'secrets'], 'secret', ctx);
  const names = new Set((b.static_resources?.secrets ?? []).map((s) => s.name));
  const check = (common: unknown, path: Array<string | number>): void => {
    const c = common as
      | {
          tls_certificate_sds_secret_configs?: Array<{ name: string; sds_config?: unknown }>;
          validation_context_sds_secret_config?: { name: string; sds_config?: unknown };
        }
      | undefined;
    c?.tls_certificate_sds_secret_configs?.forEach((r, i) => {
      if (r.sds_config === undefined && !names.has(r.name))
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'tls_certificate_sds_secret_configs', i, 'name'],
          message: `unknown static secret '${r.name}' (not in static_resources.secrets)`,
        });
    });
    const v = c?.validation_context_sds_secret_config;
    if (v !== undefined && v.sds_config === undefined && !names.has(v.name))
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'validation_context_sds_secret_config', 'name'],
        message: `unknown static secret '${v.name}' (not in static_resources.secrets)`,
      });
  };
  const contextOf = (t: { typed_config?: object } | undefined): unknown =>
    t?.typed_config !== undefined && 'common_tls_context' in t.typed_config
      ? t.typed_config.common_tls_context
      : undefined;
  b.static_resources?.listeners?.forEach((l, li) =>
    chainsWithPaths(l).forEach(([chainPath, fc]) =>
      check(contextOf(fc.transport_socket), [
        'static_resources',
        'listeners',
        li,
        ...chainPath,
        'transport_socket',
        'typed_config',
        'common_tls_context',
      ]),
    ),
  );
  b.static_resources?.clusters?.forEach((c, ci) => {
    const base = ['static_resources', 'clusters', ci];
    check(contextOf(c.transport_socket), [...base, 'transport_socket', 'typed_config', 'common_tls_context']);
    c.transport_socket_matches?.forEach((m, mi) =>
      check(contextOf(m.transport_socket), [
        ...base,
        'transport_socket_matches',
        mi,
        'transport_socket',
        'typed_config',
        'common_tls_context',
      ]),
    );
  });
}

/** A listener's filter chains with their paths, `default_filter_chain` last. */
function chainsWithPaths(l: ListenerConfig): Array<[Array<string | number>, ListenerConfig['filter_chains'][number]]> {
  const out: Array<[Array<string | number>, ListenerConfig['filter_chains'][number]]> = l.filter_chains.map((fc, i) => [
    ['filter_chains', i],
    fc,
  ]);
  if (l.default_filter_chain !== undefined) out.push([['default_filter_chain'], l.default_filter_chain]);
  return out;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** An `access_log` entry, resolved through the access-logger registry as the HCM's are (tcp_proxy's). */
export const accessLogRefSchema = extensionRef('accessLoggers');
