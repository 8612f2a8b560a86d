// Envoy's TLS transport socket API (envoy.extensions.transport_sockets.tls.v3): the
// DownstreamTlsContext a filter chain's `transport_socket` carries, the UpstreamTlsContext of a
// cluster's, their CommonTlsContext, and the Secret resources SDS serves (static_resources.secrets,
// a watched file, or ADS). Only the fields meshscope implements; any other is refused by name.
// The certificates themselves are checked where they are read (proxy/core/network/tls/), since
// a file's content is not the schema's business.
import { z } from 'zod';
import { configSourceSchema } from './config-source.js';
import { durationSchema } from './duration.js';
import { exactlyOne } from './refine.js';
import { stringMatcherSchema } from './string-matcher.js';
import { u32Wrapped } from './wrappers.js';

export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
export const RAW_BUFFER_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.raw_buffer';
export const DOWNSTREAM_TLS_CONTEXT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_CONTEXT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const RAW_BUFFER_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

const boolValue = z.union([z.boolean(), z.object({ value: z.boolean() }).strict()]);
/** A BoolValue as a plain boolean, `fallback` when unset. */
export function boolOf(v: boolean | { value: boolean } | undefined, fallback: boolean): boolean {
  return v === undefined ? fallback : typeof v === 'boolean' ? v : v.value;
}

/** config.core.v3.DataSource: exactly one of a file, inline text, inline base64 bytes, an environment variable. */
export const dataSourceSchema = z
  .object({
    filename: z.string().min(1).optional(),
    inline_string: z.string().min(1).optional(),
    inline_bytes: z.string().min(1).optional(),
    environment_variable: z.string().min(1).optional(),
  })
  .strict()
  .superRefine(exactlyOne(['filename', 'inline_string', 'inline_bytes', 'environment_variable']));
export type DataSource = z.output<typeof dataSourceSchema>;

export const OCSP_STAPLE_POLICIES = ['LENIENT_STAPLING', 'STRICT_STAPLING', 'MUST_STAPLE'] as const;
export type OcspStaplePolicy = (typeof OCSP_STAPLE_POLICIES)[number];

const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'] as const;
export type TlsVersionName = (typeof TLS_VERSIONS)[number];

export const tlsParamsSchema = z
  .object({
    tls_minimum_protocol_version: z.enum(TLS_VERSIONS).optional(),
    tls_maximum_protocol_version: z.enum(TLS_VERSIONS).optional(),
    cipher_suites: z.array(z.string().min(1)).optional(),
    ecdh_curves: z.array(z.string().min(1)).optional(),
  })
  .strict();

export const tlsCertificateSchema = z
  .object({
    certificate_chain: dataSourceSchema,
    private_key: dataSourceSchema,
    password: dataSourceSchema.optional(),
    /** A DER OCSP response for this certificate, stapled when a client asks (status_request). */
    ocsp_staple: dataSourceSchema.optional(),
  })
  .strict();
export type TlsCertificateConfig = z.output<typeof tlsCertificateSchema>;

const SAN_TYPES = ['EMAIL', 'DNS', 'URI', 'IP_ADDRESS'] as const;
export const subjectAltNameMatcherSchema = z
  .object({ san_type: z.enum(SAN_TYPES), matcher: stringMatcherSchema })
  .strict();
export type SubjectAltNameMatcher = z.output<typeof subjectAltNameMatcherSchema>;

export const certificateValidationContextSchema = z
  .object({
    trusted_ca: dataSourceSchema.optional(),
    match_typed_subject_alt_names: z.array(subjectAltNameMatcherSchema).optional(),
    /** Deprecated in Envoy (still in its examples): matches a SAN of any type. */
    match_subject_alt_names: z.array(stringMatcherSchema).optional(),
    /** PEM certificate revocation lists: a peer certificate they revoke is refused. */
    crl: dataSourceSchema.optional(),
    /** Only the peer's own certificate is checked against `crl`, not the intermediates above it. */
    only_verify_leaf_cert_crl: z.boolean().optional(),
    /** Pins: base64 SHA-256 of the peer certificate's SubjectPublicKeyInfo (44 characters, Envoy's length). */
    verify_certificate_spki: z.array(z.string().length(44)).optional(),
    /** Pins: hex SHA-256 of the peer certificate's DER, colons allowed (Envoy's 64 to 95 characters). */
    verify_certificate_hash: z.array(z.string().min(64).max(95)).optional(),
  })
  .strict();
export type CertificateValidationContextConfig = z.output<typeof certificateValidationContextSchema>;

/**
 * A reference to a secret by name: static (no sds_config), a watched file, ADS, or REST polls of
 * the management server (`api_config_source` REST naming the xDS cluster; an xDS-fed proxy only).
 */
export const sdsSecretConfigSchema = z
  .object({ name: z.string().min(1), sds_config: configSourceSchema.optional() })
  .strict();
export type SdsSecretConfig = z.output<typeof sdsSecretConfigSchema>;

export const commonTlsContextSchema = z
  .object({
    tls_params: tlsParamsSchema.optional(),
    tls_certificates: z.array(tlsCertificateSchema).optional(),
    tls_certificate_sds_secret_configs: z.array(sdsSecretConfigSchema).max(1).optional(),
    validation_context: certificateValidationContextSchema.optional(),
    validation_context_sds_secret_config: sdsSecretConfigSchema.optional(),
    alpn_protocols: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.tls_certificates?.length ?? 0) > 0 && (c.tls_certificate_sds_secret_configs?.length ?? 0) > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['tls_certificate_sds_secret_configs'],
        message: 'only one of tls_certificates, tls_certificate_sds_secret_configs may be set',
      });
    if (c.validation_context !== undefined && c.validation_context_sds_secret_config !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['validation_context_sds_secret_config'],
        message: 'only one of validation_context, validation_context_sds_secret_config may be set',
      });
    const p = c.tls_params;
    if (
      p?.tls_minimum_protocol_version !== undefined &&
      p.tls_maximum_protocol_version !== undefined &&
      p.tls_maximum_protocol_version !== 'TLS_AUTO' &&
      p.tls_minimum_protocol_version !== 'TLS_AUTO' &&
      TLS_VERSIONS.indexOf(p.tls_maximum_protocol_version) < TLS_VERSIONS.indexOf(p.tls_minimum_protocol_version)
    )
      ctx.addIssue({
        code: 'custom',
        path: ['tls_params', 'tls_maximum_protocol_version'],
        message: 'is below tls_minimum_protocol_version',
      });
  });
export type CommonTlsContextConfig = z.output<typeof commonTlsContextSchema>;

export const downstreamTlsContextSchema = z
  .object({
    '@type': z.literal(DOWNSTREAM_TLS_CONTEXT_TYPE_URL),
    common_tls_context: commonTlsContextSchema.optional(),
    require_client_certificate: boolValue.optional(),
    /** Stateless resumption (session tickets) is on unless this is set. */
    disable_stateless_session_resumption: z.boolean().optional(),
    /** When a staple is served, omitted or the handshake refused (Envoy accepts the names in any case). */
    ocsp_staple_policy: z
      .preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), z.enum(OCSP_STAPLE_POLICIES))
      .optional(),
    session_timeout: durationSchema.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const c = d.common_tls_context;
    if ((c?.tls_certificates?.length ?? 0) === 0 && (c?.tls_certificate_sds_secret_configs?.length ?? 0) === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['common_tls_context'],
        message: 'a server needs tls_certificates or tls_certificate_sds_secret_configs',
      });
    const v = c?.validation_context;
    if (
      boolOf(d.require_client_certificate, false) &&
      v?.trusted_ca === undefined &&
      (v?.verify_certificate_hash?.length ?? 0) === 0 &&
      (v?.verify_certificate_spki?.length ?? 0) === 0 &&
      c?.validation_context_sds_secret_config === undefined
    )
      ctx.addIssue({
        code: 'custom',
        path: ['require_client_certificate'],
        message:
          'needs a validation context with trusted_ca (or certificate pins) to verify client certificates against',
      });
  });
export type DownstreamTlsContextConfig = z.output<typeof downstreamTlsContextSchema>;

export const upstreamTlsContextSchema = z
  .object({
    '@type': z.literal(UPSTREAM_TLS_CONTEXT_TYPE_URL),
    common_tls_context: commonTlsContextSchema.optional(),
    sni: z.string().max(255).optional(),
    allow_renegotiation: z.literal(false, { message: 'renegotiation is not supported (it is off)' }).optional(),
    max_session_keys: u32Wrapped.optional(),
  })
  .strict();
export type UpstreamTlsContextConfig = z.output<typeof upstreamTlsContextSchema>;

const rawBufferSchema = z.object({ '@type': z.literal(RAW_BUFFER_TYPE_URL) }).strict();

/** A `transport_socket`: raw_buffer, or tls with the context of its side (listener or cluster). */
function transportSocketSchema(side: 'downstream' | 'upstream') {
  const tlsContext = side === 'downstream' ? downstreamTlsContextSchema : upstreamTlsContextSchema;
  const tlsTypeUrl = side === 'downstream' ? DOWNSTREAM_TLS_CONTEXT_TYPE_URL : UPSTREAM_TLS_CONTEXT_TYPE_URL;
  return z
    .object({
      name: z.string().min(1),
      typed_config: z.union([tlsContext, rawBufferSchema]).optional(),
    })
    .strict()
    .superRefine((t, ctx) => {
      const type = t.typed_config?.['@type'];
      const isTls = type === tlsTypeUrl || (type === undefined && t.name === TLS_TRANSPORT_SOCKET);
      if (type === undefined && t.name !== RAW_BUFFER_TRANSPORT_SOCKET_NAME)
        ctx.addIssue({
          code: 'custom',
          path: ['typed_config'],
          message: isTls
            ? `${t.name} needs a typed_config (${tlsTypeUrl})`
            : `unsupported transport socket '${t.name}'; supported: ${TLS_TRANSPORT_SOCKET}, ${RAW_BUFFER_TRANSPORT_SOCKET_NAME}`,
        });
    });
}

export const downstreamTransportSocketSchema = transportSocketSchema('downstream');
export const upstreamTransportSocketSchema = transportSocketSchema('upstream');
export type DownstreamTransportSocketConfig = z.output<typeof downstreamTransportSocketSchema>;
export type UpstreamTransportSocketConfig = z.output<typeof upstreamTransportSocketSchema>;

/** The TLS context of a transport socket, null for raw_buffer. */
export function downstreamTlsContextOf(
  t: DownstreamTransportSocketConfig | undefined,
): DownstreamTlsContextConfig | null {
  const c = t?.typed_config;
  return c !== undefined && c['@type'] === DOWNSTREAM_TLS_CONTEXT_TYPE_URL ? c : null;
}
export function upstreamTlsContextOf(t: UpstreamTransportSocketConfig | undefined): UpstreamTlsContextConfig | null {
  const c = t?.typed_config;
  return c !== undefined && c['@type'] === UPSTREAM_TLS_CONTEXT_TYPE_URL ? c : null;
}

/** A cluster's `transport_socket_matches` entry: endpoints whose metadata match use this socket. */
export const transportSocketMatchSchema = z
  .object({
    name: z.string().min(1),
    match: z.record(z.string(), z.unknown()).optional(),
    transport_socket: upstreamTransportSocketSchema,
  })
  .strict();
export type TransportSocketMatchConfig = z.output<typeof transportSocketMatchSchema>;

/** An SDS Secret: a certificate with its key, or a validation context (trusted CA). */
export const secretSchema = z
  .object({
    '@type': z.literal(SECRET_TYPE_URL).optional(),
    name: z.string().min(1),
    tls_certificate: tlsCertificateSchema.optional(),
    validation_context: certificateValidationContextSchema.optional(),
  })
  .strict()
  .superRefine(exactlyOne(['tls_certificate', 'validation_context']));
export type SecretConfig = z.output<typeof secretSchema>;
