// Envoy's default tag extraction (source/common/config/well_known_names.cc): a flat stat
// name such as `cluster.backend.upstream_rq_200` becomes the tag-extracted name
// `cluster.upstream_rq` with tags envoy.response_code=200, envoy.cluster_name=backend.
// Every extractor runs against the original name; group 1 is removed from the name and
// group 2 (or group 1 when there is no group 2) is the tag value, as in Envoy.

interface TagExtractor {
  readonly tagName: string;
  readonly regex: RegExp;
  /** Cheap pre-filter: the regex cannot match a name that lacks this substring. */
  readonly substr: string;
}

function extractor(tagName: string, source: string, substr = ''): TagExtractor {
  return { tagName, regex: new RegExp(source, 'd'), substr };
}

// Same order as Envoy, which is roughly most to least specific.
const DEFAULT_EXTRACTORS: readonly TagExtractor[] = [
  extractor('envoy.response_code', String.raw`_rq(_(\d{3}))$`, '_rq_'),
  extractor('envoy.response_code_class', String.raw`_rq_(\d)xx$`, '_rq_'),
  extractor(
    'envoy.dynamo_partition_id',
    String.raw`^http(?=\.).*?\.dynamodb\.table(?=\.).*?\.capacity(?=\.).*?(\.__partition_id=(\w{7}))$`,
    '.dynamodb.table.',
  ),
  extractor(
    'envoy.dynamo_operation',
    String.raw`^http(?=\.).*?\.dynamodb.(?:operation|table(?=\.).*?\.capacity)(\.(.*?))(?:\.|$)`,
    '.dynamodb.',
  ),
  extractor(
    'envoy.mongo_callsite',
    String.raw`^mongo(?=\.).*?\.collection(?=\.).*?\.callsite\.((.*?)\.).*?query.\w+?$`,
    '.collection.',
  ),
  extractor('envoy.dynamo_table', String.raw`^http(?=\.).*?\.dynamodb.(?:table|error)\.((.*?)\.)`, '.dynamodb.'),
  extractor('envoy.mongo_collection', String.raw`^mongo(?=\.).*?\.collection\.((.*?)\.).*?query.\w+?$`, '.collection.'),
  extractor('envoy.mongo_cmd', String.raw`^mongo(?=\.).*?\.cmd\.((.*?)\.)\w+?$`, '.cmd.'),
  extractor('envoy.grpc_bridge_method', String.raw`^cluster(?=\.).*?\.grpc(?=\.).*\.((.*?)\.)\w+?$`, '.grpc.'),
  extractor('envoy.http_user_agent', String.raw`^http(?=\.).*?\.user_agent\.((.*?)\.)\w+?$`, '.user_agent.'),
  extractor('envoy.virtual_cluster', String.raw`^vhost(?=\.).*?\.vcluster\.((.*?)\.)\w+?$`, '.vcluster.'),
  extractor('envoy.fault_downstream_cluster', String.raw`^http(?=\.).*?\.fault\.((.*?)\.)\w+?$`, '.fault.'),
  extractor('envoy.ssl_cipher', String.raw`^listener(?=\.).*?\.ssl\.cipher(\.(.*?))$`),
  extractor('cipher_suite', String.raw`^cluster(?=\.).*?\.ssl\.ciphers(\.(.*?))$`, '.ssl.ciphers.'),
  extractor('envoy.grpc_bridge_service', String.raw`^cluster(?=\.).*?\.grpc\.((.*?)\.)`, '.grpc.'),
  extractor('envoy.tcp_prefix', String.raw`^tcp\.((.*?)\.)\w+?$`),
  extractor('envoy.udp_prefix', String.raw`^udp\.((.*?)\.)\w+?$`),
  extractor('envoy.clientssl_prefix', String.raw`^auth\.clientssl\.((.*?)\.)\w+?$`),
  extractor('envoy.ratelimit_prefix', String.raw`^ratelimit\.((.*?)\.)\w+?$`),
  // Envoy's `^cluster\.(([^\.]+)\.)` cuts dotted names; Istio's form also keeps
  // `outbound|80||svc.ns.svc.cluster.local` whole, which sidecar cluster names need.
  extractor('envoy.cluster_name', String.raw`^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)`),
  extractor('envoy.http_conn_manager_prefix', String.raw`^listener(?=\.).*?\.http\.((.*?)\.)`, '.http.'),
  extractor('envoy.http_conn_manager_prefix', String.raw`^http\.((.*?)\.)`),
  extractor('envoy.listener_address', String.raw`^listener\.(((?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*))\.)`),
  extractor('envoy.virtual_host', String.raw`^vhost\.((.*?)\.)`),
  extractor('envoy.mongo_prefix', String.raw`^mongo\.((.*?)\.)`),
  extractor('envoy.rds_route_config', String.raw`^http(?=\.).*?\.rds\.((.*?)\.)\w+?$`, '.rds.'),
  extractor('envoy.worker_id', String.raw`^listener_manager\.((worker_\d+)\.)`, 'listener_manager.worker_'),
];

export interface ExtractedName {
  /** The name with every tag's text removed, e.g. `cluster.upstream_rq`. */
  readonly name: string;
  readonly tags: ReadonlyArray<readonly [string, string]>;
}

/** Applies Envoy's default extractors to a flat stat name. */
export function extractTags(statName: string): ExtractedName {
  const tags: Array<readonly [string, string]> = [];
  const removals: Array<[number, number]> = [];
  for (const ex of DEFAULT_EXTRACTORS) {
    if (ex.substr !== '' && !statName.includes(ex.substr)) continue;
    if (tags.some(([n]) => n === ex.tagName)) continue;
    const m = ex.regex.exec(statName);
    if (m === null || m.indices === undefined) continue;
    const removeRange = m.indices[1];
    if (removeRange === undefined) continue;
    const value = m.length > 2 && m[2] !== undefined ? m[2] : (m[1] ?? '');
    tags.push([ex.tagName, value]);
    removals.push([removeRange[0], removeRange[1]]);
  }
  if (removals.length === 0) return { name: statName, tags };
  removals.sort((a, b) => a[0] - b[0]);
  let name = '';
  let pos = 0;
  for (const [start, end] of removals) {
    if (start > pos) name += statName.slice(pos, start);
    if (end > pos) pos = end;
  }
  name += statName.slice(pos);
  return { name, tags };
}
