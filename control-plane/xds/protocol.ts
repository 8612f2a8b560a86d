// DiscoveryRequest/Response shapes (Envoy's proto3 JSON names) and the type-URL table.
import { DiscoveryRequestError } from '../errors.js';
import { TYPE_URL, type JsonObject, type ResourceKind } from '../translate/envoy.js';

export interface NodeJson {
  id?: string;
  cluster?: string;
  [key: string]: unknown;
}

export interface DiscoveryRequest {
  version_info?: string;
  node?: NodeJson;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DiscoveryResponse {
  version_info: string;
  resources: JsonObject[];
  type_url: string;
  nonce: string;
}

const KIND_BY_URL = new Map<string, ResourceKind>(Object.entries(TYPE_URL).map(([k, url]) => [url, k as ResourceKind]));

export function kindOf(typeUrl: string): ResourceKind | undefined {
  return KIND_BY_URL.get(typeUrl);
}

/** REST endpoint suffix (`/v3/discovery:clusters`) → kind. */
export const REST_PATHS: ReadonlyMap<string, ResourceKind> = new Map([
  ['/v3/discovery:listeners', 'listeners'],
  ['/v3/discovery:routes', 'routes'],
  ['/v3/discovery:clusters', 'clusters'],
  ['/v3/discovery:endpoints', 'endpoints'],
  ['/v3/discovery:secrets', 'secrets'],
  ['/v3/discovery:runtime', 'runtime'],
]);

/** Checks the parts of a DiscoveryRequest the server relies on; everything else is passed through. */
export function checkRequest(raw: unknown, where: string): DiscoveryRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new DiscoveryRequestError(`${where}: DiscoveryRequest must be a JSON object`);
  const r = raw as Record<string, unknown>;
  const str = (k: string): void => {
    if (r[k] !== undefined && typeof r[k] !== 'string')
      throw new DiscoveryRequestError(`${where}: ${k}: expected a string`);
  };
  str('version_info');
  str('type_url');
  str('response_nonce');
  if (
    r.resource_names !== undefined &&
    (!Array.isArray(r.resource_names) || r.resource_names.some((n) => typeof n !== 'string'))
  ) {
    throw new DiscoveryRequestError(`${where}: resource_names: expected a list of strings`);
  }
  if (r.node !== undefined && (r.node === null || typeof r.node !== 'object'))
    throw new DiscoveryRequestError(`${where}: node: expected an object`);
  return r as DiscoveryRequest;
}

let nonceCounter = 0;
const noncePrefix = process.pid.toString(36);

export function nextNonce(): string {
  nonceCounter += 1;
  return `${noncePrefix}-${nonceCounter.toString(36)}`;
}

export function withType(
  typeUrl: string,
  resources: Iterable<JsonObject>,
  names: readonly string[] | undefined,
): JsonObject[] {
  const out: JsonObject[] = [];
  const want = names !== undefined && names.length > 0 ? new Set(names) : undefined;
  for (const r of resources) {
    const name = (r.name ?? r.cluster_name) as string | undefined;
    if (want !== undefined && (name === undefined || !want.has(name))) continue;
    out.push(typed(typeUrl, r));
  }
  return out;
}

// The "@type"-tagged copy of a resource is cached so that the protobuf codec's per-object
// cache hits for every node sharing it.
const typedCache = new WeakMap<JsonObject, JsonObject>();

function typed(typeUrl: string, r: JsonObject): JsonObject {
  let t = typedCache.get(r);
  if (t === undefined) {
    t = { '@type': typeUrl, ...r };
    typedCache.set(r, t);
  }
  return t;
}
