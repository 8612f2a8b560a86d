// Envoy loads YAML/JSON config through protobuf's JSON parser, so everything proto3's JSON
// mapping allows loads there: lowerCamelCase field names (`statPrefix`), enums written as
// their numbers (`lb_policy: 1`), a single value where a repeated field is expected (Envoy's
// dynamic-config-fs example writes `filters:` as one object), and any extension config wrapped
// in a TypedStruct (`xds.type.v3.TypedStruct` / `udpa.type.v1.TypedStruct`: `type_url` + a
// Struct `value`). This pre-pass rewrites such input into the canonical form the schemas check
// (snake_case, enum names, lists, `@type` + fields) and remembers where every rewritten field
// came from, so a validation error still names the path the user wrote.
//
// The mapping is driven by field names, not by the proto descriptors: the tables below list the
// fields of the subset meshscope implements whose json_name is not a plain camelCase of the
// proto name, whose value is an enum, is repeated, or is a free-form Struct/map. (Loading
// Envoy's descriptors would cost every proxy start their parse time and resident memory; the
// xDS codec, which needs them anyway, reads resources through them.)

const TYPED_STRUCT_TYPES = new Set([
  'type.googleapis.com/xds.type.v3.TypedStruct',
  'type.googleapis.com/udpa.type.v1.TypedStruct',
]);

/** json_name → proto field name where protoc drops an underscore before a digit. */
const JSON_NAME_EXCEPTIONS: Readonly<Record<string, string>> = {
  acceptHttp10: 'accept_http_10',
  defaultHostForHttp10: 'default_host_for_http_10',
  consecutive5xx: 'consecutive_5xx',
  enforcingConsecutive5xx: 'enforcing_consecutive_5xx',
  traceId128bit: 'trace_id_128bit',
};

/**
 * Enum fields by proto field name: values in number order (holes for unused numbers), from
 * Envoy's v3 API (`envoy/config/cluster/v3/cluster.proto` etc.). `type` is only the cluster's
 * DiscoveryType; `protocol` only SocketAddress.Protocol (see enumValues).
 */
const ENUMS: Readonly<Record<string, ReadonlyArray<string | undefined>>> = {
  lb_policy: [
    'ROUND_ROBIN',
    'LEAST_REQUEST',
    'RING_HASH',
    'RANDOM',
    undefined,
    'MAGLEV',
    'CLUSTER_PROVIDED',
    'LOAD_BALANCING_POLICY_CONFIG',
  ],
  dns_lookup_family: ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'],
  health_status: ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'],
  codec_type: ['AUTO', 'HTTP1', 'HTTP2', 'HTTP3'],
  server_header_transformation: ['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH'],
  forward_client_cert_details: ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'],
  headers_with_underscores_action: ['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER'],
  path_with_escaped_slashes_action: [
    'IMPLEMENTATION_SPECIFIC_DEFAULT',
    'KEEP_UNCHANGED',
    'REJECT_REQUEST',
    'UNESCAPE_AND_REDIRECT',
    'UNESCAPE_AND_FORWARD',
  ],
  traffic_direction: ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'],
  cluster_not_found_response_code: ['SERVICE_UNAVAILABLE', 'NOT_FOUND', 'INTERNAL_SERVER_ERROR'],
  response_code: ['MOVED_PERMANENTLY', 'FOUND', 'SEE_OTHER', 'TEMPORARY_REDIRECT', 'PERMANENT_REDIRECT'],
  api_type: [
    'DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE',
    'REST',
    'GRPC',
    'DELTA_GRPC',
    undefined,
    'AGGREGATED_GRPC',
    'AGGREGATED_DELTA_GRPC',
  ],
  transport_api_version: ['AUTO', 'V2', 'V3'],
  resource_api_version: ['AUTO', 'V2', 'V3'],
  enable_x_ratelimit_headers: ['OFF', 'DRAFT_VERSION_03'],
  collector_endpoint_version: ['DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE', 'HTTP_JSON', 'HTTP_PROTO', 'GRPC'],
  ocsp_staple_policy: ['LENIENT_STAPLING', 'STRICT_STAPLING', 'MUST_STAPLE'],
};
const CLUSTER_TYPES = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'];
const SOCKET_PROTOCOLS = ['TCP', 'UDP'];
/** RoutingPriority; a LocalityLbEndpoints' `priority` is a plain number. */
const ROUTING_PRIORITIES = ['DEFAULT', 'HIGH'];

/** Repeated fields of the implemented subset; a single value there is read as a one-item list. */
const REPEATED = new Set([
  'listeners',
  'clusters',
  'secrets',
  'filter_chains',
  'filters',
  'listener_filters',
  'http_filters',
  'access_log',
  'virtual_hosts',
  'routes',
  'domains',
  'endpoints',
  'lb_endpoints',
  'health_checks',
  'thresholds',
  'layers',
  'request_headers_to_add',
  'response_headers_to_add',
  'request_headers_to_remove',
  'response_headers_to_remove',
  'request_mirror_policies',
  'retriable_status_codes',
  'grpc_services',
  'cluster_names',
  'upgrade_configs',
  'custom_tags',
  'expected_statuses',
  'tls_certificates',
  'tls_certificate_sds_secret_configs',
  'match_typed_subject_alt_names',
  'match_subject_alt_names',
  'verify_certificate_spki',
  'verify_certificate_hash',
  'alpn_protocols',
  'cipher_suites',
  'ecdh_curves',
  'transport_socket_matches',
]);

/** Fields holding a google.protobuf.Struct (or a map of them): user keys, left as written. */
const OPAQUE = new Set(['static_layer', 'json_format', 'filter_metadata', 'typed_filter_metadata', 'dimensions']);
/** Map fields: keys are names (filter or extension names) kept as written, values are messages. */
const MAPS = new Set(['typed_per_filter_config', 'typed_extension_protocol_options']);

/** How a normalized object's keys map back to the input: normalized key → input path segments. */
type Origins = WeakMap<object, Map<string, PropertyKey[]>>;

export interface ProtoJsonInput {
  /** The input in canonical form (new objects where anything was rewritten). */
  readonly value: unknown;
  /** Maps a path in `value` back to the path the user wrote. */
  originalPath(path: ReadonlyArray<PropertyKey>): PropertyKey[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function protoFieldName(key: string): string {
  const known = JSON_NAME_EXCEPTIONS[key];
  if (known !== undefined) return known;
  if (!/^[a-z][A-Za-z0-9]*$/.test(key) || !/[A-Z]/.test(key)) return key;
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function enumValues(field: string, parentField: string | undefined): ReadonlyArray<string | undefined> | undefined {
  if (field === 'type') return parentField === 'clusters' ? CLUSTER_TYPES : undefined;
  if (field === 'protocol') return parentField === 'socket_address' ? SOCKET_PROTOCOLS : undefined;
  if (field === 'priority')
    return parentField === 'route' || parentField === 'thresholds' ? ROUTING_PRIORITIES : undefined;
  return ENUMS[field];
}

class Normalizer {
  readonly origins: Origins = new WeakMap();
  /** Arrays made from a single value: their index segment did not exist in the input. */
  readonly wrapped = new WeakSet<object>();

  value(v: unknown, field: string | undefined, parentField: string | undefined): unknown {
    if (field !== undefined && OPAQUE.has(field)) return v;
    if (field === 'metadata' && parentField === 'node') return v; // Node.metadata is a Struct
    // A transport socket match is a Struct compared with endpoint metadata: its keys are data.
    if (field === 'match' && parentField === 'transport_socket_matches') return v;
    if (typeof v === 'number' && field !== undefined && Number.isInteger(v)) {
      const name = enumValues(field, parentField)?.[v];
      if (name !== undefined) return name;
    }
    if (field !== undefined && REPEATED.has(field) && v !== null && v !== undefined && !Array.isArray(v)) {
      const list = [this.value(v, `${field}[]`, parentField)];
      this.wrapped.add(list);
      return list;
    }
    if (Array.isArray(v)) {
      const itemField = field?.endsWith('[]') ? field : field === undefined ? undefined : `${field}[]`;
      return v.map((item) => this.value(item, itemField, parentField));
    }
    if (isObject(v)) return this.object(v, field?.replace(/\[\]$/, ''));
    return v;
  }

  object(o: Record<string, unknown>, field: string | undefined): Record<string, unknown> {
    const typeUrl = o['@type'];
    if (typeof typeUrl === 'string' && TYPED_STRUCT_TYPES.has(typeUrl)) return this.typedStruct(o);
    const out: Record<string, unknown> = {};
    const origin = new Map<string, PropertyKey[]>();
    const isMap = field !== undefined && MAPS.has(field);
    for (const [key, v] of Object.entries(o)) {
      const name = isMap || key === '@type' ? key : protoFieldName(key);
      // Both spellings of one field: keep the first as protobuf's parser reports the clash.
      if (name in out) {
        out[key] = v;
        continue;
      }
      out[name] = isMap ? this.value(v, undefined, field) : this.value(v, name, field);
      if (name !== key) origin.set(name, [key]);
    }
    if (origin.size > 0) this.origins.set(out, origin);
    return out;
  }

  /** `{ '@type': TypedStruct, type_url, value }` becomes `{ '@type': type_url, ...value }`. */
  typedStruct(o: Record<string, unknown>): Record<string, unknown> {
    const { '@type': _wrapper, ...fields } = o;
    const struct = this.object(fields, undefined);
    const origin = new Map<string, PropertyKey[]>();
    const inner = isObject(struct.value) ? struct.value : {};
    const innerOrigin = this.origins.get(inner);
    const out: Record<string, unknown> = {};
    if (struct.type_url !== undefined) {
      out['@type'] = struct.type_url;
      origin.set('@type', this.origins.get(struct)?.get('type_url') ?? ['type_url']);
    }
    const valueKey = this.origins.get(struct)?.get('value') ?? ['value'];
    for (const [k, v] of Object.entries(inner)) {
      if (k === '@type') continue;
      out[k] = v;
      origin.set(k, [...valueKey, ...(innerOrigin?.get(k) ?? [k])]);
    }
    for (const [k, v] of Object.entries(struct)) {
      if (k === '@type' || k === 'type_url' || k === 'value') continue;
      out[k] = v; // anything else beside type_url/value is an unknown field of the config
      origin.set(k, this.origins.get(struct)?.get(k) ?? [k]);
    }
    this.origins.set(out, origin);
    return out;
  }
}

/**
 * Rewrites a bootstrap in proto3 JSON into the canonical form. (xDS resources are read through
 * Envoy's own messages in proxy/xds/proto.)
 */
export function normalizeProtoJson(raw: unknown): ProtoJsonInput {
  const n = new Normalizer();
  const value = isObject(raw) ? n.object(raw, undefined) : raw;
  return {
    value,
    originalPath(path) {
      const out: PropertyKey[] = [];
      let node: unknown = value;
      for (const seg of path) {
        if (Array.isArray(node) && n.wrapped.has(node) && seg === 0) {
          node = node[0];
          continue;
        }
        const mapped = isObject(node) && typeof seg === 'string' ? n.origins.get(node)?.get(seg) : undefined;
        out.push(...(mapped ?? [seg]));
        node = isObject(node) || Array.isArray(node) ? (node as Record<PropertyKey, unknown>)[seg] : undefined;
      }
      return out;
    },
  };
}
