// Envoy's FilterManager: runs one stream's HTTP filters and nothing else. Decoder filters see
// the request in configuration order (the router last), encoder filters the response in
// reverse; a filter that stops iteration gets the stream's later bytes buffered until it calls
// continueDecoding/continueEncoding. What the filters let through goes to the stream's owner
// (FilterManagerCallbacks), which writes it to the codec; the filter manager never frames bytes,
// edits headers or counts connection stats.
import { Buffer } from 'node:buffer';
import type { HeaderMap } from './headers.js';
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamFilter,
  type StreamFilterCallbacks,
  type StreamFilterFactory,
} from './filter.js';

/** What the filter manager needs from the stream it serves (the connection manager's ActiveStream). */
export interface FilterManagerCallbacks {
  /** True once the stream finished (completed or reset): iteration stops. */
  readonly destroyed: boolean;
  /** True once response headers went to the codec: decoding stops. */
  readonly responseStarted: boolean;
  /** True once the whole request arrived. */
  readonly requestComplete: boolean;
  readonly requestHeaders: HeaderMap;
  /** The encoder filters let the response headers through. */
  encodeHeadersToCodec(headers: HeaderMap, endStream: boolean): void;
  /** The encoder filters let body bytes through. */
  encodeDataToCodec(data: Buffer, endStream: boolean): void;
  /** The encoder filters let the trailers through; they end the response. */
  encodeTrailersToCodec(trailers: HeaderMap): void;
  /** Stops (true) or resumes (false) reading downstream; counted, calls must pair. */
  readDisable(disable: boolean): void;
}

const EMPTY = Buffer.alloc(0);

export class FilterManager {
  readonly #stream: FilterManagerCallbacks;
  /** Decoder bytes buffered while a filter holds iteration; past it, downstream reading pauses. */
  readonly #bufferLimitBytes: number;
  readonly filters: StreamFilter[] = [];
  /** Index of the decoder filter that stopped iteration; -1 when iterating freely. */
  #decoderStoppedAt = -1;
  #decodedHeaders = false;
  #bufferedBody: Buffer[] | null = null;
  #bufferedBytes = 0;
  #bufferedEnd = false;
  #encoderStoppedAt = -1;
  #pendingResponseHeaders: HeaderMap | null = null;
  #pendingResponseBody: Buffer[] = [];
  #pendingResponseEnd = false;
  /** Trailers that arrived while an encoder filter held the response. */
  #pendingResponseTrailers: HeaderMap | null = null;
  #readDisabledByStream = 0;

  constructor(stream: FilterManagerCallbacks, bufferLimitBytes: number) {
    this.#stream = stream;
    this.#bufferLimitBytes = bufferLimitBytes;
  }

  /** Builds this stream's filters, in configuration order. */
  createFilterChain(factories: readonly StreamFilterFactory[], callbacks: StreamFilterCallbacks): void {
    for (let i = 0; i < factories.length; i++) this.filters.push(factories[i]!(callbacks));
  }

  // --- decoding ---

  decodeHeaders(endStream: boolean): void {
    this.#runDecodeHeaders(0, endStream);
  }

  #runDecodeHeaders(from: number, endStream: boolean): void {
    const filters = this.filters;
    const stream = this.#stream;
    for (let i = from; i < filters.length; i++) {
      const d = filters[i]!.decoder;
      if (d === undefined) continue;
      if (stream.destroyed || stream.responseStarted) return;
      if (d.decodeHeaders(stream.requestHeaders, endStream) === FilterHeadersStatus.StopIteration) {
        if (i < filters.length - 1) this.#decoderStoppedAt = i;
        return;
      }
    }
    this.#decodedHeaders = true;
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (this.#decoderStoppedAt !== -1) {
      const stopped = this.filters[this.#decoderStoppedAt]!.decoder;
      (this.#bufferedBody ??= []).push(data);
      this.#bufferedBytes += data.length;
      if (endStream) this.#bufferedEnd = true;
      if (!this.#decodedHeaders && stopped?.onBufferedData !== undefined) {
        stopped.onBufferedData(data, endStream);
        if (this.#decoderStoppedAt === -1 || this.#stream.destroyed) return;
      }
      if (this.#bufferedBytes > this.#bufferLimitBytes && this.#readDisabledByStream === 0) {
        this.#readDisabledByStream++;
        this.#stream.readDisable(true);
      }
      return;
    }
    this.#runDecodeData(0, data, endStream);
  }

  /** Passes `data` to the decoder filters from the first, whatever iteration state (a tunnel's end). */
  decodeDataFromStart(data: Buffer, endStream: boolean): void {
    this.#runDecodeData(0, data, endStream);
  }

  #runDecodeData(from: number, data: Buffer, endStream: boolean): void {
    const filters = this.filters;
    for (let i = from; i < filters.length; i++) {
      const d = filters[i]!.decoder;
      if (d === undefined) continue;
      if (this.#stream.destroyed) return;
      const r = d.decodeData(data, endStream);
      if (r === FilterDataStatus.Continue) continue;
      if (r !== FilterDataStatus.StopIterationAndBuffer) {
        data = r; // the filter re-encoded the body
        continue;
      }
      if (i < filters.length - 1) {
        this.#decoderStoppedAt = i;
        (this.#bufferedBody ??= []).push(data);
        if (endStream) this.#bufferedEnd = true;
        return;
      }
    }
  }

  continueDecoding(): void {
    const at = this.#decoderStoppedAt;
    if (at === -1 || this.#stream.destroyed) return;
    this.#decoderStoppedAt = -1;
    if (!this.#decodedHeaders) {
      const endStream = this.#stream.requestComplete && this.#bufferedBody === null && !this.#bufferedEnd;
      this.#runDecodeHeaders(at + 1, endStream);
      if (this.#decoderStoppedAt !== -1) return;
    }
    const body = this.#bufferedBody;
    const end = this.#bufferedEnd;
    this.#bufferedBody = null;
    this.#bufferedBytes = 0;
    this.#bufferedEnd = false;
    if (this.#readDisabledByStream > 0) {
      this.#readDisabledByStream--;
      this.#stream.readDisable(false);
    }
    if (body !== null) {
      const merged = body.length === 1 ? body[0]! : Buffer.concat(body);
      this.#runDecodeData(this.#decodedHeaders ? 0 : at + 1, merged, end);
    }
  }

  onDownstreamWatermark(above: boolean): void {
    for (const f of this.filters) f.decoder?.onDownstreamWatermark?.(above);
  }

  // --- encoding ---

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    const filters = this.filters;
    for (let i = filters.length - 1; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e === undefined) continue;
      if (e.encodeHeaders(headers, endStream) === FilterHeadersStatus.StopIteration) {
        this.#encoderStoppedAt = i;
        this.#pendingResponseHeaders = headers;
        this.#pendingResponseEnd = endStream;
        return;
      }
    }
    this.#stream.encodeHeadersToCodec(headers, endStream);
  }

  continueEncoding(): void {
    if (this.#encoderStoppedAt === -1 || this.#pendingResponseHeaders === null) return;
    const headers = this.#pendingResponseHeaders;
    const from = this.#encoderStoppedAt - 1;
    this.#encoderStoppedAt = -1;
    this.#pendingResponseHeaders = null;
    const filters = this.filters;
    for (let i = from; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e === undefined) continue;
      if (e.encodeHeaders(headers, this.#pendingResponseEnd) === FilterHeadersStatus.StopIteration) {
        this.#encoderStoppedAt = i;
        this.#pendingResponseHeaders = headers;
        return;
      }
    }
    const stream = this.#stream;
    const trailers = this.#pendingResponseTrailers;
    this.#pendingResponseTrailers = null;
    const end = this.#pendingResponseEnd && trailers === null;
    stream.encodeHeadersToCodec(headers, end && this.#pendingResponseBody.length === 0);
    const body = this.#pendingResponseBody;
    this.#pendingResponseBody = [];
    for (let i = 0; i < body.length; i++) stream.encodeDataToCodec(body[i]!, end && i === body.length - 1);
    if (trailers !== null) stream.encodeTrailersToCodec(trailers);
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.#encoderStoppedAt !== -1) {
      if (data.length > 0) this.#pendingResponseBody.push(data);
      if (endStream) this.#pendingResponseEnd = true;
      return;
    }
    const filters = this.filters;
    for (let i = filters.length - 1; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e === undefined) continue;
      const r = e.encodeData(data, endStream);
      if (typeof r !== 'number') data = r; // the filter re-encoded the body
    }
    this.#stream.encodeDataToCodec(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.#encoderStoppedAt !== -1) {
      this.#pendingResponseTrailers = trailers;
      this.#pendingResponseEnd = true;
      return;
    }
    const filters = this.filters;
    for (let i = filters.length - 1; i >= 0; i--) {
      const e = filters[i]!.encoder;
      if (e === undefined) continue;
      if (e.encodeTrailers === undefined) {
        e.encodeData(EMPTY, true);
        continue;
      }
      const replacement = e.encodeTrailers(trailers);
      if (replacement !== undefined) return this.#endWithData(i - 1, replacement);
    }
    this.#stream.encodeTrailersToCodec(trailers);
  }

  /** A filter turned the trailers into body bytes: they end the response from filter `from` down. */
  #endWithData(from: number, data: Buffer): void {
    const filters = this.filters;
    for (let i = from; i >= 0; i--) {
      const r = filters[i]!.encoder?.encodeData(data, true);
      if (r !== undefined && typeof r !== 'number') data = r;
    }
    this.#stream.encodeDataToCodec(data, true);
  }

  /**
   * The stream ended: every filter's onDestroy, and reading resumes if buffering had paused it.
   * Returns whether a filter has a log handler (the stream's telemetry then runs them).
   */
  destroyFilters(): boolean {
    let filterLogs = false;
    const filters = this.filters;
    for (let i = 0; i < filters.length; i++) {
      const f = filters[i]!;
      f.decoder?.onDestroy();
      if (f.encoder !== undefined && f.encoder !== (f.decoder as unknown)) f.encoder.onDestroy();
      if (f.log !== undefined) filterLogs = true;
    }
    if (this.#readDisabledByStream > 0) {
      this.#readDisabledByStream = 0;
      this.#stream.readDisable(false);
    }
    return filterLogs;
  }
}
