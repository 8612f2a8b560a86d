// envoy.filters.http.grpc_stats and envoy.filters.http.grpc_web through the real proxy to a real
// @grpc/grpc-js server. grpc_stats: Envoy's counter names per allowlisted method (or for all
// methods), the cluster-wide family for the rest, message counts across streamed frames, and
// the filter state object in the access log. grpc_web: binary and base64-text calls over
// HTTP/1.1 and HTTP/2, read with a hand-written frame reader, and a real browser call (Chromium's
// fetch from a page the proxy serves) that gets its trailers as gRPC-Web's trailer frame.
import http from 'node:http';
import http2 from 'node:http2';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap, ROUTER, startTestProxy, staticCluster, type RunningProxy } from '../helpers.js';
import {
  echoClient,
  H2_UPSTREAM,
  startEchoServer,
  unary,
  waitFor,
  type EchoClient,
  type EchoServer,
} from './fixtures.js';

const GRPC_STATS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig';
const GRPC_WEB = {
  name: 'envoy.filters.http.grpc_web',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb' },
};

/** A page the proxy serves on its own origin; it calls Echo with fetch and reads the frames. */
const PAGE = `<!doctype html><html><body><script>
async function grpcWebEcho(text) {
  const msg = new TextEncoder().encode(text);
  const frame = new Uint8Array(5 + msg.length);
  new DataView(frame.buffer).setUint32(1, msg.length);
  frame.set(msg, 5);
  const res = await fetch('/test.Echo/Echo', {
    method: 'POST',
    headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', 'x-client': 'chromium' },
    body: frame,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const out = { status: res.status, contentType: res.headers.get('content-type'), messages: [], trailers: {} };
  for (let i = 0; i < bytes.length; ) {
    const flag = bytes[i];
    const len = new DataView(bytes.buffer, i + 1, 4).getUint32(0);
    const body = bytes.subarray(i + 5, i + 5 + len);
    i += 5 + len;
    if (flag & 0x80) {
      for (const line of new TextDecoder().decode(body).split('\\r\\n')) {
        const c = line.indexOf(':');
        if (c > 0) out.trailers[line.slice(0, c)] = line.slice(c + 1);
      }
    } else out.messages.push(new TextDecoder().decode(body));
  }
  return out;
}
</script></body></html>`;

interface WebReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  messages: string[];
  trailers: Record<string, string>;
}

/** Splits a gRPC-Web body into its messages and its trailer frame. */
function readFrames(bytes: Buffer): { messages: string[]; trailers: Record<string, string> } {
  const messages: string[] = [];
  const trailers: Record<string, string> = {};
  for (let i = 0; i < bytes.length; ) {
    const flag = bytes[i]!;
    const len = bytes.readUInt32BE(i + 1);
    const body = bytes.subarray(i + 5, i + 5 + len);
    i += 5 + len;
    if ((flag & 0x80) === 0) {
      messages.push(body.toString());
      continue;
    }
    for (const line of body.toString('latin1').split('\r\n')) {
      const c = line.indexOf(':');
      if (c > 0) trailers[line.slice(0, c)] = line.slice(c + 1);
    }
  }
  return { messages, trailers };
}

function frame(text: string): Buffer {
  const msg = Buffer.from(text);
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** A gRPC-Web call over HTTP/1.1; `text` sends and reads base64 (application/grpc-web-text). */
function webCallH1(port: number, path: string, text: string, mode: 'binary' | 'text'): Promise<WebReply> {
  const body = mode === 'text' ? Buffer.from(frame(text).toString('base64')) : frame(text);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: {
          'content-type': mode === 'text' ? 'application/grpc-web-text' : 'application/grpc-web+proto',
          accept: mode === 'text' ? 'application/grpc-web-text' : 'application/grpc-web',
          'x-grpc-web': '1',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const bytes = mode === 'text' ? Buffer.from(raw.toString('latin1'), 'base64') : raw;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, ...readFrames(bytes) });
        });
      },
    );
    req.on('error', reject);
    // Two writes split inside a base64 group: the filter must carry the partial group over.
    req.write(body.subarray(0, 3));
    req.end(body.subarray(3));
  });
}

let echo: EchoServer;
let proxy: RunningProxy;
let allMethods: RunningProxy;
let client: EchoClient;
let logPath: string;

beforeAll(async () => {
  echo = await startEchoServer();
  logPath = join(await mkdtemp(join(tmpdir(), 'grpc-stats-log-')), 'access.log');
  const routes = (extra: unknown[] = []) => [
    {
      name: 'all',
      domains: ['*'],
      routes: [
        ...extra,
        { match: { prefix: '/test.Echo/', grpc: {} }, route: { cluster: 'echo' } },
        {
          match: { path: '/' },
          direct_response: { status: 200, body: { inline_string: PAGE } },
          response_headers_to_add: [
            {
              header: { key: 'content-type', value: 'text/html' },
              append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
            },
          ],
        },
      ],
    },
  ];
  proxy = await startTestProxy(
    bootstrap({
      admin: true,
      hcm: {
        http_filters: [
          GRPC_WEB,
          {
            name: 'envoy.filters.http.grpc_stats',
            typed_config: {
              '@type': GRPC_STATS_TYPE,
              emit_filter_state: true,
              individual_method_stats_allowlist: { services: [{ name: 'test.Echo', method_names: ['Echo'] }] },
            },
          },
          ROUTER,
        ],
        access_log: [
          {
            name: 'envoy.access_loggers.file',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
              path: logPath,
              log_format: {
                text_format:
                  '%REQ(:PATH)% %FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)% %FILTER_STATE(envoy.filters.http.grpc_stats)%\n',
              },
            },
          },
        ],
      },
      virtualHosts: routes(),
      clusters: [staticCluster({ name: 'echo', ports: [echo.port], extra: H2_UPSTREAM })],
    }),
  );
  allMethods = await startTestProxy(
    bootstrap({
      admin: true,
      hcm: {
        http_filters: [
          {
            name: 'envoy.filters.http.grpc_stats',
            typed_config: { '@type': GRPC_STATS_TYPE, stats_for_all_methods: true },
          },
          ROUTER,
        ],
      },
      virtualHosts: routes(),
      clusters: [staticCluster({ name: 'echo', ports: [echo.port], extra: H2_UPSTREAM })],
    }),
  );
  client = echoClient(proxy.port);
});

afterAll(async () => {
  client?.close();
  await proxy?.close();
  await allMethods?.close();
  echo?.close();
});

async function counters(p: RunningProxy, prefix: string): Promise<Record<string, number>> {
  const admin = p.server.adminAddress()!;
  const text = await (await fetch(`http://127.0.0.1:${admin.port}/stats?filter=${encodeURIComponent(prefix)}`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+): (\d+)$/.exec(line);
    if (m !== null && m[1]!.startsWith(prefix)) out[m[1]!.slice(prefix.length)] = Number(m[2]);
  }
  return out;
}

describe('envoy.filters.http.grpc_stats', () => {
  it('counts an allowlisted method by name and the rest in the cluster-wide family', async () => {
    expect((await unary(client, 'one')).error).toBeNull();
    expect((await unary(client, 'status:5')).error?.code).toBe(5);
    const call = client.download(Buffer.from('3:10'));
    call.on('data', () => {});
    await new Promise((r) => call.on('end', r));
    const perMethod = await waitFor('Echo counters', async () => {
      const c = await counters(proxy, 'cluster.echo.grpc.test.Echo.Echo.');
      return c['total'] === 2 ? c : undefined;
    });
    expect(perMethod).toMatchObject({
      success: 1,
      failure: 1,
      total: 2,
      '0': 1,
      '5': 1,
      request_message_count: 2,
      response_message_count: 1,
    });
    const generic = await counters(proxy, 'cluster.echo.grpc.');
    expect(generic).toMatchObject({
      success: 1,
      total: 1,
      '0': 1,
      request_message_count: 1,
      response_message_count: 3,
    });
    expect(Object.keys(generic).some((k) => k.startsWith('test.Echo.Download'))).toBe(false);
  });

  it('emit_filter_state: the message counts are in %FILTER_STATE%', async () => {
    const lines = await waitFor('the Download access log line', async () => {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      const l = text.split('\n').find((x) => x.startsWith('/test.Echo/Download '));
      return l;
    });
    expect(lines).toBe('/test.Echo/Download 1,3 {"requestMessageCount":"1","responseMessageCount":"3"}');
  });

  it('stats_for_all_methods names every method', async () => {
    const c2 = echoClient(allMethods.port);
    const call = c2.download(Buffer.from('2:10'));
    call.on('data', () => {});
    await new Promise((r) => call.on('end', r));
    c2.close();
    const c = await waitFor('Download counters', async () => {
      const x = await counters(allMethods, 'cluster.echo.grpc.test.Echo.Download.');
      return x['total'] === 1 ? x : undefined;
    });
    expect(c).toMatchObject({ success: 1, request_message_count: 1, response_message_count: 2 });
  });
});

describe('envoy.filters.http.grpc_web', () => {
  it('binary gRPC-Web over HTTP/1.1: the message, then the trailers as a 0x80 frame', async () => {
    const r = await webCallH1(proxy.port, '/test.Echo/Echo', 'web-bin', 'binary');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect(r.messages).toEqual(['echo:web-bin:']);
    expect(r.trailers).toMatchObject({ 'grpc-status': '0', 'x-trailer': 't1' });
  });

  it('base64 text gRPC-Web over HTTP/1.1, split mid-group on the way in', async () => {
    const r = await webCallH1(proxy.port, '/test.Echo/Echo', 'web-text', 'text');
    expect(r.headers['content-type']).toBe('application/grpc-web-text+proto');
    expect(r.messages).toEqual(['echo:web-text:']);
    expect(r.trailers['grpc-status']).toBe('0');
  });

  it('an error status comes back where a gRPC-Web client reads it', async () => {
    const r = await webCallH1(proxy.port, '/test.Echo/Echo', 'status:7', 'binary');
    expect(r.status).toBe(200);
    // A trailers-only gRPC answer keeps its status in the head; otherwise it is in the trailer frame.
    expect(r.headers['grpc-status'] ?? r.trailers['grpc-status']).toBe('7');
    expect(r.messages).toEqual([]);
  });

  it('binary gRPC-Web over HTTP/2', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/test.Echo/Echo',
      'content-type': 'application/grpc-web+proto',
    });
    stream.end(frame('web-h2'));
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((r) => stream.on('end', r));
    session.close();
    const { messages, trailers } = readFrames(Buffer.concat(chunks));
    expect(messages).toEqual(['echo:web-h2:']);
    expect(trailers['grpc-status']).toBe('0');
  });

  it('Chromium: a fetch from a page gets the message and the trailer frame', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${proxy.port}/`);
      const out = await page.evaluate(
        (text) =>
          (globalThis as unknown as { grpcWebEcho(t: string): Promise<Record<string, unknown>> }).grpcWebEcho(text),
        'from-chromium',
      );
      expect(out).toMatchObject({
        status: 200,
        contentType: 'application/grpc-web+proto',
        messages: ['echo:from-chromium:chromium'],
        trailers: { 'grpc-status': '0', 'x-trailer': 't1' },
      });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
