// Envoy's error answers and response flags, codec limits, and request-smuggling defences
// driven with raw sockets: a refused request never reaches the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { z } from 'zod';
import { defineExtension, formatResponseFlags, registries, type StreamInfo } from '../../proxy/index.js';
import {
  bootstrap,
  rawExchange,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  statusOf,
  type RunningProxy,
  type Upstream,
} from './helpers.js';

let ok: Upstream;
let slow: Upstream;
let reset: Upstream;
let proxy: RunningProxy;
let closedPort: number;
let badUpstream: net.Server;
const logged: Array<{ path: string; flags: string; code: number }> = [];

// A test access logger registered through the public registry: proves the HCM calls loggers
// once per completed stream with Envoy's response flags filled in.
registries.accessLoggers.register(
  defineExtension({
    name: 'test.access_loggers.capture_errors',
    typeUrls: [],
    configSchema: z.object({}).strict(),
    create: () => ({
      log(info: StreamInfo) {
        logged.push({
          path: info.requestHeaders?.get(':path') ?? '',
          flags: formatResponseFlags(info.responseFlags),
          code: info.responseCode,
        });
      },
    }),
  }),
);

beforeAll(async () => {
  ok = await startUpstream('ok');
  slow = await startUpstream('slow', (_req, res) => {
    setTimeout(() => res.end('late'), 1500).unref();
  });
  reset = await startUpstream('reset', (req) => req.socket.destroy());
  // A raw upstream answering with conflicting framing or garbage, by path.
  badUpstream = net.createServer((s) => {
    s.once('data', (d) => {
      const path = d.toString().split(' ')[1] ?? '';
      if (path.includes('cl-te'))
        s.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n');
      else s.end('SPDY/9 200 nope\r\n\r\n');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => badUpstream.listen(0, '127.0.0.1', r));
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  proxy = await startTestProxy(
    bootstrap({
      hcm: {
        request_headers_timeout: '0.3s',
        max_request_headers_kb: 8,
        access_log: [{ name: 'test.access_loggers.capture_errors' }],
      },
      clusters: [
        staticCluster({ name: 'ok', ports: [ok.port] }),
        staticCluster({ name: 'slow', ports: [slow.port] }),
        staticCluster({ name: 'reset', ports: [reset.port] }),
        staticCluster({ name: 'refused', ports: [closedPort] }),
        staticCluster({ name: 'empty', ports: [] }),
        staticCluster({ name: 'bad', ports: [(badUpstream.address() as net.AddressInfo).port] }),
        staticCluster({
          name: 'tiny',
          ports: [slow.port],
          extra: { circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] } },
        }),
      ],
      virtualHosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/ok' }, route: { cluster: 'ok' } },
            { match: { prefix: '/slow' }, route: { cluster: 'slow', timeout: '0.2s' } },
            { match: { prefix: '/reset' }, route: { cluster: 'reset' } },
            { match: { prefix: '/refused' }, route: { cluster: 'refused' } },
            { match: { prefix: '/empty' }, route: { cluster: 'empty' } },
            { match: { prefix: '/bad' }, route: { cluster: 'bad' } },
            { match: { prefix: '/tiny' }, route: { cluster: 'tiny' } },
          ],
        },
      ],
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all([ok?.close(), slow?.close(), reset?.close(), new Promise((r) => badUpstream?.close(r))]);
});

describe('upstream failures', () => {
  it('no healthy upstream → 503 UH', async () => {
    const r = await request(proxy.port, '/empty');
    expect(r.status).toBe(503);
    expect(r.body).toBe('no healthy upstream');
  });

  it('connection refused → 503 UF', async () => {
    const r = await request(proxy.port, '/refused');
    expect(r.status).toBe(503);
    expect(r.body).toContain('reset reason: connection failure');
  });

  it('upstream resets before headers → 503 UC', async () => {
    const r = await request(proxy.port, '/reset');
    expect(r.status).toBe(503);
    expect(r.body).toContain('reset reason: connection termination');
  });

  it('an upstream response with conflicting framing or a bad status line → 502 (UPE), never relayed', async () => {
    for (const path of ['/bad/cl-te', '/bad/garbage']) {
      const r = await request(proxy.port, path);
      expect(r.status).toBe(502);
      expect(r.body).toBe('upstream protocol error');
    }
    expect(logged.find((l) => l.path === '/bad/cl-te')?.flags).toBe('UPE');
  });

  it('route timeout → 504 UT', async () => {
    const r = await request(proxy.port, '/slow');
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
  });

  it('pool limits: beyond max_connections + max_pending_requests → 503 UO', async () => {
    const results = await Promise.all([
      request(proxy.port, '/tiny/1'),
      request(proxy.port, '/tiny/2'),
      request(proxy.port, '/tiny/3'),
    ]);
    // One connection and one waiting request fit; how many of the three fit depends on whether
    // the first connection is up before the others arrive, but at least one overflows.
    const overflowed = results.filter((r) => r.status === 503);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(overflowed.length).toBeGreaterThanOrEqual(1);
    for (const r of overflowed) expect(r.body).toContain('reset reason: overflow');
    const snap = await proxy.server.stats();
    expect(snap.counters.find((c) => c.name === 'cluster.tiny.upstream_rq_pending_overflow')?.value).toBe(
      overflowed.length,
    );
    expect(logged.find((l) => l.path.startsWith('/tiny') && l.code === 503)?.flags).toBe('UO');
  });

  it('sets Envoy response flags that access loggers see', async () => {
    expect((await request(proxy.port, '/nothing-routes-here')).status).toBe(404);
    const flagsFor = (path: string) => logged.find((l) => l.path === path)?.flags;
    expect(flagsFor('/nothing-routes-here')).toBe('NR');
    expect(flagsFor('/empty')).toBe('UH');
    expect(flagsFor('/refused')).toBe('UF');
    expect(flagsFor('/reset')).toBe('UC');
    expect(flagsFor('/slow')).toBe('UT');
    expect(flagsFor('/ok')).toBeUndefined();
    await request(proxy.port, '/ok');
    expect(flagsFor('/ok')).toBe('-');
  });

  it('counts them under Envoy stat names', async () => {
    const snap = await proxy.server.stats();
    const counter = (n: string) => snap.counters.find((c) => c.name === n)?.value ?? 0;
    expect(counter('cluster.refused.upstream_cx_connect_fail')).toBeGreaterThanOrEqual(1);
    expect(counter('cluster.slow.upstream_rq_timeout')).toBe(1);
    expect(counter('cluster.empty.upstream_cx_none_healthy')).toBe(1);
    expect(counter('http.ingress_http.downstream_rq_5xx')).toBeGreaterThanOrEqual(4);
  });
});

describe('malformed requests', () => {
  it('400 for a garbage request line, 431 for oversized headers', async () => {
    expect(statusOf(await rawExchange(proxy.port, 'HELLO\r\n\r\n'))).toBe(400);
    const big = `GET /ok HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(9000)}\r\n\r\n`;
    expect(statusOf(await rawExchange(proxy.port, big))).toBe(431);
  });

  it('400 when Host is missing on HTTP/1.1; 426 for HTTP/1.0 by default', async () => {
    expect(statusOf(await rawExchange(proxy.port, 'GET /ok HTTP/1.1\r\n\r\n'))).toBe(400);
    expect(statusOf(await rawExchange(proxy.port, 'GET /ok HTTP/1.0\r\nhost: x\r\n\r\n'))).toBe(426);
  });

  it('400 for two Host headers, whichever comes first', async () => {
    expect(statusOf(await rawExchange(proxy.port, 'GET /ok HTTP/1.1\r\nhost: a\r\nx-a: 1\r\nhost: b\r\n\r\n'))).toBe(
      400,
    );
    expect(statusOf(await rawExchange(proxy.port, 'GET /ok HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n'))).toBe(400);
    expect(statusOf(await rawExchange(proxy.port, 'GET /ok HTTP/1.1\r\nx-a: 1\r\nhost: a\r\n\r\n'))).toBe(200);
  });

  it('408 when headers do not complete within request_headers_timeout', async () => {
    const raw = await rawExchange(proxy.port, 'GET /ok HTTP/1.1\r\nhost: x\r\n', 3000);
    expect(statusOf(raw)).toBe(408);
  });
});

describe('request smuggling defences', () => {
  const attempts: Record<string, string> = {
    'Content-Length with Transfer-Encoding':
      'POST /ok HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /ok/smuggled HTTP/1.1\r\nhost: x\r\n\r\n',
    'two Content-Length headers':
      'POST /ok HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 0\r\n\r\nGET /ok/smuggled HTTP/1.1\r\nhost: x\r\n\r\n',
    'bad chunk size': 'POST /ok HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n',
    'chunk size overflow':
      'POST /ok HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n',
    'obs-fold header': 'GET /ok HTTP/1.1\r\nhost: x\r\nx-folded: a\r\n b\r\n\r\n',
    'space before colon': 'GET /ok HTTP/1.1\r\nhost: x\r\ntransfer-encoding : chunked\r\n\r\n',
    'bare LF in header': 'GET /ok HTTP/1.1\r\nhost: x\r\nx-a: 1\nx-b: 2\r\n\r\n',
    'non-numeric Content-Length': 'POST /ok HTTP/1.1\r\nhost: x\r\ncontent-length: 1e3\r\n\r\n',
    'two Host headers': 'GET /ok HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n',
  };
  for (const [name, payload] of Object.entries(attempts)) {
    it(`refuses ${name} and forwards nothing`, async () => {
      const before = ok.seen.length;
      const raw = await rawExchange(proxy.port, payload);
      expect(statusOf(raw)).toBe(400);
      // Exactly one response, and the connection closed after it.
      expect(raw.match(/HTTP\/1\.1 /g)?.length).toBe(1);
      expect(ok.seen.length).toBe(before);
    });
  }

  it('refuses an unknown transfer coding with 501', async () => {
    const before = ok.seen.length;
    const raw = await rawExchange(
      proxy.port,
      'POST /ok HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(501);
    expect(ok.seen.length).toBe(before);
  });

  it('a valid chunked request is re-framed, and the next pipelined request is separate', async () => {
    const before = ok.seen.length;
    const raw = await rawExchange(
      proxy.port,
      'POST /ok/one HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\ntrailer: t\r\n\r\nGET /ok/two HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(raw.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(ok.seen.slice(before).map((s) => [s.url, s.body.toString()])).toEqual([
      ['/ok/one', 'hello'],
      ['/ok/two', ''],
    ]);
  });
});
