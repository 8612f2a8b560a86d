// OTLP/HTTP requests over the proxy's own HTTP/1.1 codec: the transport (IExporterTransport)
// under the SDK's export delegate, as Envoy sends OTLP/HTTP through its own async client rather
// than a general-purpose one. Why not node:http, the SDK's default transport: an export thread
// posts a few dozen batches a second, too rarely for V8 to optimize node:http's client, its
// streams and the SDK's Readable-wrapped body, and each 200 KB batch cost the thread about 1.2 ms
// of CPU against about 0.35 ms for one write of head and body on a kept-alive socket (CPU per
// post at 36 posts/s, process idle cost subtracted). On 2 cores that difference was taken
// from the request thread at full load. Semantics follow the SDK's HTTP transport: 2xx succeeds,
// 429/502/503/504 and network errors and timeouts are retryable (Retry-After honoured), any
// other status fails with the response body in the error, and a response body is bounded.
import { createRequire } from 'node:module';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { OTLPExporterError, type ExportResponse, type IExporterTransport } from '@opentelemetry/otlp-exporter-base';
import {
  Http1Parser,
  STATUS_TEXT,
  type CodecError,
  type MessageHead,
  type ParserHandler,
} from '../core/http/codec/http1/parser.js';

export interface OtlpHttpTransportOptions {
  /** http:// or https:// URL of the OTLP endpoint (e.g. http://collector:4318/v1/traces). */
  readonly url: string;
  /** Request headers (Content-Type among them); resolved once, at the first export. */
  readonly headers: () => Promise<Record<string, string>> | Record<string, string>;
  readonly compression: 'gzip' | 'none';
  /** Prepended to the proxy's own User-Agent, as the SDK's `userAgent` option is to its. */
  readonly userAgent?: string | undefined;
}

const USER_AGENT = 'meshscope-proxy OTLP/HTTP';

// node:tls (with node:crypto under it) and node:zlib are loaded by the first https endpoint and
// the first gzip export: every export thread loads this module, and a plaintext, uncompressed
// exporter (a collector on the node, the common case) would otherwise carry them in each
// thread's isolate (about 0.6 MB of RSS per thread).
const require = createRequire(import.meta.url);
let tls: typeof import('node:tls') | null = null;
let zlib: typeof import('node:zlib') | null = null;

/** The SDK's bound on a response body: larger is a non-retryable failure. */
const MAX_RESPONSE_BODY_BYTES = 4 * 1024 * 1024;
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_NETWORK_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const PARSER_LIMITS = { maxHeaderBytes: 64 * 1024, maxHeaders: 100 };

/** Retry-After as milliseconds (seconds or an HTTP date), as the SDK reads it. */
function retryAfterMillis(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number.parseInt(value, 10);
  if (Number.isInteger(seconds)) return seconds > 0 ? seconds * 1000 : -1;
  const delay = new Date(value).getTime() - Date.now();
  return Math.max(delay, 0);
}

/** One kept-alive connection carrying one export at a time. */
class ExportConnection implements ParserHandler {
  readonly socket: Socket;
  readonly #parser: Http1Parser;
  readonly #onIdle: (c: ExportConnection) => void;
  #settle: ((r: ExportResponse) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #status = 0;
  #retryAfter: string | undefined;
  #body: Buffer[] = [];
  #bodyBytes = 0;
  #reusable = true;
  /** The request's bytes are not all with the kernel yet. */
  #writing = false;

  constructor(url: URL, onIdle: (c: ExportConnection) => void) {
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    this.socket =
      url.protocol === 'https:'
        ? (tls ??= require('node:tls') as typeof import('node:tls')).connect({
            host,
            port,
            servername: isIP(host) === 0 ? host : undefined,
          })
        : netConnect({ host, port });
    this.socket.setNoDelay(true);
    this.#parser = new Http1Parser(false, this, PARSER_LIMITS);
    this.#onIdle = onIdle;
    this.socket.on('data', (chunk: Buffer) => this.#parser.execute(chunk));
    this.socket.on('end', () => {
      if (!this.#parser.finishOnClose()) this.socket.destroy();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      const retryable = err.code !== undefined && RETRYABLE_NETWORK_ERRORS.has(err.code);
      this.#finish(retryable ? { status: 'retryable', error: err } : { status: 'failure', error: err });
    });
    this.socket.on('close', () => {
      this.#reusable = false;
      this.#finish({ status: 'retryable', error: new Error('the collector closed the connection before responding') });
    });
  }

  get usable(): boolean {
    return this.#reusable && !this.socket.destroyed;
  }

  send(head: string, body: Uint8Array, timeoutMillis: number, settle: (r: ExportResponse) => void): void {
    this.#settle = settle;
    this.#status = 0;
    this.#retryAfter = undefined;
    this.#body = [];
    this.#bodyBytes = 0;
    this.#timer = setTimeout(() => {
      this.#finish({ status: 'retryable', error: new Error('Request timed out') });
      this.socket.destroy();
    }, timeoutMillis);
    this.#writing = true;
    this.socket.cork();
    this.socket.write(head, 'latin1');
    this.socket.write(body, () => (this.#writing = false));
    this.socket.uncork();
  }

  onHead(head: MessageHead): void {
    this.#status = head.status;
    this.#retryAfter = head.headers.get('retry-after');
    if (head.connectionClose) this.#reusable = false;
  }

  onBody(data: Buffer): void {
    this.#bodyBytes += data.length;
    if (this.#bodyBytes > MAX_RESPONSE_BODY_BYTES) {
      this.#finish({
        status: 'failure',
        error: new Error(`OTLP export response body exceeded size limit of ${MAX_RESPONSE_BODY_BYTES} bytes`),
      });
      this.socket.destroy();
      return;
    }
    this.#body.push(Buffer.from(data));
  }

  onMessageComplete(): boolean {
    const status = this.#status;
    const body = Buffer.concat(this.#body);
    if (status >= 200 && status <= 299) this.#finish({ status: 'success', data: body });
    else if (RETRYABLE_STATUS.has(status))
      this.#finish({ status: 'retryable', retryInMillis: retryAfterMillis(this.#retryAfter) });
    else
      this.#finish({
        status: 'failure',
        error: new OTLPExporterError(STATUS_TEXT[status] ?? `HTTP ${status}`, status, body.toString()),
      });
    if (this.usable && !this.#parser.lastMessage) this.#onIdle(this);
    else this.socket.destroy();
    return true;
  }

  onError(error: CodecError): void {
    this.#finish({ status: 'failure', error: new Error(`malformed response from the collector: ${error.details}`) });
    this.socket.destroy();
  }

  #finish(result: ExportResponse): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    // Settled before the request was all written (an early answer, a timeout): the caller may
    // reuse the request's memory once settled, so nothing more of it may be sent.
    if (this.#writing) {
      this.#writing = false;
      this.#reusable = false;
      this.socket.destroy();
    }
    const settle = this.#settle;
    this.#settle = null;
    settle?.(result);
  }
}

/** OTLP/HTTP POSTs on kept-alive connections: one per concurrent export, reused after. */
export class OtlpHttpTransport implements IExporterTransport {
  readonly #url: URL;
  readonly #options: OtlpHttpTransportOptions;
  #head: string | null = null;
  readonly #idle: ExportConnection[] = [];
  readonly #all = new Set<ExportConnection>();

  constructor(options: OtlpHttpTransportOptions) {
    this.#url = new URL(options.url);
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:')
      throw new Error(`OTLP/HTTP endpoint ${options.url}: only http and https are supported`);
    this.#options = options;
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const gzipped = this.#options.compression === 'gzip';
    const body = gzipped
      ? await new Promise<Uint8Array>((resolve, reject) =>
          (zlib ??= require('node:zlib') as typeof import('node:zlib')).gzip(data, (err, out) =>
            err === null ? resolve(out) : reject(err),
          ),
        )
      : data;
    this.#head ??= await this.#headPrefix();
    const head = `${this.#head}Content-Length: ${body.length}\r\n\r\n`;
    let conn = this.#idle.pop();
    while (conn !== undefined && !conn.usable) conn = this.#idle.pop();
    if (conn === undefined) {
      conn = new ExportConnection(this.#url, (c) => this.#idle.push(c));
      const created = conn;
      this.#all.add(created);
      created.socket.once('close', () => this.#all.delete(created));
    }
    const c = conn;
    return new Promise<ExportResponse>((resolve) => c.send(head, body, timeoutMillis, resolve));
  }

  /** The request line and the headers every export repeats (all but Content-Length). */
  async #headPrefix(): Promise<string> {
    const headers = { ...(await this.#options.headers()) };
    const lines = [
      `POST ${this.#url.pathname}${this.#url.search} HTTP/1.1`,
      `Host: ${this.#url.host}`,
      `User-Agent: ${this.#options.userAgent === undefined ? USER_AGENT : `${this.#options.userAgent} ${USER_AGENT}`}`,
    ];
    if (this.#options.compression === 'gzip') lines.push('Content-Encoding: gzip');
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (lower === 'host' || lower === 'content-length' || lower === 'user-agent' || lower === 'connection') continue;
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value))
        throw new Error(`OTLP/HTTP header ${name}: CR or LF in a header`);
      lines.push(`${name}: ${value}`);
    }
    return `${lines.join('\r\n')}\r\n`;
  }

  shutdown(): void {
    for (const c of this.#all) c.socket.destroy();
    this.#all.clear();
    this.#idle.length = 0;
  }
}
