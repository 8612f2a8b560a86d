// A WebSocket upgrade routed to an HTTP/2 cluster goes out as Envoy sends it: an extended CONNECT
// (RFC 8441, `:method CONNECT`, `:protocol websocket`) to an upstream that enabled it
// (SETTINGS_ENABLE_CONNECT_PROTOCOL), its 200 reaches the HTTP/1.1 client as 101 Switching
// Protocols, and the tunnel's bytes cross as DATA frames both ways. Client: the `ws` package;
// upstream: node:http2 with enableConnectProtocol, echoing WebSocket frames. An upstream that did
// not enable it refuses the stream, and the client gets 503. Both HTTP/2 codecs.
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startProxyPerCodec, h2Cluster, H2_CODECS, type RunningProxy } from './helpers.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

let upstream: http2.Http2Server;
/** An HTTP/2 server that never enabled extended CONNECT. */
let plain: http2.Http2Server;
let proxies = new Map<string, RunningProxy>();
/** The request heads the upstream saw. */
const seen: http2.IncomingHttpHeaders[] = [];

/** Unmasks each complete client frame in `buf` and answers it unmasked; returns the unread rest. */
function echoFrames(buf: Buffer, stream: http2.ServerHttp2Stream): Buffer {
  while (buf.length >= 6) {
    const opcode = buf[0]! & 0x0f;
    const len = buf[1]! & 0x7f;
    // The test's messages are short: a 7-bit length and the client's 4-octet mask.
    if (buf.length < 6 + len) break;
    const mask = buf.subarray(2, 6);
    const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
    buf = buf.subarray(6 + len);
    if (opcode === 0x8) {
      stream.end(Buffer.concat([Buffer.from([0x88, payload.length]), payload]));
      return buf;
    }
    stream.write(Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]));
  }
  return buf;
}

beforeAll(async () => {
  upstream = http2.createServer({ settings: { enableConnectProtocol: true } });
  upstream.on('stream', (stream, headers) => {
    seen.push(headers);
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 400 });
      stream.end();
      return;
    }
    const key = String(headers['sec-websocket-key']);
    // An upstream Envoy passes on its origin's 101 headers; this one computes the accept itself.
    const accept = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    stream.respond({ ':status': 200, 'sec-websocket-accept': accept });
    let buf: Buffer = Buffer.alloc(0);
    stream.on('data', (d: Buffer) => {
      buf = echoFrames(Buffer.concat([buf, d]), stream);
    });
    stream.on('error', () => {});
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  plain = http2.createServer();
  plain.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('not a tunnel');
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  proxies = await startProxyPerCodec({
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/plain' }, route: { cluster: 'plain' } },
          { match: { prefix: '/' }, route: { cluster: 'h2' } },
        ],
      },
    ],
    clusters: [
      h2Cluster('h2', (upstream.address() as AddressInfo).port),
      h2Cluster('plain', (plain.address() as AddressInfo).port),
    ],
    hcm: { upgrade_configs: [{ upgrade_type: 'websocket' }] },
  });
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  upstream?.close();
  plain?.close();
});

describe.each(H2_CODECS)('WebSocket to an HTTP/2 upstream ($codec)', ({ codec }) => {
  it('goes out as extended CONNECT, opens as 101, and carries messages both ways', async () => {
    seen.length = 0;
    const ws = new WebSocket(`ws://127.0.0.1:${proxies.get(codec)!.port}/chat?room=1`);
    let status = 0;
    ws.on('upgrade', (res) => (status = res.statusCode ?? 0));
    await new Promise<void>((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
      ws.on('error', reject);
    });
    expect(status).toBe(101);
    const replies: string[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on('message', (m: Buffer) => {
        replies.push(m.toString());
        if (replies.length === 2) resolve();
      }),
    );
    ws.send('hello');
    ws.send('again');
    await got;
    expect(replies).toEqual(['hello', 'again']);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.close(1000);
    expect(await closed).toBe(1000);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/chat?room=1' });
    expect(seen[0]!['upgrade']).toBeUndefined();
    expect(seen[0]!['sec-websocket-key']).toMatch(/==$/);
  });

  it('an upstream that did not enable extended CONNECT: the client gets an error response, no tunnel', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxies.get(codec)!.port}/plain`);
    const status = await new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => reject(new Error('opened')));
      ws.on('error', () => {});
    });
    ws.terminate();
    // The upstream resets a CONNECT it did not enable, before any response: Envoy's 503.
    expect(status).toBe(503);
  });
});
