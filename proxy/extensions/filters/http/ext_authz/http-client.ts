// ext_authz over HTTP (http_service): the client request's method and allowed headers go to the
// service's cluster, the path behind `path_prefix`, with its body when one was buffered. A 200
// allows (its allowed_upstream_headers travel on upstream); a 5xx, a timeout or a failed
// connection is an error; any other status denies, and the client gets that status, body and
// the allowed_client_headers. Authorization, Host, Method, Path and Content-Length always go,
// as Envoy sends them on top of any allowed_headers.
import type { ClusterManager } from '../../../../core/upstream/cluster-manager.js';
import { sendAsync } from '../../../../core/upstream/async-client.js';
import { HeaderMap } from '../../../../core/http/headers.js';
import { durationMs } from '../../../../api/duration.js';
import {
  type AuthzClient,
  type AuthzResult,
  type CheckInput,
  compileNameList,
  type HeaderEdit,
  type NamePredicate,
  selectHeaders,
} from './check.js';
import type { ExtAuthzConfig } from './config.js';

const ALWAYS_SENT = new Set([':method', ':path', ':authority', 'host', 'content-length', 'authorization']);
/** Sent back to a denied client even when allowed_client_headers leaves them out. */
const ALWAYS_TO_CLIENT = new Set(['www-authenticate', 'location', 'content-length']);
/** Response headers that describe the authorization response itself, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'server', 'content-length']);

type HttpService = NonNullable<ExtAuthzConfig['http_service']>;

export class HttpAuthzClient implements AuthzClient {
  readonly #service: HttpService;
  readonly #clusters: ClusterManager;
  readonly #timeoutMs: number;
  readonly #allowedRequest: NamePredicate;
  readonly #disallowed: NamePredicate | null;
  readonly #toUpstream: NamePredicate | null;
  readonly #appendUpstream: NamePredicate | null;
  readonly #toClient: NamePredicate | null;
  readonly #toClientOnSuccess: NamePredicate | null;

  constructor(config: ExtAuthzConfig, clusters: ClusterManager) {
    const service = config.http_service!;
    this.#service = service;
    this.#clusters = clusters;
    this.#timeoutMs = durationMs(service.server_uri.timeout, 200);
    const allowed = compileNameList(config.allowed_headers ?? service.authorization_request?.allowed_headers);
    this.#allowedRequest = (name) => ALWAYS_SENT.has(name) || allowed?.(name) === true;
    this.#disallowed = compileNameList(config.disallowed_headers);
    const response = service.authorization_response;
    this.#toUpstream = compileNameList(response?.allowed_upstream_headers);
    this.#appendUpstream = compileNameList(response?.allowed_upstream_headers_to_append);
    this.#toClient = compileNameList(response?.allowed_client_headers);
    this.#toClientOnSuccess = compileNameList(response?.allowed_client_headers_on_success);
  }

  check(input: CheckInput, done: (result: AuthzResult) => void): () => void {
    const cluster = this.#clusters.get(this.#service.server_uri.cluster);
    if (cluster === undefined) {
      done({ kind: 'error', reason: `cluster ${this.#service.server_uri.cluster} not found` });
      return () => {};
    }
    const body = input.body ?? Buffer.alloc(0);
    const headers = new HeaderMap();
    for (const [name, value] of selectHeaders(input.headers, this.#allowedRequest, this.#disallowed)) {
      if (name === 'content-length') continue;
      headers.add(name, name === ':path' ? `${this.#service.path_prefix}${value}` : value);
    }
    if (!headers.has(':scheme')) headers.set(':scheme', 'http');
    headers.set('content-length', String(body.length));
    for (const h of this.#service.authorization_request?.headers_to_add ?? [])
      headers.set(h.key.toLowerCase(), h.value);
    return sendAsync(cluster, headers, body, this.#timeoutMs, {
      onFailure: (reason) => done({ kind: 'error', reason }),
      onSuccess: (r) => {
        if (r.status >= 500) return done({ kind: 'error', reason: `authorization service answered ${r.status}` });
        if (r.status === 200) {
          return done({
            kind: 'ok',
            upstreamHeaders: [
              ...pick(r.headers, this.#toUpstream, false),
              ...pick(r.headers, this.#appendUpstream, true),
            ],
            upstreamHeadersToRemove: [],
            responseHeaders: pick(r.headers, this.#toClientOnSuccess, false),
          });
        }
        const toClient = this.#toClient;
        const forwarded: HeaderEdit[] = [];
        for (let i = 0; i < r.headers.names.length; i++) {
          const name = r.headers.names[i]!;
          const sent = toClient === null ? !HOP_BY_HOP.has(name) : toClient(name) || ALWAYS_TO_CLIENT.has(name);
          if (sent && name !== 'content-length')
            forwarded.push({ key: name, value: r.headers.values[i]!, append: true });
        }
        done({ kind: 'denied', status: r.status, headers: forwarded, body: r.body.toString('utf8') });
      },
    });
  }
}

/** The response headers a matcher selects (none when it is unset). */
function pick(headers: HeaderMap, matcher: NamePredicate | null, append: boolean): HeaderEdit[] {
  if (matcher === null) return [];
  const out: HeaderEdit[] = [];
  for (let i = 0; i < headers.names.length; i++) {
    const name = headers.names[i]!;
    if (matcher(name)) out.push({ key: name, value: headers.values[i]!, append });
  }
  return out;
}
