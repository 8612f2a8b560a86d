// HTTP/2 over TLS as k6 negotiates it: a node:http2 secure server (HTTP/1.1 allowed) gets h2 by
// ALPN, one multiplexed session per VU; an HTTP/1.1-only TLS server still gets HTTP/1.1.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedP256 } from '../../helpers/openssl.js';
import { metricValue, run } from '../helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-loadgen-h2-'));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};
let h2Server: http2.Http2SecureServer;
let h1Server: https.Server;
let h2Base = '';
let h1Base = '';
const sessions = new Set<http2.ServerHttp2Session>();
/** Sessions that carried a request (a duplicate dial the client drops at once carries none). */
const used = new Set<http2.ServerHttp2Session>();
let refusedHits = 0;

function handler(
  req: http2.Http2ServerRequest | import('node:http').IncomingMessage,
  res: http2.Http2ServerResponse | import('node:http').ServerResponse,
): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = req.url ?? '/';
    const send = (status: number, body: string, headers: Record<string, string | string[]> = {}): void => {
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body);
    };
    if (url === '/hello') send(200, `hello ${req.httpVersion}`);
    else if (url === '/echo') send(200, `${req.method} ${Buffer.concat(chunks).toString()}`);
    else if (url === '/redirect') send(302, '', { location: '/hello' });
    else if (url === '/cookie/set') send(200, 'set', { 'set-cookie': ['k=v; Path=/', 'k2=v2; Path=/'] });
    else if (url === '/cookie/get') send(200, String(req.headers.cookie ?? ''));
    else if (url === '/bytes') send(200, 'x'.repeat(70_000));
    else if (url === '/reset' && 'stream' in res) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else if (url === '/calm' && 'stream' in res) res.stream.session?.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    else if (url === '/refuse' && 'stream' in res) {
      refusedHits++;
      res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    } else if (url === '/bye' && 'stream' in res) {
      // Answers, then ends the session with a graceful GOAWAY (a server's idle or max-requests close).
      send(200, 'bye');
      res.stream.session?.close();
    } else if (url !== '/stall') send(404, 'not found'); // /stall never answers: the client's timeout ends it
  });
}

beforeAll(async () => {
  const key = `${dir}/key.pem`;
  const cert = `${dir}/cert.pem`;
  selfSignedP256({ key, cert, subject: '/CN=localhost', days: 1, extensions: ['subjectAltName=DNS:localhost'] });
  const creds = { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
  h2Server = http2.createSecureServer({ ...creds, allowHTTP1: true }, handler);
  h2Server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on('stream', () => used.add(s));
    s.on('close', () => sessions.delete(s));
  });
  h1Server = https.createServer(creds, handler);
  await new Promise<void>((r) => h2Server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => h1Server.listen(0, '127.0.0.1', r));
  h2Base = `https://localhost:${(h2Server.address() as AddressInfo).port}`;
  h1Base = `https://localhost:${(h1Server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sessions) s.destroy();
  h1Server.closeAllConnections();
  await new Promise((r) => h2Server.close(r));
  await new Promise((r) => h1Server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

const SCRIPT = `import http from 'k6/http';
import { check } from 'k6';
export const options = {
  hosts: { localhost: '127.0.0.1' },
  insecureSkipTLSVerify: true,
  thresholds: { checks: ['rate==1'], 'http_reqs{proto:HTTP/2.0}': ['count>0'] },
};
export default function () {
  const base = __ENV.BASE;
  const r = http.get(base + '/hello');
  check(r, {
    'HTTP/2 is used': (x) => x.proto === 'HTTP/2.0',
    'h2 on the server': (x) => x.body === 'hello 2.0',
    'status text': (x) => x.status_text === '200 OK',
    'canonical header names': (x) => x.headers['Content-Type'] === 'text/plain',
    timings: (x) => x.timings.duration >= x.timings.waiting && x.timings.waiting > 0,
  });
  const p = http.post(base + '/echo', 'ping-body', { headers: { 'Content-Type': 'text/plain' } });
  check(p, { 'POST body': (x) => x.status === 200 && x.body === 'POST ping-body' });
  const d = http.get(base + '/redirect');
  check(d, { redirected: (x) => x.status === 200 && x.url === base + '/hello' && x.proto === 'HTTP/2.0' });
  http.get(base + '/cookie/set');
  check(http.get(base + '/cookie/get'), { 'cookies kept': (x) => x.body === 'k=v; k2=v2' });
  const bin = http.get(base + '/bytes', { responseType: 'binary' });
  check(bin, { binary: (x) => x.body.byteLength === 70000 });
  const none = http.get(base + '/bytes', { responseType: 'none' });
  check(none, { 'no body kept': (x) => x.status === 200 && x.body === null });
  const batch = http.batch([base + '/hello', base + '/hello', base + '/hello']);
  check(batch, { 'batch multiplexed': (b) => b.every((x) => x.status === 200 && x.proto === 'HTTP/2.0') });
  const t = http.get(base + '/stall', { timeout: '300ms' });
  check(t, { 'timeout error': (x) => x.status === 0 && x.error_code === 1050 });
  // RST_STREAM with INTERNAL_ERROR (2): k6's stream error family, 1631 + 2.
  const rst = http.get(base + '/reset');
  check(rst, { 'stream reset': (x) => x.status === 0 && x.error_code === 1633 });
  check(http.head(base + '/hello'), { HEAD: (x) => x.status === 200 && x.body === '' });
}
`;

describe('HTTP/2 over TLS', () => {
  it('negotiates h2 and sends every request of a VU over one session', async () => {
    const script = write('h2.js', SCRIPT);
    const r = await run({ script, env: { BASE: h2Base }, vus: 1, iterations: 2 });
    expect(metricValue(r, 'checks', 'fails')).toBe(0);
    expect(metricValue(r, 'checks', 'passes')).toBe(2 * 14);
    // One handshake for the whole run: every later request reused the session.
    expect(metricValue(r, 'http_req_tls_handshaking', 'max')).toBeGreaterThan(0);
    expect(used.size).toBe(1);
    // Every request answered is tagged proto=HTTP/2.0; the timed-out and reset ones (2 per
    // iteration) carry no protocol, as on HTTP/1.1.
    expect(metricValue(r, 'http_reqs{proto:HTTP/2.0}', 'count')).toBe(metricValue(r, 'http_reqs', 'count') - 4);
    expect(r.exitCode).toBe(0);
  });

  it('serves concurrent first requests (http.batch) over one session per VU', async () => {
    used.clear();
    const script = write(
      'h2-batch.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { hosts: { localhost: '127.0.0.1' }, insecureSkipTLSVerify: true };
export default function () {
  const rs = http.batch([__ENV.BASE + '/hello', __ENV.BASE + '/hello', __ENV.BASE + '/echo']);
  check(rs, { 'all h2': (b) => b.every((x) => x.status === 200 && x.proto === 'HTTP/2.0') });
}
`,
    );
    const r = await run({ script, env: { BASE: h2Base }, vus: 2, iterations: 4 });
    expect(metricValue(r, 'checks', 'passes')).toBe(4);
    expect(used.size).toBe(2);
  });

  it('opens a new session after the server closed the last one with GOAWAY', async () => {
    used.clear();
    const script = write(
      'h2-goaway.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { hosts: { localhost: '127.0.0.1' }, insecureSkipTLSVerify: true };
export default function () {
  check(http.get(__ENV.BASE + '/bye'), { bye: (x) => x.status === 200 && x.body === 'bye' });
  check(http.get(__ENV.BASE + '/hello'), { 'new session': (x) => x.status === 200 && x.proto === 'HTTP/2.0' });
}
`,
    );
    const r = await run({ script, env: { BASE: h2Base }, vus: 1, iterations: 2 });
    expect(metricValue(r, 'checks', 'fails')).toBe(0);
    expect(metricValue(r, 'checks', 'passes')).toBe(4);
    // /bye, /hello on session 1 then 2; /bye on 2, /hello on 3.
    expect(used.size).toBe(3);
  });

  it('sends a refused stream once more, then reports 1638; a GOAWAY with an error code, 1611 + code', async () => {
    used.clear();
    refusedHits = 0;
    const script = write(
      'h2-refused.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { hosts: { localhost: '127.0.0.1' }, insecureSkipTLSVerify: true };
export default function () {
  check(http.get(__ENV.BASE + '/refuse'), { refused: (x) => x.status === 0 && x.error_code === 1638 });
  // GOAWAY(ENHANCE_YOUR_CALM = 11) after the server took the stream: k6's GOAWAY family, 1611 + 11.
  const calm = http.get(__ENV.BASE + '/calm');
  check(calm, { goaway: (x) => x.status === 0 && x.error_code === 1622 });
  check(http.get(__ENV.BASE + '/hello'), { 'after GOAWAY': (x) => x.status === 200 && x.proto === 'HTTP/2.0' });
}
`,
    );
    const r = await run({ script, env: { BASE: h2Base }, vus: 1, iterations: 1 });
    expect(metricValue(r, 'checks', 'passes')).toBe(3);
    // Sent twice, both times on the one session (a refused stream leaves the session usable);
    // the request after the GOAWAY on a second one.
    expect(refusedHits).toBe(2);
    expect(used.size).toBe(2);
  });

  it('opens a session per request with noConnectionReuse', async () => {
    used.clear();
    const script = write(
      'h2-no-reuse.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { hosts: { localhost: '127.0.0.1' }, insecureSkipTLSVerify: true, noConnectionReuse: true };
export default function () {
  for (let i = 0; i < 3; i++) check(http.get(__ENV.BASE + '/hello'), { h2: (x) => x.proto === 'HTTP/2.0' });
}
`,
    );
    const r = await run({ script, env: { BASE: h2Base }, vus: 1, iterations: 1 });
    expect(metricValue(r, 'checks', 'passes')).toBe(3);
    expect(used.size).toBe(3);
  });

  it('keeps HTTP/1.1 with a server that offers only HTTP/1.1', async () => {
    const script = write(
      'h1.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { hosts: { localhost: '127.0.0.1' }, insecureSkipTLSVerify: true };
export default function () {
  const r = http.get(__ENV.BASE + '/hello');
  check(r, { 'HTTP/1.1': (x) => x.proto === 'HTTP/1.1' && x.body === 'hello 1.1' });
}
`,
    );
    const r = await run({ script, env: { BASE: h1Base }, vus: 1, iterations: 2 });
    expect(metricValue(r, 'checks', 'passes')).toBe(2);
    expect(r.exitCode).toBe(0);
  });
});
