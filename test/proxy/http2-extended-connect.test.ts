// A WebSocket over HTTP/2 from the client (RFC 8441), as Envoy takes it when the listener's
// http2_protocol_options.allow_connect is set: SETTINGS_ENABLE_CONNECT_PROTOCOL goes out, an
// extended CONNECT (`:protocol websocket`) reaches an HTTP/1.1 upstream as a GET upgrade, its 101
// reaches the client as 200, and the tunnel's bytes cross both ways. Without allow_connect the
// setting is not enabled and `:protocol` is refused (RST_STREAM PROTOCOL_ERROR). Client: node:http2
// writing WebSocket frames; upstream: the `ws` package's server, echoing. To an HTTP/2 upstream
// the same stream goes out as extended CONNECT again (a node:http2 server echoing the tunnel's
// bytes). Both HTTP/2 codecs.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  h2Cluster,
  bootstrap,
  configProblems,
  H2_CODECS,
  type RunningProxy,
  startTestProxy,
  staticCluster,
} from './helpers.js';
import { ErrorCode, FrameType, headers, hpack, RawH2 } from './h2-frames.js';

let wss: WebSocketServer;
/** Per codec: a listener with allow_connect and one without. */
const proxies = new Map<string, { allowed: RunningProxy; refused: RunningProxy }>();
/** The upgrade requests the upstream saw: method, url and upgrade header. */
const seen: Array<{ method: string; url: string; upgrade: string }> = [];
let h2: http2.Http2Server;
/** The streams the HTTP/2 upstream saw. */
const h2Seen: Array<{ method: string; protocol: string; path: string }> = [];

function config(allowConnect: boolean | undefined, port: number, runtime?: Record<string, unknown>, h2Port = 1) {
  return bootstrap({
    runtime,
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/h2' }, route: { cluster: 'h2' } },
          { match: { prefix: '/' }, route: { cluster: 'ws' } },
        ],
      },
    ],
    clusters: [staticCluster({ name: 'ws', ports: [port] }), h2Cluster('h2', h2Port)],
    hcm: {
      codec_type: 'HTTP2',
      upgrade_configs: [{ upgrade_type: 'websocket' }],
      ...(allowConnect === undefined ? {} : { http2_protocol_options: { allow_connect: allowConnect } }),
    },
  });
}

beforeAll(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('headers', (_h, req) =>
    seen.push({ method: req.method ?? '', url: req.url ?? '', upgrade: String(req.headers.upgrade) }),
  );
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as AddressInfo).port;
  // An HTTP/2 upstream taking extended CONNECT and echoing the tunnel's bytes.
  h2 = http2.createServer({ settings: { enableConnectProtocol: true } });
  h2.on('stream', (stream, head) => {
    h2Seen.push({ method: String(head[':method']), protocol: String(head[':protocol']), path: String(head[':path']) });
    stream.respond({ ':status': 200 });
    stream.on('data', (d: Buffer) => stream.write(d));
    stream.on('end', () => stream.end());
    stream.on('error', () => {});
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const h2Port = (h2.address() as AddressInfo).port;
  for (const { codec, runtime } of H2_CODECS) {
    proxies.set(codec, {
      allowed: await startTestProxy(config(true, port, runtime, h2Port)),
      refused: await startTestProxy(config(undefined, port, runtime, h2Port)),
    });
  }
});

afterAll(async () => {
  for (const p of proxies.values()) {
    await p.allowed.close();
    await p.refused.close();
  }
  await new Promise<void>((r) => wss?.close(() => r()));
  h2?.close();
});

/** A masked client text frame (RFC 6455 §5.2), short payloads only. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4]!)]);
}

it('allow_connect is validated at the edge: a boolean', () => {
  expect(configProblems(config(true, 1))).toEqual([]);
  const bad = config(true, 1) as { static_resources: { listeners: Array<Record<string, unknown>> } };
  const text = JSON.stringify(bad).replace('"allow_connect":true', '"allow_connect":"yes"');
  expect(configProblems(JSON.parse(text)).join('\n')).toMatch(/http2_protocol_options\.allow_connect/);
});

describe.each(H2_CODECS)('extended CONNECT from the client ($codec)', ({ codec }) => {
  it('with allow_connect: the setting goes out, the upstream gets a GET upgrade, the client a 200 tunnel', async () => {
    seen.length = 0;
    const session = http2.connect(`http://127.0.0.1:${proxies.get(codec)!.allowed.port}`);
    try {
      const remote = await new Promise<http2.Settings>((r) => session.once('remoteSettings', r));
      expect(remote.enableConnectProtocol).toBe(true);
      const req = session.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':path': '/chat?room=2',
          ':scheme': 'http',
          ':authority': 'ws.test',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
        { endStream: false },
      );
      const head = await new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
      expect(head[':status']).toBe(200);
      expect(head['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      let got = Buffer.alloc(0);
      const echoed = new Promise<void>((resolve) =>
        req.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length >= 2 + 'hello'.length) resolve();
        }),
      );
      req.write(clientFrame('hello'));
      await echoed;
      // The server's frame is unmasked: FIN + text, then the length and the payload.
      expect(got.subarray(0, 7)).toEqual(Buffer.concat([Buffer.from([0x81, 5]), Buffer.from('hello')]));
      req.close();
    } finally {
      session.destroy();
    }
    expect(seen).toEqual([{ method: 'GET', url: '/chat?room=2', upgrade: 'websocket' }]);
  });

  it('without allow_connect: no SETTINGS_ENABLE_CONNECT_PROTOCOL, and :protocol is refused', async () => {
    seen.length = 0;
    const c = await RawH2.connect(proxies.get(codec)!.refused.port);
    try {
      const settings = c.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0)!;
      // SETTINGS_ENABLE_CONNECT_PROTOCOL absent or 0 (node:http2 sends it as 0).
      const enabled = Array.from({ length: settings.payload.length / 6 }, (_, i) => i * 6).some(
        (at) => settings.payload.readUInt16BE(at) === 0x8 && settings.payload.readUInt32BE(at + 2) !== 0,
      );
      expect(enabled).toBe(false);
      c.send(
        headers(
          1,
          hpack([
            [':method', 'CONNECT'],
            [':protocol', 'websocket'],
            [':scheme', 'http'],
            [':path', '/chat'],
            [':authority', 'ws.test'],
          ]),
        ),
      );
      expect(await c.rstCode(1)).toBe(ErrorCode.PROTOCOL_ERROR);
    } finally {
      c.destroy();
    }
    expect(seen).toEqual([]);
  });

  it('with allow_connect to an HTTP/2 upstream: extended CONNECT both ways, bytes echoed', async () => {
    h2Seen.length = 0;
    const session = http2.connect(`http://127.0.0.1:${proxies.get(codec)!.allowed.port}`);
    try {
      await new Promise((r) => session.once('remoteSettings', r));
      const req = session.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':path': '/h2/tunnel',
          ':scheme': 'http',
          ':authority': 'ws.test',
        },
        { endStream: false },
      );
      const head = await new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
      expect(head[':status']).toBe(200);
      const echoed = new Promise<string>((resolve) => req.once('data', (d: Buffer) => resolve(d.toString())));
      req.write('ping');
      expect(await echoed).toBe('ping');
      req.close();
    } finally {
      session.destroy();
    }
    expect(h2Seen).toEqual([{ method: 'CONNECT', protocol: 'websocket', path: '/h2/tunnel' }]);
  });
});
