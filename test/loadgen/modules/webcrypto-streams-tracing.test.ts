// APIs k6's own example scripts use that meshscope lacked: the WebCrypto `crypto` global (and
// k6/experimental/webcrypto), k6/experimental/encoding, WritableStream and TransformStream,
// fs File.readAll, csv StreamingParser, k6/crypto digests taken twice, jslib totp,
// k6/experimental/tracing (and http.enableTracing/currentSpan) against a real server reading the
// propagated headers, and randomSeed.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotp } from '../../../loadgen/script/modules/jslib/totp.js';
import { checks, failedChecks, run, scriptDir } from './helpers.js';

const tmp = scriptDir();

let base = '';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ traceparent: req.headers.traceparent ?? '', b3: req.headers.b3 ?? '' }));
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function allPass(name: string, source: string, count: number): Promise<void> {
  const r = await run({ script: tmp.write(name, source) });
  expect(r.stderr).not.toMatch(/level=error/);
  expect(r.exitCode).toBe(0);
  expect(failedChecks(r)).toEqual([]);
  expect(Object.keys(checks(r)).length).toBe(count);
}

describe('k6 APIs the examples use', () => {
  it('WebCrypto: the crypto global and k6/experimental/webcrypto digest, encrypt, sign and draw random values', async () => {
    await allPass(
      'webcrypto.js',
      `import { crypto as imported } from 'k6/experimental/webcrypto';
import { check } from 'k6';
export const options = { iterations: 1 };
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
const bytes = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
export default async function () {
  const digest = hex(await crypto.subtle.digest('SHA-256', bytes('hello world')));
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, bytes('secret'));
  const opened = await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, sealed);
  const hmacKey = await crypto.subtle.importKey('raw', bytes('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const sig = await crypto.subtle.sign('HMAC', hmacKey, bytes('The quick brown fox jumps over the lazy dog'));
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const ecSig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, bytes('msg'));
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  check(null, {
    'the import is the global': () => imported === crypto,
    'sha-256 digest': () => digest === 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
    'aes-gcm round trip': () => hex(opened) === hex(bytes('secret')) && sealed.byteLength === 6 + 16,
    'hmac signature': () => hex(sig) === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    'ecdsa verifies': () => ecSig.byteLength === 64,
    'jwk export': () => jwk.kty === 'EC' && jwk.crv === 'P-256',
    'randomUUID': () => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
  });
  check(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, ecSig, bytes('msg')), {
    'ecdsa signature checks out': (ok) => ok === true,
  });
}
`,
      8,
    );
  });

  it('k6/experimental/encoding, WritableStream and TransformStream, File.readAll, csv StreamingParser, digest() twice', async () => {
    tmp.write('data.csv', 'name,age\nann,31\nbob,42\n');
    tmp.write('hello.txt', 'bonjour le monde');
    await allPass(
      'apis.js',
      `import { TextEncoder, TextDecoder } from 'k6/experimental/encoding';
import { ReadableStream, WritableStream, TransformStream } from 'k6/experimental/streams';
import { open } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
import crypto from 'k6/crypto';
import { check } from 'k6';
export const options = { iterations: 1 };
let file;
(async () => { file = await open('hello.txt'); })();
const rows = new csv.StreamingParser('data.csv', { skipFirstLine: true });
export default async function () {
  const text = new TextDecoder('utf-8').decode(new TextEncoder().encode('héllo ✓'));
  const written = [];
  const sink = new WritableStream({ write(chunk) { written.push(chunk); } });
  const doubler = new TransformStream({ transform(n, c) { c.enqueue(n * 2); } });
  const source = new ReadableStream({ start(c) { [1, 2, 3].forEach((n) => c.enqueue(n)); c.close(); } });
  await source.pipeThrough(doubler).pipeTo(sink);
  await file.seek(8);
  const rest = new TextDecoder().decode(await file.readAll());
  const first = await rows.next();
  const second = await rows.next();
  const end = await rows.next();
  const h = crypto.createHash('sha256');
  h.update('hello ');
  const hex = h.digest('hex');
  const b64 = h.digest('base64');
  h.update('world');
  check(null, {
    'utf-8 round trip': () => text === 'héllo ✓',
    'piped through a transform into a writable': () => written.join(',') === '2,4,6',
    'readAll from the offset': () => rest === 'le monde',
    'streaming parser rows': () => first.value.join() === 'ann,31' && second.value.join() === 'bob,42' && end.done === true,
    'digest twice, two encodings of one hash': () =>
      hex === '5e3235a8346e5a4585f8c58562f5052b8fe26a3bb122e1e96c76784964dfc461' &&
      b64 === 'XjI1qDRuWkWF+MWFYvUFK4/iajuxIuHpbHZ4SWTfxGE=',
    'update after digest extends the message': () => h.digest('hex') === 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
  });
}
`,
      6,
    );
  });

  it('jslib totp: RFC 4226 values, and a code it generates verifies', async () => {
    const key = Buffer.from('12345678901234567890');
    expect([0, 1, 9].map((c) => hotp(key, c, 6))).toEqual(['755224', '287082', '520489']);
    await allPass(
      'totp.js',
      `import { TOTP } from 'https://jslib.k6.io/totp/1.0.0/index.js';
import { check } from 'k6';
export const options = { iterations: 1 };
export default async function () {
  const totp = new TOTP('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 6);
  const code = await totp.gen();
  check(code, { 'six digits': (c) => /^\\d{6}$/.test(c) });
  check(await totp.verify(code), { 'verifies': (ok) => ok === true });
}
`,
      2,
    );
  });

  it('k6/experimental/tracing: instrumentHTTP sets the VU propagator, a Client its own', async () => {
    await allPass(
      'tracing.js',
      `import http from 'k6/http';
import tracing from 'k6/experimental/tracing';
import { check } from 'k6';
export const options = { iterations: 1 };
tracing.instrumentHTTP({ propagator: 'b3', sampling: 1 });
const client = new tracing.Client({ propagator: 'w3c', sampling: 0 });
export default function () {
  const plain = http.get('${'$'}{__ENV.BASE}/').json();
  const traced = client.get('${'$'}{__ENV.BASE}/').json();
  const after = http.get('${'$'}{__ENV.BASE}/').json();
  check(null, {
    'instrumented: b3, sampled': () => /^[0-9a-f]{32}-[0-9a-f]{16}-1$/.test(plain.b3) && plain.traceparent === '',
    'client: w3c, not sampled': () => /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/.test(traced.traceparent) && traced.b3 === '',
    'plain http keeps the VU propagator': () => after.b3 !== '' && after.traceparent === '',
  });
  let err = '';
  try { new tracing.Client({ propagator: 'jaeger' }); } catch (e) { err = String(e); }
  check(err, { 'unsupported propagator named': (e) => e.includes("propagator must be 'w3c' or 'b3'") });
}
`.replaceAll('${__ENV.BASE}', base),
      4,
    );
  });

  it('http.enableTracing and currentSpan: the iteration span trace id on its requests; tracing: false sends none', async () => {
    await allPass(
      'span.js',
      `import http from 'k6/http';
import { currentSpan } from 'k6/experimental/tracing';
import { check } from 'k6';
export const options = { iterations: 2 };
http.enableTracing({ propagator: 'w3c' });
const seen = [];
export default function () {
  const span = currentSpan();
  span.setAttribute('example.user', 'registered');
  span.addEvent('started');
  const a = http.get('${'$'}{__ENV.BASE}/').json();
  const b = http.get('${'$'}{__ENV.BASE}/').json();
  const off = http.get('${'$'}{__ENV.BASE}/', { tracing: false }).json();
  const trace = (h) => h.split('-')[1];
  seen.push(span.traceId);
  check(null, {
    'requests carry the span trace id': () => trace(a.traceparent) === span.traceId && trace(b.traceparent) === span.traceId,
    'each request its own span id': () => a.traceparent.split('-')[2] !== b.traceparent.split('-')[2],
    'tracing: false sends no context': () => off.traceparent === '' && off.b3 === '',
    'one span per iteration': () => currentSpan().traceId === span.traceId && (seen.length < 2 || seen[0] !== seen[1]),
  });
}
`.replaceAll('${__ENV.BASE}', base),
      4,
    );
  });

  it('randomSeed makes Math.random the same sequence in every VU and every run; another seed differs', async () => {
    const source = (seed: number): string => `import { randomSeed } from 'k6';
import exec from 'k6/execution';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 1 } } };
randomSeed(${seed});
export default function () {
  console.log('seq ' + exec.vu.idInTest + ' ' + [Math.random(), Math.random(), Math.random()].join(','));
}
`;
    const sequences = async (seed: number): Promise<string[]> => {
      const r = await run({ script: tmp.write(`seed-${seed}.js`, source(seed)) });
      expect(r.exitCode).toBe(0);
      return [...r.stderr.matchAll(/seq (\d) ([\d.,e-]+)/g)].map((m) => m[2]!);
    };
    const a = await sequences(1234);
    const b = await sequences(1234);
    const c = await sequences(99);
    expect(a).toHaveLength(2);
    expect(a[0]).toBe(a[1]);
    expect(b).toEqual(a);
    expect(c[0]).not.toBe(a[0]);
    for (const v of a[0]!.split(',').map(Number)) expect(v >= 0 && v < 1).toBe(true);
  });
});
