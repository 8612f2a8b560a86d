// ext_authz over gRPC (grpc_service.envoy_grpc): one unary call of
// envoy.service.auth.v3.Authorization/Check on the named cluster (which speaks HTTP/2), the
// request's attributes as a CheckRequest, encoded and decoded with Envoy's own protos. A
// CheckResponse with status OK allows, with its ok_response header edits; any other status
// denies with denied_response (403 when it names no status); a failed call (transport error,
// timeout, a grpc-status other than OK) is an error.
import { durationMs } from '../../../../api/duration.js';
import { httpStatusCode } from '../../../../api/http-status.js';
import { HeaderMap } from '../../../../core/http/headers.js';
import { sendAsync } from '../../../../core/upstream/async-client.js';
import type { ClusterManager } from '../../../../core/upstream/cluster-manager.js';
import type { JsonMap, JsonValue } from '../../../../xds/proto/codec.js';
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

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const CHECK_REQUEST = 'envoy.service.auth.v3.CheckRequest';
const CHECK_RESPONSE = 'envoy.service.auth.v3.CheckResponse';
/** Envoy's default grpc_service timeout is none; a check that never answers would hold the request for ever. */
const DEFAULT_TIMEOUT_MS = 200;

type ProtoCodec = typeof import('../../../../xds/proto/codec.js');

/**
 * The codec on Envoy's protos (protobufjs and its descriptors) loads with the first gRPC
 * ext_authz filter, not with the proxy: every proxy loads this module, and protobufjs alone
 * held about 2.5 MB of a proxy's peak RSS under load that never used it.
 */
let codec: ProtoCodec | null = null;
let codecLoading: Promise<ProtoCodec> | null = null;

function loadCodec(): Promise<ProtoCodec> {
  codecLoading ??= import('../../../../xds/proto/codec.js').then((m) => {
    codec = m;
    return m;
  });
  return codecLoading;
}

function socketAddress(address: string, port: number): JsonMap {
  return { socket_address: { address, port_value: port } };
}

/** The CheckRequest for a stream, in Envoy's proto3 JSON. */
export function checkRequestJson(
  input: CheckInput,
  allowed: NamePredicate | null,
  disallowed: NamePredicate | null,
  includePeerCertificate: boolean,
): JsonMap {
  const h = input.headers;
  const info = input.info;
  const path = h.get(':path') ?? '';
  const q = path.indexOf('?');
  const http: JsonMap = {
    id: info.requestId ?? '',
    method: h.get(':method') ?? '',
    headers: Object.fromEntries(selectHeaders(h, allowed, disallowed)),
    path,
    host: h.get(':authority') ?? '',
    scheme: h.get(':scheme') ?? 'http',
    query: q === -1 ? '' : path.slice(q + 1),
    size: String(Number(h.get('content-length') ?? (input.body === null ? -1 : input.body.length))),
    protocol: info.protocol,
  };
  if (input.body !== null) http.body = input.body.toString('utf8');
  const source: JsonMap = { address: socketAddress(info.downstreamRemoteAddress, info.downstreamRemotePort) };
  const destination: JsonMap = { address: socketAddress(info.downstreamLocalAddress, info.downstreamLocalPort) };
  // Over TLS, the peers' identities as Envoy names them: URI SAN, else DNS SAN, else subject.
  const ssl = info.downstreamSsl;
  if (ssl !== null) {
    if (ssl.peerCertificatePresented) {
      source.principal = ssl.uriSanPeerCertificate[0] ?? ssl.dnsSansPeerCertificate[0] ?? ssl.subjectPeerCertificate;
      if (includePeerCertificate) source.certificate = ssl.urlEncodedPemEncodedPeerCertificate;
    }
    destination.principal =
      ssl.uriSanLocalCertificate[0] ?? ssl.dnsSansLocalCertificate[0] ?? ssl.subjectLocalCertificate;
  }
  return {
    attributes: {
      source,
      destination,
      request: { time: new Date(info.startTime).toISOString(), http },
      context_extensions: { ...input.contextExtensions },
    },
  };
}

function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function headerEdits(list: JsonValue | undefined): HeaderEdit[] {
  if (!Array.isArray(list)) return [];
  return list.map((o) => {
    const option = o as JsonMap;
    const header = (option.header ?? {}) as JsonMap;
    // OkHttpResponse/DeniedHttpResponse: `append` absent or false replaces the header.
    return {
      key: String(header.key ?? '').toLowerCase(),
      value: String(header.value ?? ''),
      append: option.append === true,
    };
  });
}

/** The verdict a CheckResponse carries. */
export function resultOf(response: JsonMap): AuthzResult {
  const code = Number((response.status as JsonMap | undefined)?.code ?? 0);
  if (code === 0) {
    const ok = (response.ok_response ?? {}) as JsonMap;
    return {
      kind: 'ok',
      upstreamHeaders: headerEdits(ok.headers),
      upstreamHeadersToRemove: Array.isArray(ok.headers_to_remove)
        ? ok.headers_to_remove.map((n) => String(n).toLowerCase())
        : [],
      responseHeaders: headerEdits(ok.response_headers_to_add),
    };
  }
  const denied = (response.denied_response ?? {}) as JsonMap;
  const statusValue = (denied.status as JsonMap | undefined)?.code;
  const status = statusValue === undefined ? 403 : (httpStatusCode(statusValue as string | number) ?? 403);
  return { kind: 'denied', status, headers: headerEdits(denied.headers), body: String(denied.body ?? '') };
}

export class GrpcAuthzClient implements AuthzClient {
  readonly #cluster: string;
  readonly #authority: string;
  readonly #timeoutMs: number;
  readonly #metadata: ReadonlyArray<{ key: string; value: string }>;
  readonly #clusters: ClusterManager;
  readonly #allowed: NamePredicate | null;
  readonly #disallowed: NamePredicate | null;
  readonly #includePeerCertificate: boolean;

  constructor(config: ExtAuthzConfig, clusters: ClusterManager) {
    const service = config.grpc_service!;
    this.#includePeerCertificate = config.include_peer_certificate;
    this.#cluster = service.envoy_grpc.cluster_name;
    this.#authority = service.envoy_grpc.authority ?? service.envoy_grpc.cluster_name;
    this.#timeoutMs = durationMs(service.timeout, DEFAULT_TIMEOUT_MS);
    this.#metadata = (service.initial_metadata ?? []).map((m) => ({ key: m.key.toLowerCase(), value: m.value }));
    this.#clusters = clusters;
    this.#allowed = compileNameList(config.allowed_headers);
    this.#disallowed = compileNameList(config.disallowed_headers);
    void loadCodec();
  }

  check(input: CheckInput, done: (result: AuthzResult) => void): () => void {
    if (codec !== null) return this.#check(codec, input, done);
    // A check before the codec finished loading (configured a moment ago) waits for it.
    let cancelled = false;
    let cancel = (): void => {
      cancelled = true;
    };
    loadCodec().then(
      (c) => {
        if (!cancelled) cancel = this.#check(c, input, done);
      },
      (err: unknown) => {
        if (!cancelled) done({ kind: 'error', reason: `gRPC codec: ${(err as Error).message}` });
      },
    );
    return () => cancel();
  }

  #check(c: ProtoCodec, input: CheckInput, done: (result: AuthzResult) => void): () => void {
    const cluster = this.#clusters.get(this.#cluster);
    if (cluster === undefined) {
      done({ kind: 'error', reason: `cluster ${this.#cluster} not found` });
      return () => {};
    }
    let body: Buffer;
    try {
      body = grpcFrame(
        c.encodeMessage(
          CHECK_REQUEST,
          checkRequestJson(input, this.#allowed, this.#disallowed, this.#includePeerCertificate),
        ),
      );
    } catch (err) {
      done({ kind: 'error', reason: `CheckRequest: ${(err as Error).message}` });
      return () => {};
    }
    const headers = new HeaderMap();
    headers.add(':method', 'POST');
    headers.add(':scheme', 'http');
    headers.add(':path', CHECK_PATH);
    headers.add(':authority', this.#authority);
    headers.add('content-type', 'application/grpc');
    headers.add('te', 'trailers');
    if (this.#timeoutMs > 0) headers.add('grpc-timeout', `${Math.ceil(this.#timeoutMs)}m`);
    for (const m of this.#metadata) headers.add(m.key, m.value);
    return sendAsync(cluster, headers, body, this.#timeoutMs, {
      onFailure: (reason) => done({ kind: 'error', reason }),
      onSuccess: (r) => {
        // A trailers-only answer (an error) carries grpc-status in the head.
        const grpcStatus = r.trailers?.get('grpc-status') ?? r.headers.get('grpc-status');
        if (r.status !== 200 || grpcStatus !== '0')
          return done({ kind: 'error', reason: `Check failed: HTTP ${r.status}, grpc-status ${grpcStatus ?? 'none'}` });
        if (r.body.length < 5 || r.body[0] !== 0 || r.body.readUInt32BE(1) !== r.body.length - 5)
          return done({ kind: 'error', reason: 'Check answered with a malformed or compressed gRPC message' });
        let response: JsonMap;
        try {
          response = c.decodeMessage(CHECK_RESPONSE, r.body.subarray(5));
        } catch (err) {
          return done({ kind: 'error', reason: `CheckResponse: ${(err as Error).message}` });
        }
        done(resultOf(response));
      },
    });
  }
}
