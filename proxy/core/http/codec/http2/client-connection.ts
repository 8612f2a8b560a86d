// The HTTP/2 client codec (Envoy's Http2::ClientConnectionImpl) over node:http2: one upstream
// connection carrying many streams at once, up to what the peer's SETTINGS allow. A request's
// header map goes out with its pseudo-headers and without HTTP/1's connection headers; the
// response comes back as a status and a header map without pseudo-headers. Flow control is
// nghttp2's: a read-disabled stream is paused (its window stays closed), and a request body
// write above the stream's buffer tells the router to stop reading downstream until 'drain'.
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { HeaderMap } from '../../headers.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import type { ClientConnectionCallbacks, RequestEncoder, ResponseDecoder } from '../types.js';
import type { Http2ClientSettings, Http2PoolConnection } from './client-settings.js';

const EMPTY = Buffer.alloc(0);
const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2), and Host, which `:authority` replaces. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

function requestHeaders(h: HeaderMap, upgrade: string | undefined): OutgoingHttpHeaders {
  if (upgrade !== undefined) {
    // Envoy's transformUpgradeRequestFromH1toH2: an extended CONNECT (RFC 8441) naming the upgrade.
    const out = addFields(
      {
        ':method': 'CONNECT',
        ':protocol': upgrade,
        ':path': h.get(':path') ?? '/',
        ':authority': h.get(':authority') ?? '',
        ':scheme': h.get(':scheme') ?? 'http',
      },
      h,
    );
    delete out['content-length'];
    return out;
  }
  return addFields(
    {
      ':method': h.get(':method') ?? 'GET',
      ':path': h.get(':path') ?? '/',
      ':authority': h.get(':authority') ?? '',
      ':scheme': h.get(':scheme') ?? 'http',
    },
    h,
  );
}

/** `h`'s regular fields added to `out`, without HTTP/1's connection headers; repeated names become arrays. */
function addFields(out: OutgoingHttpHeaders, h: HeaderMap): OutgoingHttpHeaders {
  const names = h.names;
  const values = h.values;
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (n.charCodeAt(0) === 58 || NOT_FORWARDED.has(n)) continue;
    if (n === 'te' && values[i] !== 'trailers') continue;
    const prev = out[n];
    if (prev === undefined) out[n] = values[i]!;
    else if (Array.isArray(prev)) prev.push(values[i]!);
    else out[n] = [String(prev), values[i]!];
  }
  return out;
}

/** Response headers (or trailers) as a header map without pseudo-headers. */
function responseHeaderMap(headers: IncomingHttpHeaders): HeaderMap {
  const h = new HeaderMap();
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58) continue;
    const v = headers[name];
    if (Array.isArray(v)) for (const x of v) h.add(name, x);
    else if (v !== undefined) h.add(name, String(v));
  }
  return h;
}

/** The request side of one upstream HTTP/2 stream. */
class Http2RequestEncoder implements RequestEncoder {
  readonly #conn: Http2ClientConnection;
  readonly #decoder: ResponseDecoder;
  #stream: ClientHttp2Stream | null = null;
  #readDisabled = 0;
  #responseEnded = false;
  #reset = false;
  /** The request's trailers, sent at 'wantTrailers' (every stream with a body waits for them). */
  #trailers: OutgoingHttpHeaders | null = null;

  constructor(conn: Http2ClientConnection, decoder: ResponseDecoder) {
    this.#conn = conn;
    this.#decoder = decoder;
  }

  get transport(): TransportSocket {
    return this.#conn.transport;
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): boolean {
    let stream: ClientHttp2Stream;
    // node:http2 sends trailers only on a stream opened to wait for them, and nothing in a
    // request's head says whether its body will end with some (an HTTP/2 client's, a chunked
    // HTTP/1.1 body's): every request with a body waits, and one that ends without them costs
    // an empty DATA frame carrying END_STREAM.
    const waitForTrailers = !endStream;
    const upgrade = headers.get('upgrade')?.toLowerCase();
    try {
      stream = this.#conn.session.request(requestHeaders(headers, upgrade), { endStream, waitForTrailers });
    } catch {
      // The session is closing (GOAWAY) or a header was refused: the stream never started, so
      // nothing of it reached the upstream.
      this.#conn.onStreamClosed();
      queueMicrotask(() => this.#decoder.onResetStream('refused_stream'));
      return true;
    }
    this.#stream = stream;
    // With none, node:http2 ends the stream with an empty DATA frame instead.
    if (waitForTrailers) stream.once('wantTrailers', () => this.#sendTrailers(stream));
    const decoder = this.#decoder;
    stream.on('headers', (h: IncomingHttpHeaders) => {
      const status = Number(h[':status']);
      if (status >= 100 && status < 200 && status !== 101) decoder.decode1xxHeaders(status, responseHeaderMap(h));
    });
    stream.on('response', (h: IncomingHttpHeaders, flags: number) => {
      const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      if (end) this.#responseEnded = true;
      const status = Number(h[':status']);
      const head = responseHeaderMap(h);
      if (upgrade !== undefined && status === 200) {
        // Envoy's transformUpgradeResponseFromH2toH1: the tunnel is open, which HTTP/1.1 says as 101.
        head.set('upgrade', upgrade);
        head.set('connection', 'upgrade');
        decoder.decodeHeaders(101, head, end);
      } else decoder.decodeHeaders(status, head, end);
    });
    stream.on('data', (chunk: Buffer) => decoder.decodeData(chunk, false));
    // node:http2 emits 'trailers' as the frame arrives, ahead of DATA still queued in a paused
    // stream (a slow downstream): they end the response only at 'end', after the last byte.
    let trailers: HeaderMap | null = null;
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = responseHeaderMap(t);
    });
    stream.on('end', () => {
      if (this.#responseEnded) return;
      this.#responseEnded = true;
      if (trailers !== null) decoder.decodeTrailers(trailers);
      else decoder.decodeData(EMPTY, true);
    });
    stream.on('drain', () => decoder.onWriteBufferWatermark(false));
    stream.on('error', () => {
      // 'close' follows.
    });
    stream.on('close', () => {
      this.#conn.onStreamClosed();
      // nghttp2 closes a stream above a GOAWAY's last stream id with REFUSED_STREAM too (a server
      // draining its connection: grpc-js at max_connection_age, Envoy on drain): unprocessed.
      if (!this.#responseEnded && !this.#reset)
        decoder.onResetStream(stream.rstCode === NGHTTP2_REFUSED_STREAM ? 'refused_stream' : 'reset');
    });
    return true;
  }

  #sendTrailers(stream: ClientHttp2Stream): void {
    try {
      stream.sendTrailers(this.#trailers ?? {});
    } catch {
      // A field node:http2 refuses (an invalid name or value): the stream cannot end as asked.
      stream.close(NGHTTP2_CANCEL);
    }
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    const s = this.#stream;
    if (s === null || s.destroyed) return true;
    if (endStream) {
      s.end(data.length > 0 ? data : undefined);
      return true;
    }
    if (data.length === 0) return true;
    return s.write(data);
  }

  /** Sent after the body, at 'wantTrailers', once node:http2 has written the body's last octet. */
  encodeTrailers(trailers: HeaderMap): void {
    this.#trailers = addFields({}, trailers);
    this.encodeData(EMPTY, true);
  }

  readDisable(disable: boolean): void {
    const s = this.#stream;
    if (s === null) return;
    if (disable) {
      if (this.#readDisabled++ === 0) s.pause();
    } else if (this.#readDisabled > 0 && --this.#readDisabled === 0) {
      s.resume();
    }
  }

  /** The request is given up: RST_STREAM (CANCEL); the connection's other streams go on. */
  resetStream(): void {
    this.#reset = true;
    const s = this.#stream;
    if (s !== null && !s.destroyed) s.close(NGHTTP2_CANCEL);
  }
}

export class Http2ClientConnection implements Http2PoolConnection {
  readonly protocol = 'HTTP/2' as const;
  readonly transport: TransportSocket;
  readonly session: ClientHttp2Session;
  readonly #callbacks: ClientConnectionCallbacks;
  /** Streams the peer allows at once (its SETTINGS_MAX_CONCURRENT_STREAMS, capped by ours). */
  maxConcurrentStreams: number;
  activeStreams = 0;
  /** The peer sent GOAWAY, or the connection is closing: no new stream may start on it. */
  goingAway = false;
  #closed = false;

  constructor(transport: TransportSocket, callbacks: ClientConnectionCallbacks, settings: Http2ClientSettings) {
    this.transport = transport;
    this.#callbacks = callbacks;
    this.maxConcurrentStreams = settings.maxConcurrentStreams;
    const session = http2.connect(`http://${transport.remoteAddress}:${transport.remotePort}`, {
      createConnection: () => transport.stream,
      settings: { initialWindowSize: settings.initialStreamWindowSize, enablePush: false },
    });
    this.session = session;
    if (settings.initialConnectionWindowSize > 65_535) {
      session.once('connect', () => session.setLocalWindowSize(settings.initialConnectionWindowSize));
    }
    session.on('remoteSettings', (s: http2.Settings) => {
      if (s.maxConcurrentStreams !== undefined)
        this.maxConcurrentStreams = Math.min(settings.maxConcurrentStreams, s.maxConcurrentStreams);
    });
    session.on('goaway', () => {
      this.goingAway = true;
    });
    session.on('error', () => {
      // 'close' follows.
    });
    session.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.goingAway = true;
      this.#callbacks.onConnectionClose();
    });
  }

  get destroyed(): boolean {
    return this.#closed || this.session.destroyed;
  }

  /** True while another stream may start on this connection. */
  get hasCapacity(): boolean {
    return !this.goingAway && !this.#closed && this.activeStreams < this.maxConcurrentStreams;
  }

  newStream(decoder: ResponseDecoder): RequestEncoder {
    this.activeStreams++;
    return new Http2RequestEncoder(this, decoder);
  }

  onStreamClosed(): void {
    this.activeStreams--;
    this.#callbacks.onStreamComplete();
  }

  /** Sends GOAWAY; streams under way finish first. */
  close(): void {
    this.goingAway = true;
    if (!this.session.closed) this.session.close();
  }

  destroy(): void {
    if (!this.session.destroyed) this.session.destroy();
    if (!this.transport.stream.destroyed) this.transport.stream.destroy();
  }
}
