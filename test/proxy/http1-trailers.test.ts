// HTTP/1.1 chunked trailers as Envoy's http_protocol_options.enable_trailers has them
// (api-v3/config/core/v3/protocol.proto, Http1ProtocolOptions: "By default the HTTP/1 codec drops
// proxied trailers"): the HCM's option reads a downstream request's trailers and ends a chunked
// response with its trailers; a cluster's (HttpProtocolOptions' http_protocol_options) sends a
// request's trailers upstream and reads the response's. Both options off, or either one off on
// its side, and the trailers are dropped while the message still ends. HTTP/1.1 ↔ HTTP/1.1, and
// across to HTTP/2 both ways (gRPC-style trailers), with both HTTP/2 codecs as Envoy's runtime key
// envoy.reloadable_features.http2_use_oghttp2 chooses them. Real clients and servers: node:http's
// addTrailers/`trailers`, node:http2's sendTrailers/'trailers', raw bytes for malformed trailers.
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startProxyPerCodec,
  h2Cluster,
  bootstrap,
  configProblems,
  H2_CODECS,
  httpProtocolOptions,
  rawExchange,
  type RunningProxy,
  startTestProxy,
  staticCluster,
  statusOf,
} from './helpers.js';

/** What an upstream saw of a request: its body and its trailers. */
interface Seen {
  body: string;
  trailers: Record<string, string | string[] | undefined>;
}

let h1: http.Server;
let h2: http2.Http2Server;
const h1Seen: Seen[] = [];
const h2Seen: Seen[] = [];
/** Proxies with the HCM's enable_trailers on, one per HTTP/2 codec; and one with it off. */
let proxies = new Map<string, RunningProxy>();
let off: RunningProxy;

beforeAll(async () => {
  // Records the request; answers a chunked body that ends with trailers.
  h1 = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      h1Seen.push({ body, trailers: { ...req.trailers } });
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-upstream-checksum' });
      res.write('answer');
      res.addTrailers({ 'x-upstream-checksum': 'h1-sum', 'x-count': '1' });
      res.end();
    });
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  h2 = http2.createServer();
  h2.on('stream', (stream) => {
    let body = '';
    let trailers: Seen['trailers'] = {};
    stream.setEncoding('latin1');
    stream.on('data', (d: string) => {
      body += d;
    });
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = { ...t };
    });
    stream.on('end', () => {
      h2Seen.push({ body, trailers });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-upstream-checksum': 'h2-sum' }));
      stream.end('answer');
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const h1Port = (h1.address() as AddressInfo).port;
  const h2Port = (h2.address() as AddressInfo).port;
  const clusters = [
    staticCluster({
      name: 'h1_trailers',
      ports: [h1Port],
      extra: httpProtocolOptions({ explicit_http_config: { http_protocol_options: { enable_trailers: true } } }),
    }),
    staticCluster({ name: 'h1_plain', ports: [h1Port] }),
    // The downstream's protocol upstream, with HTTP/1.1's options for HTTP/1.1 requests.
    staticCluster({
      name: 'h1_downstream_protocol',
      ports: [h1Port],
      extra: httpProtocolOptions({
        use_downstream_protocol_config: { http_protocol_options: { enable_trailers: true } },
      }),
    }),
    h2Cluster('h2', h2Port),
  ];
  const virtualHosts = [
    {
      name: 'all',
      domains: ['*'],
      routes: [
        { match: { prefix: '/h1-trailers' }, route: { cluster: 'h1_trailers' } },
        { match: { prefix: '/h1-plain' }, route: { cluster: 'h1_plain' } },
        { match: { prefix: '/h1-downstream-protocol' }, route: { cluster: 'h1_downstream_protocol' } },
        { match: { prefix: '/h2' }, route: { cluster: 'h2' } },
      ],
    },
  ];
  proxies = await startProxyPerCodec({
    virtualHosts,
    clusters,
    hcm: { codec_type: 'AUTO', http_protocol_options: { enable_trailers: true } },
  });
  off = await startTestProxy(bootstrap({ virtualHosts, clusters, hcm: { codec_type: 'AUTO' } }));
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  await off?.close();
  h1?.closeAllConnections();
  await new Promise<void>((r) => h1?.close(() => r()));
  await new Promise<void>((r) => h2?.close(() => r()));
});

interface Answer {
  status: number;
  body: string;
  trailers: Record<string, string | string[] | undefined>;
}

/** An HTTP/1.1 POST with a chunked body that ends with `trailers` (node:http's addTrailers). */
function h1Post(port: number, path: string, trailers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, trailers: { ...res.trailers } }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.write('hello ');
    req.write('world');
    req.addTrailers(trailers);
    req.end();
  });
}

/** An HTTP/2 POST whose body ends with `trailers` (node:http2's sendTrailers). */
async function h2Post(port: number, path: string, trailers: Record<string, string>): Promise<Answer> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const req = client.request({ ':method': 'POST', ':path': path }, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers(trailers));
      let status = 0;
      let body = '';
      let got: Answer['trailers'] = {};
      req.on('response', (h) => {
        status = Number(h[':status']);
      });
      req.setEncoding('latin1');
      req.on('data', (d: string) => {
        body += d;
      });
      req.on('trailers', (t) => {
        got = { ...t };
      });
      req.on('end', () => resolve({ status, body, trailers: got }));
      req.on('error', reject);
      req.end('hello world');
    });
  } finally {
    client.close();
  }
}

describe.each(H2_CODECS)('enable_trailers on the HCM and the cluster ($codec codecs)', ({ codec }) => {
  const port = (): number => proxies.get(codec)!.port;

  it('HTTP/1.1 → HTTP/1.1: the request trailers reach the upstream, the response trailers the client', async () => {
    const r = await h1Post(port(), '/h1-trailers', { 'x-checksum': 'abc', 'x-request-count': '2' });
    expect(h1Seen.at(-1)).toEqual({ body: 'hello world', trailers: { 'x-checksum': 'abc', 'x-request-count': '2' } });
    expect(r).toMatchObject({ status: 200, body: 'answer' });
    expect(r.trailers).toEqual({ 'x-upstream-checksum': 'h1-sum', 'x-count': '1' });
  });

  it('use_downstream_protocol_config.http_protocol_options.enable_trailers does the same for HTTP/1.1 requests', async () => {
    const r = await h1Post(port(), '/h1-downstream-protocol', { 'x-checksum': 'same-protocol' });
    expect(h1Seen.at(-1)).toEqual({ body: 'hello world', trailers: { 'x-checksum': 'same-protocol' } });
    expect(r.trailers).toEqual({ 'x-upstream-checksum': 'h1-sum', 'x-count': '1' });
  });

  it('HTTP/1.1 → a cluster without enable_trailers: the body ends without them, both ways', async () => {
    const r = await h1Post(port(), '/h1-plain', { 'x-checksum': 'abc' });
    expect(h1Seen.at(-1)).toEqual({ body: 'hello world', trailers: {} });
    expect(r).toMatchObject({ status: 200, body: 'answer', trailers: {} });
  });

  it('HTTP/1.1 → HTTP/2: chunked trailers become a trailing HEADERS, and gRPC-style trailers come back chunked', async () => {
    const r = await h1Post(port(), '/h2', { 'x-checksum': 'to-h2' });
    expect(h2Seen.at(-1)).toMatchObject({ body: 'hello world', trailers: { 'x-checksum': 'to-h2' } });
    expect(Object.keys(h2Seen.at(-1)!.trailers)).toEqual(['x-checksum']);
    expect(r).toMatchObject({ status: 200, body: 'answer' });
    expect(r.trailers).toEqual({ 'grpc-status': '0', 'x-upstream-checksum': 'h2-sum' });
  });

  it('HTTP/2 → HTTP/1.1: a trailing HEADERS becomes chunked trailers, and the chunked ones come back as HEADERS', async () => {
    const r = await h2Post(port(), '/h1-trailers', { 'x-checksum': 'from-h2' });
    expect(h1Seen.at(-1)).toEqual({ body: 'hello world', trailers: { 'x-checksum': 'from-h2' } });
    expect(r).toMatchObject({ status: 200, body: 'answer' });
    expect(r.trailers).toMatchObject({ 'x-upstream-checksum': 'h1-sum', 'x-count': '1' });
  });

  it('a malformed trailer line is refused with 400, as a malformed header line is', async () => {
    const raw = await rawExchange(
      port(),
      'POST /h1-trailers HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nno colon here\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(400);
  });
});

describe('enable_trailers off on the HCM (Envoy’s default)', () => {
  it('a client’s chunked trailers are read and dropped: the upstream gets the body alone', async () => {
    const r = await h1Post(off.port, '/h1-trailers', { 'x-checksum': 'abc' });
    expect(h1Seen.at(-1)).toEqual({ body: 'hello world', trailers: {} });
    // The response still ends, without the trailers the cluster read.
    expect(r).toMatchObject({ status: 200, body: 'answer', trailers: {} });
  });

  it('a malformed trailer line is not looked at', async () => {
    const raw = await rawExchange(
      off.port,
      'POST /h1-trailers HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nno colon here\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(200);
  });
});

describe('config', () => {
  it('the cluster’s http_protocol_options is checked at the edge, its path named', () => {
    const bad = bootstrap({
      virtualHosts: [],
      clusters: [
        staticCluster({
          name: 'bad',
          ports: [1],
          extra: httpProtocolOptions({ explicit_http_config: { http_protocol_options: { enable_trailers: 'yes' } } }),
        }),
        staticCluster({
          name: 'unknown',
          ports: [1],
          extra: httpProtocolOptions({ explicit_http_config: { http_protocol_options: { trailers: true } } }),
        }),
      ],
    });
    const problems = configProblems(bad);
    expect(problems.some((p) => p.includes('explicit_http_config.http_protocol_options.enable_trailers'))).toBe(true);
    expect(
      problems.some((p) => p.includes('explicit_http_config.http_protocol_options') && p.includes('trailers')),
    ).toBe(true);
  });
});
