// The RBAC engine, Envoy's RoleBasedAccessControlEngineImpl: policies compiled once into
// predicates over what a request shows (headers, path, addresses, ports, the peer's identity).
// ALLOW admits a request some policy matches, DENY refuses one, LOG admits all and names the
// policy that matched; the first matching policy, in config order, is the one reported.
import { isIPv4 } from 'node:net';
import { cidrContains, parseCidr, parseIp } from '../../../../api/cidr.js';
import { compileHeaderMatcher, compileStringMatcher, headerMatches } from '../../../../core/router/route-table.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import type { CidrRange, PermissionConfig, PrincipalConfig, RbacRules } from './config.js';

/** What the engine reads of a request. */
export interface RbacRequest {
  headers: HeaderMap;
  /** The path without its query string, as Envoy's url_path matcher sees it. */
  path: string;
  /** The client address after x-forwarded-for processing (Envoy's remote_ip). */
  remoteIp: string;
  /** The TCP peer (Envoy's direct_remote_ip). */
  directRemoteIp: string;
  localIp: string;
  localPort: number;
  /** The peer certificate's URI SAN (else DNS SAN, else subject) on a TLS connection; undefined in plaintext. */
  peerPrincipal: string | undefined;
  /** SNI of a TLS connection; '' in plaintext. */
  requestedServerName: string;
}

type Predicate = (r: RbacRequest) => boolean;

function compileCidr(range: CidrRange, pick: (r: RbacRequest) => string): Predicate {
  const len =
    range.prefix_len === undefined
      ? undefined
      : typeof range.prefix_len === 'number'
        ? range.prefix_len
        : range.prefix_len.value;
  // Without prefix_len the range is the one address.
  const cidr = parseCidr(range.address_prefix, len ?? (isIPv4(range.address_prefix) ? 32 : 128));
  if (typeof cidr === 'string') throw new Error(cidr);
  return (r) => {
    // parseIp reads an IPv4 client on a dual-stack socket (::ffff:a.b.c.d) as IPv4.
    const ip = parseIp(pick(r));
    return ip !== null && cidrContains(cidr, ip);
  };
}

function compileHeader(h: Parameters<typeof compileHeaderMatcher>[0]): Predicate {
  const m = compileHeaderMatcher(h);
  return (r) => headerMatches(m, r.headers);
}

function compilePath(p: { path: Parameters<typeof compileStringMatcher>[0] }): Predicate {
  const test = compileStringMatcher(p.path);
  return (r) => test(r.path);
}

export function compilePermission(p: PermissionConfig): Predicate {
  if (p.any === true) return () => true;
  if (p.and_rules !== undefined) {
    const all = p.and_rules.rules.map(compilePermission);
    return (r) => all.every((f) => f(r));
  }
  if (p.or_rules !== undefined) {
    const any = p.or_rules.rules.map(compilePermission);
    return (r) => any.some((f) => f(r));
  }
  if (p.not_rule !== undefined) {
    const inner = compilePermission(p.not_rule);
    return (r) => !inner(r);
  }
  if (p.header !== undefined) return compileHeader(p.header);
  if (p.url_path !== undefined) return compilePath(p.url_path);
  if (p.destination_ip !== undefined) return compileCidr(p.destination_ip, (r) => r.localIp);
  if (p.destination_port !== undefined) {
    const port = p.destination_port;
    return (r) => r.localPort === port;
  }
  if (p.destination_port_range !== undefined) {
    const { start, end } = p.destination_port_range;
    return (r) => r.localPort >= start && r.localPort < end;
  }
  const sni = compileStringMatcher(p.requested_server_name!);
  return (r) => sni(r.requestedServerName);
}

export function compilePrincipal(p: PrincipalConfig): Predicate {
  if (p.any === true) return () => true;
  if (p.and_ids !== undefined) {
    const all = p.and_ids.ids.map(compilePrincipal);
    return (r) => all.every((f) => f(r));
  }
  if (p.or_ids !== undefined) {
    const any = p.or_ids.ids.map(compilePrincipal);
    return (r) => any.some((f) => f(r));
  }
  if (p.not_id !== undefined) {
    const inner = compilePrincipal(p.not_id);
    return (r) => !inner(r);
  }
  if (p.authenticated !== undefined) {
    // Without principal_name, any authenticated (TLS client certificate) peer matches.
    const name = p.authenticated.principal_name;
    if (name === undefined) return (r) => r.peerPrincipal !== undefined;
    const test = compileStringMatcher(name);
    return (r) => r.peerPrincipal !== undefined && test(r.peerPrincipal);
  }
  if (p.direct_remote_ip !== undefined) return compileCidr(p.direct_remote_ip, (r) => r.directRemoteIp);
  if (p.source_ip !== undefined) return compileCidr(p.source_ip, (r) => r.directRemoteIp);
  if (p.remote_ip !== undefined) return compileCidr(p.remote_ip, (r) => r.remoteIp);
  if (p.header !== undefined) return compileHeader(p.header);
  return compilePath(p.url_path!);
}

export interface RbacDecision {
  allowed: boolean;
  /** The first policy that matched, in config order; undefined when none did. */
  policy: string | undefined;
}

export class RbacEngine {
  readonly action: RbacRules['action'];
  readonly #policies: ReadonlyArray<{ name: string; matches: Predicate }>;

  constructor(rules: RbacRules) {
    this.action = rules.action;
    this.#policies = Object.entries(rules.policies).map(([name, policy]) => {
      const permissions = policy.permissions.map(compilePermission);
      const principals = policy.principals.map(compilePrincipal);
      return { name, matches: (r: RbacRequest) => permissions.some((f) => f(r)) && principals.some((f) => f(r)) };
    });
  }

  get policyNames(): string[] {
    return this.#policies.map((p) => p.name);
  }

  evaluate(r: RbacRequest): RbacDecision {
    const matched = this.#policies.find((p) => p.matches(r))?.name;
    if (this.action === 'ALLOW') return { allowed: matched !== undefined, policy: matched };
    if (this.action === 'DENY') return { allowed: matched === undefined, policy: matched };
    return { allowed: true, policy: matched };
  }
}
