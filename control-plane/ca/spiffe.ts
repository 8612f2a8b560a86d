// SPIFFE IDs as Istio writes them for Kubernetes workloads: spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
// The SPIFFE ID standard limits the trust domain to lowercase letters, digits, '.', '-' and '_',
// and path segments to letters, digits, '.', '-' and '_' (no '.' or '..' segments).
import { SpiffeIdError } from './errors.js';

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
}

function checkSegment(what: string, value: string): void {
  if (!SEGMENT.test(value) || value === '.' || value === '..')
    throw new SpiffeIdError(`${what} '${value}' is not a SPIFFE path segment (letters, digits, '.', '-', '_')`);
}

export function spiffeId(trustDomain: string, id: WorkloadIdentity): string {
  if (!TRUST_DOMAIN.test(trustDomain))
    throw new SpiffeIdError(`trust domain '${trustDomain}' must be lowercase letters, digits, '.', '-' or '_'`);
  checkSegment('namespace', id.namespace);
  checkSegment('service account', id.serviceAccount);
  return `spiffe://${trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** The identity in an Istio-shaped SPIFFE ID, or undefined for any other URI. */
export function parseSpiffeId(uri: string): ({ trustDomain: string } & WorkloadIdentity) | undefined {
  const m = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([A-Za-z0-9._-]+)\/sa\/([A-Za-z0-9._-]+)$/.exec(uri);
  if (m === null) return undefined;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}
