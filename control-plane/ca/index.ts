export { DEFAULT_SVID_TTL_MS, type IssuedSvid, MeshCA, ROTATE_AT_FRACTION } from './ca.js';
export { CaMaterialError, SpiffeIdError } from './errors.js';
export {
  ROOT_CA_SECRET,
  SECRET_TYPE_URL,
  type TlsCertificateSecret,
  type ValidationContextSecret,
  WORKLOAD_SECRET,
  workloadSecrets,
} from './sds.js';
export { parseSpiffeId, spiffeId, type WorkloadIdentity } from './spiffe.js';
export { WorkloadCertificates, type WorkloadCertificatesOptions } from './certificates.js';
