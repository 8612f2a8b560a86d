// HTTP/1.1 behaviour through the proxy: bodies streamed both ways (never buffered whole),
// chunked re-framing, 100-continue, WebSocket upgrade pass-through, x-forwarded-*,
// x-request-id, x-envoy-upstream-service-time and upstream keep-alive reuse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  bootstrap,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';

let echo: Upstream;
let streamer: Upstream;
let ws: http.Server;
let wsPort: number;
let proxy: RunningProxy;
let edgeProxy: RunningProxy;
let trustingProxy: RunningProxy;

const MB = 1024 * 1024;

beforeAll(async () => {
  // Reads the whole request body and answers with its size and SHA-256.
  echo = await startUpstream('echo', (_req, res, body) => {
    res.setHeader('x-received', String(body.length));
    res.end(createHash('sha256').update(body).digest('hex'));
  });
  // Sends a large chunked response slowly enough that the proxy must stream it.
  streamer = await startUpstream('streamer', (req, res) => {
    const total = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('mb') ?? '1') * MB;
    let sent = 0;
    const block = Buffer.alloc(64 * 1024, 97);
    const pump = () => {
      while (sent < total) {
        sent += block.length;
        if (!res.write(block)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  ws = http.createServer((_req, res) => res.end('not an upgrade'));
  ws.on('upgrade', (req, socket) => {
    const key = req.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
    );
    // Echo raw bytes back upper-cased, as a stand-in for WebSocket frames.
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
  wsPort = (ws.address() as AddressInfo).port;
  const vhosts = [
    {
      name: 'v',
      domains: ['*'],
      routes: [
        { match: { prefix: '/echo' }, route: { cluster: 'echo' } },
        { match: { prefix: '/stream' }, route: { cluster: 'streamer' } },
        {
          match: { prefix: '/ws-off' },
          route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket', enabled: false }] },
        },
        { match: { prefix: '/ws' }, route: { cluster: 'ws' } },
      ],
    },
  ];
  const clusters = [
    staticCluster({ name: 'echo', ports: [echo.port] }),
    staticCluster({ name: 'streamer', ports: [streamer.port] }),
    staticCluster({ name: 'ws', ports: [wsPort] }),
  ];
  proxy = await startTestProxy(
    bootstrap({ virtualHosts: vhosts, clusters, hcm: { upgrade_configs: [{ upgrade_type: 'websocket' }] } }),
  );
  edgeProxy = await startTestProxy(
    bootstrap({
      virtualHosts: vhosts,
      clusters,
      hcm: {
        use_remote_address: true,
        http_protocol_options: { accept_http_10: true, default_host_for_http_10: 'legacy.internal' },
      },
    }),
  );
  const clientEcho = [
    {
      ...vhosts[0],
      request_headers_to_add: [{ header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } }],
    },
  ];
  trustingProxy = await startTestProxy(
    bootstrap({ virtualHosts: clientEcho, clusters, hcm: { use_remote_address: true, xff_num_trusted_hops: 1 } }),
  );
});

afterAll(async () => {
  await Promise.all([proxy?.close(), edgeProxy?.close(), trustingProxy?.close()]);
  await Promise.all([echo?.close(), streamer?.close(), new Promise((r) => ws?.close(r))]);
});

describe('bodies', () => {
  it('streams a 32 MiB chunked upload and a 32 MiB download', async () => {
    const hash = createHash('sha256');
    const result = await new Promise<{ status: number; body: string; received: string | undefined }>(
      (resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: proxy.port,
            path: '/echo',
            method: 'POST',
            headers: { 'transfer-encoding': 'chunked' },
          },
          (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body, received: res.headers['x-received'] as string | undefined }),
            );
          },
        );
        req.on('error', reject);
        let i = 0;
        const write = () => {
          while (i < 512) {
            const block = Buffer.alloc(64 * 1024, i % 251);
            hash.update(block);
            i++;
            if (!req.write(block)) return void req.once('drain', write);
          }
          req.end();
        };
        write();
      },
    );
    expect(result.status).toBe(200);
    expect(result.received).toBe(String(32 * MB));
    expect(result.body).toBe(hash.digest('hex'));

    const size = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxy.port, path: '/stream?mb=32' }, (res) => {
          expect(res.headers['transfer-encoding']).toBe('chunked');
          let n = 0;
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => resolve(n));
        })
        .on('error', reject);
    });
    expect(size).toBe(32 * MB);
  });

  it('forwards a Content-Length body as is', async () => {
    const r = await request(proxy.port, '/echo', { method: 'PUT', body: 'x'.repeat(1000) });
    expect(r.headers['x-received']).toBe('1000');
  });

  it('answers Expect: 100-continue itself and never forwards Expect', async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (got.includes('100 Continue') && !got.includes('hello-sent')) {
          got += 'hello-sent';
          s.write('hello');
        }
      });
      s.on('close', () => resolve(got));
      s.write(
        'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n',
      );
    });
    expect(raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    expect(raw).toContain('HTTP/1.1 200 OK');
    expect(raw).toContain('x-received: 5');
    expect(echo.seen.at(-1)?.headers.expect).toBeUndefined();
  });
});

describe('upgrades', () => {
  function upgrade(port: number, path: string): Promise<string> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (got.includes('\r\n\r\n') && got.startsWith('HTTP/1.1 101') && !got.includes('PING')) s.write('ping');
        if (got.includes('PING')) s.end();
      });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.write(
        `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
  }

  it('passes a WebSocket upgrade through when upgrade_configs allow it', async () => {
    const got = await upgrade(proxy.port, '/ws');
    expect(got.startsWith('HTTP/1.1 101 Switching Protocols')).toBe(true);
    expect(got).toContain('sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(got.endsWith('PING')).toBe(true);
  });

  it('refuses it with 403 when the route disables it or the HCM does not list it', async () => {
    expect((await upgrade(proxy.port, '/ws-off')).startsWith('HTTP/1.1 403')).toBe(true);
    expect((await upgrade(edgeProxy.port, '/ws')).startsWith('HTTP/1.1 403')).toBe(true);
  });
});

describe('headers the proxy adds', () => {
  it('x-request-id generated when absent, kept when present; x-forwarded-proto; upstream service time', async () => {
    const r = await request(proxy.port, '/echo');
    expect(r.headers['x-envoy-upstream-service-time']).toMatch(/^\d+$/);
    expect(r.headers.server).toBe('envoy');
    const seen = echo.seen.at(-1)!.headers;
    expect(seen['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-for']).toBeUndefined();
    await request(proxy.port, '/echo', { headers: { 'x-request-id': 'abc-123' } });
    expect(echo.seen.at(-1)!.headers['x-request-id']).toBe('abc-123');
  });

  it('appends the peer to x-forwarded-for with use_remote_address', async () => {
    await request(edgeProxy.port, '/echo', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(echo.seen.at(-1)!.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
  });
});

describe('half-close', () => {
  it('answers a request whose client shut down its sending side, then closes', async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('connect', () => s.end('GET /echo HTTP/1.1\r\nhost: x\r\n\r\n'));
    });
    expect(raw.startsWith('HTTP/1.1 200 OK')).toBe(true);
  });
});

describe('HTTP/1.0', () => {
  it('is served with accept_http_10, using default_host_for_http_10, and the connection closes', async () => {
    const { rawExchange, statusOf } = await import('./helpers.js');
    const raw = await rawExchange(edgeProxy.port, 'GET /echo HTTP/1.0\r\n\r\n', 3000);
    expect(statusOf(raw)).toBe(200);
    expect(echo.seen.at(-1)!.headers.host).toBe('legacy.internal');
    expect(raw.toLowerCase()).toContain('connection: close');
  });
});

describe('client address', () => {
  it('xff_num_trusted_hops takes the client from x-forwarded-for; an external client gets a fresh x-request-id', async () => {
    await request(trustingProxy.port, '/echo', {
      headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.9', 'x-request-id': 'from-outside' },
    });
    const seen = echo.seen.at(-1)!.headers;
    expect(seen['x-client']).toBe('203.0.113.9');
    expect(seen['x-forwarded-for']).toBe('198.51.100.1, 203.0.113.9, 127.0.0.1');
    expect(seen['x-request-id']).not.toBe('from-outside');
    // An internal client (10/8) keeps its request id.
    await request(trustingProxy.port, '/echo', {
      headers: { 'x-forwarded-for': '10.1.2.3', 'x-request-id': 'from-inside' },
    });
    expect(echo.seen.at(-1)!.headers['x-request-id']).toBe('from-inside');
  });
});

describe('connections', () => {
  it('answers pipelined requests in order', async () => {
    const { rawExchange } = await import('./helpers.js');
    let payload = '';
    for (let i = 0; i < 10; i++)
      payload += `GET /echo/${i} HTTP/1.1\r\nhost: x\r\n${i === 9 ? 'connection: close\r\n' : ''}\r\n`;
    const raw = await rawExchange(proxy.port, payload, 5000);
    expect(raw.match(/HTTP\/1\.1 200 OK/g)?.length).toBe(10);
    const urls = echo.seen.slice(-10).map((s) => s.url);
    expect(urls).toEqual(Array.from({ length: 10 }, (_, i) => `/echo/${i}`));
  });

  it('relays a response delimited by the upstream closing its connection, whole', async () => {
    const body = 'x'.repeat(200_000);
    const raw = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n');
        // In pieces over several reads, then the close ends the body.
        socket.write(body.slice(0, 100_000));
        setTimeout(() => socket.end(body.slice(100_000)), 20);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const p = await startTestProxy(
      bootstrap({
        virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'raw' } }] }],
        clusters: [staticCluster({ name: 'raw', ports: [(raw.address() as AddressInfo).port] })],
      }),
    );
    try {
      const res = await request(p.port, '/close-delimited');
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(body.length);
      expect(res.body.toString()).toBe(body);
    } finally {
      await p.close();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  it('holds a large pipelined request behind an unfinished response, then serves it in order', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const slow = await startUpstream('slow', (_req, res) => void held.then(() => res.end('late')));
    const p = await startTestProxy(
      bootstrap({
        virtualHosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              { match: { prefix: '/hold' }, route: { cluster: 'slow' } },
              { match: { prefix: '/' }, route: { cluster: 'echo' } },
            ],
          },
        ],
        clusters: [
          staticCluster({ name: 'slow', ports: [slow.port] }),
          staticCluster({ name: 'echo', ports: [echo.port] }),
        ],
      }),
    );
    try {
      const body = Buffer.alloc(32 * MB, 120);
      const client = net.connect(p.port, '127.0.0.1');
      client.on('error', () => {});
      let raw = '';
      client.on('data', (d: Buffer) => (raw += d.toString('latin1')));
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.write('GET /hold HTTP/1.1\r\nhost: x\r\n\r\n');
      client.write(`POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`);
      client.write(body);
      await new Promise((r) => setTimeout(r, 200));
      expect(raw).toBe('');
      release();
      await new Promise<void>((r) => client.once('close', () => r()));
      expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nlate/);
      expect(raw).toContain(`x-received: ${body.length}\r\n`);
    } finally {
      await p.close();
      await slow.close();
    }
  });

  it('reuses upstream keep-alive connections and serves downstream keep-alive', async () => {
    const before = echo.connections.size;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 20; i++) expect((await request(proxy.port, '/echo', { agent })).status).toBe(200);
    agent.destroy();
    expect(echo.connections.size - before).toBeLessThanOrEqual(1);
  });
});

describe('an upstream that sends bytes on an idle keep-alive connection', () => {
  it('gets that connection closed, never shared by two requests', async () => {
    // Answers each request with its path; after the first answer, an unsolicited response
    // follows on the same (now idle) connection.
    let stray = true;
    const raw = net.createServer((socket) => {
      let buf = '';
      socket.on('error', () => {});
      socket.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
          const path = buf.slice(0, end).split(' ')[1] ?? '';
          buf = buf.slice(end + 4);
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
          if (stray) {
            stray = false;
            setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray'), 50);
          }
        }
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const rawPort = (raw.address() as AddressInfo).port;
    const p = await startTestProxy(
      bootstrap({
        virtualHosts: [
          { name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'raw', timeout: '3s' } }] },
        ],
        clusters: [staticCluster({ name: 'raw', ports: [rawPort] })],
      }),
    );
    try {
      expect((await request(p.port, '/first')).body).toBe('/first');
      await new Promise((r) => setTimeout(r, 300));
      const [a, b] = await Promise.all([request(p.port, '/a'), request(p.port, '/b')]);
      expect([a.status, a.body, b.status, b.body]).toEqual([200, '/a', 200, '/b']);
    } finally {
      await p.close();
      raw.close();
    }
  });
});
