// Validation of received resources with the proxy's own static-config schemas: a resource
// that would not load from a bootstrap file is refused over xDS with the same message.
import type { z } from 'zod';
import { clusterLoadAssignmentSchema, clusterSchema, listenerSchema, routeConfigurationSchema } from '../config/schema.js';
import { formatIssues } from '../config/load.js';
import type { ResourceValidator } from './client.js';

function check(schema: z.ZodType, value: unknown): string[] {
  const r = schema.safeParse(value);
  return r.success ? [] : formatIssues(r.error.issues);
}

export const proxyResourceValidator: ResourceValidator = {
  cluster: (c) => check(clusterSchema, c),
  assignment: (a) => check(clusterLoadAssignmentSchema, a),
  listener: (l) => check(listenerSchema, l),
  routeConfiguration: (rc) => check(routeConfigurationSchema, rc),
};
