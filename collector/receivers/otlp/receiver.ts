// The OTLP/HTTP receiver: POST /v1/traces and /v1/logs, protobuf or JSON, optionally gzip.
// Status codes follow the OTLP/HTTP specification: 200 with an Export…ServiceResponse (and
// partial_success for refused items) once the data is durable; 400 with a google.rpc.Status
// for undecodable bodies; 413 above the size limit; 415 for other media types or encodings;
// 429/503 with Retry-After under overload. Bodies are answered in the request's encoding.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createGunzip } from 'node:zlib';
import { CollectorOverloadedError, OtlpDecodeError, OtlpPayloadTooLargeError } from '../../errors.js';
import type { MemoryLimiter } from '../../pipeline/memory-limiter.js';
import type { Encoding, Pipeline } from '../../pipeline/pipeline.js';
import type { CollectorMetrics, Signal } from '../../telemetry.js';
import { BodyBuffers } from './body-buffers.js';

export interface OtlpReceiverOptions {
  /** Largest accepted body, compressed and decompressed alike. */
  maxRequestBytes: number;
  /** Requests being read, decoded or awaiting fsync at once; beyond it 429. */
  maxConcurrentRequests: number;
  retryAfterSeconds: number;
}

const PATHS: Record<string, Signal> = { '/v1/traces': 'traces', '/v1/logs': 'logs' };
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_UNAVAILABLE = 14;

function mediaType(req: IncomingMessage): Encoding | undefined {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/x-protobuf' || ct === 'application/protobuf') return 'protobuf';
  if (ct === 'application/json') return 'json';
  return undefined;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function protoString(field: number, s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(b.length)]), b]);
}

/** google.rpc.Status{code=1, message=2}. */
function statusBody(encoding: Encoding, code: number, message: string): Buffer {
  if (encoding === 'json') return Buffer.from(JSON.stringify({ code, message }));
  return Buffer.concat([Buffer.from([0x08, ...varint(code)]), protoString(2, message)]);
}

/** Export{Trace,Logs}ServiceResponse{partial_success=1{rejected=1, error_message=2}}. */
function exportResponse(encoding: Encoding, signal: Signal, rejected: number, message: string): Buffer {
  if (encoding === 'json') {
    if (rejected === 0) return Buffer.from('{}');
    const key = signal === 'traces' ? 'rejectedSpans' : 'rejectedLogRecords';
    return Buffer.from(JSON.stringify({ partialSuccess: { [key]: String(rejected), errorMessage: message } }));
  }
  if (rejected === 0) return Buffer.alloc(0);
  const inner = Buffer.concat([Buffer.from([0x08, ...varint(rejected)]), protoString(2, message)]);
  return Buffer.concat([Buffer.from([0x0a, ...varint(inner.length)]), inner]);
}

/** What a request holds until it is answered: reserved bytes, and its pooled body buffer. */
interface Held {
  bytes: number;
  pooled: Buffer | undefined;
}

export class OtlpHttpReceiver {
  readonly server: Server;
  readonly #pipeline: Pipeline;
  readonly #metrics: CollectorMetrics;
  readonly #opts: OtlpReceiverOptions;
  readonly #limiter: MemoryLimiter;
  readonly #bodies = new BodyBuffers();
  #inflight = 0;

  constructor(pipeline: Pipeline, metrics: CollectorMetrics, limiter: MemoryLimiter, opts: OtlpReceiverOptions) {
    this.#pipeline = pipeline;
    this.#metrics = metrics;
    this.#limiter = limiter;
    this.#opts = opts;
    this.server = createServer((req, res) => this.#handle(req, res));
    this.server.requestTimeout = 60_000;
    this.server.headersTimeout = 30_000;
  }

  #reply(
    res: ServerResponse,
    path: string,
    code: number,
    encoding: Encoding,
    body: Buffer,
    headers: Record<string, string> = {},
  ): void {
    this.#metrics.requests.inc({ path, code: String(code) });
    if (res.headersSent || res.destroyed) return;
    res.writeHead(code, {
      'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      'content-length': String(body.length),
      ...headers,
    });
    res.end(body);
  }

  #refuse(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    code: number,
    encoding: Encoding,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    // The body is not read: close the connection instead of draining an unwanted upload.
    this.#reply(
      res,
      path,
      code,
      encoding,
      statusBody(encoding, code === 413 || code === 415 ? GRPC_INVALID_ARGUMENT : GRPC_UNAVAILABLE, message),
      {
        connection: 'close',
        ...headers,
      },
    );
    req.resume();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const signal = PATHS[path];
    if (signal === undefined) {
      this.#reply(
        res,
        'other',
        404,
        'json',
        Buffer.from(JSON.stringify({ code: 5, message: `no OTLP endpoint at ${path}; use /v1/traces or /v1/logs` })),
      );
      req.resume();
      return;
    }
    if (req.method !== 'POST') {
      this.#refuse(req, res, path, 405, 'json', `${req.method} not allowed on ${path}; use POST`, { allow: 'POST' });
      return;
    }
    const encoding = mediaType(req);
    if (encoding === undefined) {
      this.#refuse(
        req,
        res,
        path,
        415,
        'json',
        `unsupported Content-Type '${req.headers['content-type'] ?? ''}'; use application/x-protobuf or application/json`,
      );
      return;
    }
    const ce = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (ce !== 'gzip' && ce !== 'identity' && ce !== '') {
      this.#refuse(req, res, path, 415, encoding, `unsupported Content-Encoding '${ce}'; use gzip or none`);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.#opts.maxRequestBytes) {
      this.#metrics.refused.inc({ signal, reason: 'too_large' });
      this.#refuse(req, res, path, 413, encoding, new OtlpPayloadTooLargeError(this.#opts.maxRequestBytes).message);
      return;
    }
    const why =
      this.#inflight >= this.#opts.maxConcurrentRequests
        ? `too many concurrent requests (${this.#opts.maxConcurrentRequests})`
        : (this.#limiter.refusal(declared) ?? this.#pipeline.backlogRefusal());
    if (why !== undefined) {
      const backlog = why.startsWith('storage backlog');
      this.#metrics.refused.inc({
        signal,
        reason: why.startsWith('memory') ? 'memory_limit' : backlog ? 'storage_backlog' : 'overload',
      });
      // A backlog drains within about maxQueueDelayMs: told to wait longer, clients would leave the store idle.
      const retryAfter = backlog
        ? Math.min(this.#opts.retryAfterSeconds, this.#pipeline.backlogRetryAfterSeconds)
        : this.#opts.retryAfterSeconds;
      this.#refuse(req, res, path, 429, encoding, `${why}; retry later`, { 'retry-after': String(retryAfter) });
      return;
    }
    this.#inflight++;
    const held: Held = { bytes: 0, pooled: undefined };
    this.#read(req, res, path, signal, encoding, ce === 'gzip', held).finally(() => {
      this.#inflight--;
      this.#limiter.release(held.bytes);
      // Answered: neither the decoder nor the log reads the body any more.
      if (held.pooled !== undefined) this.#bodies.give(held.pooled);
    });
  }

  /**
   * Inflates a gzip body, reserving each output chunk in the memory budget as it appears: a
   * gzip bomb is counted by what it inflates to and stops at the budget (429) or the size
   * limit (413), whichever comes first.
   */
  #inflate(compressed: Buffer, limit: number, held: Held): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const z = createGunzip();
      const chunks: Buffer[] = [];
      let size = 0;
      const fail = (err: Error): void => {
        z.removeAllListeners('data');
        z.destroy();
        reject(err);
      };
      z.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) return fail(new OtlpPayloadTooLargeError(limit));
        if (!this.#limiter.reserve(c.length))
          return fail(new CollectorOverloadedError('memory limit: no room to decompress the body; retry later'));
        held.bytes += c.length;
        chunks.push(c);
      });
      z.on('end', () => {
        if (chunks.length === 1) return resolve(chunks[0]!);
        // The joined copy is reserved too while both exist.
        if (!this.#limiter.reserve(size))
          return fail(new CollectorOverloadedError('memory limit: no room to decompress the body; retry later'));
        const body = Buffer.concat(chunks, size);
        chunks.length = 0;
        this.#limiter.release(size);
        resolve(body);
      });
      z.on('error', (err) => fail(new OtlpDecodeError(`invalid gzip body: ${err.message}`)));
      z.end(compressed);
    });
  }

  async #read(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    signal: Signal,
    encoding: Encoding,
    gzipped: boolean,
    held: Held,
  ): Promise<void> {
    const limit = this.#opts.maxRequestBytes;
    let body: Buffer;
    try {
      body = await new Promise<Buffer>((resolve, reject) => {
        // With a Content-Length (checked against the limit already), straight into a buffer
        // of that size; HTTP's parser ends the body there.
        const length = req.headers['content-length'] === undefined ? -1 : Number(req.headers['content-length']);
        const into = length > 0 ? this.#bodies.take(length) : undefined;
        held.pooled = into;
        const chunks: Buffer[] = [];
        let size = 0;
        req.on('data', (c: Buffer) => {
          size += c.length;
          if (size > limit || (into !== undefined && size > into.length)) {
            req.removeAllListeners('data');
            reject(new OtlpPayloadTooLargeError(limit));
            return;
          }
          if (!this.#limiter.reserve(c.length)) {
            req.removeAllListeners('data');
            reject(new CollectorOverloadedError('memory limit: request bodies in flight at the limit; retry later'));
            return;
          }
          held.bytes += c.length;
          if (into !== undefined) c.copy(into, size - c.length);
          else chunks.push(c);
        });
        req.on('end', () => {
          if (into !== undefined) resolve(size === into.length ? into : into.subarray(0, size));
          else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
        });
        req.on('error', reject);
      });
      if (gzipped) {
        const compressed = body;
        body = await this.#inflate(compressed, limit, held);
        // The compressed copy is garbage now.
        this.#limiter.release(compressed.length);
        held.bytes -= compressed.length;
      }
    } catch (err) {
      if (err instanceof OtlpPayloadTooLargeError) {
        this.#metrics.refused.inc({ signal, reason: 'too_large' });
        this.#refuse(req, res, path, 413, encoding, err.message);
      } else if (err instanceof CollectorOverloadedError) {
        this.#metrics.refused.inc({ signal, reason: 'overload' });
        this.#refuse(req, res, path, 429, encoding, err.message, {
          'retry-after': String(this.#opts.retryAfterSeconds),
        });
      } else if (err instanceof OtlpDecodeError) {
        this.#metrics.refused.inc({ signal, reason: 'undecodable' });
        this.#reply(res, path, 400, encoding, statusBody(encoding, GRPC_INVALID_ARGUMENT, err.message));
      } else res.destroy();
      return;
    }
    // Decoded in the loop's check phase, not in the poll phase the body ended in: the log's
    // completed writes (the acks of earlier requests) are reported in that poll phase too, in
    // any order with the bodies' ends, and each decode run there (~2 ms per 512 sidecar spans)
    // delayed the acks reported after it. Order is kept: immediates run in the order the
    // bodies ended.
    await new Promise<void>((resolve) => setImmediate(resolve));
    let result;
    try {
      result = this.#pipeline.accept(signal, encoding, body);
    } catch (err) {
      if (err instanceof OtlpDecodeError) {
        this.#metrics.refused.inc({ signal, reason: 'undecodable' });
        this.#reply(res, path, 400, encoding, statusBody(encoding, GRPC_INVALID_ARGUMENT, err.message));
      } else if (err instanceof CollectorOverloadedError) {
        this.#reply(res, path, 503, encoding, statusBody(encoding, GRPC_RESOURCE_EXHAUSTED, err.message), {
          'retry-after': String(this.#opts.retryAfterSeconds),
        });
      } else {
        this.#reply(res, path, 500, encoding, statusBody(encoding, GRPC_UNAVAILABLE, (err as Error).message));
      }
      return;
    }
    try {
      await result.durable;
    } catch (err) {
      // Not durable, so not acknowledged: the client retries.
      this.#reply(res, path, 503, encoding, statusBody(encoding, GRPC_UNAVAILABLE, (err as Error).message), {
        'retry-after': String(this.#opts.retryAfterSeconds),
      });
      return;
    }
    const message =
      result.rejected > 0
        ? `${result.rejected} ${signal === 'traces' ? 'spans' : 'log records'} refused: ${result.reasons.join('; ')}`
        : '';
    this.#reply(res, path, 200, encoding, exportResponse(encoding, signal, result.rejected, message));
  }
}
