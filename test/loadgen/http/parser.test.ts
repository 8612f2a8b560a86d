// The hand-written HTTP/1.1 response parser, fed byte streams split at every possible point.
import { describe, expect, it } from 'vitest';
import { ResponseParser, parseHeaders, type ParsedHead } from '../../../loadgen/http/parser.js';

interface Parsed {
  head?: ParsedHead;
  body: string;
  keepAlive?: boolean;
  error?: string;
}

// Bytes after a read's length in a shared read buffer: what an earlier, longer read left there.
const STALE = Buffer.from('\r\n\r\n0\r\n\r\nHTTP/1.1 500 Stale\r\nContent-Length: 0\r\n\r\n', 'latin1');

/** `shared`: each chunk handed over as a plain TCP read is, at the start of a longer buffer, with its length. */
function parse(chunks: Buffer[], noBody = false, shared = false): Parsed {
  const out: Parsed = { body: '' };
  const parser = new ResponseParser({
    onHead: (h) => (out.head = h),
    onBody: (c) => (out.body += c.toString('latin1')),
    onComplete: (k) => (out.keepAlive = k),
    onParseError: (m) => (out.error = m),
  });
  parser.reset(noBody);
  for (const c of chunks) {
    if (shared) parser.execute(Buffer.concat([c, STALE]), c.length);
    else parser.execute(c);
  }
  return out;
}

function splits(text: string): Buffer[][] {
  const buf = Buffer.from(text, 'latin1');
  const all: Buffer[][] = [[buf]];
  for (let i = 1; i < buf.length; i++) all.push([buf.subarray(0, i), buf.subarray(i)]);
  return all;
}

describe('ResponseParser', () => {
  it('parses content-length bodies split anywhere', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
    for (const chunks of splits(text))
      for (const shared of [false, true]) {
        const r = parse(chunks, false, shared);
        expect(r.error).toBeUndefined();
        expect(r.head?.status).toBe(200);
        expect(r.body).toBe('hello');
        expect(r.keepAlive).toBe(true);
      }
  });

  it('parses chunked bodies with extensions and trailers split anywhere', () => {
    const text =
      'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (const chunks of splits(text))
      for (const shared of [false, true]) {
        const r = parse(chunks, false, shared);
        expect(r.error).toBeUndefined();
        expect(r.body).toBe('hello world');
        expect(r.keepAlive).toBe(true);
      }
  });

  it('honours Connection: close, HTTP/1.0, 204 and HEAD, and skips 1xx', () => {
    expect(parse([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')]).keepAlive).toBe(
      false,
    );
    expect(parse([Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')]).keepAlive).toBe(false);
    expect(parse([Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')]).keepAlive).toBe(true);
    const head = parse([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n')], true);
    expect(head.keepAlive).toBe(true);
    expect(head.body).toBe('');
    const untilClose = parse([Buffer.from('HTTP/1.1 200 OK\r\n\r\nab'), Buffer.from('cd')], false, true);
    expect(untilClose.body).toBe('abcd');
    expect(untilClose.keepAlive).toBeUndefined();
    const cont = parse([Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')]);
    expect(cont.head?.status).toBe(200);
    expect(cont.body).toBe('ok');
  });

  it('reads framing headers in any case with surrounding whitespace, and flags Set-Cookie', () => {
    const r = parse([
      Buffer.from('HTTP/1.1 404 Not Found\r\nCONTENT-LENGTH: \t3 \r\nconnection:  Close\r\nSET-COOKIE: a=1\r\n\r\nabc'),
    ]);
    expect(r.head).toMatchObject({ status: 404, statusText: 'Not Found', proto: 'HTTP/1.1', setCookie: true });
    expect(r.body).toBe('abc');
    expect(r.keepAlive).toBe(false);
    const plain = parse([Buffer.from('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n')]);
    expect(plain.head).toMatchObject({ status: 200, statusText: 'OK', proto: 'HTTP/1.0', setCookie: false });
    expect(plain.keepAlive).toBe(true);
    expect(parse([Buffer.from('HTTP/1.1 2x0 OK\r\n\r\n')]).error).toMatch(/malformed status line 'HTTP\/1.1 2x0 OK'/);
  });

  it('reports malformed responses', () => {
    expect(parse([Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')]).error).toMatch(/malformed status line/);
    expect(parse([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')]).error).toMatch(
      /invalid chunk size/,
    );
  });

  it('parses headers on demand with canonical names, joining repeats', () => {
    const r = parse([
      Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: a\r\nx-multi: 1\r\nX-MULTI: 2\r\nContent-Length: 0\r\n\r\n'),
    ]);
    expect(parseHeaders(r.head!.rawHeaders)).toEqual({ 'Content-Type': 'a', 'X-Multi': '1, 2', 'Content-Length': '0' });
  });

  it("parses a keep-alive connection's responses alike whether a head repeats the last one or not", () => {
    const parser = new ResponseParser({
      onHead: (h) => heads.push({ ...h }),
      onBody: (c) => (bodies[bodies.length - 1] += c.toString('latin1')),
      onComplete: (k) => done.push(k),
      onParseError: (m) => errors.push(m),
    });
    const heads: ParsedHead[] = [];
    const bodies: string[] = [];
    const done: boolean[] = [];
    const errors: string[] = [];
    const date = (s: number) => `Date: Mon, 07 Dec 2026 11:32:${String(s).padStart(2, '0')} GMT\r\n`;
    const ok = (s: number, body: string) =>
      `HTTP/1.1 200 OK\r\nServer: nginx\r\n${date(s)}Content-Length: ${body.length}\r\n\r\n${body}`;
    const expected: Array<{ status: number; body: string; keepAlive: boolean; rawHeaders: string }> = [];
    const send = (text: string, split = 0) => {
      parser.reset(false);
      bodies.push('');
      const buf = Buffer.from(text, 'latin1');
      if (split > 0) {
        parser.execute(buf.subarray(0, split));
        parser.execute(buf.subarray(split));
      } else parser.execute(buf);
    };
    const expect200 = (s: number, body: string) =>
      expected.push({
        status: 200,
        body,
        keepAlive: true,
        rawHeaders: `Server: nginx\r\n${date(s)}Content-Length: ${body.length}`,
      });
    // The same head three times, a new Date, a head cut short (split inside it), other bodies.
    for (const [s, body, split] of [
      [1, 'a', 0],
      [1, 'b', 0],
      [1, 'c', 0],
      [2, 'd', 0],
      [2, 'e', 20],
      [2, 'f', 0],
      [2, 'long body', 0],
      [2, 'g', 0],
    ] as const) {
      send(ok(s, body), split);
      expect200(s, body);
    }
    // A head that only starts like the last one, then close, 404 and a chunked response.
    for (const body of ['h', 'i']) {
      send(`HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: close\r\nContent-Length: 1\r\n\r\n${body}`);
      expected.push({
        status: 200,
        body,
        keepAlive: false,
        rawHeaders: 'Server: nginx\r\nConnection: close\r\nContent-Length: 1',
      });
    }
    send('HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\ni');
    send('HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nj');
    expected.push({ status: 404, body: 'i', keepAlive: true, rawHeaders: 'Content-Length: 1' });
    expected.push({ status: 404, body: 'j', keepAlive: true, rawHeaders: 'Content-Length: 1' });
    send('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nk\r\n0\r\n\r\n');
    send('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nl\r\n0\r\n\r\n');
    expected.push({ status: 200, body: 'k', keepAlive: true, rawHeaders: 'Transfer-Encoding: chunked' });
    expected.push({ status: 200, body: 'l', keepAlive: true, rawHeaders: 'Transfer-Encoding: chunked' });
    // Heads that never repeat (a request id each), past the point where the parser stops comparing.
    for (let i = 0; i < 100; i++) {
      send(`HTTP/1.1 201 Created\r\nX-Request-Id: ${i}\r\nContent-Length: 1\r\n\r\nm`);
      expected.push({ status: 201, body: 'm', keepAlive: true, rawHeaders: `X-Request-Id: ${i}\r\nContent-Length: 1` });
    }
    send(ok(3, 'n'));
    send(ok(3, 'o'));
    expect200(3, 'n');
    expect200(3, 'o');
    expect(errors).toEqual([]);
    expect(
      heads.map((h, i) => ({ status: h.status, body: bodies[i], keepAlive: done[i], rawHeaders: h.rawHeaders })),
    ).toEqual(expected);
  });
});
