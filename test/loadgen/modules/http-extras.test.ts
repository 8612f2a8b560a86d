// k6/http beyond plain requests, against a real HTTP server: new http.CookieJar() and the jar
// param, http.file() multipart bodies, form arrays as repeated keys, basic auth from the URL's
// credentials, digest auth answering the server's challenge (checked by the server), constants.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checks, failedChecks, run, scriptDir } from './helpers.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const NONCE = 'dcd98b7102dd2f0e8b11d0f600bfb0c093';

/** Checks a Digest Authorization header for user "ann", password "s3cret" (RFC 7616, MD5, qop=auth). */
function digestValid(header: string | undefined, method: string): boolean {
  if (header === undefined || !header.startsWith('Digest ')) return false;
  const p: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]!] = m[2] ?? m[3] ?? '';
  const ha1 = md5(`ann:test realm:s3cret`);
  const ha2 = md5(`${method}:${p.uri}`);
  return p.response === md5(`${ha1}:${NONCE}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) && p.opaque === 'op4';
}

let base = '';
let baseWithCreds = '';
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('latin1');
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (v: unknown, status = 200, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(v));
    };
    if (url.pathname === '/set') json({}, 200, { 'set-cookie': 'flavor=mint; Path=/' });
    else if (url.pathname === '/digest') {
      if (digestValid(req.headers.authorization, req.method ?? '')) json({ ok: true });
      else
        json({ ok: false }, 401, {
          'www-authenticate': `Digest realm="test realm", qop="auth", nonce="${NONCE}", opaque="op4"`,
        });
    } else
      json({
        method: req.method,
        cookie: req.headers.cookie ?? '',
        auth: req.headers.authorization ?? '',
        type: req.headers['content-type'] ?? '',
        body,
      });
  });
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  baseWithCreds = `http://ann:s3cret@127.0.0.1:${port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const tmp = scriptDir();

describe('k6/http extras', () => {
  it('cookie jars, multipart files, form arrays, basic and digest auth, TLS constants', async () => {
    const script = tmp.write(
      'extras.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const B = __ENV.BASE;
  const jar = new http.CookieJar();
  jar.set(B, 'token', 'j1');
  check(http.get(B + '/echo', { jar }).json(), { 'own jar sends its cookies': (j) => j.cookie === 'token=j1' });
  check(http.get(B + '/echo').json(), { "the VU's jar is separate": (j) => j.cookie === '' });
  http.get(B + '/set', { jar });
  check(jar.cookiesForURL(B + '/'), { 'responses fill the given jar': (c) => c.flavor[0] === 'mint' && c.token[0] === 'j1' });
  http.cookieJar().set(B, 'vu', 'v1');
  check(http.get(B + '/echo').json(), { 'http.cookieJar() is the VU jar': (j) => j.cookie === 'vu=v1' });

  const file = http.file(new Uint8Array([104, 105]).buffer, 'hi.bin', 'application/x-test');
  const up = http.post(B + '/upload', { title: 'report', attachment: file }).json();
  check(up, {
    'multipart content type': (j) => j.type.startsWith('multipart/form-data; boundary='),
    'multipart parts': (j) => j.body.includes('Content-Disposition: form-data; name="title"\\r\\n\\r\\nreport\\r\\n') &&
      j.body.includes('name="attachment"; filename="hi.bin"\\r\\nContent-Type: application/x-test\\r\\n\\r\\nhi\\r\\n'),
  });
  check(http.post(B + '/form', { tag: ['a', 'b'], n: 1 }).json(), { 'form arrays repeat the key': (j) => j.body === 'tag=a&tag=b&n=1' });

  check(http.get(__ENV.CREDS + '/basic').json(), { 'URL credentials send basic auth': (j) => j.auth === 'Basic ' + 'YW5uOnMzY3JldA==' });
  check(http.get(__ENV.CREDS + '/basic').json(), { 'the same URL again sends them again': (j) => j.auth === 'Basic ' + 'YW5uOnMzY3JldA==' });
  check(http.get(B + '/basic').json(), { 'a URL without credentials sends none': (j) => j.auth === '' });
  const digest = http.get(__ENV.CREDS + '/digest', { auth: 'digest' });
  check(digest, { 'digest auth answers the challenge': (r) => r.status === 200 && r.json().ok === true });
  check(http.get(B + '/digest'), { 'without credentials the challenge stands': (r) => r.status === 401 });
  check(null, { 'TLS constants': () => http.TLS_1_2 === 'tls1.2' && http.TLS_1_3 === 'tls1.3' });
}
`,
    );
    const r = await run({ script, env: { BASE: base, CREDS: baseWithCreds } });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(13);
  });
});
