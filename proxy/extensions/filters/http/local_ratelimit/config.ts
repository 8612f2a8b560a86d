// envoy.filters.http.local_ratelimit: schema of envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
// and its compiled form. The same message configures the filter in the HCM and per route
// (`typed_per_filter_config`); each compiled config owns its token bucket, as in Envoy.
import { z } from 'zod';
import { durationMs, durationSchema } from '../../../../api/duration.js';
import { compileHeaderFormat, type FormatPart } from '../../../../core/http/header-format.js';
import { runtimeFractionalPercentSchema, type RuntimeFractionalPercent } from '../../../../runtime/index.js';
import type { Counter, Scope } from '../../../../stats/types.js';
import { TokenBucket } from './token-bucket.js';

export const LOCAL_RATELIMIT_FILTER_NAME = 'envoy.filters.http.local_ratelimit';
export const LOCAL_RATELIMIT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

const u32 = z.number().int().min(0).max(4294967295);
const u32Wrapped = z
  .union([u32, z.strictObject({ value: u32 })])
  .transform((v) => (typeof v === 'number' ? v : v.value));

const headerValueOptionSchema = z
  .strictObject({
    header: z.strictObject({ key: z.string().min(1), value: z.string().default('') }),
    append: z.union([z.boolean(), z.strictObject({ value: z.boolean() })]).optional(),
    append_action: z
      .enum(['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'])
      .optional(),
  })
  .superRefine((option, ctx) => {
    const compiled = compileHeaderFormat(option.header.value);
    if (typeof compiled === 'string') ctx.addIssue({ code: 'custom', path: ['header', 'value'], message: compiled });
    if (option.append !== undefined && option.append_action !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['append'], message: 'only one of append and append_action may be set' });
    }
  });

/** HTTP status names Envoy's `type.v3.StatusCode` enum uses, for configs that spell them. */
const STATUS_NAMES: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
};

export const localRateLimitSchema = z.strictObject({
  '@type': z.literal(LOCAL_RATELIMIT_TYPE_URL).optional(),
  stat_prefix: z.string().min(1),
  status: z
    .strictObject({
      code: z.union([z.number().int().min(200).max(599), z.enum(Object.keys(STATUS_NAMES) as [string, ...string[]])]),
    })
    .optional(),
  token_bucket: z
    .strictObject({
      max_tokens: z.number().int().min(1).max(4294967295),
      tokens_per_fill: u32Wrapped.optional(),
      fill_interval: durationSchema.refine((d) => durationMs(d, 0) >= 50, { message: 'must be at least 50ms' }),
    })
    .optional(),
  filter_enabled: runtimeFractionalPercentSchema.optional(),
  filter_enforced: runtimeFractionalPercentSchema.optional(),
  request_headers_to_add_when_not_enforced: z.array(headerValueOptionSchema).max(10).optional(),
  response_headers_to_add: z.array(headerValueOptionSchema).max(10).optional(),
  enable_x_ratelimit_headers: z.enum(['OFF', 'DRAFT_VERSION_03']).optional(),
  local_rate_limit_per_downstream_connection: z
    .literal(false, { message: 'only false is supported (one bucket per filter config)' })
    .optional(),
});
export type LocalRateLimitConfigInput = z.output<typeof localRateLimitSchema>;

export type HeaderAppendAction =
  | 'APPEND_IF_EXISTS_OR_ADD'
  | 'ADD_IF_ABSENT'
  | 'OVERWRITE_IF_EXISTS_OR_ADD'
  | 'OVERWRITE_IF_EXISTS';

export interface CompiledHeaderOption {
  readonly name: string;
  readonly value: readonly FormatPart[];
  readonly action: HeaderAppendAction;
}

function compileHeaderOptions(options: z.output<typeof headerValueOptionSchema>[] | undefined): CompiledHeaderOption[] {
  return (options ?? []).map((o) => {
    const append = typeof o.append === 'object' ? o.append.value : o.append;
    const action: HeaderAppendAction =
      o.append_action ?? (append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    return { name: o.header.key.toLowerCase(), value: compileHeaderFormat(o.header.value) as FormatPart[], action };
  });
}

export interface LocalRateLimitStats {
  readonly enabled: Counter;
  readonly enforced: Counter;
  readonly rateLimited: Counter;
  readonly ok: Counter;
}

const DISABLED: RuntimeFractionalPercent = { default_value: { numerator: 0, denominator: 'HUNDRED' } };

/** One filter (or per-route) config, built once: stats handles, header options and its bucket. */
export class LocalRateLimitConfig {
  readonly stats: LocalRateLimitStats;
  readonly status: number;
  /** Absent bucket: every request is allowed (Envoy requires one where the filter is enabled). */
  readonly bucket: TokenBucket | undefined;
  readonly filterEnabled: RuntimeFractionalPercent;
  readonly filterEnforced: RuntimeFractionalPercent;
  readonly requestHeadersWhenNotEnforced: readonly CompiledHeaderOption[];
  readonly responseHeaders: readonly CompiledHeaderOption[];
  readonly xRateLimitHeaders: boolean;

  constructor(config: LocalRateLimitConfigInput, stats: Scope) {
    const scope = stats.scope(`${config.stat_prefix}.http_local_rate_limit`);
    this.stats = {
      enabled: scope.counter('enabled'),
      enforced: scope.counter('enforced'),
      rateLimited: scope.counter('rate_limited'),
      ok: scope.counter('ok'),
    };
    const code = config.status?.code;
    this.status = code === undefined ? 429 : typeof code === 'number' ? code : STATUS_NAMES[code]!;
    const tb = config.token_bucket;
    this.bucket =
      tb === undefined
        ? undefined
        : new TokenBucket(tb.max_tokens, tb.tokens_per_fill ?? 1, durationMs(tb.fill_interval, 0));
    // Envoy: an absent filter_enabled / filter_enforced means 0%, i.e. off.
    this.filterEnabled = config.filter_enabled ?? DISABLED;
    this.filterEnforced = config.filter_enforced ?? DISABLED;
    this.requestHeadersWhenNotEnforced = compileHeaderOptions(config.request_headers_to_add_when_not_enforced);
    this.responseHeaders = compileHeaderOptions(config.response_headers_to_add);
    this.xRateLimitHeaders = config.enable_x_ratelimit_headers === 'DRAFT_VERSION_03';
  }
}
