// Interim 1xx responses from an upstream, as Envoy treats them with proxy_100_continue off (its
// default, and the only setting meshscope accepts): 100, 102 and 103 are swallowed by the filter
// manager, every other 1xx by the upstream request, and the client gets the final response
// alone. Upstreams: a raw HTTP/1.1 server writing 102 and 103 (and 199) before its 200, and a
// node:http2 server sending 103 Early Hints; clients: curl (HTTP/1.1 and h2c), node:http and
// node:http2, through both HTTP/2 codecs. With proxy_100_continue on, Expect goes upstream and the
// upstream's 100, 102 and 103 reach the client (199 still does not). As in Envoy's router, a 100, 102 or 103 still counts
// (upstream_rq_103) and starts the response: a 5xx after it is not retried.
import { execFile } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  h2Cluster,
  bootstrap,
  configProblems,
  H2_CODECS,
  type RunningProxy,
  startTestProxy,
  staticCluster,
} from './helpers.js';

const run = promisify(execFile);
const INTERIM =
  'HTTP/1.1 102 Processing\r\n\r\n' +
  'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n' +
  'HTTP/1.1 199 Misc\r\n\r\n';
const FINAL = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nfinal';

let raw: net.Server;
/** Answers a path's first request 503 (after a 103 under /retry/hint), later ones 200. */
let flaky: net.Server;
/** Requests `flaky` got, per path. */
const flakySeen = new Map<string, number>();
let h2: http2.Http2Server;
const rawSockets = new Set<net.Socket>();

/** A raw HTTP/1.1 upstream on 127.0.0.1 that writes `answer(path)` for each request head it reads. */
async function rawUpstream(answer: (path: string) => string): Promise<net.Server> {
  const server = net.createServer((socket) => {
    rawSockets.add(socket);
    socket.on('close', () => rawSockets.delete(socket));
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        const path = head.split(' ')[1] ?? '';
        head = head.slice(head.indexOf('\r\n\r\n') + 4);
        socket.write(answer(path));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/** Per codec, and per codec with proxy_100_continue (`<codec>+proxy_100_continue`). */
const proxies = new Map<string, RunningProxy>();
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // Answers each request head with the interim responses and then the final one.
  raw = await rawUpstream(() => INTERIM + FINAL);
  flaky = await rawUpstream((path) => {
    const n = (flakySeen.get(path) ?? 0) + 1;
    flakySeen.set(path, n);
    const hint = path.startsWith('/retry/hint')
      ? 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n'
      : '';
    return n === 1
      ? `${hint}HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n`
      : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  });
  h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.additionalHeaders({ ':status': 103, link: '</style.css>; rel=preload' });
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end('final');
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const rawPort = (raw.address() as AddressInfo).port;
  const h2Port = (h2.address() as AddressInfo).port;
  const expectEcho = http.createServer((req, res) => {
    // node:http answers Expect: 100-continue itself (no 'checkContinue' listener), then this.
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ expect: req.headers.expect ?? null })));
  });
  await new Promise<void>((r) => expectEcho.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => expectEcho.close(() => r())));
  const expectPort = (expectEcho.address() as AddressInfo).port;
  for (const { codec, runtime } of H2_CODECS) {
    for (const proxy100 of [false, true]) {
      const proxy = await startTestProxy(
        bootstrap({
          runtime,
          ...(proxy100 ? { hcm: { proxy_100_continue: true } } : {}),
          virtualHosts: [
            {
              name: 'all',
              domains: ['*'],
              routes: [
                { match: { prefix: '/h1' }, route: { cluster: 'h1' } },
                {
                  match: { prefix: '/retry' },
                  route: { cluster: 'flaky', retry_policy: { retry_on: '5xx', num_retries: 1 } },
                },
                { match: { prefix: '/h2' }, route: { cluster: 'h2' } },
                { match: { prefix: '/expect' }, route: { cluster: 'expect' } },
              ],
            },
          ],
          clusters: [
            staticCluster({ name: 'h1', ports: [rawPort] }),
            staticCluster({ name: 'flaky', ports: [(flaky.address() as AddressInfo).port] }),
            staticCluster({ name: 'expect', ports: [expectPort] }),
            h2Cluster('h2', h2Port),
          ],
        }),
      );
      proxies.set(proxy100 ? `${codec}+proxy_100_continue` : codec, proxy);
    }
  }
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close();
  for (const s of rawSockets) s.destroy();
  await new Promise<void>((r) => raw?.close(() => r()));
  await new Promise<void>((r) => flaky?.close(() => r()));
  h2?.close();
  for (const close of closers) await close();
});

/** curl's verbose status lines (`< HTTP/1.1 103 …`, `< HTTP/2 200`) and its body. */
async function curl(args: string[]): Promise<{ statuses: number[]; body: string }> {
  const { stdout, stderr } = await run('curl', ['-sv', '--max-time', '10', ...args]);
  const statuses = [...stderr.matchAll(/^< HTTP\/[\d.]+ (\d{3})/gm)].map((m) => Number(m[1]));
  return { statuses, body: stdout };
}

/** node:http: the 1xx statuses it reported ('information') and the final status and body. */
function nodeHttp(port: number, path: string): Promise<{ interim: number[]; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const interim: number[] = [];
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ interim, status: res.statusCode ?? 0, body }));
    });
    req.on('information', (info) => interim.push(info.statusCode));
    req.on('error', reject);
  });
}

/** node:http2: the 1xx statuses it reported ('headers') and the final status and body. */
function nodeHttp2(port: number, path: string): Promise<{ interim: number[]; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const interim: number[] = [];
    let status = 0;
    let body = '';
    const req = session.request({ ':path': path });
    req.on('headers', (h) => interim.push(Number(h[':status'])));
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      session.close();
      resolve({ interim, status, body });
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(H2_CODECS)('upstream 1xx other than 101 ($codec)', ({ codec }) => {
  const port = () => proxies.get(codec)!.port;
  for (const upstream of ['h1', 'h2'] as const) {
    it(`from an HTTP/${upstream === 'h1' ? '1.1' : '2'} upstream: curl over HTTP/1.1 and h2c sees only the 200`, async () => {
      const h1 = await curl([`http://127.0.0.1:${port()}/${upstream}/curl`]);
      expect(h1).toEqual({ statuses: [200], body: 'final' });
      const h2c = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${port()}/${upstream}/curl`]);
      expect(h2c).toEqual({ statuses: [200], body: 'final' });
    });

    it(`from an HTTP/${upstream === 'h1' ? '1.1' : '2'} upstream: node:http and node:http2 get no interim response`, async () => {
      expect(await nodeHttp(port(), `/${upstream}/node`)).toEqual({ interim: [], status: 200, body: 'final' });
      expect(await nodeHttp2(port(), `/${upstream}/node`)).toEqual({ interim: [], status: 200, body: 'final' });
    });
  }
});

describe.each(H2_CODECS)('an upstream 103 starts the response for the router ($codec)', ({ codec }) => {
  const proxy = () => proxies.get(codec)!;
  const counter = async (name: string) =>
    (await proxy().server.stats()).counters.find((c) => c.name === name)?.value ?? 0;

  it('a 503 after a 103 is not retried, and upstream_rq_103 counts it', async () => {
    const before = await counter('cluster.flaky.upstream_rq_103');
    const path = `/retry/hint/${codec}`;
    expect(await nodeHttp(proxy().port, path)).toEqual({ interim: [], status: 503, body: '' });
    expect(flakySeen.get(path)).toBe(1);
    expect((await counter('cluster.flaky.upstream_rq_103')) - before).toBe(1);
  });

  it('a 503 without one is retried (the retry policy at work)', async () => {
    const path = `/retry/plain/${codec}`;
    expect(await nodeHttp(proxy().port, path)).toEqual({ interim: [], status: 200, body: 'ok' });
    expect(flakySeen.get(path)).toBe(2);
  });
});

/** node:http with `expect: 100-continue`: how many 100s it got, then the upstream's answer. */
function expectContinue(port: number): Promise<{ continues: number; body: string }> {
  return new Promise((resolve, reject) => {
    let continues = 0;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/expect',
        method: 'POST',
        agent: false,
        headers: { expect: '100-continue', 'content-length': 5 },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ continues, body }));
      },
    );
    req.on('continue', () => {
      if (++continues === 1) req.end('hello');
    });
    req.on('error', reject);
  });
}

describe.each(H2_CODECS)('proxy_100_continue ($codec)', ({ codec }) => {
  const on = () => proxies.get(`${codec}+proxy_100_continue`)!;
  const off = () => proxies.get(codec)!;

  it('is validated at the edge: a boolean', () => {
    const config = (v: unknown) =>
      bootstrap({
        virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
        clusters: [staticCluster({ name: 'c', ports: [1] })],
        hcm: { proxy_100_continue: v },
      });
    expect(configProblems(config(true))).toEqual([]);
    expect(configProblems(config('yes')).join('\n')).toMatch(/proxy_100_continue/);
  });

  it('on: 102 and 103 reach curl and node clients over HTTP/1.1 and h2c; 199 does not', async () => {
    expect(await curl([`http://127.0.0.1:${on().port}/h1/curl`])).toEqual({ statuses: [102, 103, 200], body: 'final' });
    expect(await curl(['--http2-prior-knowledge', `http://127.0.0.1:${on().port}/h1/curl`])).toEqual({
      statuses: [102, 103, 200],
      body: 'final',
    });
    expect(await nodeHttp(on().port, '/h1/node')).toEqual({ interim: [102, 103], status: 200, body: 'final' });
    expect(await nodeHttp2(on().port, '/h2/node')).toEqual({ interim: [103], status: 200, body: 'final' });
  });

  it('on: Expect goes upstream and the client gets the upstream 100, once', async () => {
    expect(await expectContinue(on().port)).toEqual({ continues: 1, body: JSON.stringify({ expect: '100-continue' }) });
  });

  it('off: the proxy answers Expect itself and the upstream never sees it', async () => {
    expect(await expectContinue(off().port)).toEqual({ continues: 1, body: JSON.stringify({ expect: null }) });
  });
});
