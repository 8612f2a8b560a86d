// Envoy's Http::AsyncClient for filters that call a service of their own (ext_authz): one
// request with a body known in advance, sent to a cluster through the same hosts, pools and
// codecs the router uses, its whole response collected (bounded) and handed back once. A
// timeout, a pool failure, a reset or a response past the bound is a failure, never an
// exception; cancel() abandons the call when the downstream stream goes away first.
import type { HeaderMap } from '../http/headers.js';
import { UpstreamRequest, type AttemptOwner } from '../router/upstream-request.js';
import type { Cluster } from './cluster.js';
import type { PoolFailureReason } from './conn-pool.js';

export interface AsyncResponse {
  readonly status: number;
  /** The response head, without pseudo-headers. */
  readonly headers: HeaderMap;
  readonly body: Buffer;
  /** The trailers (a gRPC response's grpc-status), null when there were none. */
  readonly trailers: HeaderMap | null;
}

export type AsyncFailure = PoolFailureReason | 'no_healthy_upstream' | 'reset' | 'response_too_large';

export interface AsyncCallbacks {
  onSuccess(response: AsyncResponse): void;
  onFailure(reason: AsyncFailure): void;
}

/** Responses larger than this are refused: an authorization answer is small. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

class AsyncRequest implements AttemptOwner {
  readonly #cluster: Cluster;
  readonly #headers: HeaderMap;
  readonly #body: Buffer;
  readonly #callbacks: AsyncCallbacks;
  #attempt: UpstreamRequest | null = null;
  #timer: NodeJS.Timeout | undefined;
  #status = 0;
  #responseHeaders: HeaderMap | null = null;
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  #done = false;

  constructor(cluster: Cluster, headers: HeaderMap, body: Buffer, timeoutMs: number, callbacks: AsyncCallbacks) {
    this.#cluster = cluster;
    this.#headers = headers;
    this.#body = body;
    this.#callbacks = callbacks;
    if (timeoutMs > 0) {
      this.#timer = setTimeout(() => {
        this.#cluster.info.stats.upstream_rq_timeout.inc();
        this.#fail('timeout');
      }, timeoutMs);
      this.#timer.unref();
    }
  }

  start(): void {
    const host = this.#cluster.chooseHost(-1);
    if (host === null) {
      this.#cluster.info.stats.upstream_cx_none_healthy.inc();
      this.#fail('no_healthy_upstream');
      return;
    }
    this.#cluster.info.stats.upstream_rq_total.inc();
    this.#attempt = new UpstreamRequest(this, 1, this.#cluster.name, host);
    this.#attempt.start();
  }

  cancel(): void {
    if (this.#done) return;
    this.#finish();
  }

  onAttemptPoolReady(attempt: UpstreamRequest): void {
    if (this.#done) return attempt.reset();
    const empty = this.#body.length === 0;
    attempt.writeHead(this.#headers, empty, false);
    if (!empty) attempt.writeBody(this.#body, true);
  }

  onAttemptPoolFailure(_attempt: UpstreamRequest, reason: PoolFailureReason): void {
    this.#attempt = null;
    this.#fail(reason);
  }

  onAttemptInformational(): void {}

  onAttemptHeaders(_attempt: UpstreamRequest, status: number, headers: HeaderMap): void {
    this.#cluster.info.stats.recordResponseCode(status);
    this.#status = status;
    this.#responseHeaders = headers;
  }

  onAttemptData(_attempt: UpstreamRequest, data: Buffer): void {
    if (this.#done) return;
    this.#bytes += data.length;
    if (this.#bytes > MAX_RESPONSE_BYTES) return this.#fail('response_too_large');
    // The codec's read buffer is reused: keep a copy.
    this.#chunks.push(Buffer.from(data));
  }

  onAttemptComplete(attempt: UpstreamRequest, trailers: HeaderMap | null, data: Buffer): void {
    if (data.length > 0) this.onAttemptData(attempt, data);
    if (!attempt.requestEnded) attempt.reset();
    this.#attempt = null;
    if (this.#done) return;
    const response: AsyncResponse = {
      status: this.#status,
      headers: this.#responseHeaders!,
      body: this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks),
      trailers,
    };
    this.#finish();
    this.#callbacks.onSuccess(response);
  }

  onAttemptReset(): void {
    this.#cluster.info.stats.upstream_rq_rx_reset.inc();
    this.#attempt = null;
    this.#fail('reset');
  }

  onAttemptDrain(): void {}

  #fail(reason: AsyncFailure): void {
    if (this.#done) return;
    this.#finish();
    this.#callbacks.onFailure(reason);
  }

  #finish(): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const attempt = this.#attempt;
    this.#attempt = null;
    attempt?.reset();
  }
}

/**
 * Sends one request (pseudo-headers included in `headers`) to `cluster`; exactly one callback
 * runs, unless the returned function cancels the call first.
 */
export function sendAsync(
  cluster: Cluster,
  headers: HeaderMap,
  body: Buffer,
  timeoutMs: number,
  callbacks: AsyncCallbacks,
): () => void {
  const request = new AsyncRequest(cluster, headers, body, timeoutMs, callbacks);
  request.start();
  return () => request.cancel();
}
