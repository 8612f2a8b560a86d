// Mutual TLS between sidecars, as Istio's PeerAuthentication and auto-mTLS render it:
//   STRICT      the inbound listener's one filter chain terminates TLS and requires a client
//               certificate from the mesh CA whose URI SAN is in the trust domain;
//   PERMISSIVE  tls_inspector tells a TLS ClientHello from plaintext: a `tls` chain as above and
//               a plaintext chain on the same port;
//   DISABLE     plaintext, as before.
// Callers originate mTLS to every destination whose mode is STRICT or PERMISSIVE (and whose
// workloads all have sidecars), checking that the server's URI SAN is the destination's own
// SPIFFE ID. Each sidecar's certificate and key come over SDS (secret `default`, issued and
// rotated by the control plane's CA) the way its other config comes: ADS, or REST polls of
// /v3/discovery:secrets for a REST sidecar; the mesh root is written inline as the trusted CA, so
// validation and SAN matching sit in one validation_context.
import { spiffeId } from '../ca/spiffe.js';
import { WORKLOAD_SECRET } from '../ca/sds.js';
import type { Mesh, Service } from '../mesh/schema.js';
import { type ConfigSourceStyle, configSource, type JsonObject } from './envoy.js';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
export const DOWNSTREAM_TLS_CONTEXT_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_CONTEXT_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const TLS_INSPECTOR_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

/**
 * The static secret (static_resources.secrets of the front proxy's bootstrap) holding the
 * certificate the ingress serves on its HTTPS port: the operator's, not a mesh identity.
 */
export const INGRESS_CERT_SECRET = 'ingress-cert';

/**
 * The ingress's HTTPS filter chain's transport socket: the operator's certificate, h2 preferred
 * by ALPN, no client certificate (north-south clients are browsers and curl, not workloads).
 */
export function ingressTransportSocket(): JsonObject {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': DOWNSTREAM_TLS_CONTEXT_TYPE,
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        tls_certificate_sds_secret_configs: [{ name: INGRESS_CERT_SECRET }],
        alpn_protocols: ['h2', 'http/1.1'],
      },
    },
  };
}

/** What the translators need from the mesh CA. */
export interface MeshSecurity {
  /** The mesh's root certificate (PEM), trusted by every sidecar. */
  readonly rootCertificatePem: string;
}

/** A service's PeerAuthentication mode: its own, else the mesh's. */
export function mtlsMode(mesh: Mesh, svc: Service): MtlsMode {
  return svc.mtls ?? mesh.mtls;
}

export function usesMtls(mesh: Mesh): boolean {
  return mesh.mtls !== 'DISABLE' || mesh.services.some((s) => s.mtls !== undefined && s.mtls !== 'DISABLE');
}

/** The identity a service's workloads carry. */
export function serviceIdentity(svc: Service): { namespace: string; serviceAccount: string } {
  return { namespace: svc.namespace, serviceAccount: svc.service_account ?? svc.name };
}

/** Callers speak mTLS to `svc` (Istio's auto-mTLS): it accepts it, and every workload has a sidecar to terminate it. */
export function originatesMtls(mesh: Mesh, svc: Service): boolean {
  return mtlsMode(mesh, svc) !== 'DISABLE' && svc.workloads.every((w) => w.sidecar !== undefined);
}

function sdsCertificate(source: ConfigSourceStyle): JsonObject {
  return { name: WORKLOAD_SECRET, sds_config: configSource(source) };
}

function downstreamTransportSocket(
  mesh: Mesh,
  security: MeshSecurity,
  http: boolean,
  source: ConfigSourceStyle,
): JsonObject {
  const common: JsonObject = {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
    tls_certificate_sds_secret_configs: [sdsCertificate(source)],
    validation_context: {
      trusted_ca: { inline_string: security.rootCertificatePem },
      match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: `spiffe://${mesh.trust_domain}/` } }],
    },
  };
  if (http) common.alpn_protocols = ['h2', 'http/1.1'];
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': DOWNSTREAM_TLS_CONTEXT_TYPE,
      common_tls_context: common,
      require_client_certificate: true,
    },
  };
}

/** A caller's transport socket to `dest`: its own SVID, the destination's SPIFFE ID required of the server. */
export function upstreamTransportSocket(
  mesh: Mesh,
  security: MeshSecurity,
  dest: Service,
  sni: string,
  source: ConfigSourceStyle,
): JsonObject {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': UPSTREAM_TLS_CONTEXT_TYPE,
      sni,
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        tls_certificate_sds_secret_configs: [sdsCertificate(source)],
        validation_context: {
          trusted_ca: { inline_string: security.rootCertificatePem },
          match_typed_subject_alt_names: [
            { san_type: 'URI', matcher: { exact: spiffeId(mesh.trust_domain, serviceIdentity(dest)) } },
          ],
        },
      },
    },
  };
}

/**
 * Applies `svc`'s mode to one of its inbound listeners (one plaintext filter chain as built):
 * STRICT puts TLS on that chain; PERMISSIVE adds tls_inspector and a TLS twin of the chain.
 */
export function secureInboundListener(
  mesh: Mesh,
  security: MeshSecurity | undefined,
  svc: Service,
  listener: JsonObject,
  http: boolean,
  source: ConfigSourceStyle,
): JsonObject {
  const mode = mtlsMode(mesh, svc);
  if (mode === 'DISABLE') return listener;
  if (security === undefined) throw new Error(`mtls ${mode} for service ${svc.name} needs the mesh CA`);
  const [chain] = listener.filter_chains as JsonObject[];
  const tls: JsonObject = { ...chain, transport_socket: downstreamTransportSocket(mesh, security, http, source) };
  if (mode === 'STRICT') return { ...listener, filter_chains: [{ name: 'mtls', ...tls }] };
  return {
    ...listener,
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE } }],
    filter_chains: [
      { name: 'mtls', filter_chain_match: { transport_protocol: 'tls' }, ...tls },
      { name: 'plaintext', filter_chain_match: { transport_protocol: 'raw_buffer' }, ...chain },
    ],
  };
}
