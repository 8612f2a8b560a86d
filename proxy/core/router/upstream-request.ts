// One upstream attempt (Envoy's UpstreamRequest): gets a connection from the host's pool,
// writes the request head and body with HTTP/1.1 framing, and relays the response events to
// the router tagged with itself, so a router that retries can tell a stale attempt from the
// current one. Owns its CLIENT span when the stream is traced.
import type { HeaderMap } from '../http/headers.js';
import type { MessageHead } from '../http/codec/http1/parser.js';
import type { Host } from '../upstream/host.js';
import type {
  PoolCallbacks,
  PoolFailureReason,
  UpstreamConnection,
  UpstreamResponseHandler,
} from '../upstream/conn-pool.js';
import type { Span, UpstreamAttemptInfo } from '../stream-info.js';

export interface AttemptOwner {
  onAttemptPoolReady(attempt: UpstreamRequest): void;
  onAttemptPoolFailure(attempt: UpstreamRequest, reason: PoolFailureReason): void;
  onAttemptInformational(attempt: UpstreamRequest, head: MessageHead): void;
  onAttemptHeaders(attempt: UpstreamRequest, head: MessageHead): void;
  onAttemptData(attempt: UpstreamRequest, data: Buffer): void;
  onAttemptComplete(attempt: UpstreamRequest): void;
  onAttemptReset(attempt: UpstreamRequest, protocolError: boolean): void;
  onAttemptDrain(attempt: UpstreamRequest): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

export class UpstreamRequest implements PoolCallbacks, UpstreamResponseHandler, UpstreamAttemptInfo {
  readonly attempt: number;
  readonly cluster: string;
  readonly host: Host;
  upstreamHost: string | null;
  startTimeMs: number;
  readonly #startMonotonic: number;
  responseCode = 0;
  responseFlags = 0;
  readonly #owner: AttemptOwner;
  connection: UpstreamConnection | null = null;
  #cancel: (() => void) | null = null;
  /** Request body framing towards upstream. */
  chunked = false;
  raw = false;
  requestEnded = false;
  responseEnded = false;
  span: Span | null = null;
  #finished = false;

  constructor(owner: AttemptOwner, attempt: number, cluster: string, host: Host) {
    this.#owner = owner;
    this.attempt = attempt;
    this.cluster = cluster;
    this.host = host;
    this.upstreamHost = host.addressString;
    this.startTimeMs = Date.now();
    this.#startMonotonic = performance.now();
  }

  elapsedMs(): number {
    return performance.now() - this.#startMonotonic;
  }

  start(): void {
    this.host.stats.rq_total++;
    this.host.stats.rq_active++;
    this.#cancel = this.host.pool.newStream(this);
  }

  onPoolReady(connection: UpstreamConnection): void {
    this.#cancel = null;
    this.connection = connection;
    this.#owner.onAttemptPoolReady(this);
  }

  onPoolFailure(reason: PoolFailureReason): void {
    this.#cancel = null;
    this.#owner.onAttemptPoolFailure(this, reason);
  }

  /** Serializes and writes the head; `path`/`authority` already rewritten. */
  writeHead(method: string, headers: HeaderMap, chunked: boolean, raw: boolean): boolean {
    const conn = this.connection!;
    this.chunked = chunked;
    this.raw = raw;
    conn.attach(this, method === 'HEAD');
    let out = `${method} ${headers.get(':path') ?? '/'} HTTP/1.1\r\nhost: ${headers.get(':authority') ?? ''}\r\n`;
    const names = headers.names;
    const values = headers.values;
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n.charCodeAt(0) === 58) continue;
      out += `${n}: ${values[i]}\r\n`;
    }
    if (chunked) out += 'transfer-encoding: chunked\r\n';
    return conn.write(out + CRLF);
  }

  /** Writes body bytes with the request's framing; returns false when the socket is backed up. */
  writeBody(data: Buffer, end: boolean): boolean {
    const conn = this.connection!;
    let ok = true;
    if (this.raw) {
      if (data.length > 0) ok = conn.write(data);
      if (end) conn.socket.end();
    } else if (this.chunked) {
      if (data.length > 0) {
        conn.write(`${data.length.toString(16)}\r\n`);
        conn.write(data);
        ok = conn.write(end ? `\r\n${LAST_CHUNK}` : CRLF);
      } else if (end) ok = conn.write(LAST_CHUNK);
    } else if (data.length > 0) ok = conn.write(data);
    if (end && !this.requestEnded) {
      this.requestEnded = true;
      if (!this.raw) conn.requestComplete();
    }
    return ok;
  }

  pauseResponse(pause: boolean): void {
    const s = this.connection?.socket;
    if (s === undefined) return;
    if (pause) s.pause();
    else s.resume();
  }

  onUpstreamInformational(head: MessageHead): void {
    this.#owner.onAttemptInformational(this, head);
  }

  onUpstreamHeaders(head: MessageHead): void {
    this.responseCode = head.status;
    this.#owner.onAttemptHeaders(this, head);
  }

  onUpstreamData(data: Buffer): void {
    this.#owner.onAttemptData(this, data);
  }

  onUpstreamComplete(): void {
    this.responseEnded = true;
    // Once both directions are done the pool may already have handed the socket to another request.
    if (this.requestEnded || this.raw) this.connection = null;
    this.#finish();
    this.#owner.onAttemptComplete(this);
  }

  onUpstreamReset(protocolError: boolean): void {
    this.connection = null;
    this.#finish();
    this.#owner.onAttemptReset(this, protocolError);
  }

  onUpstreamDrain(): void {
    this.#owner.onAttemptDrain(this);
  }

  /** Abandons the attempt (timeout, downstream reset): the connection is closed, never reused. */
  reset(): void {
    if (this.#cancel !== null) {
      this.#cancel();
      this.#cancel = null;
    }
    const c = this.connection;
    this.connection = null;
    if (c !== null && !(this.responseEnded && this.requestEnded)) c.abandon();
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.host.stats.rq_active--;
  }
}
