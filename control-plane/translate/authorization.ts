// mesh.yaml authorization policies → Envoy RBAC filters on a service's inbound listeners, the
// way Istio compiles AuthorizationPolicy: one RBAC filter per action present (AUDIT as LOG
// first, so it sees every request, then DENY, then ALLOW), each policy rule an RBAC policy named
// `ns[<namespace>]-policy[<name>]-rule[<i>]`. HTTP ports get envoy.filters.http.rbac, TCP ports
// envoy.filters.network.rbac with the connection-level part of each rule.
//
// Decided here, per listener, as Istio decides them: `ports` (and `destination.port`) compare
// with the service port the listener serves, so a rule for another port drops out. On a TCP
// port a rule with HTTP-only conditions (hosts, methods, paths, request headers) is dropped from
// an ALLOW policy (it could never admit a connection), and loses those conditions in a DENY or
// AUDIT policy (so it refuses more, never less).
import type { AuthorizationPolicy, AuthorizationRule, PolicyOperation, PolicySource } from '../mesh/authorization.js';
import { conditionHeader } from '../mesh/authorization.js';
import type { Mesh, Service, ServicePort } from '../mesh/schema.js';
import { policyServices, serviceKey } from '../mesh/validate.js';
import type { JsonObject } from './envoy.js';

export const HTTP_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';

type Json = JsonObject;
type Protocol = 'http' | 'tcp';

const ACTIONS = [
  ['AUDIT', 'LOG'],
  ['DENY', 'DENY'],
  ['ALLOW', 'ALLOW'],
] as const;

const any = (list: Json[], key: 'or_rules' | 'or_ids'): Json =>
  list.length === 1 ? list[0]! : key === 'or_rules' ? { or_rules: { rules: list } } : { or_ids: { ids: list } };
const all = (list: Json[], key: 'and_rules' | 'and_ids'): Json =>
  list.length === 1 ? list[0]! : key === 'and_rules' ? { and_rules: { rules: list } } : { and_ids: { ids: list } };

/** An Istio value with `*` at one end → an Envoy StringMatcher. */
function wildcard(v: string, prefix = '', ignoreCase = false): Json {
  const m: Json =
    v === '*'
      ? { safe_regex: { regex: '.+' } }
      : v.endsWith('*')
        ? { prefix: `${prefix}${v.slice(0, -1)}` }
        : v.startsWith('*')
          ? { suffix: v.slice(1) }
          : { exact: `${prefix}${v}` };
  if (ignoreCase && v !== '*') m.ignore_case = true;
  return m;
}

function cidr(block: string): Json {
  const slash = block.indexOf('/');
  if (slash === -1) return { address_prefix: block, prefix_len: block.includes(':') ? 128 : 32 };
  return { address_prefix: block.slice(0, slash), prefix_len: Number(block.slice(slash + 1)) };
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const principalIds = (values: readonly string[]): Json[] =>
  values.map((v) => ({ authenticated: { principal_name: wildcard(v, 'spiffe://') } }));
const namespaceIds = (values: readonly string[]): Json[] =>
  values.map((ns) => ({
    authenticated: {
      principal_name: { safe_regex: { regex: ns === '*' ? '.+' : `.*/ns/${escapeRegex(ns)}/.*` } },
    },
  }));
const ipIds = (values: readonly string[], kind: 'direct_remote_ip' | 'remote_ip'): Json[] =>
  values.map((v) => ({ [kind]: cidr(v) }));
const headerIds = (name: string, values: readonly string[]): Json[] =>
  values.map(
    (v): Json =>
      v === '*' ? { header: { name, present_match: true } } : { header: { name, string_match: wildcard(v) } },
  );

/** Adds `ids` (any of them) as one more AND term, or its negation. */
function term(out: Json[], ids: Json[] | undefined, negate = false): void {
  if (ids === undefined || ids.length === 0) return;
  const one = any(ids, 'or_ids');
  out.push(negate ? { not_id: one } : one);
}

function sourcePrincipal(s: PolicySource): Json[] {
  const out: Json[] = [];
  term(out, s.principals && principalIds(s.principals));
  term(out, s.not_principals && principalIds(s.not_principals), true);
  term(out, s.namespaces && namespaceIds(s.namespaces));
  term(out, s.not_namespaces && namespaceIds(s.not_namespaces), true);
  term(out, s.ip_blocks && ipIds(s.ip_blocks, 'direct_remote_ip'));
  term(out, s.not_ip_blocks && ipIds(s.not_ip_blocks, 'direct_remote_ip'), true);
  term(out, s.remote_ip_blocks && ipIds(s.remote_ip_blocks, 'remote_ip'));
  term(out, s.not_remote_ip_blocks && ipIds(s.not_remote_ip_blocks, 'remote_ip'), true);
  return out;
}

function conditionIds(key: string, values: readonly string[]): Json[] | null {
  const header = conditionHeader(key);
  if (header !== undefined) return headerIds(header, values);
  if (key === 'source.ip') return ipIds(values, 'direct_remote_ip');
  if (key === 'remote.ip') return ipIds(values, 'remote_ip');
  if (key === 'source.namespace') return namespaceIds(values);
  if (key === 'source.principal') return principalIds(values);
  return null; // destination.port: decided at compile time
}

const HTTP_ONLY_OPERATION = ['hosts', 'not_hosts', 'methods', 'not_methods', 'paths', 'not_paths'] as const;

function hostRules(values: readonly string[]): Json[] {
  // Istio matches a host with or without its port.
  return values.flatMap((v): Json[] =>
    v === '*'
      ? [{ header: { name: ':authority', present_match: true } }]
      : [
          { header: { name: ':authority', string_match: wildcard(v, '', true) } },
          ...(v.endsWith('*')
            ? []
            : [{ header: { name: ':authority', string_match: { prefix: `${v}:`, ignore_case: true } } }]),
        ],
  );
}
const methodRules = (values: readonly string[]): Json[] =>
  values.map((m) => ({ header: { name: ':method', string_match: { exact: m } } }));
const pathRules = (values: readonly string[]): Json[] =>
  values.map((p) => ({ url_path: { path: p === '*' ? { prefix: '/' } : wildcard(p) } }));

/** One `to` entry as an RBAC permission, or null when it cannot match on this port. */
function operationPermission(o: PolicyOperation, servicePort: number, protocol: Protocol): Json | null {
  if (o.ports !== undefined && !o.ports.includes(servicePort)) return null;
  if (o.not_ports?.includes(servicePort) === true) return null;
  const out: Json[] = [];
  const add = (rules: Json[] | undefined, negate = false): void => {
    if (rules === undefined || rules.length === 0) return;
    const one = any(rules, 'or_rules');
    out.push(negate ? { not_rule: one } : one);
  };
  if (protocol === 'http') {
    add(o.hosts && hostRules(o.hosts));
    add(o.not_hosts && hostRules(o.not_hosts), true);
    add(o.methods && methodRules(o.methods));
    add(o.not_methods && methodRules(o.not_methods), true);
    add(o.paths && pathRules(o.paths));
    add(o.not_paths && pathRules(o.not_paths), true);
  }
  return out.length === 0 ? { any: true } : all(out, 'and_rules');
}

function usesHttpOnly(r: AuthorizationRule): boolean {
  if (r.to?.some(({ operation }) => HTTP_ONLY_OPERATION.some((f) => operation[f] !== undefined)) === true) return true;
  return r.when?.some((c) => conditionHeader(c.key) !== undefined) === true;
}

/** One policy rule as an RBAC policy for a listener, or null when it cannot match there. */
function rulePolicy(
  r: AuthorizationRule,
  action: AuthorizationPolicy['action'],
  servicePort: number,
  protocol: Protocol,
): Json | null {
  if (protocol === 'tcp' && action === 'ALLOW' && usesHttpOnly(r)) return null;
  const permissions: Json[] = [];
  if (r.to === undefined) permissions.push({ any: true });
  else
    for (const { operation } of r.to) {
      const p = operationPermission(operation, servicePort, protocol);
      if (p !== null) permissions.push(p);
    }
  if (permissions.length === 0) return null;
  const when: Json[] = [];
  for (const c of r.when ?? []) {
    if (c.key === 'destination.port') {
      const port = String(servicePort);
      if (c.values !== undefined && !c.values.includes(port)) return null;
      if (c.not_values?.includes(port) === true) return null;
      continue;
    }
    if (protocol === 'tcp' && conditionHeader(c.key) !== undefined) continue;
    term(when, c.values && (conditionIds(c.key, c.values) ?? undefined));
    term(when, c.not_values && (conditionIds(c.key, c.not_values) ?? undefined), true);
  }
  const sources = r.from?.map(({ source }) => sourcePrincipal(source)) ?? [[]];
  const principals = sources.map((terms) => {
    const ids = [...terms, ...when];
    return ids.length === 0 ? { any: true } : all(ids, 'and_ids');
  });
  return { permissions, principals };
}

/** The RBAC `rules` per action for one inbound port of `svc`; actions no policy uses are absent. */
function rulesByAction(mesh: Mesh, svc: Service, port: ServicePort, protocol: Protocol): Map<string, Json> {
  const byAction = new Map<string, Json>();
  for (const policy of mesh.authorization_policies ?? []) {
    if (!policyServices(mesh, policy).some((s) => serviceKey(s) === serviceKey(svc))) continue;
    const envoyAction = ACTIONS.find(([a]) => a === policy.action)![1];
    let rules = byAction.get(envoyAction);
    if (rules === undefined) {
      rules = { action: envoyAction, policies: {} };
      byAction.set(envoyAction, rules);
    }
    const ns = policy.namespace ?? svc.namespace;
    (policy.rules ?? []).forEach((r, i) => {
      const compiled = rulePolicy(r, policy.action, port.port, protocol);
      if (compiled !== null) (rules.policies as Json)[`ns[${ns}]-policy[${policy.name}]-rule[${i}]`] = compiled;
    });
  }
  // A DENY or LOG filter without policies matches nothing: leave it out. An ALLOW one without
  // policies refuses everything, which is what an ALLOW policy with no applicable rule means.
  for (const [action, rules] of byAction)
    if (action !== 'ALLOW' && Object.keys(rules.policies as Json).length === 0) byAction.delete(action);
  return byAction;
}

/** envoy.filters.http.rbac filters for an HTTP inbound listener, in the order they run. */
export function httpRbacFilters(mesh: Mesh, svc: Service, port: ServicePort): Json[] {
  const byAction = rulesByAction(mesh, svc, port, 'http');
  return ACTIONS.flatMap(([, action]) => {
    const rules = byAction.get(action);
    return rules === undefined
      ? []
      : [{ name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC_TYPE, rules } }];
  });
}

/** envoy.filters.network.rbac filters for a TCP inbound listener (Istio's stat prefix `tcp.`). */
export function networkRbacFilters(mesh: Mesh, svc: Service, port: ServicePort): Json[] {
  const byAction = rulesByAction(mesh, svc, port, 'tcp');
  return ACTIONS.flatMap(([, action]) => {
    const rules = byAction.get(action);
    return rules === undefined
      ? []
      : [
          {
            name: 'envoy.filters.network.rbac',
            typed_config: { '@type': NETWORK_RBAC_TYPE, stat_prefix: 'tcp.', rules },
          },
        ];
  });
}
