// Request mirroring (route `request_mirror_policies`): a copy of the request goes to the shadow
// cluster with `-shadow` appended to the host, fire and forget. The copy never delays or fails
// the real request: its response is read and dropped, its failures only show in the shadow
// cluster's stats, and it gives up when the body outgrows the buffer it may hold.
import { HeaderMap } from '../http/headers.js';
import type { RequestMirrorPolicyConfig } from '../../api/schema.js';
import type { RuntimeFractionalPercent, RuntimeSnapshot } from '../../runtime/index.js';
import type { Cluster } from './cluster.js';
import type { PoolFailureReason } from './conn-pool.js';
import { UpstreamRequest, type AttemptOwner } from '../router/upstream-request.js';

export interface RequestMirrorPolicy {
  /** The shadow cluster, or '' when `clusterHeader` names it per request. */
  readonly cluster: string;
  /** Lower-cased request header holding the shadow cluster's name, or ''. */
  readonly clusterHeader: string;
  /** Undefined: every request is mirrored. */
  readonly fraction: RuntimeFractionalPercent | undefined;
  readonly appendShadowSuffix: boolean;
}

export function compileMirrorPolicies(
  configs: readonly RequestMirrorPolicyConfig[] | undefined,
): readonly RequestMirrorPolicy[] {
  return (configs ?? []).map((c) => ({
    cluster: c.cluster ?? '',
    clusterHeader: c.cluster_header?.toLowerCase() ?? '',
    fraction: c.runtime_fraction,
    appendShadowSuffix: c.disable_shadow_host_suffix_append !== true,
  }));
}

/** `foo.com` → `foo.com-shadow`, `foo.com:8080` → `foo.com-shadow:8080`, as Envoy rewrites it. */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon !== -1 && !authority.endsWith(']') && /^\d+$/.test(authority.slice(colon + 1))) {
    return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  }
  return `${authority}-shadow`;
}

/** The shadow cluster's name for this request, or undefined (cluster_header absent). */
export function mirrorClusterName(policy: RequestMirrorPolicy, headers: HeaderMap): string | undefined {
  if (policy.clusterHeader === '') return policy.cluster;
  const name = headers.get(policy.clusterHeader);
  return name === undefined || name === '' ? undefined : name;
}

/** True when this request should be mirrored under `policy`. */
export function shouldMirror(policy: RequestMirrorPolicy, snapshot: RuntimeSnapshot): boolean {
  return policy.fraction === undefined || snapshot.runtimeFractionEnabled(policy.fraction);
}

const EMPTY = Buffer.alloc(0);

/** One mirrored request. Feed it the request body; it writes once connected and drops the response. */
export class ShadowRequest implements AttemptOwner {
  readonly #cluster: Cluster;
  readonly #headers: HeaderMap;
  readonly #bufferLimit: number;
  #attempt: UpstreamRequest | null = null;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #ended = false;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(
    cluster: Cluster,
    requestHeaders: HeaderMap,
    appendSuffix: boolean,
    timeoutMs: number,
    bufferLimit: number,
  ) {
    this.#cluster = cluster;
    this.#bufferLimit = bufferLimit;
    const headers = new HeaderMap();
    for (let i = 0; i < requestHeaders.names.length; i++)
      headers.add(requestHeaders.names[i]!, requestHeaders.values[i]!);
    if (appendSuffix) headers.set(':authority', shadowAuthority(headers.get(':authority') ?? ''));
    this.#headers = headers;
    if (timeoutMs > 0) {
      this.#timer = setTimeout(() => this.#abort(), timeoutMs);
      this.#timer.unref();
    }
  }

  /** Picks a host of the shadow cluster and starts; false when it has none. */
  start(): boolean {
    const host = this.#cluster.chooseHost(-1);
    if (host === null) {
      this.#cluster.info.stats.upstream_cx_none_healthy.inc();
      this.#finish();
      return false;
    }
    this.#cluster.info.stats.upstream_rq_total.inc();
    this.#attempt = new UpstreamRequest(this, 1, this.#cluster.name, host);
    this.#attempt.start();
    return true;
  }

  /** Request body bytes, as the real request receives them. */
  data(chunk: Buffer, end: boolean): void {
    if (this.#done) return;
    const attempt = this.#attempt;
    if (attempt !== null && attempt.encoder !== null && this.#pending.length === 0) {
      attempt.writeBody(chunk, end);
      return;
    }
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes > this.#bufferLimit) return this.#abort();
    this.#pending.push(chunk);
    if (end) this.#ended = true;
  }

  onAttemptPoolReady(attempt: UpstreamRequest): void {
    if (this.#done) return attempt.reset();
    attempt.writeHead(this.#headers, this.#ended && this.#pendingBytes === 0, false);
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length > 0 || this.#ended)
      attempt.writeBody(pending.length === 0 ? EMPTY : Buffer.concat(pending), this.#ended);
  }

  onAttemptPoolFailure(_attempt: UpstreamRequest, _reason: PoolFailureReason): void {
    this.#finish();
  }

  onAttemptInformational(): void {}

  onAttemptHeaders(attempt: UpstreamRequest, status: number, _headers: unknown, endStream: boolean): void {
    this.#cluster.info.stats.recordResponseCode(status);
    if (endStream) this.onAttemptComplete(attempt);
  }

  onAttemptData(): void {}

  onAttemptComplete(attempt: UpstreamRequest): void {
    if (!attempt.requestEnded) attempt.reset();
    this.#finish();
  }

  onAttemptReset(): void {
    this.#cluster.info.stats.upstream_rq_rx_reset.inc();
    this.#finish();
  }

  onAttemptDrain(): void {}

  #abort(): void {
    const attempt = this.#attempt;
    this.#attempt = null;
    attempt?.reset();
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}
