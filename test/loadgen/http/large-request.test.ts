// A request body larger than the kernel takes in one write: the rest leaves later (libuv queues it,
// handle-io.ts), the server gets every byte, and the requests after it on the same keep-alive
// connection go out whole and in order, each with its own trace context.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedChecks, run, scriptDir } from '../modules/helpers.js';

const tmp = scriptDir();
let base = '';
let connections = 0;
const traceparents: string[] = [];
const server = http.createServer((req, res) => {
  const hash = createHash('sha256');
  let len = 0;
  req.on('data', (d: Buffer) => {
    hash.update(d);
    len += d.length;
  });
  req.on('end', () => {
    if (req.url === '/after') traceparents.push(String(req.headers.traceparent));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ len, sha: hash.digest('hex') }));
  });
});
server.on('connection', () => connections++);
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('a request larger than one write', () => {
  it('arrives whole, and the requests after it on the connection follow in order with their own trace ids', async () => {
    const script = tmp.write(
      'large.js',
      `import http from 'k6/http';
import crypto from 'k6/crypto';
import { check } from 'k6';
export const options = { iterations: 3 };
const body = 'abcdefghijklmnop'.repeat(1 << 20);
const sha = crypto.sha256(body, 'hex');
export default function () {
  const r = http.post('${base}/upload', body);
  check(r, { 'the server got the whole body': (x) => x.json('len') === body.length && x.json('sha') === sha });
  for (let i = 0; i < 3; i++) check(http.get('${base}/after'), { 'the next request is answered': (x) => x.json('len') === 0 });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(r.summary!.metrics.checks!.values.passes).toBe(12);
    expect(connections).toBe(1);
    expect(traceparents).toHaveLength(9);
    for (const t of traceparents) expect(t).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(new Set(traceparents).size).toBe(9);
  });
});
