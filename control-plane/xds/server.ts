// The xDS management server: gRPC ADS (state of the world) and REST-JSON on one port.
// A plaintext listener cannot negotiate the protocol by ALPN, so each connection's first
// bytes decide: the HTTP/2 preface goes to the h2 server (gRPC, or REST over h2c), anything
// else to the HTTP/1.1 server (REST polls).
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { encodeMessage, decodeMessage } from '../../proxy/xds/index.js';
import { ControlPlaneError, DiscoveryRequestError } from '../errors.js';
import { XDS_CLUSTER } from '../translate/bootstrap.js';
import { TYPE_URL, type ConfigSourceStyle, type ResourceKind } from '../translate/envoy.js';
import { AdsSession, type XdsEvents } from './ads.js';
import { DeltaAdsSession, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from './delta.js';
import type { SnapshotCache } from './cache.js';
import { discoveryResponseFrame } from './response-frame.js';
import { DiscoveryRequestReader } from './request-decode.js';
import { FrameDecoder, GRPC_STATUS, frame } from './grpc-framing.js';
import {
  REST_PATHS,
  checkRequest,
  nextNonce,
  withType,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from './protocol.js';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const DELTA_ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
const REQUEST_TYPE = 'envoy.service.discovery.v3.DiscoveryRequest';
const DELTA_REQUEST_TYPE = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
const DELTA_RESPONSE_TYPE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';
const MAX_REST_BODY = 1024 * 1024;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function subsetVersion(version: string, names: readonly string[]): string {
  if (names.length === 0) return version;
  return `${version}-${createHash('sha256')
    .update([...names].sort().join('\0'))
    .digest('hex')
    .slice(0, 8)}`;
}

export interface XdsServerOptions {
  cache: SnapshotCache;
  host: string;
  port: number;
  /** How long a REST poll for an unchanged version is held open before answering 304. */
  restHoldMs: number;
  /** The refresh delay written into REST config sources (RDS/EDS of REST clients). */
  restRefreshMs: number;
  events: XdsEvents;
}

export class XdsServerError extends ControlPlaneError {
  constructor(message: string, cause?: unknown) {
    super('MS_ERR_XDS_SERVER', message, { cause });
  }
}

export interface XdsServerStats {
  adsStreams: number;
  restPollsHeld: number;
}

export class XdsServer {
  readonly #o: XdsServerOptions;
  readonly #server: net.Server;
  readonly #h2: http2.Http2Server;
  readonly #h1: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<{ session: AdsSession | DeltaAdsSession; stream: http2.ServerHttp2Stream }>();
  readonly #held = new Set<() => void>();
  /** REST NACKs per node and type: the rejected version is not served again until the mesh changes. */
  readonly #restNacked = new Map<string, string>();
  readonly #restStyle: ConfigSourceStyle;

  constructor(o: XdsServerOptions) {
    this.#o = o;
    this.#restStyle = { kind: 'rest', cluster: XDS_CLUSTER, refreshDelayMs: o.restRefreshMs };
    // Raw streams, not the compatibility API: gRPC needs to own the trailers.
    this.#h2 = http2.createServer();
    this.#h2.on('stream', (stream, headers) => this.#onH2Stream(stream, headers));
    this.#h1 = http.createServer((req, res) => this.#onRequest(req, res));
    this.#server = net.createServer((socket) => this.#onConnection(socket));
  }

  #onConnection(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return;
      socket.off('data', onData);
      if (!isH2) {
        socket.pause();
        socket.unshift(seen);
        this.#h1.emit('connection', socket);
        socket.resume();
        return;
      }
      // The bytes already read go back into the socket's buffer, and the h2 session feeds
      // what is buffered to nghttp2 before it reads the native handle. A JS stream replaying
      // them instead (as before) put every byte of every ADS stream through JSStreamSocket:
      // at a thousand sidecars its writes were the control plane's largest CPU cost.
      socket.pause();
      socket.unshift(seen);
      this.#h2.emit('connection', socket);
    };
    socket.on('data', onData);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new XdsServerError(`cannot listen on ${this.#o.host}:${this.#o.port}: ${err.message}`, err));
      this.#server.once('error', onError);
      this.#server.listen(this.#o.port, this.#o.host, () => {
        this.#server.off('error', onError);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  stats(): XdsServerStats {
    return { adsStreams: this.#sessions.size, restPollsHeld: this.#held.size };
  }

  close(): Promise<void> {
    for (const release of [...this.#held]) release();
    for (const { session, stream } of this.#sessions) {
      session.close();
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    this.#sessions.clear();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      // Open keep-alive and HTTP/2 connections would hold close() forever.
      for (const socket of this.#sockets) socket.destroy();
    });
  }

  #onH2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {
      // A reset by the client is the normal end of a stream when it reconnects or exits.
    });
    if (!String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.respond({ ':status': 505, 'content-type': 'application/json' });
      stream.end(
        JSON.stringify({ code: 505, message: 'REST-JSON xDS is served over HTTP/1.1; HTTP/2 carries gRPC only' }),
      );
      return;
    }
    this.#onGrpc(stream, headers);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    if (req.method === 'GET' && path === '/ready') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ready: true, mesh: this.#o.cache.mesh.name, ...this.stats() }));
      return;
    }
    const kind = REST_PATHS.get(path);
    if (kind === undefined)
      return this.#restError(
        res,
        404,
        `no xDS endpoint at ${path} (POST /v3/discovery:listeners|routes|clusters|endpoints|secrets|runtime)`,
      );
    if (req.method !== 'POST') return this.#restError(res, 405, `${path} takes POST with a JSON DiscoveryRequest`);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_REST_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_REST_BODY) return this.#restError(res, 413, `DiscoveryRequest larger than ${MAX_REST_BODY} bytes`);
      let parsed: DiscoveryRequest;
      try {
        let raw: unknown;
        try {
          raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          throw new DiscoveryRequestError(`${path}: body is not JSON: ${(err as Error).message}`);
        }
        parsed = checkRequest(raw, path);
        if (typeof parsed.node?.id !== 'string' || parsed.node.id === '')
          throw new DiscoveryRequestError(`${path}: node.id is required`);
        if (parsed.type_url !== undefined && parsed.type_url !== '' && parsed.type_url !== TYPE_URL[kind]) {
          throw new DiscoveryRequestError(
            `${path}: type_url '${parsed.type_url}' does not match the endpoint (${TYPE_URL[kind]})`,
          );
        }
      } catch (err) {
        return this.#restError(res, 400, (err as Error).message);
      }
      this.#onRest(kind, parsed, res);
    });
  }

  #restError(res: ServerResponse, status: number, message: string): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: status, message }));
  }

  #onRest(kind: ResourceKind, req: DiscoveryRequest, res: ServerResponse): void {
    const nodeId = req.node?.id as string;
    const key = `${nodeId}\0${kind}`;
    const typeUrl = TYPE_URL[kind];
    const style = this.#restStyle;
    if (req.error_detail !== undefined && req.error_detail !== null) {
      const rejected = subsetVersion(
        this.#o.cache.snapshot(nodeId, style).types[kind].version,
        req.resource_names ?? [],
      );
      this.#restNacked.set(key, rejected);
      const message = req.error_detail.message ?? '';
      this.#o.events.log(`NACK (REST) from ${nodeId} for ${typeUrl} version ${rejected}: ${message}`);
      this.#o.events.nack?.(nodeId, typeUrl, rejected, message);
    } else if (req.version_info !== undefined && req.version_info !== '') {
      this.#o.events.ack?.(nodeId, typeUrl, req.version_info);
    }
    const names = req.resource_names ?? [];
    const answer = (): boolean => {
      const snap = this.#o.cache.snapshot(nodeId, style).types[kind];
      // A poll carries no subscription state, so the version covers the names asked for:
      // a changed subscription is answered at once even when the content did not change.
      const version = subsetVersion(snap.version, names);
      if (version === req.version_info || version === this.#restNacked.get(key)) return false;
      this.#restNacked.delete(key);
      const body: DiscoveryResponse = {
        version_info: version,
        resources: withType(typeUrl, snap.resources.values(), names),
        type_url: typeUrl,
        nonce: nextNonce(),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return true;
    };
    if (answer()) return;
    // Long poll: hold the request until this type changes for the node, or answer 304.
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unwatch();
      this.#held.delete(finish);
    };
    const unwatch = this.#o.cache.watch(nodeId, style, (changed) => {
      if (!changed.has(kind) || done) return;
      if (answer()) finish();
    });
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      res.writeHead(304);
      res.end();
    }, this.#o.restHoldMs);
    this.#held.add(finish);
    res.on('close', finish);
  }

  #onGrpc(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const path = headers[':path'];
    if (path !== ADS_PATH && path !== DELTA_ADS_PATH) {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': String(GRPC_STATUS.UNIMPLEMENTED),
          'grpc-message': encodeURIComponent(`unknown method ${String(path)}`),
        },
        { endStream: true },
      );
      return;
    }
    const delta = path === DELTA_ADS_PATH;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
    let trailerStatus: number = GRPC_STATUS.OK;
    let trailerMessage = '';
    stream.on('wantTrailers', () => {
      stream.sendTrailers({ 'grpc-status': String(trailerStatus), 'grpc-message': encodeURIComponent(trailerMessage) });
    });
    const end = (status: number, message: string): void => {
      trailerStatus = status;
      trailerMessage = message;
      if (!stream.closed && !stream.writableEnded) stream.end();
    };
    const send = (r: DiscoveryResponse | DeltaDiscoveryResponse): void => {
      if (stream.closed || stream.writableEnded) return;
      let bytes: Buffer;
      try {
        bytes = delta
          ? frame(encodeMessage(DELTA_RESPONSE_TYPE, r as unknown as Parameters<typeof encodeMessage>[1]))
          : discoveryResponseFrame(r as DiscoveryResponse);
      } catch (err) {
        this.#o.events.log(`cannot encode ${r.type_url} for ${entry.session.nodeId ?? '?'}: ${(err as Error).message}`);
        end(GRPC_STATUS.INTERNAL, (err as Error).message);
        return;
      }
      stream.write(bytes);
    };
    const entry = {
      session: delta
        ? new DeltaAdsSession(this.#o.cache, send, this.#o.events)
        : new AdsSession(this.#o.cache, send, this.#o.events),
      stream,
    };
    this.#sessions.add(entry);
    const decoder = new FrameDecoder();
    const reader = new DiscoveryRequestReader();
    stream.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        end(GRPC_STATUS.INVALID_ARGUMENT, (err as Error).message);
        return;
      }
      for (const m of messages) {
        let error: string | undefined;
        try {
          const decoded =
            (delta ? undefined : reader.read(m)) ?? decodeMessage(delta ? DELTA_REQUEST_TYPE : REQUEST_TYPE, m);
          error =
            entry.session instanceof DeltaAdsSession
              ? entry.session.onRequest(decoded as DeltaDiscoveryRequest)
              : entry.session.onRequest(decoded as DiscoveryRequest);
        } catch (err) {
          end(
            GRPC_STATUS.INVALID_ARGUMENT,
            `malformed ${delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}: ${(err as Error).message}`,
          );
          return;
        }
        if (error !== undefined) {
          end(GRPC_STATUS.INVALID_ARGUMENT, error);
          return;
        }
      }
    });
    stream.on('end', () => end(GRPC_STATUS.OK, ''));
    stream.on('close', () => {
      entry.session.close();
      this.#sessions.delete(entry);
    });
  }
}
