// k6/ws and k6/websockets against a real `ws` server (echo, binary, server close, ping/pong,
// refused handshakes), k6/timers on the VU's event loop (the iteration waits for its timers),
// and k6/experimental/fs reading a file opened in the init context.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { checks, failedChecks, run, scriptDir } from './helpers.js';

let wss: WebSocketServer;
let url = '';
const seenHeaders: string[] = [];
const seenCookies: string[] = [];
beforeAll(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on('connection', (socket, req) => {
    seenHeaders.push(String(req.headers['x-token'] ?? ''));
    seenCookies.push(String(req.headers.cookie ?? ''));
    socket.on('message', (data, isBinary) => {
      const text = data.toString();
      if (!isBinary && text === 'bye') socket.close(4000, 'asked');
      else if (!isBinary && text === 'binary') socket.send(Buffer.from([1, 2, 3]));
      else socket.send(isBinary ? data : `echo: ${text}`, { binary: isBinary });
    });
  });
});
afterAll(() => new Promise<void>((r) => wss.close(() => r())));

const tmp = scriptDir();

describe('k6/ws', () => {
  it('runs a session: handlers, send, binary, ping/pong, socket timers, close codes, metrics', async () => {
    const script = tmp.write(
      'ws.js',
      `import ws from 'k6/ws';
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 2, iterations: 4 };
export default function () {
  http.cookieJar().set(__ENV.URL.replace('ws', 'http'), 'sid', 'vu' + __VU);
  const got = [];
  let pong = false;
  let closeCode = 0;
  const res = ws.connect(__ENV.URL, { headers: { 'X-Token': 'abc' }, tags: { my: 'tag' } }, function (socket) {
    socket.on('open', () => {
      socket.setTimeout(() => {
        socket.send('hello');
        socket.ping();
        socket.send('binary');
      }, 10);
    });
    socket.on('message', (m) => got.push(m));
    // The server answers the ping before it reads 'binary': the pong is in by then.
    socket.on('binaryMessage', (b) => {
      got.push('bin:' + new Uint8Array(b).join('.'));
      socket.send('bye');
    });
    socket.on('pong', () => { pong = true; });
    socket.on('close', (code) => { closeCode = code; });
  });
  check(res, { 'handshake 101': (r) => r.status === 101 && r.url === __ENV.URL });
  check(got, { 'messages in order': (g) => g.join() === 'echo: hello,bin:1.2.3' });
  check(pong, { 'pong': (p) => p === true });
  check(closeCode, { 'server close code': (c) => c === 4000 });
  let thrown = '';
  try {
    ws.connect(__ENV.URL, function (socket) { socket.on('open', () => { throw new Error('handler failed'); }); });
  } catch (e) { thrown = String(e); }
  check(thrown, { 'handler error ends the session and throws': (t) => t.includes('handler failed') });
}
`,
    );
    const r = await run({ script, env: { URL: url } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    expect(checks(r)['handshake 101']!.passes).toBe(4);
    expect(seenHeaders).toContain('abc');
    // The VU's cookie jar goes with the handshake, as k6 sends it.
    expect(seenCookies).toContain('sid=vu1');
    expect(seenCookies).toContain('sid=vu2');
    const m = r.summary!.metrics;
    expect(m.ws_sessions!.values.count).toBe(8);
    expect(m.ws_msgs_sent!.values.count).toBe(12);
    expect(m.ws_msgs_received!.values.count).toBe(8);
    expect(m.ws_connecting).toBeDefined();
    expect(m.ws_session_duration).toBeDefined();
    expect(m.ws_ping).toBeDefined();
  });

  it('throws a clear error when the handshake is refused', async () => {
    const script = tmp.write(
      'ws-refused.js',
      `import ws from 'k6/ws';
export const options = { iterations: 1 };
export default function () { ws.connect('ws://127.0.0.1:1/', function () {}); }
`,
    );
    const r = await run({ script });
    expect(r.stderr).toMatch(/level=error msg="Error: websocket: connect ECONNREFUSED 127\.0\.0\.1:1/);
  });
});

describe('k6/websockets', () => {
  it('runs browser-style sockets; the iteration ends when they close', async () => {
    const script = tmp.write(
      'websockets.js',
      `import { WebSocket } from 'k6/websockets';
import { check } from 'k6';
export const options = { iterations: 2 };
export default function () {
  const got = [];
  const ws = new WebSocket(__ENV.URL);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { ws.send('one'); ws.send(new Uint8Array([7, 8]).buffer); };
  ws.addEventListener('message', (e) => {
    got.push(typeof e.data === 'string' ? e.data : 'bin:' + new Uint8Array(e.data).join('.'));
    if (got.length === 2) ws.send('bye');
  });
  ws.onclose = (e) => check({ got, e }, {
    'messages': (x) => x.got.join() === 'echo: one,bin:7.8',
    'close event': (x) => x.e.code === 4000 && x.e.reason === 'asked' && ws.readyState === WebSocket.CLOSED,
  });
  const refused = new WebSocket('ws://127.0.0.1:1/');
  refused.onerror = (e) => check(e, { 'error event': (x) => x.error.includes('ECONNREFUSED') });
}
`,
    );
    const r = await run({ script, env: { URL: url } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    // The checks run in close and error handlers after the default function returned: the
    // iteration waited for them.
    expect(checks(r).messages!.passes).toBe(2);
    expect(checks(r)['error event']!.passes).toBe(2);
  });
});

describe('k6/timers and k6/experimental/fs', () => {
  it('waits for timers, clears them, and reads a file opened in init', async () => {
    tmp.write('data.txt', 'hello file world');
    const script = tmp.write(
      'timers.js',
      `import { setTimeout, clearTimeout, setInterval, clearInterval } from 'k6/timers';
import { open, SeekMode } from 'k6/experimental/fs';
import { check } from 'k6';
export const options = { iterations: 2 };
const file = await open('data.txt');
export function teardown() {
  setTimeout(() => check(null, { 'teardown waits for its timers': () => true }), 30);
}
export default async function () {
  const order = [];
  setTimeout((x) => order.push('timeout:' + x), 30, 'a');
  const cancelled = setTimeout(() => order.push('never'), 10);
  clearTimeout(cancelled);
  let n = 0;
  const id = setInterval(() => {
    n++;
    if (n === 3) {
      clearInterval(id);
      // Set from a callback 40 ms on: the iteration still waits for it.
      setTimeout(() => check(order, { 'timers ran, the cleared one not': (o) => o.slice().sort().join() === 'interval done,timeout:a' }), 40);
      order.push('interval done');
    }
  }, 5);
  const buf = new Uint8Array(5);
  await file.seek(6, SeekMode.Start);
  const read = await file.read(buf);
  const info = await file.stat();
  await file.seek(0, SeekMode.End);
  const eof = await file.read(buf);
  check(null, {
    'fs read': () => read === 5 && String.fromCharCode(...buf) === 'file ' && eof === null,
    'fs stat': () => info.name === 'data.txt' && info.size === 16,
  });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    expect(checks(r)['timers ran, the cleared one not']!.passes).toBe(2);
    expect(checks(r)['fs read']!.passes).toBe(2);
    expect(checks(r)['teardown waits for its timers']!.passes).toBe(1);
  });

  it('opens a file synchronously with openSync(); a closed File refuses reads', async () => {
    tmp.write('sync.txt', 'abcdef');
    const script = tmp.write(
      'opensync.js',
      `import { openSync, open } from 'k6/experimental/fs';
import { check } from 'k6';
export const options = { iterations: 1 };
const file = openSync('sync.txt');
const other = await open('sync.txt');
export default async function () {
  const info = await file.stat();
  await other.seek(0);
  const all = new Uint8Array(await other.readAll());
  other.close();
  let closedErr = '';
  try { await other.read(new Uint8Array(2)); } catch (e) { closedErr = String(e); }
  check(null, {
    'openSync stat': () => info.name === 'sync.txt' && info.size === 6,
    'readAll': () => String.fromCharCode(...all) === 'abcdef',
    'read after close fails': () => closedErr.includes('read() on a closed file'),
  });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(checks(r)['read after close fails']!.passes).toBe(1);
  });

  it('parses CSV files into shared arrays and record by record; streams are WHATWG streams', async () => {
    tmp.write('users.csv', 'name,city\r\nann,"Paris, FR"\r\nbob,"say ""hi"""\r\ncy,Rome\r\n');
    const script = tmp.write(
      'csv.js',
      `import { open } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
import { ReadableStream } from 'k6/experimental/streams';
import { check } from 'k6';
export const options = { iterations: 2, vus: 2 };
const file = await open('users.csv');
const objects = await csv.parse(file, { asObjects: true });
const rows = await csv.parse(file, { skipFirstLine: true, fromLine: 1, toLine: 2 });
export default async function () {
  const parser = new csv.Parser(file, { skipFirstLine: true });
  const seen = [];
  for (let r = await parser.next(); !r.done; r = await parser.next()) seen.push(r.value[0]);
  const stream = new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); c.close(); } });
  const reader = stream.getReader();
  let text = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  check(null, {
    'csv objects': () => objects.length === 3 && objects[0].city === 'Paris, FR' && objects[1].city === 'say "hi"',
    'csv rows, skipFirstLine, fromLine/toLine': () => rows.length === 2 && rows[0][0] === 'bob' && rows[1][1] === 'Rome',
    'csv shared arrays are frozen': () => Object.isFrozen(objects),
    'csv Parser': () => seen.join() === 'ann,bob,cy',
    'streams': () => text === 'ab',
  });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(checks(r)['csv Parser']!.passes).toBe(2);
    expect(Object.keys(checks(r)).length).toBe(5);
  });
});
