// envoy.filters.http.grpc_web, per stream: a gRPC-Web request (application/grpc-web[+proto], or
// the base64 application/grpc-web-text[+proto] browsers without binary streams use) goes upstream
// as gRPC (content-type application/grpc, te: trailers, the text decoded); its response comes
// back as gRPC-Web: the same messages (base64 again for text) and the trailers as a last frame
// flagged 0x80, since a browser's fetch cannot read HTTP trailers. Anything else passes through.
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type FilterDataResult,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
} from '../../../../core/http/filter.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import { encodeTrailerFrame } from '../../../../core/grpc/frame.js';

const GRPC_WEB = 'application/grpc-web';
const GRPC_WEB_TEXT = 'application/grpc-web-text';
const EMPTY = Buffer.alloc(0);

export class GrpcWebFilter implements StreamFilter, StreamDecoderFilter, StreamEncoderFilter {
  readonly #cb: StreamFilterCallbacks;
  #web = false;
  #textRequest = false;
  #textResponse = false;
  /** Request base64 characters past the last whole 4-character group. */
  #pendingText = '';
  /** Response bytes past the last whole 3-byte group (text responses). */
  #pendingBytes: Buffer = EMPTY;

  constructor(callbacks: StreamFilterCallbacks) {
    this.#cb = callbacks;
  }

  get decoder(): StreamDecoderFilter {
    return this;
  }

  get encoder(): StreamEncoderFilter {
    return this;
  }

  decodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    const ct = headers.get('content-type');
    if (ct === undefined || !ct.startsWith(GRPC_WEB)) return FilterHeadersStatus.Continue;
    this.#web = true;
    this.#textRequest = ct.startsWith(GRPC_WEB_TEXT);
    this.#textResponse = this.#textRequest || (headers.get('accept') ?? '').startsWith(GRPC_WEB_TEXT);
    headers.set('content-type', 'application/grpc');
    // The body's length changes (base64) and the upstream must accept trailers, as gRPC requires.
    headers.remove('content-length');
    headers.set('te', 'trailers');
    // A route that matches gRPC only (match.grpc) now matches this request.
    this.#cb.clearRouteCache();
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataResult {
    if (!this.#textRequest) return FilterDataStatus.Continue;
    const text = this.#pendingText + data.toString('latin1');
    const whole = endStream ? text.length : text.length - (text.length % 4);
    this.#pendingText = text.slice(whole);
    return Buffer.from(text.slice(0, whole), 'base64');
  }

  encodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    if (!this.#web) return FilterHeadersStatus.Continue;
    headers.set('content-type', this.#textResponse ? `${GRPC_WEB_TEXT}+proto` : `${GRPC_WEB}+proto`);
    headers.remove('content-length');
    return FilterHeadersStatus.Continue;
  }

  encodeData(data: Buffer, endStream: boolean): FilterDataResult {
    if (!this.#textResponse) return FilterDataStatus.Continue;
    return this.#base64(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): Buffer | undefined {
    if (!this.#web) return undefined;
    const frame = encodeTrailerFrame(trailers.names, trailers.values);
    return this.#textResponse ? this.#base64(frame, true) : frame;
  }

  /** Base64 of whole 3-byte groups (so the text chunks concatenate), the rest at the end. */
  #base64(data: Buffer, end: boolean): Buffer {
    const bytes = this.#pendingBytes.length === 0 ? data : Buffer.concat([this.#pendingBytes, data]);
    const whole = end ? bytes.length : bytes.length - (bytes.length % 3);
    this.#pendingBytes = whole === bytes.length ? EMPTY : bytes.subarray(whole);
    return Buffer.from(bytes.subarray(0, whole).toString('base64'), 'latin1');
  }

  onDestroy(): void {}
}
