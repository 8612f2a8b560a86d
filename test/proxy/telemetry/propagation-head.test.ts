// The tracer hands the HTTP/1 encoder its propagation headers' text along with the header-map
// entries (HeaderMap.setTrailingLines); the encoder writes that text in place of the entries.
// What reaches the upstream must be exactly the map's headers in the map's order, also when the
// map changes after the injection (a filter, a retry's new context), when the text is stale.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1ClientConnection } from '../../../proxy/core/http/codec/http1/client-connection.js';
import type { ResponseDecoder } from '../../../proxy/core/http/codec/types.js';
import { HeaderMap } from '../../../proxy/core/http/headers.js';
import { rawBufferUpstreamFactory } from '../../../proxy/core/network/raw-buffer-socket.js';
import { injectTraceContext, TraceFormat } from '../../../proxy/tracing/trace-context.js';

const servers: Server[] = [];
const codecs: Http1ClientConnection[] = [];
afterEach(() => {
  for (const c of codecs.splice(0)) c.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** An upstream that records each request head as received and answers 200 with no body. */
async function headRecorder(): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((socket: Socket) => {
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buffered += d;
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        heads.push(buffered.slice(0, end + 4));
        buffered = buffered.slice(end + 4);
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, heads };
}

async function connectCodec(port: number): Promise<Http1ClientConnection> {
  let codec: Http1ClientConnection | null = null;
  const transport = rawBufferUpstreamFactory.connect('127.0.0.1', port, (data) => codec?.onRead(data));
  codec = new Http1ClientConnection(transport, { onStreamComplete: () => {}, onConnectionClose: () => {} });
  codecs.push(codec);
  await new Promise<void>((r) => transport.onConnected(r));
  return codec;
}

function send(codec: Http1ClientConnection, headers: HeaderMap): Promise<void> {
  return new Promise<void>((resolve) => {
    const decoder: ResponseDecoder = {
      decode1xxHeaders: () => {},
      decodeHeaders: (_s, _h, endStream) => endStream && resolve(),
      decodeData: (_d, endStream) => endStream && resolve(),
      decodeTrailers: () => resolve(),
      onResetStream: () => resolve(),
      onProtocolError: () => resolve(),
      onWriteBufferWatermark: () => {},
    };
    codec.newStream(decoder).encodeHeaders(headers, true);
  });
}

function request(): HeaderMap {
  const h = new HeaderMap();
  h.add(':method', 'GET');
  h.add(':path', '/items');
  h.add(':authority', 'reviews:9080');
  h.add(':scheme', 'http');
  h.add('x-request-id', 'c0ffee');
  return h;
}

/** The head the map's entries make, in order (what the encoder wrote before the text existed). */
function expectedHead(h: HeaderMap): string {
  let out = `GET /items HTTP/1.1\r\nhost: reviews:9080\r\n`;
  h.names.forEach((n, i) => {
    if (!n.startsWith(':')) out += `${n}: ${h.values[i]}\r\n`;
  });
  return `${out}\r\n`;
}

const context = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: '',
  sampled: true,
  debug: false,
  traceState: '',
};

describe('propagation headers on the HTTP/1 wire', () => {
  it('are the map entries, in order, in every format, whether sent as text or as entries', async () => {
    const { port, heads } = await headRecorder();
    const codec = await connectCodec(port);
    const all = TraceFormat.W3C | TraceFormat.B3Single | TraceFormat.B3Multi;
    const cases = [
      { formats: TraceFormat.W3C | TraceFormat.B3Multi, ctx: context },
      { formats: all, ctx: { ...context, parentSpanId: '00f067aa0ba902b7', traceState: 'congo=t61rcWkgMzE' } },
      { formats: all, ctx: { ...context, sampled: false } },
      { formats: all, ctx: { ...context, debug: true } },
    ];
    const sent: string[] = [];
    for (const c of cases) {
      const h = request();
      injectTraceContext(h, c.ctx, c.formats);
      expect(h.trailingLinesFrom()).toBe(5);
      sent.push(expectedHead(h));
      await send(codec, h);
    }
    expect(heads).toEqual(sent);
    expect(heads[0]).toContain(
      'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n' +
        'x-b3-traceid: 0af7651916cd43dd8448eb211c80319c\r\nx-b3-spanid: b7ad6b7169203331\r\nx-b3-sampled: 1\r\n',
    );
  });

  it('follow changes made to the map after the injection', async () => {
    const { port, heads } = await headRecorder();
    const codec = await connectCodec(port);
    const changes: Array<(h: HeaderMap) => void> = [
      (h) => h.set('x-b3-sampled', '0'),
      (h) => h.set('x-b3-spanid', '2222222222222222'),
      (h) => h.remove('x-b3-spanid'),
      (h) => h.add('x-late', 'yes'),
      (h) => h.removeIf((n) => n === 'x-request-id'),
      // A retry's new context replaces the values in place.
      (h) => injectTraceContext(h, { ...context, spanId: '1111111111111111' }, TraceFormat.W3C | TraceFormat.B3Multi),
      (h) => {
        h.remove('x-request-id');
        h.add('x-request-id', 'moved');
      },
    ];
    const sent: string[] = [];
    for (const change of changes) {
      const h = request();
      injectTraceContext(h, context, TraceFormat.W3C | TraceFormat.B3Multi);
      change(h);
      expect(h.trailingLinesFrom()).toBe(-1);
      sent.push(expectedHead(h));
      await send(codec, h);
    }
    expect(heads).toEqual(sent);
    expect(heads[1]).toContain('x-b3-spanid: 2222222222222222\r\n');
    expect(heads[5]).toContain('x-b3-spanid: 1111111111111111\r\n');
  });
});
