// Route configuration compiled once at load: virtual hosts indexed by domain (exact, then the
// longest `*suffix`, then the longest `prefix*`, then `*`), routes as flat objects with
// pre-lower-cased prefixes and pre-built RegExps, header mutations with names normalised.
// Per request, matching is a few string compares and no allocation in the common case.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import type {
  HashPolicy,
  HeaderMatcher,
  HeaderValueOption,
  RouteConfiguration,
  RouteConfigEntry,
  VirtualHostConfig,
} from '../../api/schema.js';
import { unwrap } from '../../api/schema.js';
import { durationMs } from '../../api/duration.js';
import { compileHeaderFormat, renderHeaderFormat, type FormatPart } from '../http/header-format.js';
import type { HeaderMap } from '../http/headers.js';
import { isGrpcRequest } from '../grpc/common.js';
import type { StreamInfo } from '../stream-info.js';
import { RetryPolicy } from '../upstream/retry-policy.js';
import { compileMirrorPolicies, type RequestMirrorPolicy } from '../upstream/request-mirror.js';
import type { Runtime, RuntimeFractionalPercent } from '../../runtime/index.js';

/** Envoy wraps RE2 patterns as full matches. */
import { compileRegex, compileStringMatcher, type StringPredicate } from '../matchers/string-matcher.js';

export { compileRegex, compileStringMatcher };

export interface CompiledHeaderMatcher {
  readonly name: string;
  /** null = presence match. */
  readonly test: StringPredicate | null;
  readonly presentExpected: boolean;
  readonly invert: boolean;
  readonly missingAsEmpty: boolean;
}

export function compileHeaderMatcher(h: HeaderMatcher): CompiledHeaderMatcher {
  let test: StringPredicate | null = null;
  let presentExpected = true;
  if (h.exact_match !== undefined) {
    const e = h.exact_match;
    test = (v) => v === e;
  } else if (h.prefix_match !== undefined) {
    const p = h.prefix_match;
    test = (v) => v.startsWith(p);
  } else if (h.suffix_match !== undefined) {
    const s = h.suffix_match;
    test = (v) => v.endsWith(s);
  } else if (h.contains_match !== undefined) {
    const c = h.contains_match;
    test = (v) => v.includes(c);
  } else if (h.safe_regex_match !== undefined) {
    const re = compileRegex(h.safe_regex_match);
    test = (v) => re.test(v);
  } else if (h.range_match !== undefined) {
    const { start, end } = h.range_match;
    test = (v) => /^-?\d+$/.test(v) && Number(v) >= start && Number(v) < end;
  } else if (h.string_match !== undefined) {
    test = compileStringMatcher(h.string_match);
  } else if (h.present_match !== undefined) {
    presentExpected = h.present_match;
  }
  return {
    name: h.name.toLowerCase(),
    test,
    presentExpected,
    invert: h.invert_match === true,
    missingAsEmpty: h.treat_missing_header_as_empty === true,
  };
}

export function headerMatches(m: CompiledHeaderMatcher, headers: HeaderMap): boolean {
  const all = headers.getAll(m.name);
  let result: boolean;
  if (all.length === 0) {
    if (m.test === null) result = !m.presentExpected;
    else if (m.missingAsEmpty) result = m.test('');
    else return false; // Envoy: a missing header never matches a value matcher, inverted or not.
  } else if (m.test === null) {
    result = m.presentExpected;
  } else {
    // Envoy matches repeated headers against their comma-joined value.
    result = m.test(all.length === 1 ? all[0]! : all.join(','));
  }
  return m.invert ? !result : result;
}

export interface CompiledHeaderMutation {
  readonly add: ReadonlyArray<{
    name: string;
    value: readonly FormatPart[];
    action: 'append' | 'add_if_absent' | 'overwrite' | 'overwrite_if_exists';
    keepEmpty: boolean;
  }>;
  readonly remove: readonly string[];
}

const EMPTY_MUTATION: CompiledHeaderMutation = { add: [], remove: [] };

function compileMutation(adds: HeaderValueOption[] | undefined, removes: string[] | undefined): CompiledHeaderMutation {
  if ((adds === undefined || adds.length === 0) && (removes === undefined || removes.length === 0))
    return EMPTY_MUTATION;
  return {
    add: (adds ?? []).map((o) => {
      const parts = compileHeaderFormat(o.header.value ?? '');
      let action: 'append' | 'add_if_absent' | 'overwrite' | 'overwrite_if_exists' = 'append';
      if (o.append_action !== undefined) {
        action = {
          APPEND_IF_EXISTS_OR_ADD: 'append',
          ADD_IF_ABSENT: 'add_if_absent',
          OVERWRITE_IF_EXISTS_OR_ADD: 'overwrite',
          OVERWRITE_IF_EXISTS: 'overwrite_if_exists',
        }[o.append_action] as typeof action;
      } else if (o.append === false) action = 'overwrite';
      return {
        name: o.header.key.toLowerCase(),
        value: typeof parts === 'string' ? [] : parts,
        action,
        keepEmpty: o.keep_empty_value === true,
      };
    }),
    remove: (removes ?? []).map((r) => r.toLowerCase()),
  };
}

export function applyHeaderMutation(m: CompiledHeaderMutation, headers: HeaderMap, info: StreamInfo): void {
  for (let i = 0; i < m.remove.length; i++) headers.remove(m.remove[i]!);
  for (let i = 0; i < m.add.length; i++) {
    const a = m.add[i]!;
    const value = renderHeaderFormat(a.value, info);
    if (value === '' && !a.keepEmpty) continue;
    switch (a.action) {
      case 'append':
        headers.add(a.name, value);
        break;
      case 'add_if_absent':
        if (!headers.has(a.name)) headers.add(a.name, value);
        break;
      case 'overwrite':
        headers.set(a.name, value);
        break;
      case 'overwrite_if_exists':
        if (headers.has(a.name)) headers.set(a.name, value);
        break;
    }
  }
}

export interface CompiledHashPolicy {
  readonly kind: 'header' | 'cookie' | 'source_ip' | 'query_parameter';
  readonly name: string;
  readonly cookieTtlMs: number;
  readonly cookiePath: string;
  readonly terminal: boolean;
}

function compileHashPolicy(h: HashPolicy): CompiledHashPolicy {
  const base = { cookieTtlMs: -1, cookiePath: '', terminal: h.terminal === true };
  if (h.header !== undefined) return { ...base, kind: 'header', name: h.header.header_name.toLowerCase() };
  if (h.cookie !== undefined) {
    return {
      ...base,
      kind: 'cookie',
      name: h.cookie.name,
      cookieTtlMs: h.cookie.ttl === undefined ? -1 : durationMs(h.cookie.ttl, 0),
      cookiePath: h.cookie.path ?? '',
    };
  }
  if (h.query_parameter !== undefined) return { ...base, kind: 'query_parameter', name: h.query_parameter.name };
  return { ...base, kind: 'source_ip', name: '' };
}

const REDIRECT_CODES = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
} as const;

/** Envoy RE2 substitutions write groups as `\1`; JavaScript wants `$1`. */
function jsSubstitution(s: string): string {
  return s.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
}

/** A route's `max_stream_duration` (milliseconds; -1 unset, 0 no limit). */
export interface StreamDuration {
  readonly maxMs: number;
  readonly grpcHeaderMaxMs: number;
  readonly grpcHeaderOffsetMs: number;
}

export class Route {
  readonly name: string;
  readonly virtualHost: VirtualHost;
  readonly kind: 'route' | 'redirect' | 'direct_response';
  // --- match ---
  readonly #matchKind: 'prefix' | 'path' | 'regex' | 'separated_prefix';
  readonly #matchValue: string;
  readonly #matchRegex: RegExp | null;
  readonly #caseSensitive: boolean;
  readonly #headers: readonly CompiledHeaderMatcher[];
  readonly #query: ReadonlyArray<{ name: string; test: StringPredicate | null }>;
  readonly #runtimeFraction: RuntimeFractionalPercent | null;
  readonly #runtime: Runtime | null;
  /** `match.grpc`: only requests with a gRPC content type. */
  readonly #grpcOnly: boolean;
  // --- route action ---
  readonly clusterName: string | null;
  readonly clusterHeader: string | null;
  readonly weightedClusters: ReadonlyArray<{
    name: string;
    cumulative: number;
    mutation: CompiledHeaderMutation;
    responseMutation: CompiledHeaderMutation;
  }> | null;
  readonly totalWeight: number;
  readonly clusterNotFoundCode: number;
  readonly prefixRewrite: string | null;
  readonly regexRewrite: { re: RegExp; substitution: string } | null;
  readonly hostRewriteLiteral: string | null;
  readonly autoHostRewrite: boolean;
  readonly hostRewriteHeader: string | null;
  readonly timeoutMs: number;
  readonly hashPolicies: readonly CompiledHashPolicy[];
  /** Route-level upgrade overrides: type (lower-case) → enabled. */
  readonly upgrades: ReadonlyMap<string, boolean>;
  // --- resilience: the route's retry policy (else the virtual host's), mirrors, timeouts ---
  readonly retryPolicy: RetryPolicy | null;
  readonly mirrorPolicies: readonly RequestMirrorPolicy[];
  /** Route `idle_timeout` overriding the HCM's stream_idle_timeout; -1 when unset. */
  readonly idleTimeoutMs: number;
  readonly priority: 'DEFAULT' | 'HIGH';
  /** Body bytes kept for retries (`per_request_buffer_limit_bytes`); -1 when unset. */
  readonly perRequestBufferLimitBytes: number;
  /** `max_stream_duration`, null when unset (the connection manager then arms no duration timer). */
  readonly streamDuration: StreamDuration | null;
  /** `typed_per_filter_config` by filter name, route entries over virtual-host ones (raw, validated). */
  readonly perFilterConfig: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  // --- redirect / direct response ---
  readonly redirect: {
    scheme: string | null;
    host: string | null;
    port: number | null;
    path: string | null;
    prefixRewrite: string | null;
    regexRewrite: { re: RegExp; substitution: string } | null;
    code: number;
    stripQuery: boolean;
  } | null;
  readonly directStatus: number;
  readonly directBody: Buffer | null;
  readonly decoratorOperation: string | null;
  // --- header mutations, most specific first: route, virtual host, route configuration ---
  readonly requestMutations: readonly CompiledHeaderMutation[];
  readonly responseMutations: readonly CompiledHeaderMutation[];

  constructor(cfg: RouteConfigEntry, vh: VirtualHost, table: RouteTable) {
    this.virtualHost = vh;
    this.name = cfg.name ?? '';
    const m = cfg.match;
    this.#caseSensitive = m.case_sensitive !== false;
    this.#matchRegex = null;
    if (m.prefix !== undefined) {
      this.#matchKind = 'prefix';
      this.#matchValue = this.#caseSensitive ? m.prefix : m.prefix.toLowerCase();
    } else if (m.path !== undefined) {
      this.#matchKind = 'path';
      this.#matchValue = this.#caseSensitive ? m.path : m.path.toLowerCase();
    } else if (m.path_separated_prefix !== undefined) {
      this.#matchKind = 'separated_prefix';
      this.#matchValue = this.#caseSensitive ? m.path_separated_prefix : m.path_separated_prefix.toLowerCase();
    } else {
      this.#matchKind = 'regex';
      this.#matchValue = '';
      this.#matchRegex = compileRegex(m.safe_regex!);
    }
    this.#headers = (m.headers ?? []).map(compileHeaderMatcher);
    this.#query = (m.query_parameters ?? []).map((q) => ({
      name: q.name,
      test: q.string_match !== undefined ? compileStringMatcher(q.string_match) : null,
    }));
    this.#runtimeFraction = m.runtime_fraction ?? null;
    this.#runtime = table.runtime;
    this.#grpcOnly = m.grpc !== undefined;

    const r = cfg.route;
    this.kind = r !== undefined ? 'route' : cfg.redirect !== undefined ? 'redirect' : 'direct_response';
    this.clusterName = r?.cluster ?? null;
    this.clusterHeader = r?.cluster_header?.toLowerCase() ?? null;
    let cumulative = 0;
    this.weightedClusters =
      r?.weighted_clusters?.clusters.map((c) => {
        cumulative += unwrap(c.weight, 0);
        return {
          name: c.name,
          cumulative,
          mutation: compileMutation(c.request_headers_to_add, c.request_headers_to_remove),
          responseMutation: compileMutation(c.response_headers_to_add, c.response_headers_to_remove),
        };
      }) ?? null;
    this.totalWeight = cumulative;
    this.clusterNotFoundCode =
      r?.cluster_not_found_response_code === 'NOT_FOUND'
        ? 404
        : r?.cluster_not_found_response_code === 'INTERNAL_SERVER_ERROR'
          ? 500
          : 503;
    this.prefixRewrite = r?.prefix_rewrite ?? null;
    this.regexRewrite =
      r?.regex_rewrite !== undefined
        ? {
            re: new RegExp(r.regex_rewrite.pattern.regex, 'g'),
            substitution: jsSubstitution(r.regex_rewrite.substitution),
          }
        : null;
    this.hostRewriteLiteral = r?.host_rewrite_literal ?? null;
    this.autoHostRewrite = r?.auto_host_rewrite === true;
    this.hostRewriteHeader = r?.host_rewrite_header?.toLowerCase() ?? null;
    this.timeoutMs = durationMs(r?.timeout, 15_000);
    this.hashPolicies = (r?.hash_policy ?? []).map(compileHashPolicy);
    this.upgrades = new Map((r?.upgrade_configs ?? []).map((u) => [u.upgrade_type.toLowerCase(), u.enabled !== false]));
    this.retryPolicy = r?.retry_policy !== undefined ? new RetryPolicy(r.retry_policy) : vh.retryPolicy;
    this.mirrorPolicies = compileMirrorPolicies(r?.request_mirror_policies);
    this.idleTimeoutMs = r?.idle_timeout === undefined ? -1 : durationMs(r.idle_timeout, 0);
    this.priority = r?.priority ?? 'DEFAULT';
    this.perRequestBufferLimitBytes =
      cfg.per_request_buffer_limit_bytes === undefined ? -1 : unwrap(cfg.per_request_buffer_limit_bytes, 0);
    const d = r?.max_stream_duration;
    this.streamDuration =
      d === undefined
        ? null
        : {
            maxMs: d.max_stream_duration === undefined ? -1 : durationMs(d.max_stream_duration, 0),
            grpcHeaderMaxMs: d.grpc_timeout_header_max === undefined ? -1 : durationMs(d.grpc_timeout_header_max, 0),
            grpcHeaderOffsetMs: durationMs(d.grpc_timeout_header_offset, 0),
          };
    this.perFilterConfig = new Map([...vh.perFilterConfig, ...Object.entries(cfg.typed_per_filter_config ?? {})]);

    const rd = cfg.redirect;
    this.redirect =
      rd === undefined
        ? null
        : {
            scheme: rd.https_redirect === true ? 'https' : (rd.scheme_redirect ?? null),
            host: rd.host_redirect ?? null,
            port: rd.port_redirect ?? null,
            path: rd.path_redirect ?? null,
            prefixRewrite: rd.prefix_rewrite ?? null,
            regexRewrite:
              rd.regex_rewrite !== undefined
                ? {
                    re: new RegExp(rd.regex_rewrite.pattern.regex, 'g'),
                    substitution: jsSubstitution(rd.regex_rewrite.substitution),
                  }
                : null,
            code: REDIRECT_CODES[rd.response_code ?? 'MOVED_PERMANENTLY'],
            stripQuery: rd.strip_query === true,
          };
    const dr = cfg.direct_response;
    this.directStatus = dr?.status ?? 0;
    this.directBody =
      dr?.body === undefined
        ? null
        : dr.body.inline_string !== undefined
          ? Buffer.from(dr.body.inline_string)
          : dr.body.inline_bytes !== undefined
            ? Buffer.from(dr.body.inline_bytes, 'base64')
            : readFileSync(dr.body.filename!);
    this.decoratorOperation = cfg.decorator?.operation ?? null;
    this.requestMutations = [
      compileMutation(cfg.request_headers_to_add, cfg.request_headers_to_remove),
      vh.requestMutation,
      table.requestMutation,
    ].filter((x) => x !== EMPTY_MUTATION);
    this.responseMutations = [
      compileMutation(cfg.response_headers_to_add, cfg.response_headers_to_remove),
      vh.responseMutation,
      table.responseMutation,
    ].filter((x) => x !== EMPTY_MUTATION);
  }

  /** `path` excludes the query string; `query` is the raw query (without `?`) or ''. */
  matches(path: string, query: string, headers: HeaderMap): boolean {
    switch (this.#matchKind) {
      case 'prefix':
        if (!(this.#caseSensitive ? path : path.toLowerCase()).startsWith(this.#matchValue)) return false;
        break;
      case 'path':
        if ((this.#caseSensitive ? path : path.toLowerCase()) !== this.#matchValue) return false;
        break;
      case 'separated_prefix': {
        const p = this.#caseSensitive ? path : path.toLowerCase();
        const v = this.#matchValue;
        if (!p.startsWith(v) || (p.length > v.length && p.charCodeAt(v.length) !== 47 && v !== '/')) return false;
        break;
      }
      case 'regex':
        if (!this.#matchRegex!.test(path)) return false;
        break;
    }
    for (let i = 0; i < this.#headers.length; i++) if (!headerMatches(this.#headers[i]!, headers)) return false;
    if (this.#grpcOnly && !isGrpcRequest(headers)) return false;
    if (
      this.#runtimeFraction !== null &&
      this.#runtime !== null &&
      !this.#runtime.snapshot().runtimeFractionEnabled(this.#runtimeFraction)
    )
      return false;
    if (this.#query.length > 0) {
      const params = new URLSearchParams(query);
      for (const q of this.#query) {
        const v = params.get(q.name);
        if (v === null) return false;
        if (q.test !== null && !q.test(v)) return false;
      }
    }
    return true;
  }

  /** Rewritten path (with query) for the upstream request, or null when unchanged. */
  rewritePath(path: string, query: string): string | null {
    if (this.prefixRewrite !== null) {
      if (this.#matchKind === 'prefix' || this.#matchKind === 'separated_prefix') {
        return this.prefixRewrite + path.slice(this.#matchValue.length) + (query === '' ? '' : `?${query}`);
      }
      if (this.#matchKind === 'path') return this.prefixRewrite + (query === '' ? '' : `?${query}`);
      return null;
    }
    if (this.regexRewrite !== null) {
      this.regexRewrite.re.lastIndex = 0;
      return path.replace(this.regexRewrite.re, this.regexRewrite.substitution) + (query === '' ? '' : `?${query}`);
    }
    return null;
  }

  /** The `location` for a redirect route. */
  redirectLocation(scheme: string, authority: string, path: string, query: string): string {
    const rd = this.redirect!;
    const newScheme = rd.scheme ?? scheme;
    let host = rd.host ?? authority;
    const colon = host.lastIndexOf(':');
    const hasPort = colon !== -1 && !host.endsWith(']');
    if (rd.port !== null) {
      host = `${hasPort ? host.slice(0, colon) : host}:${rd.port}`;
    } else if (rd.scheme !== null && hasPort) {
      // Switching scheme drops a default port of the old scheme, as Envoy does.
      const p = host.slice(colon + 1);
      if ((p === '80' && newScheme === 'https') || (p === '443' && newScheme === 'http')) host = host.slice(0, colon);
    }
    let newPath = path;
    let newQuery = query;
    if (rd.path !== null) {
      const q = rd.path.indexOf('?');
      if (q === -1) newPath = rd.path;
      else {
        newPath = rd.path.slice(0, q);
        newQuery = rd.path.slice(q + 1);
      }
    } else if (rd.prefixRewrite !== null && this.#matchKind === 'prefix') {
      newPath = rd.prefixRewrite + path.slice(this.#matchValue.length);
    } else if (rd.regexRewrite !== null) {
      rd.regexRewrite.re.lastIndex = 0;
      newPath = path.replace(rd.regexRewrite.re, rd.regexRewrite.substitution);
    }
    if (rd.stripQuery) newQuery = '';
    return `${newScheme}://${host}${newPath}${newQuery === '' ? '' : `?${newQuery}`}`;
  }

  /** Picks the upstream cluster name for this request. */
  pickCluster(headers: HeaderMap): { name: string | null; weightedIndex: number } {
    if (this.clusterName !== null) return { name: this.clusterName, weightedIndex: -1 };
    if (this.clusterHeader !== null) return { name: headers.get(this.clusterHeader) ?? null, weightedIndex: -1 };
    const wc = this.weightedClusters!;
    const r = Math.floor(Math.random() * this.totalWeight);
    for (let i = 0; i < wc.length; i++) if (r < wc[i]!.cumulative) return { name: wc[i]!.name, weightedIndex: i };
    return { name: wc[wc.length - 1]!.name, weightedIndex: wc.length - 1 };
  }
}

export class VirtualHost {
  readonly name: string;
  readonly routes: Route[];
  readonly requestMutation: CompiledHeaderMutation;
  readonly responseMutation: CompiledHeaderMutation;
  readonly retryPolicy: RetryPolicy | null;
  readonly perFilterConfig: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;

  constructor(cfg: VirtualHostConfig, table: RouteTable) {
    this.name = cfg.name;
    this.retryPolicy = cfg.retry_policy !== undefined ? new RetryPolicy(cfg.retry_policy) : null;
    this.perFilterConfig = new Map(Object.entries(cfg.typed_per_filter_config ?? {}));
    this.includeRequestAttemptCount = cfg.include_request_attempt_count === true;
    this.includeAttemptCountInResponse = cfg.include_attempt_count_in_response === true;
    this.requestMutation = compileMutation(cfg.request_headers_to_add, cfg.request_headers_to_remove);
    this.responseMutation = compileMutation(cfg.response_headers_to_add, cfg.response_headers_to_remove);
    this.routes = [];
    for (const r of cfg.routes ?? []) this.routes.push(new Route(r, this, table));
  }
}

export interface HostPortOptions {
  readonly stripAnyHostPort: boolean;
  /** Listener port whose `:port` suffix is ignored when matching (strip_matching_host_port). */
  readonly stripMatchingPort: number | null;
}

export class RouteTable {
  readonly name: string;
  readonly requestMutation: CompiledHeaderMutation;
  readonly responseMutation: CompiledHeaderMutation;
  readonly #exact = new Map<string, VirtualHost>();
  /** `*.example.com` → suffix `.example.com`; longest first. */
  readonly #suffix: Array<[string, VirtualHost]> = [];
  /** `api.*` → prefix `api.`; longest first. */
  readonly #prefix: Array<[string, VirtualHost]> = [];
  #default: VirtualHost | null = null;
  readonly #hostPort: HostPortOptions;
  /** Every domain is `*`: each authority gets the default virtual host, unread. */
  readonly #defaultOnly: boolean;
  /**
   * The last authority looked up and its virtual host: a sidecar's requests mostly carry one
   * authority (or a few), and the lookup lower-cases it first, a call into V8's runtime (perf
   * under wrk -c50: findVirtualHost ~0.8% of the request thread, most of it toLowerCase).
   */
  #lastAuthority: string | null = null;
  #lastVirtualHost: VirtualHost | null = null;
  /** Evaluates routes' `match.runtime_fraction`; null matches as if every fraction were 100%. */
  readonly runtime: Runtime | null;
  /** Shortest positive route `idle_timeout`, so the HCM sweeps often enough; 0 when none. */
  readonly minRouteIdleTimeoutMs: number;
  /** Some route sets max_stream_duration: the connection manager resolves routes as headers arrive. */
  readonly hasStreamDuration: boolean;

  constructor(cfg: RouteConfiguration, hostPort: HostPortOptions, runtime: Runtime | null = null) {
    this.name = cfg.name ?? '';
    this.runtime = runtime;
    this.#hostPort = hostPort;
    this.requestMutation = compileMutation(cfg.request_headers_to_add, cfg.request_headers_to_remove);
    this.responseMutation = compileMutation(cfg.response_headers_to_add, cfg.response_headers_to_remove);
    for (const vhCfg of cfg.virtual_hosts ?? []) {
      const vh = new VirtualHost(vhCfg, this);
      for (const raw of vhCfg.domains) {
        const d = raw.toLowerCase();
        if (d === '*') this.#default = vh;
        else if (d.startsWith('*')) this.#suffix.push([d.slice(1), vh]);
        else if (d.endsWith('*')) this.#prefix.push([d.slice(0, -1), vh]);
        else this.#exact.set(d, vh);
      }
    }
    this.#suffix.sort((a, b) => b[0].length - a[0].length);
    this.#prefix.sort((a, b) => b[0].length - a[0].length);
    this.#defaultOnly = this.#exact.size === 0 && this.#suffix.length === 0 && this.#prefix.length === 0;
    let minIdle = 0;
    let duration = false;
    for (const vh of new Set([
      ...this.#exact.values(),
      ...this.#suffix.map((e) => e[1]),
      ...this.#prefix.map((e) => e[1]),
      ...(this.#default === null ? [] : [this.#default]),
    ])) {
      for (const r of vh.routes) {
        if (r.idleTimeoutMs > 0 && (minIdle === 0 || r.idleTimeoutMs < minIdle)) minIdle = r.idleTimeoutMs;
        if (r.streamDuration !== null) duration = true;
      }
    }
    this.minRouteIdleTimeoutMs = minIdle;
    this.hasStreamDuration = duration;
  }

  findVirtualHost(authority: string): VirtualHost | null {
    if (this.#defaultOnly) return this.#default;
    if (authority === this.#lastAuthority) return this.#lastVirtualHost;
    const vh = this.#lookUpVirtualHost(authority);
    this.#lastAuthority = authority;
    this.#lastVirtualHost = vh;
    return vh;
  }

  #lookUpVirtualHost(authority: string): VirtualHost | null {
    let host = authority.toLowerCase();
    const opts = this.#hostPort;
    if (opts.stripAnyHostPort || opts.stripMatchingPort !== null) {
      const colon = host.lastIndexOf(':');
      if (colon !== -1 && !host.endsWith(']')) {
        if (opts.stripAnyHostPort || host.slice(colon + 1) === String(opts.stripMatchingPort))
          host = host.slice(0, colon);
      }
    }
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    for (const [suffix, vh] of this.#suffix) if (host.length > suffix.length && host.endsWith(suffix)) return vh;
    for (const [prefix, vh] of this.#prefix) if (host.length > prefix.length && host.startsWith(prefix)) return vh;
    return this.#default;
  }

  /** The first matching route, or null (Envoy's NR). */
  route(authority: string, path: string, query: string, headers: HeaderMap): Route | null {
    const vh = this.findVirtualHost(authority);
    if (vh === null) return null;
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i]!.matches(path, query, headers)) return routes[i]!;
    return null;
  }
}
