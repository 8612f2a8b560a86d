// Stapling through node:tls: the decision (Envoy's ocspStapleAction) and its ssl.ocsp_staple_* counters.
import { EventEmitter } from 'node:events';
import type { SecureContext } from 'node:tls';
import type { OcspStaplePolicy } from '../../../api/tls.js';
import type { CertificateMaterial } from './material.js';
import { ocspExpired } from './ocsp.js';
import type { TlsStats } from './tls-stats.js';

/** What a handshake whose client asked for a staple (status_request) does: Envoy's OcspStapleAction. */
export type OcspStapleAction = 'staple' | 'no_staple' | 'fail';

/** Envoy's ocspStapleAction: a must-staple certificate upgrades the policy to MUST_STAPLE. */
export function ocspStapleAction(
  policy: OcspStaplePolicy,
  cert: CertificateMaterial,
  now = Date.now(),
): OcspStapleAction {
  const staple = cert.ocspStaple;
  const effective = cert.mustStaple ? 'MUST_STAPLE' : policy;
  const valid = staple !== null && !ocspExpired(staple, now);
  if (valid) return 'staple';
  if (effective === 'LENIENT_STAPLING') return 'no_staple';
  if (effective === 'STRICT_STAPLING') return staple === null ? 'no_staple' : 'fail';
  return 'fail';
}

/**
 * What node:tls asks for a staple: a server-side TLSSocket emits 'OCSPRequest' on its `server`
 * (only for a client that sent status_request), with `_sharedCreds` as the context. One per
 * SecureContext, deciding with the certificate that context serves.
 */
export function ocspResponder(
  secureContext: SecureContext,
  cert: CertificateMaterial,
  policy: OcspStaplePolicy,
  stats: TlsStats,
): EventEmitter {
  const server = Object.assign(new EventEmitter(), { _sharedCreds: secureContext });
  server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, resp?: Buffer) => void) => {
    stats.counter('ocsp_staple_requests').inc();
    const action = ocspStapleAction(policy, cert);
    if (action === 'staple') {
      stats.counter('ocsp_staple_responses').inc();
      done(null, cert.ocspStaple?.der);
    } else if (action === 'no_staple') {
      stats.counter('ocsp_staple_omitted').inc();
      done(null);
    } else {
      stats.counter('ocsp_staple_failed').inc();
      done(new Error('OCSP staple required by ocsp_staple_policy and none valid'));
    }
  });
  return server;
}
