// Validation of received resources with the proxy's own static-config schemas: a resource
// that would not load from a bootstrap file is refused over xDS with the same message.
import type { z } from 'zod';
import {
  clusterLoadAssignmentSchema,
  clusterSchema,
  listenerSchema,
  routeConfigurationSchema,
  type ClusterConfig,
  type ClusterLoadAssignment,
  type ListenerConfig,
  type RouteConfiguration,
} from '../api/schema.js';
import { formatIssues } from '../config/load.js';
import { resourceTlsProblems, secretProblems } from '../core/network/tls/check.js';
import { type SecretConfig, secretSchema } from '../api/tls.js';
import type { ResourceValidator } from './client.js';
import type { JsonMap } from './proto/codec.js';
import { XdsClientError } from './errors.js';

function check(schema: z.ZodType, value: unknown): string[] {
  const r = schema.safeParse(value);
  return r.success ? [] : formatIssues(r.error.issues);
}

/** Schema problems, then (for a resource that passes) its TLS material's: inline certificates must load. */
function checkWithTls(schema: z.ZodType<ListenerConfig | ClusterConfig>, kind: 'listener' | 'cluster', value: unknown) {
  const r = schema.safeParse(value);
  if (!r.success) return formatIssues(r.error.issues);
  return resourceTlsProblems(kind, r.data);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new XdsClientError('MS_ERR_XDS_INVALID', formatIssues(r.error.issues).join('; '));
  return r.data;
}

export const proxyResourceValidator: ResourceValidator & {
  parseCluster(c: JsonMap): ClusterConfig;
  parseAssignment(a: JsonMap): ClusterLoadAssignment;
  parseListener(l: JsonMap): ListenerConfig;
  parseRouteConfiguration(rc: JsonMap): RouteConfiguration;
  parseSecret(s: JsonMap): SecretConfig;
} = {
  cluster: (c) => checkWithTls(clusterSchema, 'cluster', c),
  assignment: (a) => check(clusterLoadAssignmentSchema, a),
  listener: (l) => checkWithTls(listenerSchema, 'listener', l),
  routeConfiguration: (rc) => check(routeConfigurationSchema, rc),
  parseCluster: (c) => parse(clusterSchema, c),
  parseAssignment: (a) => parse(clusterLoadAssignmentSchema, a),
  parseListener: (l) => parse(listenerSchema, l),
  parseRouteConfiguration: (rc) => parse(routeConfigurationSchema, rc),
  secret: (s) => {
    const r = secretSchema.safeParse(s);
    return r.success ? secretProblems(r.data) : formatIssues(r.error.issues);
  },
  parseSecret: (s) => parse(secretSchema, s),
};
