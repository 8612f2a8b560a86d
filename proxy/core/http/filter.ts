// HTTP filter interfaces, after Envoy's StreamDecoderFilter / StreamEncoderFilter. A filter can
// let iteration continue, stop it (and resume later with continueDecoding, e.g. a fault delay),
// or answer locally with sendLocalReply. The last decoder filter (the router) produces the
// response through encodeHeaders/encodeData.
import type { HeaderMap } from './headers.js';
import type { StreamInfo } from '../stream-info.js';
import type { Route } from '../router/route-table.js';

export const FilterHeadersStatus = { Continue: 0, StopIteration: 1 } as const;
export type FilterHeadersStatus = (typeof FilterHeadersStatus)[keyof typeof FilterHeadersStatus];

export const FilterDataStatus = { Continue: 0, StopIterationAndBuffer: 1 } as const;
export type FilterDataStatus = (typeof FilterDataStatus)[keyof typeof FilterDataStatus];

/**
 * What decodeData/encodeData return: a status, or the bytes that replace `data` for the filters
 * after this one and the codec (a filter that re-encodes the body, e.g. gRPC-Web's base64 text).
 */
export type FilterDataResult = FilterDataStatus | Buffer;

export interface StreamDecoderFilter {
  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus;
  decodeData(data: Buffer, endStream: boolean): FilterDataResult;
  /**
   * Body bytes that arrived while this filter holds iteration from its decodeHeaders: the
   * manager buffers them for the filters after it and shows them here, so a filter that decides
   * on the body (ext_authz's with_request_body) can wait for it; it may continueDecoding() from
   * here. (Envoy calls the stopped filter's decodeData; here that stays for resumed iteration.)
   */
  onBufferedData?(data: Buffer, endStream: boolean): void;
  /** The downstream connection's write buffer went above (true) or back below (false) its limit. */
  onDownstreamWatermark?(above: boolean): void;
  /** The stream ended (completed or reset); release timers and upstream resources. */
  onDestroy(): void;
}

export interface StreamEncoderFilter {
  encodeHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus;
  encodeData(data: Buffer, endStream: boolean): FilterDataResult;
  /**
   * The response's trailers end it; a filter without this sees the end as encodeData(empty, true).
   * A filter may return body bytes that end the response in the trailers' place (gRPC-Web's
   * trailer frame): the filters before it then see them as encodeData(bytes, true).
   */
  encodeTrailers?(trailers: HeaderMap): Buffer | undefined;
  onDestroy(): void;
}

export interface StreamFilter {
  readonly decoder?: StreamDecoderFilter;
  readonly encoder?: StreamEncoderFilter;
  /**
   * The stream's access-log handler (Envoy's filters register one as an AccessLog::Instance):
   * called once the stream is complete, with its access loggers, after the turn's socket
   * writes. For what a filter records about a finished stream (istio.stats' metrics).
   */
  log?(info: StreamInfo): void;
}

/** What the connection manager offers every filter of a stream. */
export interface StreamFilterCallbacks {
  readonly streamInfo: StreamInfo;
  /** The downstream request headers (pseudo-headers included). */
  readonly requestHeaders: HeaderMap;
  /** Upgrade type requested by the client (lower-case, e.g. `websocket`) and listed by the HCM, else ''. */
  readonly upgradeType: string;
  /** Whether the HCM's upgrade_configs enable `upgradeType` (a route may override). */
  readonly upgradeEnabledByDefault: boolean;
  /** The matched route, computed once and cached until clearRouteCache(). */
  route(): Route | null;
  clearRouteCache(): void;
  /** Resumes decoding after a filter returned StopIteration. */
  continueDecoding(): void;
  /** Resumes encoding after an encoder filter returned StopIteration. */
  continueEncoding(): void;
  /**
   * Answers the stream locally (Envoy's sendLocalReply); sets the response flag and details. A
   * gRPC request gets a trailers-only gRPC response instead: HTTP 200, `grpcStatus` (else the
   * HTTP status mapped to one) and the body as `grpc-message`.
   */
  sendLocalReply(
    status: number,
    body: string,
    responseFlag: number,
    details: string,
    modifyHeaders?: (headers: HeaderMap) => void,
    grpcStatus?: number,
  ): void;
  /** Response path, used by the terminal filter. */
  encode1xxHeaders(headers: HeaderMap): void;
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  /** The response's trailers, which end it. */
  encodeTrailers(trailers: HeaderMap): void;
  /** Stops (true) or resumes (false) reading from downstream; counted, so calls must pair. */
  readDisable(disable: boolean): void;
  /** Resets the stream: closes the downstream connection without a response (or mid-response). */
  resetStream(): void;
}

/** Built once per filter config; returns a fresh filter per stream. */
export type StreamFilterFactory = (callbacks: StreamFilterCallbacks) => StreamFilter;
