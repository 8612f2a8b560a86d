// HTTP/2 downstream (h2c with prior knowledge) through the proxy to HTTP/1.1 upstreams, with
// real clients: curl --http2-prior-knowledge, nghttp, h2load and Node's http2 client; an
// HTTP/1.1 client on the same AUTO listener; codec_type HTTP2 and HTTP1; flow control with a
// slow reader; GOAWAY on drain; a client's RST_STREAM as Envoy's DC; stats and %PROTOCOL%.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bootstrap,
  H2_CODECS,
  request,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';

const MB = 1024 * 1024;

let echo: Upstream;
let streamer: Upstream;
/** Reads request bodies only once `releaseSink` is called. */
let sink: http.Server;
let sinkPort = 0;
let releaseSink: () => void = () => {};
let sinkReceived = 0;
/** Bytes the streamer upstream managed to write for the current slow-reader test. */
let streamed = 0;
let proxy: RunningProxy;
let h2only: RunningProxy;
let dir: string;
let accessLog: string;

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * MB }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function counter(p: RunningProxy, name: string): Promise<number | undefined> {
  const snap = await p.server.stats();
  return snap.counters.find((c) => c.name === name)?.value;
}

/** One HTTP/2 request with Node's client; resolves with status, headers and body. */
function h2request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      head = h;
    });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

const route = (cluster: string, prefix = '/') => ({ match: { prefix }, route: { cluster } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ms-h2-'));
  echo = await startUpstream('echo');
  streamer = await startUpstream('streamer', (req, res) => {
    const total = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('mb') ?? '1') * MB;
    const block = Buffer.alloc(64 * 1024, 97);
    streamed = 0;
    const pump = () => {
      while (streamed < total) {
        streamed += block.length;
        if (!res.write(block)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  sink = http.createServer((req, res) => {
    req.pause();
    releaseSink = () => {
      req.on('data', (d: Buffer) => {
        sinkReceived += d.length;
      });
      req.on('end', () => res.end(String(sinkReceived)));
      req.resume();
    };
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkPort = (sink.address() as AddressInfo).port;
});

afterAll(async () => {
  await echo?.close();
  await streamer?.close();
  sink?.closeAllConnections();
  await new Promise<void>((r) => (sink === undefined ? r() : sink.close(() => r())));
  rmSync(dir, { recursive: true, force: true });
});

describe.each(H2_CODECS)('$codec codec', ({ codec, runtime }) => {
  beforeAll(async () => {
    accessLog = join(dir, `${codec}-access.log`);
    sinkReceived = 0;
    const clusters = [
      staticCluster({ name: 'sink', ports: [sinkPort] }),
      staticCluster({ name: 'echo', ports: [echo.port] }),
      staticCluster({ name: 'streamer', ports: [streamer.port] }),
    ];
    const virtualHosts = [
      { name: 'all', domains: ['*'], routes: [route('streamer', '/stream'), route('sink', '/sink'), route('echo')] },
    ];
    proxy = await startTestProxy(
      bootstrap({
        runtime,
        virtualHosts,
        clusters,
        hcm: {
          // Small windows so a slow reader's stall shows within a few MB.
          http2_protocol_options: { initial_stream_window_size: 65535, initial_connection_window_size: 1048576 },
          access_log: [
            {
              name: 'envoy.access_loggers.file',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                path: accessLog,
                log_format: {
                  text_format_source: { inline_string: '%PROTOCOL% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' },
                },
              },
            },
          ],
        },
      }),
    );
    h2only = await startTestProxy(bootstrap({ runtime, virtualHosts, clusters, hcm: { codec_type: 'HTTP2' } }));
  });

  afterAll(async () => {
    await proxy?.close();
    await h2only?.close();
  });

  describe('HTTP/2 downstream (h2c prior knowledge) to HTTP/1.1 upstreams', () => {
    it('curl --http2-prior-knowledge: GET, and a POST body, translated to HTTP/1.1 (:authority → Host)', async () => {
      const get = await run('curl', [
        '-s',
        '--http2-prior-knowledge',
        '-D',
        '-',
        `http://127.0.0.1:${proxy.port}/a?x=1`,
        '-H',
        'x-test: yes',
      ]);
      expect(get.code).toBe(0);
      expect(get.stdout).toMatch(/^HTTP\/2 200/);
      const body = JSON.parse(get.stdout.slice(get.stdout.indexOf('\r\n\r\n') + 4)) as {
        url: string;
        method: string;
        headers: Record<string, string>;
      };
      expect(body.url).toBe('/a?x=1');
      expect(body.method).toBe('GET');
      expect(body.headers.host).toBe(`127.0.0.1:${proxy.port}`);
      expect(body.headers['x-test']).toBe('yes');
      expect(body.headers['x-forwarded-proto']).toBe('http');
      // No HTTP/1.1 connection header leaks into the HTTP/2 response.
      expect(get.stdout.toLowerCase()).not.toContain('\nconnection:');
      expect(get.stdout.toLowerCase()).not.toContain('\ntransfer-encoding:');

      const post = await run('curl', [
        '-s',
        '--http2-prior-knowledge',
        '--data-binary',
        'x'.repeat(100_000),
        `http://127.0.0.1:${proxy.port}/post`,
      ]);
      const posted = JSON.parse(post.stdout) as { method: string; bodyBytes: number };
      expect(posted.method).toBe('POST');
      expect(posted.bodyBytes).toBe(100_000);
    });

    it('many concurrent streams on one connection (nghttp)', async () => {
      // curl 7.88.1 (Debian 12) fails its own second request on a reused prior-knowledge
      // connection ("Error in the HTTP2 framing layer", also against a bare node:http2 server),
      // so nghttp multiplexes here.
      const urls = Array.from({ length: 20 }, (_, i) => `http://127.0.0.1:${proxy.port}/many/${i}`);
      const nghttp = await run('nghttp', ['-nv', ...urls]);
      expect(nghttp.code).toBe(0);
      expect(nghttp.stdout.match(/:status: 200/g)).toHaveLength(20);
      // One connection: one SETTINGS from the server (and its ACK of ours), 20 streams on it.
      expect(nghttp.stdout.match(/recv SETTINGS frame <length=\d+, flags=0x00/g)).toHaveLength(1);
      expect(nghttp.stdout).toMatch(/recv DATA frame <length=\d+, flags=0x01, stream_id=39>/);
    });

    it('h2load -n 2000 -c 4 -m 10: every request 2xx', async () => {
      const r = await run('h2load', ['-n', '2000', '-c', '4', '-m', '10', `http://127.0.0.1:${proxy.port}/load`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
      expect(r.stdout).toMatch(/status codes: 2000 2xx/);
    });

    it('an HTTP/1.1 client on the same AUTO listener still works; codec_type HTTP2 takes h2c only', async () => {
      const r = await request(proxy.port, '/h1');
      expect(r.status).toBe(200);
      expect(r.json<{ url: string }>().url).toBe('/h1');
      const forced = await run('curl', [
        '-s',
        '--http2-prior-knowledge',
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `http://127.0.0.1:${h2only.port}/forced`,
      ]);
      expect(forced.stdout).toBe('2 200');
      await expect(request(h2only.port, '/h1')).rejects.toThrow();
    });

    it('a response larger than the windows to a reader that stalls: the proxy stops reading upstream, then delivers it all', async () => {
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      const req = session.request({ ':path': '/stream?mb=64' });
      let received = 0;
      const hash = createHash('sha256');
      req.on('data', (d: Buffer) => {
        received += d.length;
        hash.update(d);
      });
      req.pause();
      // Wait until the upstream can write no more: the proxy's buffers and windows are full.
      let last = -1;
      while (streamed !== last) {
        last = streamed;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(streamed).toBeGreaterThan(0);
      expect(streamed).toBeLessThan(16 * MB);
      const ended = new Promise<void>((resolve) => req.on('end', () => resolve()));
      req.resume();
      await ended;
      expect(received).toBe(64 * MB);
      expect(hash.digest('hex')).toBe(
        createHash('sha256')
          .update(Buffer.alloc(64 * MB, 97))
          .digest('hex'),
      );
      session.close();
    });

    it('an upload to an upstream that does not read: the client is held back by its window, then all arrives', async () => {
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      const req = session.request({ ':method': 'POST', ':path': '/sink' });
      const total = 64 * MB;
      const block = Buffer.alloc(64 * 1024, 98);
      let written = 0;
      const pump = () => {
        while (written < total) {
          written += block.length;
          if (written >= total) req.end(block);
          else if (!req.write(block)) return void req.once('drain', pump);
        }
      };
      pump();
      // Wait until what the client got onto the wire stops growing: the proxy stopped reading.
      let sent = -1;
      const onWire = () => written - req.writableLength;
      while (onWire() !== sent) {
        sent = onWire();
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(sent).toBeLessThan(16 * MB);
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      const ended = new Promise<void>((resolve) => req.on('end', () => resolve()));
      releaseSink();
      await ended;
      expect(Number(body)).toBe(total);
      session.close();
    });

    it('request headers past max_request_headers_kb reset the stream (http2.header_overflow); the connection serves on', async () => {
      const session = http2.connect(`http://127.0.0.1:${h2only.port}`);
      // 62 KiB: past the default max_request_headers_kb (60) but within node:http2's own 64 KiB
      // cap, which refuses larger lists itself (REFUSED_STREAM) before the codec sees them.
      const big = session.request({ ':path': '/big-headers', 'x-big': 'a'.repeat(62 * 1024) });
      big.on('error', () => {});
      big.resume();
      await new Promise<void>((resolve) => big.on('close', () => resolve()));
      expect(big.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
      const ok = await h2request(session, { ':path': '/fine' });
      expect(ok.status).toBe(200);
      session.close();
      expect(await counter(h2only, 'http2.header_overflow')).toBe(1);
    });

    it('a client RST_STREAM is the stream’s DC and http2.rx_reset; the connection serves on', async () => {
      const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
      const req = session.request({ ':path': '/stream?mb=64' });
      await new Promise<void>((resolve) => req.once('data', () => resolve()));
      req.close(http2.constants.NGHTTP2_CANCEL);
      const after = await h2request(session, { ':path': '/after-reset' });
      expect(after.status).toBe(200);
      session.close();
      await new Promise((r) => setTimeout(r, 100));
      expect(await counter(proxy, 'http2.rx_reset')).toBeGreaterThanOrEqual(1);
      // The file logger writes asynchronously: wait for the reset stream's line.
      let log = '';
      while (!log.includes('/after-reset')) {
        await new Promise((r) => setTimeout(r, 50));
        log = readFileSync(accessLog, 'utf8');
      }
      expect(log).toMatch(/^HTTP\/2 \/stream\?mb=64 200 DC$/m);
      expect(log).toMatch(/^HTTP\/2 \/after-reset 200 -$/m);
      expect(log).toMatch(/^HTTP\/1\.1 \/h1 200 -$/m);
      expect(await counter(proxy, 'http.ingress_http.downstream_cx_http2_total')).toBeGreaterThan(4);
      expect(await counter(proxy, 'http.ingress_http.downstream_rq_http2_total')).toBeGreaterThan(2000);
      expect(await counter(proxy, 'http.ingress_http.downstream_cx_http1_total')).toBe(1);
    });

    it('drain sends GOAWAY: a stream already open finishes, the connection then closes', async () => {
      const session = http2.connect(`http://127.0.0.1:${h2only.port}`);
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      session.on('error', () => {});
      const req = session.request({ ':path': '/stream?mb=4' });
      let received = 0;
      req.on('data', (d: Buffer) => {
        received += d.length;
      });
      await new Promise<void>((resolve) => req.once('response', () => resolve()));
      // Resolves once the listener stopped and its connections closed.
      const drained = h2only.server.drainListeners({ inboundOnly: false, graceful: true });
      expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
      await new Promise<void>((resolve) => req.on('end', () => resolve()));
      expect(received).toBe(4 * MB);
      await closed;
      await drained;
    });
  });
});
