// SDS resources for a workload, named as Istio names them: `default` is the workload's own
// certificate and key, `ROOTCA` the trust bundle its peers' certificates are checked against.
import type { IssuedSvid } from './ca.js';

export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
export const WORKLOAD_SECRET = 'default';
export const ROOT_CA_SECRET = 'ROOTCA';

export interface TlsCertificateSecret {
  '@type': typeof SECRET_TYPE_URL;
  name: string;
  tls_certificate: { certificate_chain: { inline_string: string }; private_key: { inline_string: string } };
}

export interface ValidationContextSecret {
  '@type': typeof SECRET_TYPE_URL;
  name: string;
  validation_context: { trusted_ca: { inline_string: string } };
}

export function workloadSecrets(
  svid: IssuedSvid,
  rootCertificatePem: string,
): [TlsCertificateSecret, ValidationContextSecret] {
  return [
    {
      '@type': SECRET_TYPE_URL,
      name: WORKLOAD_SECRET,
      tls_certificate: {
        certificate_chain: { inline_string: svid.certificatePem },
        private_key: { inline_string: svid.privateKeyPem },
      },
    },
    {
      '@type': SECRET_TYPE_URL,
      name: ROOT_CA_SECRET,
      validation_context: { trusted_ca: { inline_string: rootCertificatePem } },
    },
  ];
}
