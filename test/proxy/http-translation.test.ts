// HTTP/1.1 ↔ HTTP/2 translation where the two protocols differ, as Envoy's codecs and connection
// manager do it, checked with real clients (node:http2, curl) against real upstreams that report
// the request they got:
// - a headers-only request of a method that may carry content (POST, PUT, PATCH) reaches an
//   HTTP/1.1 upstream with `content-length: 0` (Envoy's HTTP/1 codec: "If this is a headers-only
//   stream, append an explicit Content-Length: 0", except for bodiless methods);
// - `te` is hop-by-hop: only its `trailers` token crosses (Envoy's sanitize_te), to either protocol;
// - `expect: 100-continue` is answered by the proxy itself and not forwarded, whatever the
//   client's protocol and the upstream's (Envoy's proxy_100_continue off);
// - a status from an HTTP/2 upstream (which has no reason phrase) reaches an HTTP/1.1 client with
//   the phrase Envoy writes for it, not "Unknown";
// - a response without `date` gets one (Envoy's HCM adds it when absent), whichever codec writes
//   it: node:http2 added one of its own, HTTP/1.1 and our HTTP/2 codec none.
// Both HTTP/2 codecs, as Envoy's runtime key envoy.reloadable_features.http2_use_oghttp2 chooses.
import { execFile } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxyPerCodec, h2Cluster, H2_CODECS, type RunningProxy, staticCluster } from './helpers.js';

const run = promisify(execFile);
const FIXED_DATE = 'Tue, 01 Jan 2030 00:00:00 GMT';
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** What an upstream saw: its headers and how many body octets. */
interface Seen {
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
}

let h1: http.Server;
let h2: http2.Http2Server;
let proxies = new Map<string, RunningProxy>();

beforeAll(async () => {
  const answer = (headers: Seen['headers'], bytes: number): string => JSON.stringify({ headers, bytes });
  h1 = http.createServer((req, res) => {
    // `/h1/no-date` answers without a Date header, `/h1/dated` with a fixed one.
    if (req.url === '/h1/no-date') res.sendDate = false;
    if (req.url === '/h1/dated') res.setHeader('date', FIXED_DATE);
    let bytes = 0;
    req.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    req.on('end', () => res.end(answer(req.headers, bytes)));
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    // `/h2/status/NNN` answers NNN with no body.
    const status = /^\/h2\/status\/(\d{3})$/.exec(String(headers[':path']));
    if (status !== null) {
      stream.respond({ ':status': Number(status[1]) }, { endStream: true });
      return;
    }
    let bytes = 0;
    stream.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(answer({ ...headers }, bytes));
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  proxies = await startProxyPerCodec({
    hcm: { codec_type: 'AUTO' },
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/h1' }, route: { cluster: 'h1' } },
          { match: { prefix: '/h2' }, route: { cluster: 'h2' } },
        ],
      },
    ],
    clusters: [
      staticCluster({ name: 'h1', ports: [(h1.address() as AddressInfo).port] }),
      h2Cluster('h2', (h2.address() as AddressInfo).port),
    ],
  });
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  h1?.closeAllConnections();
  await new Promise<void>((r) => h1?.close(() => r()));
  await new Promise<void>((r) => h2?.close(() => r()));
});

/** A headers-only HTTP/2 request (HEADERS with END_STREAM); the upstream's report. */
async function h2HeadersOnly(port: number, method: string, path: string): Promise<Seen> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<Seen>((resolve, reject) => {
      const req = client.request({ ':method': method, ':path': path }, { endStream: true });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        body += d;
      });
      req.on('end', () => resolve(JSON.parse(body) as Seen));
      req.on('error', reject);
    });
  } finally {
    client.close();
  }
}

/** The `date` response header an HTTP/2 GET of `path` gets (node:http2). */
async function h2Date(port: number, path: string): Promise<string | undefined> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve, reject) => {
      const req = client.request({ ':path': path }, { endStream: true });
      req.on('response', (h) => resolve(h.date as string | undefined));
      req.on('error', reject);
      req.resume();
    });
  } finally {
    client.close();
  }
}

/** The `date` response header an HTTP/1.1 GET of `path` gets (node:http). */
function h1Date(port: number, path: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        resolve(res.headers.date);
        res.resume();
      })
      .on('error', reject);
  });
}

/** curl's request (its own framing and headers, plus `args`); the upstream's report and curl's trace. */
async function curl(args: string[]): Promise<{ seen: Seen; trace: string }> {
  const r = await run('curl', ['-sS', '-v', '--max-time', '10', ...args]);
  return { seen: JSON.parse(r.stdout) as Seen, trace: r.stderr };
}

describe.each(H2_CODECS)('HTTP/1.1 ↔ HTTP/2 through the $codec codecs', ({ codec }) => {
  const port = (): number => proxies.get(codec)!.port;

  it('an HTTP/2 POST, PUT or PATCH without body reaches an HTTP/1.1 upstream with content-length: 0', async () => {
    for (const method of ['POST', 'PUT', 'PATCH']) {
      const seen = await h2HeadersOnly(port(), method, '/h1');
      expect(seen, method).toEqual(expect.objectContaining({ bytes: 0 }));
      expect(seen.headers['content-length'], method).toBe('0');
      expect(seen.headers['transfer-encoding'], method).toBeUndefined();
    }
  });

  it('a GET, DELETE or OPTIONS without body gets no content-length', async () => {
    for (const method of ['GET', 'DELETE', 'OPTIONS']) {
      const seen = await h2HeadersOnly(port(), method, '/h1');
      expect(seen.headers['content-length'], method).toBeUndefined();
    }
  });

  it('a response without date gets one from the proxy, over HTTP/1.1 and HTTP/2; an upstream date is kept', async () => {
    expect(await h1Date(port(), '/h1/no-date')).toMatch(HTTP_DATE);
    expect(await h2Date(port(), '/h1/no-date')).toMatch(HTTP_DATE);
    expect(await h1Date(port(), '/h1/dated')).toBe(FIXED_DATE);
    expect(await h2Date(port(), '/h1/dated')).toBe(FIXED_DATE);
  });

  it("an HTTP/2 upstream's status reaches an HTTP/1.1 client with its reason phrase", async () => {
    const phrases: Record<number, string> = {
      206: 'Partial Content',
      409: 'Conflict',
      410: 'Gone',
      422: 'Unprocessable Entity',
      417: 'Expectation Failed',
      505: 'HTTP Version Not Supported',
    };
    for (const [code, phrase] of Object.entries(phrases)) {
      const line = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: port(), path: `/h2/status/${code}`, agent: false }, (res) => {
            resolve(`${res.statusCode} ${res.statusMessage}`);
            res.resume();
          })
          .on('error', reject);
      });
      expect(line).toBe(`${code} ${phrase}`);
    }
  });

  it('te: only its trailers token crosses, HTTP/1.1 → HTTP/2 and HTTP/2 → HTTP/1.1', async () => {
    const url = (path: string): string => `http://127.0.0.1:${port()}${path}`;
    expect((await curl(['--http1.1', '-H', 'TE: trailers, deflate', url('/h2')])).seen.headers.te).toBe('trailers');
    expect((await curl(['--http1.1', '-H', 'TE: gzip', url('/h2')])).seen.headers.te).toBeUndefined();
    expect((await curl(['--http2-prior-knowledge', '-H', 'te: trailers', url('/h1')])).seen.headers.te).toBe(
      'trailers',
    );
  });

  it('expect: 100-continue is answered by the proxy and not forwarded, either way across', async () => {
    const body = ['--data-binary', 'x'.repeat(2048)];
    for (const [flag, path] of [
      ['--http1.1', '/h2'],
      ['--http2-prior-knowledge', '/h1'],
    ] as const) {
      const r = await curl([flag, '-H', 'Expect: 100-continue', ...body, `http://127.0.0.1:${port()}${path}`]);
      expect(r.trace, `${flag} ${path}`).toMatch(/^< HTTP\/(1\.1|2) 100/m);
      expect(r.seen.headers.expect, `${flag} ${path}`).toBeUndefined();
      expect(r.seen.bytes, `${flag} ${path}`).toBe(2048);
    }
  });
});
