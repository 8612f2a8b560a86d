// Per-stream half of envoy.filters.http.rbac: evaluates the shadow rules (counted, never
// enforced) and then the enforced rules on the request headers; a refused request is answered
// 403 `RBAC: access denied` with Envoy's response code details naming the matched policy.
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamDecoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
} from '../../../../core/http/filter.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import type { SslConnectionInfo } from '../../../../core/network/ssl-connection-info.js';
import { ResponseFlag } from '../../../../core/stream-info.js';
import type { Counter, Scope } from '../../../../stats/types.js';
import type { RbacConfig } from './config.js';
import { RbacEngine, type RbacRequest } from './engine.js';

/** Where the filter records its shadow verdict for access logs and later filters (Envoy's dynamic metadata keys). */
export const RBAC_FILTER_STATE = 'envoy.filters.http.rbac';

export interface RbacShadowResult {
  shadow_effective_policy_id: string;
  shadow_engine_result: 'allowed' | 'denied';
}

/** One compiled RBAC message with its counters; shared by every stream it applies to. */
export class RbacFilterConfig {
  readonly engine: RbacEngine | undefined;
  readonly shadow: RbacEngine | undefined;
  readonly #allowed: Counter;
  readonly #denied: Counter;
  readonly #shadowAllowed: Counter;
  readonly #shadowDenied: Counter;
  readonly #logged: Counter;
  readonly #notLogged: Counter;
  readonly #perPolicy: Map<string, { allowed: Counter; denied: Counter }> | undefined;

  constructor(config: Omit<RbacConfig, '@type'>, scope: Scope) {
    this.engine = config.rules === undefined ? undefined : new RbacEngine(config.rules);
    this.shadow = config.shadow_rules === undefined ? undefined : new RbacEngine(config.shadow_rules);
    const p = config.rules_stat_prefix;
    const sp = config.shadow_rules_stat_prefix;
    this.#allowed = scope.counter(`${p}allowed`);
    this.#denied = scope.counter(`${p}denied`);
    this.#logged = scope.counter(`${p}logged`);
    this.#notLogged = scope.counter(`${p}not_logged`);
    this.#shadowAllowed = scope.counter(`${sp}shadow_allowed`);
    this.#shadowDenied = scope.counter(`${sp}shadow_denied`);
    if (config.track_per_rule_stats && this.engine !== undefined) {
      this.#perPolicy = new Map(
        this.engine.policyNames.map((name) => [
          name,
          { allowed: scope.counter(`${p}policy.${name}.allowed`), denied: scope.counter(`${p}policy.${name}.denied`) },
        ]),
      );
    }
  }

  countShadow(allowed: boolean): void {
    (allowed ? this.#shadowAllowed : this.#shadowDenied).inc();
  }

  count(allowed: boolean, policy: string | undefined): void {
    if (this.engine?.action === 'LOG') {
      (policy === undefined ? this.#notLogged : this.#logged).inc();
      return;
    }
    (allowed ? this.#allowed : this.#denied).inc();
    if (policy !== undefined) {
      const perPolicy = this.#perPolicy?.get(policy);
      if (perPolicy !== undefined) (allowed ? perPolicy.allowed : perPolicy.denied).inc();
    }
  }
}

/** The request as the engine reads it: addresses and identity from the stream, the path without its query. */
function requestOf(callbacks: StreamFilterCallbacks, headers: HeaderMap): RbacRequest {
  const info = callbacks.streamInfo;
  const path = headers.get(':path') ?? '';
  const query = path.indexOf('?');
  return {
    headers,
    path: query === -1 ? path : path.slice(0, query),
    remoteIp: info.downstreamRemoteAddress,
    directRemoteIp: info.downstreamDirectRemoteAddress,
    localIp: info.downstreamLocalAddress,
    localPort: info.downstreamLocalPort,
    peerPrincipal: peerPrincipal(info.downstreamSsl),
    requestedServerName: info.downstreamSsl?.sni ?? '',
  };
}

/**
 * Envoy's authenticated principal: the peer certificate's URI SAN, else its DNS SAN, else its
 * subject; none in plaintext or without a client certificate.
 */
function peerPrincipal(ssl: SslConnectionInfo | null): string | undefined {
  if (ssl === null || !ssl.peerCertificatePresented) return undefined;
  return ssl.uriSanPeerCertificate[0] ?? ssl.dnsSansPeerCertificate[0] ?? ssl.subjectPeerCertificate;
}

export class RbacFilter implements StreamFilter, StreamDecoderFilter {
  readonly decoder = this;
  readonly #callbacks: StreamFilterCallbacks;
  readonly #resolve: (callbacks: StreamFilterCallbacks) => RbacFilterConfig | null;

  /** `resolve` gives the route's config (RBACPerRoute), the HCM's, or null when disabled on the route. */
  constructor(
    callbacks: StreamFilterCallbacks,
    resolve: (callbacks: StreamFilterCallbacks) => RbacFilterConfig | null,
  ) {
    this.#callbacks = callbacks;
    this.#resolve = resolve;
  }

  decodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    const config = this.#resolve(this.#callbacks);
    if (config === null) return FilterHeadersStatus.Continue;
    const request = requestOf(this.#callbacks, headers);
    if (config.shadow !== undefined) {
      const verdict = config.shadow.evaluate(request);
      config.countShadow(verdict.allowed);
      const result: RbacShadowResult = {
        shadow_effective_policy_id: verdict.policy ?? '',
        shadow_engine_result: verdict.allowed ? 'allowed' : 'denied',
      };
      this.#callbacks.streamInfo.filterState.set(RBAC_FILTER_STATE, result);
    }
    if (config.engine === undefined) return FilterHeadersStatus.Continue;
    const verdict = config.engine.evaluate(request);
    config.count(verdict.allowed, verdict.policy);
    if (verdict.allowed) return FilterHeadersStatus.Continue;
    this.#callbacks.sendLocalReply(
      403,
      'RBAC: access denied',
      ResponseFlag.RbacAccessDenied,
      `rbac_access_denied_matched_policy[${verdict.policy ?? 'none'}]`,
    );
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onDestroy(): void {}
}
