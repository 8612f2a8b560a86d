// One stream of the HTTP/2 server codec of our own (framed-server-connection.ts): its state both
// ways (windows, the body held behind a closed one, which halves are closed) and the connection
// manager's ResponseEncoder, whose writes go to the connection that owns it.
import { HeaderMap } from '../../headers.js';
import type { RequestDecoder, ResponseEncoder } from '../types.js';
import { ErrorCode } from './frame.js';

/** What a stream asks of its connection. */
export interface StreamOwner {
  /** The socket holds more than the connection's buffer limit. */
  readonly aboveWatermark: boolean;
  sendHeaders(s: Http2Stream, headers: HeaderMap, endStream: boolean, trailers: boolean): void;
  sendData(s: Http2Stream, data: Buffer, endStream: boolean): void;
  /** sendData(s, data, false) for a payload sent to many streams alike: framed once per stream id. */
  sendSharedData(s: Http2Stream, data: Buffer): void;
  sendTrailers(s: Http2Stream, trailers: HeaderMap): void;
  resetStream(s: Http2Stream, code: number, local: boolean): void;
  /** The stream reads again: the window it held closed reopens. */
  reopenWindow(s: Http2Stream): void;
  /** A finished response waits on a window: the stream idle timeout applies to it. */
  watchStalled(s: Http2Stream): void;
}

/** One HTTP/2 stream: its state both ways, and the connection manager's ResponseEncoder. */
export class Http2Stream implements ResponseEncoder {
  readonly protocol = 'HTTP/2' as const;
  /** An extended CONNECT's `:protocol` (request-headers.ts), else ''. */
  upgradeType = '';
  /** The upgrade was accepted: the stream is a tunnel. */
  upgraded = false;
  readonly closingConnection = false;
  readonly id: number;
  readonly conn: StreamOwner;
  readonly openedAt: number;
  decoder: RequestDecoder | null = null;
  /** END_STREAM arrived (half-closed remote). */
  remoteClosed = false;
  /** END_STREAM went out (half-closed local). */
  localClosed = false;
  responseStarted = false;
  /** The connection manager is done with the response (it may still wait on a window). */
  responseComplete = false;
  bodyless = false;
  closed = false;
  localReset = false;
  rstCode: number = ErrorCode.NO_ERROR;
  /** content-length of the request, -1 when absent; the octets of DATA so far. */
  contentLength = -1;
  received = 0;
  recvWindow: number;
  /** Octets consumed but not yet given back with WINDOW_UPDATE. */
  recvUnacked = 0;
  readDisabled = 0;
  sendWindow: number;
  /** Body held behind a closed window, and what ends it. */
  pending: Buffer[] | null = null;
  pendingBytes = 0;
  pendingEnd = false;
  pendingTrailers: HeaderMap | null = null;
  aboveWatermark = false;
  /** What the filter chain was last told (the stream's or the connection's buffer above its limit). */
  notifiedAbove = false;
  /** The response ended before the request: RST_STREAM NO_ERROR once it is out. */
  resetAfterFlush = false;
  /** Stream idle watch of a finished response still behind a window (the connection's sweep). */
  unsent = -1;
  unsentSince = 0;

  constructor(id: number, conn: StreamOwner, recvWindow: number, sendWindow: number) {
    this.id = id;
    this.conn = conn;
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
    this.openedAt = performance.now();
  }

  closeConnectionAfterResponse(): void {
    // One stream's end says nothing about the connection's others.
  }

  encode1xxHeaders(headers: HeaderMap): void {
    if (this.closed || this.responseStarted) return;
    this.conn.sendHeaders(this, headers, false, false);
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.responseStarted = true;
    let status = headers.get(':status');
    if (status === '101' && this.upgradeType !== '') {
      // Envoy's transformUpgradeResponseFromH1toH2: the upgrade is a 200 to an extended CONNECT
      // (its `upgrade` and `connection` are not sent). A copy: the access log keeps the 101.
      const h = new HeaderMap();
      h.names.push(...headers.names);
      h.values.push(...headers.values);
      h.set(':status', '200');
      headers = h;
      status = '200';
      this.upgraded = true;
    }
    this.bodyless = endStream || status === '204' || status === '304';
    if (this.closed) return;
    // Complete before the frame goes: a stream it closes is closed finished, not reset.
    if (this.bodyless) this.responseComplete = true;
    this.conn.sendHeaders(this, headers, this.bodyless, false);
    if (this.bodyless) this.#endResponse();
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (!this.responseStarted || this.responseComplete || this.closed) return true;
    if (this.bodyless) {
      if (endStream) this.#endResponse();
      return true;
    }
    if (data.length === 0 && !endStream) return true;
    if (endStream) this.responseComplete = true;
    this.conn.sendData(this, data, endStream);
    if (endStream) this.#endResponse();
    return !this.aboveWatermark && !this.conn.aboveWatermark;
  }

  /**
   * encodeData(data, false) for bytes sent to many streams alike (the xDS server's pushes): the
   * connection frames them once per stream id instead of once per stream. `data` must not change.
   */
  encodeSharedData(data: Buffer): boolean {
    if (!this.responseStarted || this.responseComplete || this.closed || this.bodyless) return true;
    if (data.length === 0) return true;
    this.conn.sendSharedData(this, data);
    return !this.aboveWatermark && !this.conn.aboveWatermark;
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (!this.responseStarted || this.responseComplete || this.closed) return;
    // Sent whether or not the request said `te: trailers`, as Envoy does (gRPC's status rides on them).
    this.responseComplete = true;
    if (!this.bodyless) this.conn.sendTrailers(this, trailers);
    this.#endResponse();
  }

  #endResponse(): void {
    this.responseComplete = true;
    if (this.closed) return;
    if (this.pending !== null) this.conn.watchStalled(this);
    // The response ended before the request: refuse the rest of it (Envoy resets with NO_ERROR).
    if (!this.remoteClosed) {
      if (this.pending === null) this.conn.resetStream(this, ErrorCode.NO_ERROR, false);
      else this.resetAfterFlush = true;
    }
  }

  readDisable(disable: boolean): void {
    if (disable) this.readDisabled++;
    else if (this.readDisabled > 0 && --this.readDisabled === 0 && !this.closed) this.conn.reopenWindow(this);
  }

  resetStream(): void {
    if (this.closed) return;
    this.conn.resetStream(this, ErrorCode.INTERNAL_ERROR, true);
  }
}
