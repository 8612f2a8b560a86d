// HTTP/1 behaviour as Envoy has it, each checked on real sockets:
// - a #fragment in the request-target is refused (Envoy 1.19.1+ "reject requests with
//   #fragment in the URI path", runtime envoy.reloadable_features.http_reject_path_with_fragment);
// - a head that can never be valid is answered at once with 400 and a close, counted in
//   downstream_cx_protocol_error (config/http/http_conn_man/stats: "Total protocol errors"):
//   lines ending in a bare LF (RFC 9112 §2.2 only allows accepting them, and parsers that
//   disagree on them smuggle requests, CVE-2022-32214, so meshscope refuses them, as its codec
//   always did, but no longer waits for a CRLFCRLF that never comes; Envoy's codec answers 400
//   to stray LFs too, envoyproxy/envoy#38695), and a TLS ClientHello sent to a plaintext port
//   (Envoy's parser: HPE_INVALID_METHOD, 400);
// - http_protocol_options.accept_http_10 (api-v3/config/core/v3/protocol.proto: "Handle HTTP
//   requests with HTTP/1.0"): answered in HTTP/1.0, a keep-alive connection stays open;
// - an h2c upgrade's HTTP2-Settings (listed in Connection) is not forwarded;
// - x-envoy-upstream-service-time (config/http/http_filters/router_filter: "the time in
//   milliseconds spent by the upstream host processing the request") is this hop's, replacing
//   one an upstream hop set;
// - cluster.<name>.upstream_rq_total counts every try (config/upstream/cluster_manager/
//   cluster_stats: "Total requests"; retries are requests too, upstream_rq_retry counts them).
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROUTER,
  bootstrap,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';

let up: Upstream;
let flaky: Upstream;
let flakyCalls = 0;
let proxy: RunningProxy;

beforeAll(async () => {
  up = await startUpstream('up');
  flaky = await startUpstream('flaky', (_req, res) => {
    flakyCalls++;
    res.statusCode = flakyCalls <= 2 ? 503 : 200;
    // As an upstream Envoy would have set it.
    res.setHeader('x-envoy-upstream-service-time', '9999');
    res.end('flaky');
  });
  proxy = await startTestProxy(
    bootstrap({
      virtualHosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/flaky' },
              route: { cluster: 'flaky', retry_policy: { retry_on: '5xx', num_retries: 3 } },
            },
            { match: { prefix: '/' }, route: { cluster: 'up' } },
          ],
        },
      ],
      clusters: [
        staticCluster({ name: 'up', ports: [up.port] }),
        staticCluster({ name: 'flaky', ports: [flaky.port] }),
      ],
      hcm: { http_filters: [ROUTER], http_protocol_options: { accept_http_10: true } },
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await up?.close();
  await flaky?.close();
});

/** Writes `data`, collects the answer; `closedByServer` is false when we gave up waiting. */
function exchange(data: Buffer | string, waitMs = 5_000): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let gaveUp = false;
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, waitMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: !gaveUp });
    });
  });
}

async function counter(name: string): Promise<number> {
  return (await proxy.server.stats()).counters.find((c) => c.name === name)?.value ?? 0;
}

/** A real TLS ClientHello, as node:tls sends it first thing on a connection. */
async function clientHello(): Promise<Buffer> {
  const sink = net.createServer();
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const port = (sink.address() as net.AddressInfo).port;
  const first = new Promise<Buffer>((resolve) =>
    sink.once('connection', (s) => s.once('data', (d: Buffer) => (s.destroy(), resolve(d)))),
  );
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'example.com', rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await first;
  client.destroy();
  await new Promise<void>((r) => sink.close(() => r()));
  return hello;
}

describe('HTTP/1 as Envoy parses it', () => {
  it('refuses a #fragment in the path with 400 and forwards nothing', async () => {
    const before = up.seen.length;
    const { text } = await exchange('GET /page#section HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(up.seen.length).toBe(before);
  });

  it('answers a request whose lines end in a bare LF at once: 400, close, a protocol error', async () => {
    const errors = await counter('http.ingress_http.downstream_cx_protocol_error');
    const { text, closedByServer } = await exchange('GET / HTTP/1.1\nhost: x\n\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('connection: close');
    expect(closedByServer).toBe(true);
    expect(await counter('http.ingress_http.downstream_cx_protocol_error')).toBe(errors + 1);
  });

  it('answers a TLS ClientHello on the plaintext port at once: 400, close, a protocol error', async () => {
    const hello = await clientHello();
    expect(hello[0]).toBe(0x16); // a TLS handshake record
    const errors = await counter('http.ingress_http.downstream_cx_protocol_error');
    const { text, closedByServer } = await exchange(hello);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(closedByServer).toBe(true);
    expect(await counter('http.ingress_http.downstream_cx_protocol_error')).toBe(errors + 1);
  });

  it('accept_http_10: answers HTTP/1.0, keeps a keep-alive connection, closes one without', async () => {
    const { text, closedByServer } = await exchange(
      'GET /a HTTP/1.0\r\nhost: x\r\nconnection: keep-alive\r\n\r\n' + 'GET /b HTTP/1.0\r\nhost: x\r\n\r\n',
    );
    const heads = text.match(/HTTP\/1\.\d \d{3}[\s\S]*?\r\n\r\n/g) ?? [];
    expect(heads).toHaveLength(2);
    expect(heads[0]).toMatch(/^HTTP\/1\.0 200 /);
    expect(heads[0]).toContain('connection: keep-alive');
    expect(heads[1]).toMatch(/^HTTP\/1\.0 200 /);
    expect(heads[1]).toContain('connection: close');
    expect(closedByServer).toBe(true);
    expect(up.seen.slice(-2).map((s) => s.url)).toEqual(['/a', '/b']);
  });

  it('does not forward HTTP2-Settings listed in Connection, nor the h2c upgrade', async () => {
    const { text } = await exchange(
      'GET /h2c HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings, close\r\nupgrade: h2c\r\n' +
        'http2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const seen = up.seen.at(-1)!;
    expect(seen.url).toBe('/h2c');
    expect(seen.headers['http2-settings']).toBeUndefined();
    expect(seen.headers.upgrade).toBeUndefined();
  });

  it("replaces an upstream hop's x-envoy-upstream-service-time, and counts every try in upstream_rq_total", async () => {
    const total = await counter('cluster.flaky.upstream_rq_total');
    const res = await request(proxy.port, '/flaky');
    expect(res.status).toBe(200);
    expect(flakyCalls).toBe(3);
    const serviceTime = res.headers['x-envoy-upstream-service-time'];
    expect(serviceTime).toMatch(/^\d+$/);
    expect(serviceTime).not.toBe('9999');
    expect(await counter('cluster.flaky.upstream_rq_total')).toBe(total + 3);
    expect(await counter('cluster.flaky.upstream_rq_retry')).toBe(2);
  });
});
