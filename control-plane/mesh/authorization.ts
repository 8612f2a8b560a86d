// Authorization policies in mesh.yaml, after Istio's AuthorizationPolicy (security.istio.io/v1),
// spelled in snake_case like the rest of the mesh description:
//
//   authorization_policies:
//     - name: payment-callers
//       services: [payment]            # absent: every service (of `namespace`, when given)
//       action: ALLOW                  # ALLOW | DENY | AUDIT
//       rules:
//         - from: [{ source: { principals: [cluster.local/ns/default/sa/checkout] } }]
//           to: [{ operation: { methods: [POST], paths: [/pay, /refund/*] } }]
//           when: [{ key: request.headers[x-tenant], values: [acme] }]
//
// Istio's semantics: a rule matches when its from, to and when all do; a list matches when any
// of its entries does; `not_*` fields exclude. DENY wins over ALLOW; once any ALLOW policy
// selects a workload, a request no ALLOW policy admits is refused; AUDIT only marks.
// Shapes are checked here; references and values (services, ports, CIDRs, keys) in
// `checkAuthorizationPolicies`, every problem reported with its path.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { MeshIssue } from '../errors.js';

const values = z.array(z.string().min(1)).min(1);
const ports = z.array(z.number().int().min(1).max(65535)).min(1);

const source = z.strictObject({
  /** Peer identities as Istio writes them: `<trust domain>/ns/<namespace>/sa/<service account>`, `*` wildcards at either end. */
  principals: values.optional(),
  not_principals: values.optional(),
  /** The namespaces of the peers' identities. */
  namespaces: values.optional(),
  not_namespaces: values.optional(),
  /** The TCP peer's address (Istio's source.ip): `10.0.0.0/8` or one address. */
  ip_blocks: values.optional(),
  not_ip_blocks: values.optional(),
  /** The client address after X-Forwarded-For (Istio's remote.ip). */
  remote_ip_blocks: values.optional(),
  not_remote_ip_blocks: values.optional(),
});

const operation = z.strictObject({
  hosts: values.optional(),
  not_hosts: values.optional(),
  methods: values.optional(),
  not_methods: values.optional(),
  /** Exact, `/prefix/*`, `*suffix` or `*`. */
  paths: values.optional(),
  not_paths: values.optional(),
  /** Service ports (as `ports[].port` lists them). */
  ports: ports.optional(),
  not_ports: ports.optional(),
});

const condition = z
  .strictObject({ key: z.string().min(1), values: values.optional(), not_values: values.optional() })
  .refine((c) => c.values !== undefined || c.not_values !== undefined, 'a condition needs values or not_values');

const rule = z.strictObject({
  from: z.array(z.strictObject({ source })).min(1).optional(),
  to: z.array(z.strictObject({ operation })).min(1).optional(),
  when: z.array(condition).min(1).optional(),
});

export const authorizationPolicy = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a lowercase name (a-z, 0-9, -, .)'),
  /** Scopes a policy without `services` to one namespace; the policy's own namespace in rule names. */
  namespace: z.string().min(1).optional(),
  /** The services whose inbound traffic the policy guards (`name` or `name.namespace`). */
  services: z.array(z.string().min(1)).min(1).optional(),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT']).default('ALLOW'),
  /** Absent or empty: an ALLOW policy admits nothing, a DENY or AUDIT policy matches nothing (as Istio). */
  rules: z.array(rule).optional(),
});

export type AuthorizationPolicy = z.output<typeof authorizationPolicy>;
export type AuthorizationRule = z.output<typeof rule>;
export type PolicySource = z.output<typeof source>;
export type PolicyOperation = z.output<typeof operation>;
export type PolicyCondition = z.output<typeof condition>;

/** `when` keys meshscope compiles, Istio's names. */
export const CONDITION_KEYS = [
  'request.headers[<name>]',
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'destination.port',
] as const;

const HEADER_KEY = /^request\.headers\[([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\]$/;

/** The header a `request.headers[<name>]` key names (lower-cased), or undefined for another key. */
export function conditionHeader(key: string): string | undefined {
  return HEADER_KEY.exec(key)?.[1]?.toLowerCase();
}

/** Why `block` is not an IP address or CIDR range, or undefined when it is one. */
export function cidrProblem(block: string): string | undefined {
  const slash = block.indexOf('/');
  const address = slash === -1 ? block : block.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `'${block}' is not an IP address or CIDR range`;
  if (slash === -1) return undefined;
  const len = block.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(len) || Number(len) > max) return `'${block}': the prefix length must be 0..${max}`;
  return undefined;
}

function wildcardProblem(what: string, v: string): string | undefined {
  const inner = v.length > 1 ? v.slice(1, -1) : '';
  if (inner.includes('*')) return `${what} '${v}': '*' may only start or end it`;
  return undefined;
}

/** Value checks that need no other part of the mesh (services and ports are checked by the caller). */
export function checkPolicyValues(p: AuthorizationPolicy, base: string, issues: MeshIssue[]): void {
  p.rules?.forEach((r, ri) => {
    const at = `${base}.rules[${ri}]`;
    r.from?.forEach(({ source: s }, fi) => {
      const sat = `${at}.from[${fi}].source`;
      for (const field of ['principals', 'not_principals'] as const) {
        s[field]?.forEach((v, i) => {
          if (v.startsWith('spiffe://'))
            issues.push({
              path: `${sat}.${field}[${i}]`,
              message: `write principals without 'spiffe://', as Istio does: '${v.slice(9)}'`,
            });
          const w = wildcardProblem('principal', v);
          if (w !== undefined) issues.push({ path: `${sat}.${field}[${i}]`, message: w });
        });
      }
      for (const field of ['ip_blocks', 'not_ip_blocks', 'remote_ip_blocks', 'not_remote_ip_blocks'] as const) {
        s[field]?.forEach((v, i) => {
          const problem = cidrProblem(v);
          if (problem !== undefined) issues.push({ path: `${sat}.${field}[${i}]`, message: problem });
        });
      }
    });
    r.to?.forEach(({ operation: o }, ti) => {
      const oat = `${at}.to[${ti}].operation`;
      for (const field of ['paths', 'not_paths'] as const) {
        o[field]?.forEach((v, i) => {
          if (!v.startsWith('/') && !v.startsWith('*'))
            issues.push({ path: `${oat}.${field}[${i}]`, message: `path '${v}' must start with / or *` });
          const w = wildcardProblem('path', v);
          if (w !== undefined) issues.push({ path: `${oat}.${field}[${i}]`, message: w });
        });
      }
      for (const field of ['methods', 'not_methods'] as const) {
        o[field]?.forEach((v, i) => {
          if (!/^[A-Z]+$/.test(v))
            issues.push({ path: `${oat}.${field}[${i}]`, message: `method '${v}' must be upper-case, e.g. GET` });
        });
      }
      for (const field of ['hosts', 'not_hosts'] as const) {
        o[field]?.forEach((v, i) => {
          const w = wildcardProblem('host', v);
          if (w !== undefined) issues.push({ path: `${oat}.${field}[${i}]`, message: w });
        });
      }
    });
    r.when?.forEach((c, wi) => {
      const cat = `${at}.when[${wi}]`;
      const all = [...(c.values ?? []), ...(c.not_values ?? [])];
      if (conditionHeader(c.key) !== undefined) return;
      if (c.key === 'source.ip' || c.key === 'remote.ip') {
        for (const v of all) {
          const problem = cidrProblem(v);
          if (problem !== undefined) issues.push({ path: `${cat}.values`, message: problem });
        }
      } else if (c.key === 'destination.port') {
        for (const v of all)
          if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535)
            issues.push({ path: `${cat}.values`, message: `'${v}' is not a port number` });
      } else if (c.key !== 'source.namespace' && c.key !== 'source.principal') {
        issues.push({ path: `${cat}.key`, message: `unsupported key '${c.key}'; one of ${CONDITION_KEYS.join(', ')}` });
      }
    });
  });
}
