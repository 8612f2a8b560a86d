// One ADS call as a stream of the HTTP/2 codec of our own (framed-server-connection.ts): the
// codec frames straight on the socket, so reading a sidecar's ACK and writing a push cost one
// parse loop and one socket write, where node:http2 spent ~60–80 µs per sidecar per edit in its
// JS streams. The request's DATA is gRPC-framed DiscoveryRequests (grpc-framing.ts); each push
// is one pre-encoded buffer shared by every node sent the same version (response-frame.ts),
// handed to the codec as is (it frames it as DATA within the peer's windows, without copying);
// the call ends with trailers carrying grpc-status.
//
// Backpressure: while the stream's or the connection's write buffer is above its limit (a
// sidecar that does not read, or whose window is closed), mesh pushes wait and collapse into the
// newest state when it drains (both session kinds diff against what they last sent). Responses
// to the client's own requests still go out; past MAX_HELD_BYTES of them the stream is reset, so
// a sidecar that never reads cannot grow the control plane's memory without bound.
import { HeaderMap } from '../../proxy/core/http/headers.js';
import type { RequestDecoder, ResponseEncoder } from '../../proxy/core/http/codec/types.js';
import { Http2Stream } from '../../proxy/core/http/codec/http2/server-stream.js';
import { decodeMessage, encodeMessage } from '../../proxy/xds/index.js';
import { AdsSession, type XdsEvents } from './ads.js';
import type { SnapshotCache } from './cache.js';
import { DeltaAdsSession, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from './delta.js';
import { FrameDecoder, GRPC_STATUS, frame } from './grpc-framing.js';
import type { DiscoveryRequest, DiscoveryResponse } from './protocol.js';
import { DiscoveryRequestReader } from './request-decode.js';
import { discoveryResponseFrame } from './response-frame.js';

export const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const DELTA_ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
const REQUEST_TYPE = 'envoy.service.discovery.v3.DiscoveryRequest';
const DELTA_REQUEST_TYPE = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
const DELTA_RESPONSE_TYPE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';
/** Bytes of responses a stream may write while its write buffer is above its limit before it is reset. */
export const MAX_HELD_BYTES = 16 * 1024 * 1024;

export interface GrpcStreamContext {
  readonly cache: SnapshotCache;
  readonly events: XdsEvents;
  /** The server's open ADS calls (stats, shutdown). */
  readonly calls: Set<AdsCall>;
}

function headers(fields: ReadonlyArray<readonly [string, string]>): HeaderMap {
  const h = new HeaderMap();
  for (const [n, v] of fields) h.add(n, v);
  return h;
}

/** A stream of the xDS server's HTTP/2 connections: an ADS call, or a refusal of anything else. */
export class XdsHttp2Stream implements RequestDecoder {
  readonly #encoder: ResponseEncoder;
  readonly #ctx: GrpcStreamContext;
  /** Streams of this connection still open, so a closed connection closes their sessions. */
  readonly #open: Set<XdsHttp2Stream>;
  #call: AdsCall | null = null;

  constructor(encoder: ResponseEncoder, ctx: GrpcStreamContext, open: Set<XdsHttp2Stream>) {
    this.#encoder = encoder;
    this.#ctx = ctx;
    this.#open = open;
  }

  decodeHeaders(h: HeaderMap, endStream: boolean): void {
    const e = this.#encoder;
    if (!(h.get('content-type') ?? '').startsWith('application/grpc')) {
      e.encodeHeaders(
        headers([
          [':status', '505'],
          ['content-type', 'application/json'],
        ]),
        false,
      );
      e.encodeData(
        Buffer.from(
          JSON.stringify({ code: 505, message: 'REST-JSON xDS is served over HTTP/1.1; HTTP/2 carries gRPC only' }),
        ),
        true,
      );
      return;
    }
    const path = h.get(':path') ?? '';
    if (path !== ADS_PATH && path !== DELTA_ADS_PATH) {
      // Trailers-only: the status rides on the response head.
      e.encodeHeaders(
        headers([
          [':status', '200'],
          ['content-type', 'application/grpc'],
          ['grpc-status', String(GRPC_STATUS.UNIMPLEMENTED)],
          ['grpc-message', encodeURIComponent(`unknown method ${path}`)],
        ]),
        true,
      );
      return;
    }
    this.#call = new AdsCall(e, this.#ctx, path === DELTA_ADS_PATH, () => this.#open.delete(this));
    this.#open.add(this);
    if (endStream) this.#call.end(GRPC_STATUS.OK, '');
  }

  decodeData(data: Buffer, endStream: boolean): void {
    this.#call?.onData(data, endStream);
  }

  onResetStream(): void {
    this.#call?.close();
  }

  onWriteBufferWatermark(above: boolean): void {
    this.#call?.onWatermark(above);
  }

  sendLocalReply(_status: number, _body: string, _responseFlag: number, details: string): void {
    if (this.#encoder.responseStarted) {
      this.#encoder.resetStream();
      return;
    }
    this.#encoder.encodeHeaders(
      headers([
        [':status', '200'],
        ['content-type', 'application/grpc'],
        ['grpc-status', String(GRPC_STATUS.INVALID_ARGUMENT)],
        ['grpc-message', encodeURIComponent(details)],
      ]),
      true,
    );
  }
}

/** One ADS call (state of the world or delta): its session, its request decoding, its pushes. */
export class AdsCall {
  readonly session: AdsSession | DeltaAdsSession;
  readonly #encoder: ResponseEncoder;
  readonly #ctx: GrpcStreamContext;
  readonly #delta: boolean;
  readonly #onClosed: () => void;
  readonly #decoder = new FrameDecoder();
  readonly #reader = new DiscoveryRequestReader();
  #closed = false;
  #above = false;
  /** Bytes written since the write buffer went above its limit. */
  #heldBytes = 0;

  constructor(encoder: ResponseEncoder, ctx: GrpcStreamContext, delta: boolean, onClosed: () => void) {
    this.#encoder = encoder;
    this.#ctx = ctx;
    this.#delta = delta;
    this.#onClosed = onClosed;
    encoder.encodeHeaders(
      headers([
        [':status', '200'],
        ['content-type', 'application/grpc+proto'],
      ]),
      false,
    );
    this.session = delta
      ? new DeltaAdsSession(ctx.cache, (r) => this.#send(r), ctx.events)
      : new AdsSession(ctx.cache, (r) => this.#send(r), ctx.events);
    ctx.calls.add(this);
  }

  onData(chunk: Buffer, endStream: boolean): void {
    if (this.#closed) return;
    if (chunk.length > 0 && !this.#onMessages(chunk)) return;
    if (endStream) this.end(GRPC_STATUS.OK, '');
  }

  /** Decodes and handles the whole messages `chunk` completes; false once the call ended. */
  #onMessages(chunk: Buffer): boolean {
    try {
      this.#decoder.push(chunk, this.#onMessage);
    } catch (err) {
      // The framing's errors (compressed or oversized); a message's own errors end the call in #onMessage.
      this.end(GRPC_STATUS.INVALID_ARGUMENT, (err as Error).message);
      return false;
    }
    return !this.#closed;
  }

  /** Handles one request; false once the call ended. */
  readonly #onMessage = (m: Buffer): boolean => {
    let error: string | undefined;
    try {
      const session = this.session;
      if (session instanceof DeltaAdsSession)
        error = session.onRequest(decodeMessage(DELTA_REQUEST_TYPE, m) as unknown as DeltaDiscoveryRequest);
      else if (session.ackIfExpected(m)) return !this.#closed;
      else {
        const reader = this.#reader;
        const req = reader.read(m);
        error =
          req === undefined
            ? session.onRequest(decodeMessage(REQUEST_TYPE, m) as unknown as DiscoveryRequest)
            : session.onRequest(req, reader.lastNames);
      }
    } catch (err) {
      error = `malformed ${this.#delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}: ${(err as Error).message}`;
    }
    if (error !== undefined) {
      this.end(GRPC_STATUS.INVALID_ARGUMENT, error);
      return false;
    }
    return !this.#closed;
  };

  #send(r: DiscoveryResponse | DeltaDiscoveryResponse): void {
    if (this.#closed) return;
    let bytes: Buffer;
    try {
      bytes = this.#delta
        ? frame(encodeMessage(DELTA_RESPONSE_TYPE, r as unknown as Parameters<typeof encodeMessage>[1]))
        : discoveryResponseFrame(r as DiscoveryResponse);
    } catch (err) {
      this.#ctx.events.log(`cannot encode ${r.type_url} for ${this.session.nodeId ?? '?'}: ${(err as Error).message}`);
      this.end(GRPC_STATUS.INTERNAL, (err as Error).message);
      return;
    }
    if (this.#above) {
      this.#heldBytes += bytes.length;
      if (this.#heldBytes > MAX_HELD_BYTES) {
        this.#ctx.events.log(
          `ADS stream of ${this.session.nodeId ?? '?'} reset: ${this.#heldBytes} bytes of responses wait on a client that does not read`,
        );
        this.#encoder.resetStream();
        this.close();
        return;
      }
    }
    // A state-of-the-world push is one buffer shared by every stream sent it: the codec frames it
    // once per stream id, not once per stream (see response-frame.ts).
    const e = this.#encoder;
    if (!this.#delta && e instanceof Http2Stream) e.encodeSharedData(bytes);
    else e.encodeData(bytes, false);
  }

  onWatermark(above: boolean): void {
    if (this.#closed || above === this.#above) return;
    this.#above = above;
    this.#heldBytes = 0;
    this.session.holdPushes(above);
  }

  /** Ends the call with trailers carrying `status` (the stream is then done with). */
  end(status: number, message: string): void {
    if (this.#closed) return;
    this.close();
    const trailers = headers([['grpc-status', String(status)]]);
    if (message !== '') trailers.add('grpc-message', encodeURIComponent(message));
    this.#encoder.encodeTrailers(trailers);
  }

  /** The stream is gone (reset, connection closed) or ending: the session stops watching. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.session.close();
    this.#ctx.calls.delete(this);
    this.#onClosed();
  }

  /** The server shuts down: the stream is reset (the client reconnects elsewhere or later). */
  cancel(): void {
    if (this.#closed) return;
    this.close();
    this.#encoder.resetStream();
  }
}
