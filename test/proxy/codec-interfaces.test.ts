// The codec seam exercised as interfaces: the HTTP/1.1 server codec driven only through
// ServerConnection / ServerConnectionCallbacks / RequestDecoder / ResponseEncoder by a raw
// socket client, the HTTP/1.1 client codec only through ClientConnection / RequestEncoder /
// ResponseDecoder against a node:http upstream, and `:scheme` / x-forwarded-proto taken from
// the transport socket. Real sockets on 127.0.0.1; no proxy process.
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1ServerConnection } from '../../proxy/core/http/codec/http1/server-connection.js';
import { Http1ClientConnection } from '../../proxy/core/http/codec/http1/client-connection.js';
import type {
  ClientConnectionCallbacks,
  CodecError,
  RequestDecoder,
  ResponseDecoder,
  ResponseEncoder,
  ServerConnection,
  ServerConnectionCallbacks,
} from '../../proxy/core/http/codec/types.js';
import { HeaderMap } from '../../proxy/core/http/headers.js';
import { HttpConnectionManager, type HcmSettings } from '../../proxy/core/http/conn-manager.js';
import { HcmStats } from '../../proxy/core/http/hcm-stats.js';
import { FilterDataStatus, FilterHeadersStatus, type StreamFilterFactory } from '../../proxy/core/http/filter.js';
import { RouteTable } from '../../proxy/core/router/route-table.js';
import { RawBufferSocket, rawBufferUpstreamFactory } from '../../proxy/core/network/raw-buffer-socket.js';
import type { TransportSocket } from '../../proxy/core/network/transport-socket.js';
import { createStatsStore } from '../../proxy/stats/index.js';

const SETTINGS = { maxRequestHeadersBytes: 8192, maxHeadersCount: 50, acceptHttp10: false, defaultHostForHttp10: '' };

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** Writes `chunks` one by one (each its own TCP segment in practice) and reads until the server closes. */
function exchange(port: number, chunks: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const c of chunks) {
        socket.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

/** Resolves once `done()` holds (the server side's events trail the client's view by a turn or two). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
}

interface Seen {
  headers: Array<[string, string]>;
  endStream: boolean;
  body: string;
}

/**
 * A ServerConnectionCallbacks that answers each request once it is complete with
 * `respond(seen, encoder)`, and closes the connection after `closeAfter` streams.
 */
function serveWith(
  respond: (seen: Seen, encoder: ResponseEncoder) => void,
  closeAfter: number,
  log: string[],
  transportFor: (socket: Socket) => TransportSocket = (s) => new RawBufferSocket(s),
): Server {
  return createServer({ allowHalfOpen: true }, (socket) => {
    let codec: ServerConnection | null = null;
    let streams = 0;
    const callbacks: ServerConnectionCallbacks = {
      newStream(encoder: ResponseEncoder): RequestDecoder {
        streams++;
        log.push(`newStream ${encoder.protocol}`);
        const seen: Seen = { headers: [], endStream: false, body: '' };
        const finish = (): void => {
          if (streams >= closeAfter) encoder.closeConnectionAfterResponse();
          respond(seen, encoder);
          log.push(`complete closes=${codec!.onStreamComplete()}`);
        };
        return {
          decodeHeaders(headers: HeaderMap, endStream: boolean) {
            seen.headers = headers.names.map((n, i) => [n, headers.values[i]!]);
            seen.endStream = endStream;
            if (endStream) finish();
          },
          decodeData(data: Buffer, endStream: boolean) {
            seen.body += data.toString('latin1');
            if (endStream) finish();
          },
          sendLocalReply(status: number, _body: string, _flag: number, details: string) {
            log.push(`localReply ${status} ${details}`);
            const h = new HeaderMap();
            h.add(':status', String(status));
            h.add('content-length', '0');
            encoder.encodeHeaders(h, true);
            log.push(`complete closes=${codec!.onStreamComplete()}`);
          },
          onResetStream: () => log.push('reset'),
          onWriteBufferWatermark: () => {},
        };
      },
      onRead: () => {},
      onCodecError: (e: CodecError) => log.push(`codecError ${e.status} ${e.details}`),
      onConnectionClose: () => log.push('close'),
    };
    codec = new Http1ServerConnection(transportFor(socket), callbacks, SETTINGS);
  });
}

describe('HTTP/1.1 server codec through ServerConnection / RequestDecoder / ResponseEncoder', () => {
  it('decodes heads into pseudo-headers and body slices, encodes sized and chunked responses, keeps the connection alive', async () => {
    const log: string[] = [];
    const seen: Seen[] = [];
    const port = await listen(
      serveWith(
        (s, encoder) => {
          seen.push(s);
          const h = new HeaderMap();
          h.add(':status', '200');
          if (s.body === '') {
            h.add('content-length', '2');
            encoder.encodeHeaders(h, false);
            encoder.encodeData(Buffer.from('ok'), true);
          } else {
            // No length: the codec frames the body in chunks.
            encoder.encodeHeaders(h, false);
            encoder.encodeData(Buffer.from(s.body.toUpperCase()), false);
            encoder.encodeData(Buffer.alloc(0), true);
          }
        },
        2,
        log,
      ),
    );
    const wire = await exchange(port, [
      'GET /a?b=1 HTTP/1.1\r\nHost: svc.local\r\nX-One: 1\r\n\r\n',
      'POST /up HTTP/1.1\r\nhost: svc.local\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n',
      '2\r\nde\r\n0\r\n\r\n',
    ]);
    expect(seen[0]!.headers).toEqual([
      [':authority', 'svc.local'],
      [':path', '/a?b=1'],
      [':method', 'GET'],
      [':scheme', 'http'],
      ['x-one', '1'],
    ]);
    expect(seen[0]!.endStream).toBe(true);
    expect(seen[1]!.endStream).toBe(false);
    expect(seen[1]!.body).toBe('abcde');
    expect(seen[1]!.headers.map(([n]) => n)).toContain('transfer-encoding');
    expect(wire).toBe(
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' +
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nABCDE\r\n0\r\n\r\n',
    );
    await until(() => log.includes('close'));
    expect(log).toEqual([
      'newStream HTTP/1.1',
      'complete closes=false',
      'newStream HTTP/1.1',
      'complete closes=true',
      'close',
    ]);
  });

  it('holds a pipelined request until the first stream completes', async () => {
    const log: string[] = [];
    const port = await listen(
      serveWith(
        (s, encoder) => {
          log.push(`respond ${s.headers[1]![1]}`);
          const h = new HeaderMap();
          h.add(':status', '204');
          encoder.encodeHeaders(h, true);
        },
        2,
        log,
      ),
    );
    const wire = await exchange(port, ['GET /1 HTTP/1.1\r\nhost: a\r\n\r\nGET /2 HTTP/1.1\r\nhost: a\r\n\r\n']);
    await until(() => log.includes('close'));
    expect(log).toEqual([
      'newStream HTTP/1.1',
      'respond /1',
      'complete closes=false',
      'newStream HTTP/1.1',
      'respond /2',
      'complete closes=true',
      'close',
    ]);
    expect(wire.match(/HTTP\/1\.1 204/g)).toHaveLength(2);
  });

  it('answers a malformed head through a stream: onCodecError, then the decoder replies 400 and the connection closes', async () => {
    const log: string[] = [];
    const port = await listen(serveWith(() => {}, 10, log));
    const wire = await exchange(port, ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n']);
    expect(wire.startsWith('HTTP/1.1 400 Bad Request\r\n')).toBe(true);
    expect(wire).toContain('connection: close\r\n');
    await until(() => log.includes('close'));
    expect(log).toEqual([
      'codecError 400 http1.multiple_content_length',
      'newStream HTTP/1.1',
      'localReply 400 http1.multiple_content_length',
      'complete closes=true',
      'close',
    ]);
  });

  it('takes :scheme from the transport socket', async () => {
    const seen: Seen[] = [];
    const port = await listen(
      serveWith(
        (s, encoder) => {
          seen.push(s);
          const h = new HeaderMap();
          h.add(':status', '204');
          encoder.encodeHeaders(h, true);
        },
        1,
        [],
        (socket) => new SecureLookingTransport(socket),
      ),
    );
    await exchange(port, ['GET / HTTP/1.1\r\nhost: a\r\n\r\n']);
    expect(seen[0]!.headers[3]).toEqual([':scheme', 'https']);
  });
});

/**
 * A transport socket that reports what a TLS transport will (scheme https, ALPN http/1.1) over
 * a plain TCP socket: the codec and the HCM must take the scheme from the transport, not assume it.
 */
class SecureLookingTransport implements TransportSocket {
  readonly transportProtocol = 'tls' as const;
  readonly scheme = 'https' as const;
  readonly applicationProtocol = 'http/1.1';
  readonly requestedServerName = 'svc.local';
  readonly ssl = null;
  readonly stream: Socket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  constructor(stream: Socket) {
    this.stream = stream;
    this.remoteAddress = stream.remoteAddress ?? '';
    this.remotePort = stream.remotePort ?? 0;
    this.localAddress = stream.localAddress ?? '';
    this.localPort = stream.localPort ?? 0;
  }

  onConnected(fn: () => void): void {
    fn();
  }
}

const HCM_SETTINGS: HcmSettings = {
  statPrefix: 'test',
  userAgent: null,
  generateRequestId: false,
  preserveExternalRequestId: false,
  useRemoteAddress: true,
  xffNumTrustedHops: 0,
  skipXffAppend: false,
  serverName: 'envoy',
  serverHeaderTransformation: 'OVERWRITE',
  idleTimeoutMs: 0,
  requestHeadersTimeoutMs: 0,
  maxRequestHeadersBytes: 8192,
  maxHeadersCount: 50,
  acceptHttp10: false,
  defaultHostForHttp10: '',
  upgrades: new Map(),
  normalizePath: false,
  mergeSlashes: false,
  bufferLimitBytes: 65536,
  streamIdleTimeoutMs: 0,
  requestTimeoutMs: 0,
  codecType: 'HTTP1',
  http2: {
    maxConcurrentStreams: 100,
    initialStreamWindowSize: 65535,
    initialConnectionWindowSize: 65535,
    maxRequestHeadersBytes: 8192,
    maxHeadersCount: 50,
    maxConsecutiveInboundFramesWithEmptyPayload: 1,
    maxInboundPriorityFramesPerStream: 100,
    streamIdleTimeoutMs: 0,
  },
};

/** A terminal filter that answers with the request headers it was given, one `name: value` a line. */
const echoHeaders: StreamFilterFactory = (cb) => ({
  decoder: {
    decodeHeaders(headers: HeaderMap) {
      const body = Buffer.from(headers.names.map((n, i) => `${n}: ${headers.values[i]}\n`).join(''));
      const h = new HeaderMap();
      h.add(':status', '200');
      h.add('content-length', String(body.length));
      cb.encodeHeaders(h, false);
      cb.encodeData(body, true);
      return FilterHeadersStatus.StopIteration;
    },
    decodeData: () => FilterDataStatus.Continue,
    onDestroy() {},
  },
});

describe('the connection manager over a transport socket', () => {
  async function echoThrough(transportFor: (s: Socket) => TransportSocket, request: string): Promise<string> {
    const hcm = new HttpConnectionManager(
      HCM_SETTINGS,
      new HcmStats(createStatsStore(), 'test'),
      new RouteTable({ virtual_hosts: [] }, { stripAnyHostPort: false, stripMatchingPort: null }),
      [echoHeaders],
      [],
      null,
    );
    const port = await listen(
      createServer({ allowHalfOpen: true }, (socket) =>
        hcm.onNewConnection(transportFor(socket), { name: 'test', port: 0, direction: 'INBOUND' }),
      ),
    );
    const wire = await exchange(port, [request]);
    return wire.slice(wire.indexOf('\r\n\r\n') + 4);
  }

  it('sets :scheme and x-forwarded-proto from the transport: http over raw TCP, https over a secure one', async () => {
    const request = 'GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-proto: gopher\r\nconnection: close\r\n\r\n';
    const plain = await echoThrough((s) => new RawBufferSocket(s), request);
    expect(plain).toContain(':scheme: http\n');
    expect(plain).toContain('x-forwarded-proto: http\n');
    const secure = await echoThrough((s) => new SecureLookingTransport(s), request);
    expect(secure).toContain(':scheme: https\n');
    // At the edge (use_remote_address) the transport decides, whatever the client claimed.
    expect(secure).toContain('x-forwarded-proto: https\n');
    expect(secure).not.toContain('gopher');
  });
});

describe('HTTP/1.1 client codec through ClientConnection / RequestEncoder / ResponseDecoder', () => {
  interface Received {
    status: number;
    headers: Array<[string, string]>;
    body: string;
    ended: boolean;
    events: string[];
  }

  /** Connects through the raw-buffer transport factory; resolves once the transport is connected. */
  async function connectCodec(port: number, events: string[]): Promise<Http1ClientConnection> {
    let codec: Http1ClientConnection | null = null;
    const callbacks: ClientConnectionCallbacks = {
      onStreamComplete: () => events.push('streamComplete'),
      onConnectionClose: () => events.push('close'),
    };
    const transport = rawBufferUpstreamFactory.connect('127.0.0.1', port, (data) => codec?.onRead(data));
    codec = new Http1ClientConnection(transport, callbacks);
    await new Promise<void>((r) => transport.onConnected(r));
    return codec;
  }

  function decoderInto(r: Received, done: () => void): ResponseDecoder {
    return {
      decode1xxHeaders: (status) => r.events.push(`1xx ${status}`),
      decodeHeaders(status, headers, endStream) {
        r.status = status;
        r.headers = headers.names.map((n, i) => [n, headers.values[i]!]);
        if (endStream) done();
      },
      decodeData(data, endStream) {
        r.body += data.toString();
        if (endStream) {
          r.ended = true;
          done();
        }
      },
      onResetStream: () => r.events.push('reset'),
      decodeTrailers: () => {},
      onProtocolError: () => {
        r.events.push('protocolError');
        done();
      },
      onWriteBufferWatermark: () => {},
    };
  }

  it('writes the head from pseudo-headers, chunks a body of unknown length, reads the response, and reuses the connection', async () => {
    const got: Array<{ method: string; url: string; host: string; te: string; body: string }> = [];
    const upstream = createHttpServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        got.push({
          method: req.method!,
          url: req.url!,
          host: req.headers.host!,
          te: req.headers['transfer-encoding'] ?? '',
          body,
        });
        res.setHeader('x-seen', String(got.length));
        res.end(`echo:${body}`);
      });
    });
    const port = await listen(upstream as unknown as Server);
    const events: string[] = [];
    const codec = await connectCodec(port, events);

    const first: Received = { status: 0, headers: [], body: '', ended: false, events };
    let done = new Promise<void>((resolve) => {
      const encoder = codec.newStream(decoderInto(first, resolve));
      const h = new HeaderMap();
      h.add(':authority', 'svc.local');
      h.add(':path', '/items?id=7');
      h.add(':method', 'POST');
      h.add(':scheme', 'http');
      h.add('x-trace', 'abc');
      encoder.encodeHeaders(h, false);
      encoder.encodeData(Buffer.from('hello '), false);
      encoder.encodeData(Buffer.from('world'), true);
    });
    await done;
    expect(got[0]).toEqual({
      method: 'POST',
      url: '/items?id=7',
      host: 'svc.local',
      te: 'chunked',
      body: 'hello world',
    });
    expect(first.status).toBe(200);
    expect(first.headers).toContainEqual(['x-seen', '1']);
    expect(first.body).toBe('echo:hello world');
    expect(first.ended).toBe(true);
    expect(codec.reusable).toBe(true);

    const second: Received = { status: 0, headers: [], body: '', ended: false, events };
    done = new Promise<void>((resolve) => {
      const encoder = codec.newStream(decoderInto(second, resolve));
      const h = new HeaderMap();
      h.add(':authority', 'svc.local');
      h.add(':path', '/');
      h.add(':method', 'GET');
      encoder.encodeHeaders(h, true);
    });
    await done;
    expect(got[1]).toEqual({ method: 'GET', url: '/', host: 'svc.local', te: '', body: '' });
    expect(second.headers).toContainEqual(['x-seen', '2']);
    expect(events).toEqual(['streamComplete', 'streamComplete']);
    codec.destroy();
  });

  it('reports a malformed response as a protocol error and closes the connection', async () => {
    const upstream = createServer((socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nx'));
    });
    const port = await listen(upstream);
    const events: string[] = [];
    const codec = await connectCodec(port, events);
    const r: Received = { status: 0, headers: [], body: '', ended: false, events };
    const closed = new Promise<void>((resolve) => {
      const encoder = codec.newStream(decoderInto(r, () => {}));
      const h = new HeaderMap();
      h.add(':authority', 'a');
      h.add(':path', '/');
      h.add(':method', 'GET');
      encoder.encodeHeaders(h, true);
      const poll = setInterval(() => {
        if (events.includes('close')) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    await closed;
    expect(events).toEqual(['protocolError', 'close']);
    expect(r.status).toBe(0);
    expect(codec.reusable).toBe(false);
  });
});
