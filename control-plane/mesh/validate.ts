// Loading a mesh description: YAML → zod shapes → cross-reference checks. Every problem is
// collected and reported at once with its path; nothing partial is ever returned.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { MeshReadError, MeshValidationError, type MeshIssue } from '../errors.js';
import { type AuthorizationPolicy, checkPolicyValues } from './authorization.js';
import {
  mesh as meshSchema,
  meshWithUncheckedServices,
  serviceWithUncheckedWorkloads,
  workload as workloadSchema,
  type Destination,
  type Mesh,
  type RouteRule,
  type Service,
  type ServicePort,
  type Workload,
} from './schema.js';
import { parseBySections } from './yaml-sections.js';

/** `a.b[2].c` from zod's path segments. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

function zodIssues(error: z.ZodError): MeshIssue[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      // Name each unknown key by its own full path, as the proxy's bootstrap errors do.
      return issue.keys.map((k) => ({ path: formatPath([...issue.path, k]), message: 'unknown field' }));
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}

/** The fully qualified reference `name.namespace` of a service. */
export function serviceKey(svc: Pick<Service, 'name' | 'namespace'>): string {
  return `${svc.name}.${svc.namespace}`;
}

interface ServiceIndex {
  /** The first service of each `name.namespace` (a duplicate is an issue of its own). */
  byKey: Map<string, Service>;
  byName: Map<string, Service[]>;
  /** Each service's place in the mesh, to put a few services in mesh order without a scan. */
  position: Map<Service, number>;
}

/**
 * The services by reference, once per services array: every egress host, route destination
 * and policy reference is resolved on each edit, and a scan per reference made an edit of a
 * mesh with hundreds of services quadratic in them.
 */
const indexes = new WeakMap<readonly Service[], ServiceIndex>();

function serviceIndex(services: readonly Service[]): ServiceIndex {
  let index = indexes.get(services);
  if (index === undefined) {
    index = { byKey: new Map(), byName: new Map(), position: new Map() };
    for (const s of services) {
      index.position.set(s, index.position.size);
      const key = serviceKey(s);
      if (!index.byKey.has(key)) index.byKey.set(key, s);
      const named = index.byName.get(s.name);
      if (named === undefined) index.byName.set(s.name, [s]);
      else named.push(s);
    }
    indexes.set(services, index);
  }
  return index;
}

/**
 * Finds the service a destination names: `name.namespace`, or a bare `name` when it is unique
 * in the mesh. Returns a string explaining the failure otherwise.
 */
export function resolveService(m: Mesh, ref: string): Service | string {
  const index = serviceIndex(m.services);
  const dotted = index.byKey.get(ref);
  if (dotted !== undefined) return dotted;
  const byName = index.byName.get(ref) ?? [];
  if (byName.length === 1) return byName[0] as Service;
  if (byName.length > 1)
    return `service '${ref}' is ambiguous (namespaces ${byName.map((s) => s.namespace).join(', ')}): write name.namespace`;
  return `no service named '${ref}'`;
}

/**
 * The services a service's sidecars route to when it declares `egress.hosts` (Istio's Sidecar
 * scope): the hosts, then every service their routes send or mirror to, transitively (a caller
 * applies the destination's rules, so it needs the clusters those rules name), in mesh order.
 * `undefined` when the service declares none: every service. Unresolvable hosts are skipped
 * here (checkCrossReferences reports them).
 */
export function egressServices(m: Mesh, svc: Service): Service[] | undefined {
  const hosts = svc.egress?.hosts;
  if (hosts === undefined) return undefined;
  const inScope = new Set<Service>();
  const add = (s: Service | string | undefined): void => {
    if (s === undefined || typeof s === 'string' || inScope.has(s)) return;
    inScope.add(s);
    for (const rule of s.routes ?? []) {
      for (const d of rule.route) add(d.service === undefined ? s : resolveService(m, d.service));
      if (rule.mirror !== undefined)
        add(rule.mirror.service === undefined ? s : resolveService(m, rule.mirror.service));
    }
  };
  for (const h of hosts) add(resolveService(m, h));
  // Sorted by place rather than filtered from every service: each service's scope is found on
  // each edit, and a filter made that quadratic in services.
  const position = serviceIndex(m.services).position;
  return [...inScope].sort((a, b) => (position.get(a) as number) - (position.get(b) as number));
}

/** The labels a subset selects: a declared subset's labels, else `{version: name}`. */
function subsetLabels(svc: Service, subset: string): Record<string, string> {
  const declared = svc.policy?.subsets?.find((s) => s.name === subset);
  return declared !== undefined ? declared.labels : { version: subset };
}

export function subsetWorkloads(svc: Service, subset: string | undefined): Workload[] {
  if (subset === undefined) return svc.workloads;
  const want = Object.entries(subsetLabels(svc, subset));
  return svc.workloads.filter((w) => want.every(([k, v]) => w.labels[k] === v));
}

function checkCrossReferences(m: Mesh): MeshIssue[] {
  const issues: MeshIssue[] = [];
  const seenServices = new Map<string, number>();
  // Who claimed a node name or port: a path, or for a workload's claims its place, whose path is
  // written only when a second claim conflicts (a thousand-workload mesh is re-checked per edit).
  const nodeNames = new Map<string, Claim>();
  const listenerPorts = new Map<number, Claim>();
  const claimPort = (p: number | undefined, claim: Claim): void => {
    if (p === undefined) return;
    const owner = listenerPorts.get(p);
    if (owner !== undefined)
      issues.push({ path: claimPath(claim), message: `port ${p} is already used by ${claimPath(owner)}` });
    else listenerPorts.set(p, claim);
  };
  const claimNode = (name: string, claim: Claim): void => {
    const owner = nodeNames.get(name);
    if (owner !== undefined)
      issues.push({ path: claimPath(claim), message: `node name '${name}' is already used by ${claimPath(owner)}` });
    else nodeNames.set(name, claim);
  };

  m.services.forEach((svc, si) => {
    const base = `services[${si}]`;
    const key = serviceKey(svc);
    const prev = seenServices.get(key);
    if (prev !== undefined)
      issues.push({ path: `${base}.name`, message: `duplicate service ${key} (also services[${prev}])` });
    else seenServices.set(key, si);

    const portNames = new Set<string>();
    const portNumbers = new Set<number>();
    svc.ports.forEach((p, pi) => {
      if (portNames.has(p.name))
        issues.push({ path: `${base}.ports[${pi}].name`, message: `duplicate port name '${p.name}'` });
      if (portNumbers.has(p.port))
        issues.push({ path: `${base}.ports[${pi}].port`, message: `duplicate port ${p.port}` });
      portNames.add(p.name);
      portNumbers.add(p.port);
    });

    svc.egress?.hosts.forEach((h, hi) => {
      const found = resolveService(m, h);
      if (typeof found === 'string') issues.push({ path: `${base}.egress.hosts[${hi}]`, message: found });
    });
    // The scope is needed only to check outbound_tcp targets: computed for the first.
    let egress: Service[] | undefined | null = null;

    svc.workloads.forEach((w, wi) => {
      claimNode(w.name, new WorkloadClaim(si, wi, 'name'));
      checkPortMap(w.endpoints, portNames, si, wi, 'endpoints', 'endpoint', issues);
      if (w.sidecar !== undefined) {
        const inbound = w.sidecar.inbound;
        checkPortMap(inbound, portNames, si, wi, 'sidecar.inbound', 'inbound listener port', issues);
        for (const name in inbound) claimPort(inbound[name], new WorkloadClaim(si, wi, 'sidecar.inbound', name));
        claimPort(w.sidecar.outbound_port, new WorkloadClaim(si, wi, 'sidecar.outbound_port'));
        claimPort(w.sidecar.admin_port, new WorkloadClaim(si, wi, 'sidecar.admin_port'));
        const tcp = w.sidecar.outbound_tcp;
        if (tcp !== undefined)
          for (const key in tcp) {
            const path = `${base}.workloads[${wi}].sidecar.outbound_tcp.${key}`;
            const problem = outboundTcpTarget(m, key);
            if (typeof problem === 'string') issues.push({ path, message: problem });
            else if (
              (egress === null ? (egress = egressServices(m, svc)) : egress)?.includes(problem.service) === false
            )
              issues.push({
                path,
                message: `service ${serviceKey(problem.service)} is not in ${base}.egress.hosts (the sidecar has no cluster for it)`,
              });
            claimPort(tcp[key], path);
          }
      }
    });

    if ((svc.mtls ?? m.mtls) === 'STRICT') {
      svc.workloads.forEach((w, wi) => {
        if (w.sidecar === undefined)
          issues.push({
            path: `${base}.workloads[${wi}]`,
            message: `mtls STRICT: workload '${w.name}' has no sidecar to terminate mutual TLS (set the service's mtls to PERMISSIVE or DISABLE)`,
          });
      });
    }

    const subsetNames = new Set<string>();
    svc.policy?.subsets?.forEach((s, i) => {
      if (subsetNames.has(s.name))
        issues.push({ path: `${base}.policy.subsets[${i}].name`, message: `duplicate subset '${s.name}'` });
      subsetNames.add(s.name);
    });

    svc.routes?.forEach((rule, ri) => checkRule(m, rule, svc, `${base}.routes[${ri}]`, issues));
  });

  if (m.ingress !== undefined) {
    claimNode(m.ingress.name, 'ingress.name');
    claimPort(m.ingress.port, 'ingress.port');
    claimPort(m.ingress.https_port, 'ingress.https_port');
    claimPort(m.ingress.admin_port, 'ingress.admin_port');
    m.ingress.routes.forEach((rule, ri) => checkRule(m, rule, undefined, `ingress.routes[${ri}]`, issues));
  }
  m.authorization_policies?.forEach((p, pi) => checkPolicy(m, p, `authorization_policies[${pi}]`, issues));
  return issues;
}

/** The services an authorization policy guards: its `services`, else every one (of its namespace, when given). */
export function policyServices(m: Mesh, p: AuthorizationPolicy): Service[] {
  if (p.services !== undefined)
    return p.services.map((ref) => resolveService(m, ref)).filter((s) => typeof s !== 'string');
  return m.services.filter((s) => p.namespace === undefined || s.namespace === p.namespace);
}

function checkPolicy(m: Mesh, p: AuthorizationPolicy, base: string, issues: MeshIssue[]): void {
  const seen = m.authorization_policies?.findIndex((q) => q.name === p.name && q.namespace === p.namespace);
  if (seen !== undefined && `authorization_policies[${seen}]` !== base)
    issues.push({
      path: `${base}.name`,
      message: `duplicate policy '${p.name}' (also authorization_policies[${seen}])`,
    });
  p.services?.forEach((ref, i) => {
    const found = resolveService(m, ref);
    if (typeof found === 'string') issues.push({ path: `${base}.services[${i}]`, message: found });
    else if (p.namespace !== undefined && found.namespace !== p.namespace)
      issues.push({
        path: `${base}.services[${i}]`,
        message: `service ${serviceKey(found)} is not in namespace ${p.namespace}`,
      });
  });
  const guarded = policyServices(m, p);
  if (p.services === undefined && guarded.length === 0)
    issues.push({ path: `${base}.namespace`, message: `no service in namespace '${p.namespace}'` });
  const known = new Set(guarded.flatMap((s) => s.ports.map((port) => port.port)));
  p.rules?.forEach((r, ri) =>
    r.to?.forEach(({ operation }, ti) => {
      for (const field of ['ports', 'not_ports'] as const) {
        operation[field]?.forEach((port, i) => {
          if (!known.has(port))
            issues.push({
              path: `${base}.rules[${ri}].to[${ti}].operation.${field}[${i}]`,
              message: `port ${port} is not a port of ${guarded.map(serviceKey).join(', ') || 'any guarded service'}`,
            });
        });
      }
    }),
  );
  checkPolicyValues(p, base, issues);
}

/**
 * Resolves an `outbound_tcp` key, `<service>:<port name>`, to its service and TCP port, or
 * returns why it cannot.
 */
export function outboundTcpTarget(m: Mesh, key: string): { service: Service; port: ServicePort } | string {
  const colon = key.lastIndexOf(':');
  if (colon <= 0) return `expected '<service>:<port name>'`;
  const svc = resolveService(m, key.slice(0, colon));
  if (typeof svc === 'string') return svc;
  const portName = key.slice(colon + 1);
  const port = svc.ports.find((p) => p.name === portName);
  if (port === undefined) return `service ${serviceKey(svc)} has no port named '${portName}'`;
  if (port.protocol !== 'TCP') return `port '${portName}' of service ${serviceKey(svc)} is ${port.protocol}, not TCP`;
  return { service: svc, port };
}

function checkPortMap(
  map: Record<string, unknown>,
  portNames: Set<string>,
  si: number,
  wi: number,
  field: string,
  what: string,
  issues: MeshIssue[],
): void {
  const path = (name: string): string => `${workloadPath(si, wi)}.${field}.${name}`;
  for (const name in map) {
    if (!portNames.has(name)) issues.push({ path: path(name), message: `no service port named '${name}'` });
  }
  for (const name of portNames) {
    if (!(name in map)) issues.push({ path: path(name), message: `missing ${what} for service port '${name}'` });
  }
}

function workloadPath(si: number, wi: number): string {
  return `services[${si}].workloads[${wi}]`;
}

/** A workload's claim of a node name or port: its path, written when needed. */
class WorkloadClaim {
  constructor(
    readonly si: number,
    readonly wi: number,
    readonly field: string,
    readonly key = '',
  ) {}
}

type Claim = string | WorkloadClaim;

function claimPath(c: Claim): string {
  if (typeof c === 'string') return c;
  return `${workloadPath(c.si, c.wi)}.${c.field}${c.key === '' ? '' : `.${c.key}`}`;
}

function checkDestination(
  m: Mesh,
  dest: Destination,
  owner: Service | undefined,
  path: string,
  issues: MeshIssue[],
): void {
  let svc = owner;
  if (dest.service !== undefined) {
    const found = resolveService(m, dest.service);
    if (typeof found === 'string') {
      issues.push({ path: `${path}.service`, message: found });
      return;
    }
    svc = found;
  }
  if (svc === undefined) {
    issues.push({ path: `${path}.service`, message: 'required in ingress routes' });
    return;
  }
  if (dest.subset !== undefined && subsetWorkloads(svc, dest.subset).length === 0) {
    issues.push({
      path: `${path}.subset`,
      message: `subset '${dest.subset}' selects no workload of service ${serviceKey(svc)}`,
    });
  }
}

function checkRule(m: Mesh, rule: RouteRule, owner: Service | undefined, path: string, issues: MeshIssue[]): void {
  rule.route.forEach((d, di) => checkDestination(m, d, owner, `${path}.route[${di}]`, issues));
  if (rule.route.length > 1) {
    let sum = 0;
    rule.route.forEach((d, di) => {
      if (d.weight === undefined)
        issues.push({ path: `${path}.route[${di}].weight`, message: 'required when a rule has several destinations' });
      else sum += d.weight;
    });
    if (rule.route.every((d) => d.weight !== undefined) && sum !== 100) {
      issues.push({ path: `${path}.route`, message: `destination weights sum to ${sum}, expected 100` });
    }
  } else if (rule.route[0]?.weight !== undefined && rule.route[0].weight !== 100) {
    issues.push({
      path: `${path}.route[0].weight`,
      message: 'a single destination takes all traffic: omit weight or use 100',
    });
  }
  if (rule.mirror !== undefined) checkDestination(m, rule.mirror, owner, `${path}.mirror`, issues);
}

function parseWhole(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new MeshValidationError(
      source,
      doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '',
        message: e.message.split('\n')[0] ?? e.message,
      })),
    );
  }
  return doc.toJS();
}

/**
 * Each service's and each workload's checked value by its parsed YAML object (yaml-sections
 * reuses the object while its text is unchanged). The schema of a service looks at nothing
 * outside it; what crosses services is checkCrossReferences', run on every parse.
 */
const checkedServices = new WeakMap<object, Service>();
const checkedWorkloads = new WeakMap<object, Workload>();

/** A cached value's key: the parsed object, when it is one. */
function objectKey(raw: unknown): object | undefined {
  return raw !== null && typeof raw === 'object' ? raw : undefined;
}

/** A workload's checked value, or undefined when it does not pass the schema. */
function checkWorkload(raw: unknown): Workload | undefined {
  const key = objectKey(raw);
  const cached = key === undefined ? undefined : checkedWorkloads.get(key);
  if (cached !== undefined) return cached;
  const checked = workloadSchema.safeParse(raw);
  if (!checked.success) return undefined;
  if (key !== undefined) checkedWorkloads.set(key, checked.data);
  return checked.data;
}

/** A service's checked value, or undefined when it (or one of its workloads) does not pass the schema. */
function checkService(raw: unknown): Service | undefined {
  const key = objectKey(raw);
  const cached = key === undefined ? undefined : checkedServices.get(key);
  // A copy, as the schema's parse makes: each mesh has its own service objects.
  if (cached !== undefined) return { ...cached };
  const shell = serviceWithUncheckedWorkloads.safeParse(raw);
  if (!shell.success) return undefined;
  const workloads: Workload[] = [];
  for (const w of shell.data.workloads) {
    const checked = checkWorkload(w);
    if (checked === undefined) return undefined;
    workloads.push(checked);
  }
  const svc: Service = { ...shell.data, workloads };
  if (key !== undefined) checkedServices.set(key, svc);
  return svc;
}

/**
 * The schema's parse, service by service and workload by workload: a mesh of hundreds of
 * services re-checked every one on every edit. Any problem sends the whole value through the
 * mesh schema, for its paths.
 */
function checkSchema(raw: unknown): ReturnType<typeof meshSchema.safeParse> {
  const shell = meshWithUncheckedServices.safeParse(raw);
  if (shell.success) {
    const services: Service[] = [];
    for (const s of shell.data.services) {
      const checked = checkService(s);
      if (checked === undefined) return meshSchema.safeParse(raw);
      services.push(checked);
    }
    return { success: true, data: { ...shell.data, services } };
  }
  return meshSchema.safeParse(raw);
}

/** Parses and validates mesh YAML; `source` names it in errors (a path or `<inline>`). */
export function parseMesh(text: string, source = '<inline>'): Mesh {
  const parsed = checkSchema(parseBySections(text) ?? parseWhole(text, source));
  if (!parsed.success) throw new MeshValidationError(source, zodIssues(parsed.error));
  const issues = checkCrossReferences(parsed.data);
  if (issues.length > 0) throw new MeshValidationError(source, issues);
  return parsed.data;
}

export async function loadMeshFile(path: string): Promise<Mesh> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MeshReadError(path, err);
  }
  return parseMesh(text, path);
}
