// The xDS management server: gRPC ADS (state of the world and delta) and REST-JSON on one port.
// A plaintext listener cannot negotiate the protocol by ALPN, so each connection's first
// bytes decide: the HTTP/2 preface goes to the proxy's own HTTP/2 codec
// (framed-server-connection.ts), whose streams are ADS calls (grpc-stream.ts), anything else
// to the HTTP/1.1 server (REST polls). The control plane serves no TLS, so node:http2 is not
// used at all: its per-stream JS machinery was the largest per-sidecar cost of an edit.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { FramedHttp2ServerConnection } from '../../proxy/core/http/codec/http2/framed-server-connection.js';
import { Http2CodecStats } from '../../proxy/core/http/codec/http2/protocol-constraints.js';
import type { Http2Settings } from '../../proxy/core/http/codec/http2/server-connection.js';
import type { ServerConnectionCallbacks } from '../../proxy/core/http/codec/types.js';
import { RawBufferSocket } from '../../proxy/core/network/raw-buffer-socket.js';
import { createStatsStore } from '../../proxy/stats/index.js';
import { ControlPlaneError, DiscoveryRequestError } from '../errors.js';
import { XDS_CLUSTER } from '../translate/bootstrap.js';
import { TYPE_URL, type ConfigSourceStyle, type JsonObject, type ResourceKind } from '../translate/envoy.js';
import type { XdsEvents } from './ads.js';
import { type SnapshotCache, serializedJson } from './cache.js';
import { type AdsCall, type GrpcStreamContext, XdsHttp2Stream } from './grpc-stream.js';
import { REST_PATHS, checkRequest, nextNonce, withType, type DiscoveryRequest } from './protocol.js';

const MAX_REST_BODY = 1024 * 1024;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * The control plane's HTTP/2 settings. An ADS client opens one long-lived stream and sends small
 * requests, so the receive windows stay at the protocol's default (a client can have at most
 * that much unread on us); what the client's windows allow us to send is its choice.
 */
const XDS_HTTP2: Http2Settings = {
  maxConcurrentStreams: 100,
  initialStreamWindowSize: 65_535,
  initialConnectionWindowSize: 1024 * 1024,
  maxRequestHeadersBytes: 60 * 1024,
  maxHeadersCount: 100,
  maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100,
  // ADS streams live as long as their sidecar; a finished response is never held behind a window.
  streamIdleTimeoutMs: 0,
  // What a sidecar that does not read may leave in its socket before its mesh pushes are held
  // (grpc-stream.ts); behind a closed window a stream holds at most the codec's 64 KiB.
  connectionBufferLimitBytes: 1024 * 1024,
  // An ADS call reads each request within decodeData (FrameDecoder copies a partial message), so
  // reads go into the transport's shared buffer: after an edit every sidecar's ACK is one read.
  decodersCopyData: true,
};

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

/**
 * A REST DiscoveryResponse's JSON, as JSON.stringify gives it for { version_info, resources,
 * type_url, nonce }, from each resource's JSON text computed once per (typed) resource object: a
 * poll answers the type's whole set, which at a thousand sidecars is ~0.4 MB of endpoints
 * stringified per edit when only one service's changed.
 */
function restBody(version: string, resources: JsonObject[], typeUrl: string, nonce: string): string {
  let list = '';
  for (let i = 0; i < resources.length; i++) list += (i === 0 ? '' : ',') + serializedJson(resources[i] as JsonObject);
  return `{"version_info":${JSON.stringify(version)},"resources":[${list}],"type_url":${JSON.stringify(typeUrl)},"nonce":${JSON.stringify(nonce)}}`;
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
  readonly #h1: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #calls = new Set<AdsCall>();
  readonly #grpc: GrpcStreamContext;
  /** The HTTP/2 codec's `http2.*` counters (resets, floods), kept per server. */
  readonly #h2stats: Http2CodecStats;
  readonly #held = new Set<() => void>();
  /** REST NACKs per node and type: the rejected version is not served again until the mesh changes. */
  readonly #restNacked = new Map<string, string>();
  readonly #restStyle: ConfigSourceStyle;

  constructor(o: XdsServerOptions) {
    this.#o = o;
    this.#restStyle = { kind: 'rest', cluster: XDS_CLUSTER, refreshDelayMs: o.restRefreshMs };
    this.#grpc = { cache: o.cache, events: o.events, calls: this.#calls };
    const store = createStatsStore();
    this.#h2stats = new Http2CodecStats(store, store.scope('xds'));
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
      // The bytes already read go back into the socket's buffer, which the codec reads first.
      socket.pause();
      socket.unshift(seen);
      this.#onHttp2(socket);
    };
    socket.on('data', onData);
  }

  #onHttp2(socket: Socket): void {
    const open = new Set<XdsHttp2Stream>();
    const callbacks: ServerConnectionCallbacks = {
      newStream: (encoder) => new XdsHttp2Stream(encoder, this.#grpc, open),
      onRead: () => undefined,
      onCodecError: () => undefined,
      // The codec leaves a closed connection's streams to its owner: their sessions stop here.
      onConnectionClose: () => {
        for (const s of [...open]) s.onResetStream();
      },
    };
    new FramedHttp2ServerConnection(new RawBufferSocket(socket), callbacks, XDS_HTTP2, this.#h2stats);
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
    return { adsStreams: this.#calls.size, restPollsHeld: this.#held.size };
  }

  close(): Promise<void> {
    for (const release of [...this.#held]) release();
    for (const call of [...this.#calls]) call.cancel();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      // Open keep-alive and HTTP/2 connections would hold close() forever.
      for (const socket of this.#sockets) socket.destroy();
    });
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
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(restBody(version, withType(typeUrl, snap.resources.values(), names), typeUrl, nextNonce()));
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
}
